//! Reuse through the real binary, on the local Docker engine with a fresh
//! database per test: an unchanged resubmit reuses every job and creates no
//! container (watched on the engine's event stream); each input of the
//! build key, changed on its own, rebuilds exactly its package and what
//! depends on it, and `kiln explain` names it; missing and changed earlier
//! artifacts are rebuilt with the reason; `--no-reuse`, `--rebuild`,
//! `--dry-run`; two submits of one tree at once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use diesel::prelude::*;
use kiln::db::models::jobs::Job;
use kiln::db::models::submits::Submit;
use kiln::db::models::JobStatus;
use sha2::Digest;

use crate::submit::{config_toml, files_under, git_repo, Fixture};
use crate::support::records;
use crate::support::run;

/// A script that writes `/outputs/NAME.txt` from everything that can
/// change (the environment, the sources and patches in /inputs).
fn script(name: &str, extra: &str) -> String {
    format!(
        "[phases.build]\nscript = '''\n{{{{phase \"build\"}}}}\nmkdir -p /outputs\n{extra}\necho \"{name} $X $B_OPT $(cat /inputs/*.source /inputs/*.patch 2>/dev/null)\" > /outputs/{name}.txt\n'''\n"
    )
}

/// a (a source and a patch) <- b <- c (the root) -> d.
struct Tree {
    repo: PathBuf,
    cache: PathBuf,
}

impl Tree {
    fn new(fx: &Fixture, image: &str) -> Tree {
        let cache = fx.sandbox.path().join("cache-src");
        let source = b"source of a, first\n";
        let hash = hex::encode(sha2::Sha256::digest(source));
        // Top-level keys go before config_toml's tables.
        let config = format!(
            "source_cache = \"{}\"\nreleases_root = \"{}\"\nrelease_stores = [\"stable\"]\nsecret_env = [\"TOKEN\"]\n{}",
            cache.display(),
            fx.sandbox.path().join("releases").display(),
            config_toml(image, "")
        );
        let a = format!(
            "name = \"a\"\nversion = \"1\"\npatches = [\"fix.patch\"]\n[sources.src]\nurl = \"https://example.invalid/a.tar\"\nhash = {{ type = \"sha256\", hash = \"{hash}\" }}\n{}",
            script("a", "")
        );
        let b = format!(
            "name = \"b\"\nversion = \"1\"\n[environment]\nB_OPT = \"first\"\n[dependencies]\nbuild = [\"a =1\"]\n{}",
            script("b", "")
        );
        let c = format!(
            "name = \"c\"\nversion = \"1\"\n[dependencies]\nruntime = [\"b =1\", \"d =1\"]\n{}",
            script("c", "")
        );
        let d = format!("name = \"d\"\nversion = \"1\"\n{}", script("d", ""));
        let repo = git_repo(
            &fx.sandbox,
            "repo",
            &[
                ("config.toml", &config),
                ("a/pkg.toml", &a),
                ("a/fix.patch", "patch, first\n"),
                ("b/pkg.toml", &b),
                ("c/pkg.toml", &c),
                ("d/pkg.toml", &d),
            ],
        );
        std::fs::create_dir_all(cache.join("a-1")).expect("mkdir");
        std::fs::write(cache.join("a-1/src.source"), source).expect("source");
        Tree { repo, cache }
    }

    fn write(&self, path: &str, content: &str) {
        std::fs::write(self.repo.join(path), content).expect("writing a repository file");
    }

    fn edit(&self, path: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.repo.join(path)).expect("reading");
        assert!(text.contains(from), "{path} has no {from:?}");
        self.write(path, &text.replacen(from, to, 1));
    }
}

/// What one submit did: its record, each job by package name, its output.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    submit: Submit,
    jobs: BTreeMap<String, Job>,
}

impl Outcome {
    fn built(&self) -> BTreeSet<&str> {
        self.with_status(JobStatus::Succeeded)
    }

    fn reused(&self) -> BTreeSet<&str> {
        self.with_status(JobStatus::Reused)
    }

    fn with_status(&self, status: JobStatus) -> BTreeSet<&str> {
        self.jobs
            .iter()
            .filter(|(_, j)| j.status == status)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    fn job(&self, name: &str) -> &Job {
        &self.jobs[name]
    }
}

fn submit(fx: &Fixture, tree: &Tree, args: &[&str]) -> Outcome {
    let before = records::submits(&mut fx.db.connect()).len();
    let mut all = vec!["c", "-I", "busybox"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = fx.submit(&tree.repo, &all);
    let mut conn = fx.db.connect();
    let submits = records::submits(&mut conn);
    assert_eq!(
        submits.len(),
        before + 1,
        "one submit recorded:\n{stdout}\n{stderr}"
    );
    let submit = submits.last().cloned().expect("a submit");
    let jobs = records::jobs_of(&mut conn, &submit)
        .into_iter()
        .map(|j| (j.package().0, j.job))
        .collect();
    Outcome {
        code,
        stdout,
        stderr,
        submit,
        jobs,
    }
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

/// `kiln explain JOB --output json`, parsed.
fn explain(fx: &Fixture, tree: &Tree, job: &Job) -> serde_json::Value {
    let mut cmd = fx.db.kiln(&fx.sandbox);
    cmd.arg("--repo")
        .arg(&tree.repo)
        .args(["explain", &job.uuid.to_string(), "--output", "json"]);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "explain failed: {stderr}");
    serde_json::from_str(&stdout).expect("explain prints JSON")
}

/// The fields an explanation lists, as `field name` strings, and those of
/// the dependencies' explanations, recursively, as `dep > field name`.
fn fields(explanation: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for d in explanation["differences"].as_array().expect("differences") {
        let field = format!(
            "{} {}",
            d["field"].as_str().expect("field"),
            d["name"].as_str().unwrap_or("")
        )
        .trim()
        .to_owned();
        out.push(field.clone());
        if d.get("because").is_some() {
            out.extend(
                fields(&d["because"])
                    .into_iter()
                    .map(|f| format!("{field} > {f}")),
            );
        }
    }
    out
}

/// The ids of the containers created with the submit's label while `f` ran.
fn containers_created_during(f: impl FnOnce() -> Outcome) -> (Outcome, Vec<String>) {
    let since = chrono::Utc::now().timestamp() - 1;
    let outcome = f();
    let label = format!("org.kiln.submit={}", outcome.submit.uuid);
    let ids = containers_created_since(since, &label, "{{.Actor.ID}}");
    (outcome, ids)
}

/// What `format` prints of each container the engine made with `label`
/// from `since` (Unix seconds) until now.
fn containers_created_since(since: i64, label: &str, format: &str) -> Vec<String> {
    let until = chrono::Utc::now().timestamp() + 1;
    let out = Command::new("docker")
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
        ])
        .args(["--filter", "type=container", "--filter", "event=create"])
        .args(["--filter", &format!("label={label}"), "--format", format])
        .output()
        .expect("running docker events");
    assert!(out.status.success(), "docker events failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn staged(fx: &Fixture, submit: &Submit) -> BTreeMap<String, Vec<u8>> {
    let dir = fx.staging().join(submit.uuid.to_string());
    files_under(&dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(dir.join(&f)).expect("reading a staged file");
            (f, bytes)
        })
        .collect()
}

#[test]
fn an_unchanged_resubmit_reuses_every_job_and_runs_no_container() {
    let Some(fx) = Fixture::new() else { return };
    let tree = Tree::new(&fx, &fx.image);
    let (first, created) = containers_created_during(|| submit(&fx, &tree, &["-E", "X=1"]));
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(first.built(), set(&["a", "b", "c", "d"]));
    assert_eq!(created.len(), 4, "the engine saw each job's container made");
    assert!(first.stdout.contains("4 jobs: 4 built"), "{}", first.stdout);
    // The submit records the kiln that ran it, with the commit it was built from.
    let (out, version, _) = run(fx.sandbox.kiln().arg("--version"));
    assert!(out.status.success());
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git rev-parse");
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    assert_eq!(
        version.trim(),
        format!("kiln {}", first.submit.kiln_version)
    );
    assert!(
        first
            .submit
            .kiln_version
            .ends_with(&format!("(commit {commit})")),
        "{version}"
    );

    let (second, created) = containers_created_during(|| submit(&fx, &tree, &["-E", "X=1"]));
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert_eq!(second.reused(), set(&["a", "b", "c", "d"]));
    assert_eq!(
        created,
        Vec::<String>::new(),
        "no container for a reused job"
    );
    assert!(
        second.stdout.contains("4 jobs: 4 reused"),
        "{}",
        second.stdout
    );
    assert_eq!(staged(&fx, &second.submit), staged(&fx, &first.submit));
    assert_eq!(staged(&fx, &second.submit).len(), 4);

    let mut conn = fx.db.connect();
    for name in ["a", "b", "c", "d"] {
        let (old, new) = (first.job(name), second.job(name));
        assert_eq!(new.reused_job_id, Some(old.id), "{name}");
        assert_eq!(new.build_key, old.build_key, "{name}");
        assert_eq!(
            (new.container_id.as_ref(), new.started_at),
            (None, None),
            "{name}"
        );
        assert!(new.finished_at.is_some(), "{name}");
        let sums = |job: &Job, conn: &mut PgConnection| -> Vec<(String, String)> {
            records::artifacts_of(conn, job)
                .into_iter()
                .map(|a| (a.path, a.sha256))
                .collect()
        };
        assert_eq!(sums(new, &mut conn), sums(old, &mut conn), "{name}");
        // The reused job's input edges are those of a build: its
        // dependencies' artifacts in this submit.
        let inputs = records::input_artifacts_of(&mut conn, new);
        let expected: BTreeSet<i32> = match name {
            "b" => artifact_ids(&mut conn, &[second.job("a")]),
            "c" => artifact_ids(
                &mut conn,
                &[second.job("a"), second.job("b"), second.job("d")],
            ),
            _ => BTreeSet::new(),
        };
        assert_eq!(inputs, expected, "{name}");
    }

    // The log of a reused job is the log of the job it came from.
    let mut cmd = fx.db.kiln(&fx.sandbox);
    cmd.args(["db", "log-of", &second.job("c").uuid.to_string()]);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("building c") || stdout.contains("build"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&first.job("c").uuid.to_string()),
        "names the job it came from: {stderr}"
    );
    let why = explain(&fx, &tree, second.job("c"));
    assert_eq!(why["verdict"], "reused");

    // `--output json`: the submit as the database holds it, on stdout.
    let third = submit(&fx, &tree, &["-E", "X=1", "--output", "json"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(
        third.stderr.contains("4 jobs: 4 reused"),
        "the summary goes to stderr"
    );
    let doc: serde_json::Value = serde_json::from_str(&third.stdout).expect("one JSON document");
    assert_eq!(doc["uuid"], third.submit.uuid.to_string());
    assert_eq!(doc["status"], "succeeded");
    assert_eq!(
        doc["commit"],
        records::submit_commit(&mut conn, &third.submit)
    );
    let jobs = doc["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 4);
    for job in jobs {
        let name = job["package_name"].as_str().expect("package_name");
        let record = third.job(name);
        assert_eq!(job["uuid"], record.uuid.to_string());
        assert_eq!(job["status"], "reused");
        assert_eq!(job["image_digest"].as_str(), record.image_digest.as_deref());
        let artifacts = job["artifacts"].as_array().expect("artifacts");
        let recorded = records::artifacts_of(&mut conn, record);
        assert_eq!(artifacts.len(), recorded.len(), "{name}");
        for (a, r) in artifacts.iter().zip(&recorded) {
            assert_eq!(
                (a["path"].as_str(), a["sha256"].as_str()),
                (Some(r.path.as_str()), Some(r.sha256.as_str()))
            );
            let staged = std::fs::read(a["staged_path"].as_str().expect("staged_path"))
                .expect("the staged file");
            assert_eq!(hex::encode(sha2::Sha256::digest(&staged)), r.sha256);
        }
    }
    // The same document afterwards.
    let mut cmd = fx.db.kiln(&fx.sandbox);
    cmd.args([
        "db",
        "submit",
        &third.submit.uuid.to_string(),
        "--output",
        "json",
        "--artifacts",
    ])
    .arg("--staging-dir")
    .arg(fx.staging());
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    let again: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(again, doc);
}

fn artifact_ids(conn: &mut PgConnection, jobs: &[&Job]) -> BTreeSet<i32> {
    jobs.iter()
        .flat_map(|j| records::artifacts_of(conn, j))
        .map(|a| a.id.0)
        .collect()
}

#[test]
fn each_input_of_the_key_rebuilds_exactly_its_package_and_dependents() {
    let Some(fx) = Fixture::new() else { return };
    // An image of its own, so that it can change under the same name.
    let (image, _cleanup) = own_image(&fx, "inputs");
    let tree = Tree::new(&fx, &image);
    let base = ["--no-verify", "-E", "X=1", "-E", "TOKEN=first-secret"];
    let first = submit(&fx, &tree, &base);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);

    type Change<'a> = (
        &'a str,
        Box<dyn Fn(&Tree) + 'a>,
        Vec<&'a str>,
        BTreeSet<&'static str>,
        &'a str,
        &'a str,
    );
    let x2 = ["--no-verify", "-E", "X=2", "-E", "TOKEN=first-secret"];
    let secret2 = ["--no-verify", "-E", "X=2", "-E", "TOKEN=second-secret"];
    let cases: Vec<Change> = vec![
        (
            "d's script",
            Box::new(|t: &Tree| {
                t.edit(
                    "d/pkg.toml",
                    "mkdir -p /outputs\n",
                    "mkdir -p /outputs\ntrue\n",
                )
            }),
            base.to_vec(),
            set(&["d", "c"]),
            "d",
            "script",
        ),
        (
            "b's environment",
            Box::new(|t: &Tree| t.edit("b/pkg.toml", "B_OPT = \"first\"", "B_OPT = \"second\"")),
            base.to_vec(),
            set(&["b", "c"]),
            "b",
            "environment B_OPT",
        ),
        (
            "a's source content",
            Box::new(|t: &Tree| {
                std::fs::write(t.cache.join("a-1/src.source"), "source of a, second\n")
                    .expect("write")
            }),
            base.to_vec(),
            set(&["a", "b", "c"]),
            "a",
            "source src",
        ),
        (
            "a's patch",
            Box::new(|t: &Tree| t.write("a/fix.patch", "patch, second\n")),
            base.to_vec(),
            set(&["a", "b", "c"]),
            "a",
            "patch a/fix.patch",
        ),
        (
            "a dependency's script",
            Box::new(|t: &Tree| {
                t.edit(
                    "a/pkg.toml",
                    "mkdir -p /outputs\n",
                    "mkdir -p /outputs\ntrue\n",
                )
            }),
            base.to_vec(),
            set(&["a", "b", "c"]),
            "c",
            "dependency b 1 > dependency a 1 > script",
        ),
        (
            "a -E value",
            Box::new(|_: &Tree| {}),
            x2.to_vec(),
            set(&["a", "b", "c", "d"]),
            "d",
            "environment X",
        ),
        (
            "a secret's value",
            Box::new(|_: &Tree| {}),
            secret2.to_vec(),
            set(&["a", "b", "c", "d"]),
            "d",
            "environment TOKEN",
        ),
    ];
    let mut last_args = base.to_vec();
    for (what, change, args, expected, explained, field) in &cases {
        change(&tree);
        let outcome = submit(&fx, &tree, args);
        assert_eq!(
            outcome.code, 0,
            "{what}: {}\n{}",
            outcome.stdout, outcome.stderr
        );
        assert_eq!(&outcome.built(), expected, "{what}: built");
        let all = set(&["a", "b", "c", "d"]);
        let rest: BTreeSet<&str> = all.difference(expected).copied().collect();
        assert_eq!(outcome.reused(), rest, "{what}: reused");
        let why = explain(&fx, &tree, outcome.job(explained));
        assert_eq!(why["verdict"], "inputs_differ", "{what}: {why}");
        let listed = fields(&why);
        assert!(
            listed.iter().any(|f| f == field),
            "{what}: {field} not in {listed:?}"
        );
        let text = why.to_string();
        assert!(
            !text.contains("first-secret") && !text.contains("second-secret"),
            "{text}"
        );
        last_args = args.clone();
    }

    // The image behind the same name: every job is built.
    let derived = Command::new("docker")
        .args(["build", "-q", "-t", &image, "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(
                format!("FROM {}\nLABEL org.kiln.test=changed\n", fx.image).as_bytes(),
            )?;
            child.wait()
        })
        .expect("docker build");
    assert!(derived.success(), "building a derived image");
    let outcome = submit(&fx, &tree, &last_args);
    assert_eq!(outcome.code, 0, "{}\n{}", outcome.stdout, outcome.stderr);
    assert_eq!(outcome.built(), set(&["a", "b", "c", "d"]));
    let listed = fields(&explain(&fx, &tree, outcome.job("a")));
    assert!(listed.iter().any(|f| f == "image_digest"), "{listed:?}");
}

/// The test image under a name of this test's own (removed when dropped),
/// so that it can change under that name, and the engine's events can be
/// told apart from other tests'.
fn own_image(fx: &Fixture, what: &str) -> (String, RemoveImage) {
    let image = format!("kiln-reuse-{what}-{}:latest", std::process::id());
    let status = Command::new("docker")
        .args(["tag", &fx.image, &image])
        .status()
        .expect("docker tag");
    assert!(status.success(), "docker tag {image}");
    (image.clone(), RemoveImage(image))
}

struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

#[test]
fn missing_or_changed_artifacts_are_rebuilt_and_the_summary_says_why() {
    let Some(fx) = Fixture::new() else { return };
    let tree = Tree::new(&fx, &fx.image);
    let first = submit(&fx, &tree, &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let first_dir = fx.staging().join(first.submit.uuid.to_string());

    // Missing from staging, but released: taken from the release store.
    let store = fx.sandbox.path().join("releases/stable");
    std::fs::create_dir_all(&store).expect("mkdir");
    std::fs::rename(first_dir.join("d.txt"), store.join("d.txt")).expect("moving d.txt");
    let mut conn = fx.db.connect();
    diesel::sql_query("INSERT INTO release_stores (name) VALUES ('stable')")
        .execute(&mut conn)
        .expect("a store");
    diesel::sql_query(
        "INSERT INTO releases (artifact_id, release_store_id, released_by, package_id, path, released_host) \
         SELECT a.id, s.id, 'test', j.package_id, a.path, 'test-host' \
           FROM artifacts a JOIN jobs j ON j.id = a.job_id, release_stores s WHERE a.job_id = $1",
    )
    .bind::<diesel::sql_types::Integer, _>(first.job("d").id.0)
    .execute(&mut conn)
    .expect("a release");
    let second = submit(&fx, &tree, &[]);
    assert_eq!(
        second.reused(),
        set(&["a", "b", "c", "d"]),
        "{}",
        second.stdout
    );
    assert_eq!(second.job("d").reused_job_id, Some(first.job("d").id));

    // Gone from the release store, but kept where a later submit reused it.
    std::fs::remove_file(store.join("d.txt")).expect("removing the release");
    let again = submit(&fx, &tree, &[]);
    assert_eq!(
        again.reused(),
        set(&["a", "b", "c", "d"]),
        "{}",
        again.stdout
    );

    // Missing everywhere: d is built, and so is c above it.
    for s in [&second, &again] {
        let dir = fx.staging().join(s.submit.uuid.to_string());
        std::fs::remove_file(dir.join("d.txt")).expect("removing d.txt");
    }
    let third = submit(&fx, &tree, &[]);
    assert_eq!(third.code, 0, "{}\n{}", third.stdout, third.stderr);
    assert_eq!(third.built(), set(&["c", "d"]));
    // Only a job that was built is a source (reused copies are places
    // where its files may be).
    let d_source = short(&first.job("d").uuid);
    assert!(
        third.stdout.contains(&format!(
            "d 1 built: earlier artifact d.txt of job {d_source} is missing"
        )),
        "{}",
        third.stdout
    );
    assert!(
        third
            .job("d")
            .build_reason
            .as_deref()
            .unwrap_or("")
            .contains("is missing"),
        "{:?}",
        third.job("d").build_reason
    );
    let why = explain(&fx, &tree, third.job("d"));
    assert_eq!(why["verdict"], "same_key", "{why}");

    // Changed content (every copy: they are hard links of one file).
    let third_dir = fx.staging().join(third.submit.uuid.to_string());
    std::fs::write(third_dir.join("b.txt"), "tampered\n").expect("tampering");
    let fourth = submit(&fx, &tree, &[]);
    assert_eq!(fourth.code, 0, "{}\n{}", fourth.stdout, fourth.stderr);
    assert_eq!(fourth.built(), set(&["b", "c"]));
    assert!(
        fourth
            .stdout
            .contains("b 1 built: earlier artifact b.txt of job ")
            && fourth.stdout.contains("has changed"),
        "{}",
        fourth.stdout
    );
    let fourth_dir = fx.staging().join(fourth.submit.uuid.to_string());
    assert_ne!(
        std::fs::read_to_string(fourth_dir.join("b.txt")).expect("b.txt"),
        "tampered\n",
        "b is rebuilt, not the tampered copy"
    );
}

fn short(uuid: &uuid::Uuid) -> String {
    format!("{}…", &uuid.to_string()[..8])
}

#[test]
fn no_reuse_rebuild_and_dry_run() {
    let Some(fx) = Fixture::new() else { return };
    let (image, _cleanup) = own_image(&fx, "dry-run");
    let tree = Tree::new(&fx, &image);
    let first = submit(&fx, &tree, &[]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);

    let all = submit(&fx, &tree, &["--no-reuse"]);
    assert_eq!(all.built(), set(&["a", "b", "c", "d"]));
    assert_eq!(all.job("a").build_reason.as_deref(), Some("--no-reuse"));
    let mut cmd = fx.db.kiln(&fx.sandbox);
    cmd.args(["db", "job", &all.job("a").uuid.to_string()]);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("built because") && stdout.contains("--no-reuse"),
        "{stdout}"
    );

    let rebuilt = submit(&fx, &tree, &["--rebuild", "b"]);
    assert_eq!(rebuilt.built(), set(&["b", "c"]));
    assert_eq!(rebuilt.reused(), set(&["a", "d"]));

    let (code, _, stderr) = fx.submit(&tree.repo, &["c", "-I", "busybox", "--rebuild", "nope"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--rebuild nope"), "{stderr}");

    // A dry run records nothing and runs nothing.
    tree.edit(
        "d/pkg.toml",
        "mkdir -p /outputs\n",
        "mkdir -p /outputs\ntrue\n",
    );
    let submits_before = records::submits(&mut fx.db.connect()).len();
    // The engine's events count whole seconds: those of the submits
    // above are over before this one starts.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = chrono::Utc::now().timestamp();
    let (code, stdout, stderr) = fx.submit(&tree.repo, &["c", "-I", "busybox", "--dry-run"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(records::submits(&mut fx.db.connect()).len(), submits_before);
    let rows: BTreeMap<&str, &str> = stdout
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells.len() > 3 && ["a", "b", "c", "d"].contains(&cells[0]))
                .then(|| (cells[0], cells[2]))
        })
        .collect();
    assert_eq!(
        rows,
        BTreeMap::from([
            ("a", "reuse"),
            ("b", "reuse"),
            ("c", "build"),
            ("d", "build")
        ]),
        "{stdout}"
    );
    assert!(stdout.contains("script"), "says what changed: {stdout}");
    let created = containers_created_since(
        since,
        "org.kiln.managed=true",
        "{{index .Actor.Attributes \"image\"}}",
    );
    let ours: Vec<&String> = created.iter().filter(|made| **made == image).collect();
    assert!(
        ours.is_empty(),
        "containers made during the dry run: {ours:?}"
    );
    // The same watch sees the containers of the build it announced.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = chrono::Utc::now().timestamp();
    let built = submit(&fx, &tree, &[]);
    assert_eq!(built.built(), set(&["c", "d"]));
    let created = containers_created_since(
        since,
        "org.kiln.managed=true",
        "{{index .Actor.Attributes \"image\"}}",
    );
    assert_eq!(
        created.iter().filter(|made| **made == image).count(),
        2,
        "{created:?}"
    );
}

#[test]
fn two_submits_of_one_tree_at_once_both_succeed() {
    let Some(fx) = Fixture::new() else { return };
    let tree = Tree::new(&fx, &fx.image);
    let spawn = || {
        let mut cmd = fx.submit_command(&tree.repo, &["c", "-I", "busybox"]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starting kiln")
    };
    let (one, two) = (spawn(), spawn());
    for child in [one, two] {
        let out = child.wait_with_output().expect("waiting for kiln");
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut conn = fx.db.connect();
    let submits = records::submits(&mut conn);
    assert_eq!(submits.len(), 2);
    for submit in &submits {
        for job in records::jobs_of(&mut conn, submit) {
            let job = job.job;
            match job.reused_job_id {
                None => assert_eq!(job.status, JobStatus::Succeeded),
                Some(source) => {
                    // Only a job that had succeeded (and so had its files)
                    // can have been the source.
                    let source = Job::find(&mut conn, source).expect("the source");
                    assert_eq!(source.status, JobStatus::Succeeded);
                    assert!(source.finished_at.expect("it ended") <= job.queued_at);
                }
            }
        }
    }
}
