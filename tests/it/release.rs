//! `kiln release new|rm|list` through the real binary: a submit's
//! artifacts released into a store (files checked against the staged ones
//! by SHA-256, rows with user and host), released again (a no-op), a
//! different file at a released path (refused, then replaced with
//! `--update`), a removal (files gone, rows kept and marked), and a staged
//! file changed since it was built (refused, nothing placed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use diesel::prelude::*;
use kiln::db::models::releases::{Release, Removal};
use kiln::db::models::submits::Submit;
use kiln::db::schema::releases;
use sha2::Digest;

use crate::submit::{config_toml, files_under, git_repo, Fixture};
use crate::support::{records, run};

/// `kiln release rm --from stable b 1 --non-interactive`.
const REMOVE_B: [&str; 7] = [
    "release",
    "rm",
    "--from",
    "stable",
    "b",
    "1",
    "--non-interactive",
];

fn package(name: &str, deps: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"1\"\n{deps}[phases.build]\nscript = '''\nmkdir -p /outputs/{name}\necho \"{name} $X\" > /outputs/{name}/{name}-1.pkg\necho doc > /outputs/{name}/{name}.doc\n'''\n"
    )
}

struct Setup {
    fx: Fixture,
    repo: PathBuf,
    releases: PathBuf,
}

fn setup() -> Option<Setup> {
    let fx = Fixture::new()?;
    let releases = fx.sandbox.path().join("releases");
    let config = format!(
        "releases_root = \"{}\"\nrelease_stores = [\"stable\", \"testing\"]\n{}",
        releases.display(),
        config_toml(&fx.image, "")
    );
    let a = package("a", "");
    let b = package("b", "[dependencies]\nbuild = [\"a =1\"]\n");
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("a/pkg.toml", &a),
            ("b/pkg.toml", &b),
        ],
    );
    Some(Setup { fx, repo, releases })
}

impl Setup {
    fn submit(&self, x: &str) -> Submit {
        let (code, stdout, stderr) = self.fx.submit(
            &self.repo,
            &["b", "-I", "busybox", "-E", &format!("X={x}"), "--no-reuse"],
        );
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        records::submits(&mut self.fx.db.connect())
            .pop()
            .expect("a submit")
    }

    fn kiln(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.fx.db.kiln(&self.fx.sandbox);
        cmd.arg("--repo").arg(&self.repo).args(args);
        let (out, stdout, stderr) = run(&mut cmd);
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code().expect("exited"), stdout, stderr)
    }

    fn release(&self, submit: &Submit, extra: &[&str]) -> (i32, String, String) {
        let uuid = submit.uuid.to_string();
        let mut args = vec!["release", "new", &uuid];
        args.extend_from_slice(extra);
        args.extend(["--non-interactive", "--staging-dir"]);
        let staging = self.fx.staging().display().to_string();
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push(staging);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.kiln(&all)
    }

    fn staged(&self, submit: &Submit) -> PathBuf {
        self.fx.staging().join(submit.uuid.to_string())
    }

    fn rows(&self) -> Vec<Release> {
        releases::table
            .order(releases::id)
            .select(Release::as_select())
            .load(&mut self.fx.db.connect())
            .expect("releases")
    }
}

/// Every file under `dir` with its SHA-256.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).expect("reading");
            (f, hex::encode(sha2::Sha256::digest(bytes)))
        })
        .collect()
}

#[test]
fn a_submit_is_released_once_updated_and_removed_with_its_history_kept() {
    let Some(s) = setup() else { return };
    let first = s.submit("1");
    let stable = s.releases.join("stable");

    let (code, _, stderr) = s.release(&first, &["--to", "stable"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        hashes(&stable),
        hashes(&s.staged(&first)),
        "the files as staged"
    );
    assert_eq!(hashes(&stable).len(), 4);
    let rows = s.rows();
    assert_eq!(rows.len(), 4);
    let me = kiln::actor::current();
    assert!(rows
        .iter()
        .all(|r| r.released_by == me.user && r.released_host == me.host));
    assert!(rows.iter().all(|r| r.removed_at.is_none()));
    // The audit columns name the kiln that changed each row; a change made
    // by someone else (here the test's own session) names them instead.
    let audit = |table: &str| -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct SetBy {
            #[diesel(sql_type = diesel::sql_types::Text)]
            set_by: String,
        }
        diesel::sql_query(format!("SELECT set_by FROM {table} ORDER BY id"))
            .load::<SetBy>(&mut s.fx.db.connect())
            .expect("audit columns")
            .into_iter()
            .map(|r| r.set_by)
            .collect()
    };
    let by_kiln = format!("{}@{} pid ", me.user, me.host);
    for table in ["releases", "submits", "jobs"] {
        let set_by = audit(table);
        assert!(
            !set_by.is_empty()
                && set_by
                    .iter()
                    .all(|b| b.starts_with("kiln ") && b.contains(&by_kiln)),
            "{table}: {set_by:?}"
        );
    }
    let mut by_hand = diesel::PgConnection::establish(&s.fx.db.url).expect("connecting");
    diesel::sql_query("UPDATE kiln.submits SET status = status")
        .execute(&mut by_hand)
        .expect("an update by hand");
    assert!(
        audit("submits").iter().all(|b| !b.starts_with("kiln ")),
        "{:?}",
        audit("submits")
    );
    let (code, shown, _) = s.kiln(&["db", "submit", &first.uuid.to_string()]);
    assert_eq!(code, 0);
    assert!(shown.contains("status set"), "{shown}");

    // Again: nothing to do, and said so.
    let (code, _, stderr) = s.release(&first, &["--to", "stable"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("4 already released"), "{stderr}");
    assert_eq!(s.rows(), rows);

    // Another build puts different content at the same paths.
    let second = s.submit("2");
    let (code, _, stderr) = s.release(&second, &["--to", "stable"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("a different file is released there"),
        "{stderr}"
    );
    assert!(stderr.contains("b-1.pkg"), "{stderr}");
    assert_eq!(
        hashes(&stable),
        hashes(&s.staged(&first)),
        "nothing changed"
    );
    assert_eq!(s.rows(), rows);

    let (code, _, stderr) = s.release(&second, &["--to", "stable", "--update"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(hashes(&stable), hashes(&s.staged(&second)));
    let after = s.rows();
    // The .doc files are the same in both builds: released already.
    let replaced: Vec<&Release> = after
        .iter()
        .filter(|r| r.removal == Some(Removal::Replaced))
        .collect();
    assert_eq!(replaced.len(), 2, "{after:#?}");
    assert!(replaced.iter().all(|r| r.path.ends_with(".pkg")));
    assert_eq!(after.iter().filter(|r| r.removed_at.is_none()).count(), 4);

    // Remove b: its files go, its rows stay, marked.
    let (code, _, stderr) = s.kiln(&REMOVE_B);
    assert_eq!(code, 0, "{stderr}");
    let left: Vec<String> = hashes(&stable).into_keys().collect();
    assert_eq!(left, ["a/a-1.pkg", "a/a.doc"]);
    let removed: Vec<Release> = s
        .rows()
        .into_iter()
        .filter(|r| r.removal == Some(Removal::Removed))
        .collect();
    assert_eq!(removed.len(), 2);
    assert!(removed
        .iter()
        .all(|r| r.path.starts_with("b/") && r.removed_by.as_deref() == Some(me.user.as_str())));

    let list = |all: bool| -> Vec<serde_json::Value> {
        let mut args = vec!["release", "list", "--store", "stable", "-o", "json"];
        if all {
            args.push("--all");
        }
        let (code, stdout, stderr) = s.kiln(&args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).expect("JSON")
    };
    assert_eq!(list(false).len(), 2, "a's current releases");
    let all = list(true);
    assert_eq!(all.len(), 6);
    assert_eq!(all.iter().filter(|r| r["removal"] == "removed").count(), 2);
    let (code, _, stderr) = s.kiln(&REMOVE_B);
    assert_eq!(code, 2, "nothing left to remove: {stderr}");
}

#[test]
fn a_staged_file_changed_since_it_was_built_is_refused() {
    let Some(s) = setup() else { return };
    let submit = s.submit("1");
    let tampered = s.staged(&submit).join("b/b-1.pkg");
    std::fs::write(&tampered, "not what was built\n").expect("tampering");

    let (code, _, stderr) = s.release(&submit, &["--to", "testing"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&tampered.display().to_string()), "{stderr}");
    assert!(stderr.contains("changed since it was built"), "{stderr}");
    assert!(
        files_under(&s.releases.join("testing")).is_empty(),
        "nothing placed, no temporary file left"
    );
    assert!(s.rows().is_empty(), "nothing recorded");

    // One package of the submit: only its artifacts.
    let (code, _, stderr) = s.release(&submit, &["a", "1", "--to", "testing"]);
    assert_eq!(code, 0, "{stderr}");
    let released: Vec<String> = hashes(&s.releases.join("testing")).into_keys().collect();
    assert_eq!(released, ["a/a-1.pkg", "a/a.doc"]);

    let (code, _, stderr) = s.release(&submit, &["--to", "nightly"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("nightly") && stderr.contains("stable, testing"),
        "{stderr}"
    );
}

#[test]
fn find_artifact_lists_the_files_that_are_there_in_staging_and_stores() {
    let Some(s) = setup() else { return };
    let first = s.submit("1");
    let second = s.submit("2");
    let (code, _, stderr) = s.release(&first, &["--to", "stable"]);
    assert_eq!(code, 0, "{stderr}");
    let find = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["find-artifact"];
        all.extend_from_slice(args);
        let staging = s.fx.staging().display().to_string();
        all.extend(["--staging-dir", &staging, "-o", "json"]);
        let (code, stdout, stderr) = s.kiln(&all);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).expect("JSON")
    };
    let paths = |rows: &[serde_json::Value]| -> Vec<String> {
        rows.iter()
            .map(|r| r["path"].as_str().expect("path").to_owned())
            .collect()
    };
    let a_pkg = |submit: &Submit| s.staged(submit).join("a/a-1.pkg").display().to_string();
    let in_stable = s.releases.join("stable/a/a-1.pkg").display().to_string();

    // Newest first: the second build's file, then the first's, in staging
    // and in the store.
    let rows = find(&["^a$", "1"]);
    let pkgs: Vec<String> = paths(&rows)
        .into_iter()
        .filter(|p| p.ends_with(".pkg"))
        .collect();
    assert_eq!(pkgs, [a_pkg(&second), a_pkg(&first), in_stable.clone()]);
    assert!(rows
        .iter()
        .all(|r| r["package"] == "a" && r["version"] == "1"));

    // -E selects the build with that value; -I with an image not used finds nothing.
    let rows = find(&["^a$", "-E", "X=1"]);
    assert!(
        paths(&rows)
            .iter()
            .all(|p| !p.contains(&second.uuid.to_string())),
        "{rows:?}"
    );
    assert!(paths(&rows).contains(&in_stable));
    assert!(find(&["^a$", "-I", "missing"]).is_empty());

    // A deleted staged file is skipped; the released copy is still found.
    std::fs::remove_file(a_pkg(&first)).expect("rm");
    let pkgs: Vec<String> = paths(&find(&["^a$", "-E", "X=1"]))
        .into_iter()
        .filter(|p| p.ends_with(".pkg"))
        .collect();
    assert_eq!(pkgs, [in_stable]);

    // Paths alone, for scripts.
    let (code, stdout, _) = s.kiln(&[
        "find-artifact",
        "^b$",
        "--paths",
        "--staging-dir",
        &s.fx.staging().display().to_string(),
    ]);
    assert_eq!(code, 0);
    assert!(stdout.lines().all(|l| Path::new(l).is_file()), "{stdout}");
    assert_eq!(stdout.lines().count(), 6, "{stdout}");

    let (code, _, stderr) = s.kiln(&["find-artifact", "a(", "-o", "json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not a valid regular expression"),
        "{stderr}"
    );
}
