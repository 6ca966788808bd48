//! Secrets through the real binary: the value of a `secret_env` variable,
//! given with `-E`, in a package's `environment`, or through a git
//! variable, reaches the container's environment and nothing else: no
//! table of the database (every row of every table read as text, logs
//! decoded), no `--write-log` file, no output at any verbosity, no command
//! that shows environments. Build keys still follow the secret: equal for
//! the same value, different for another.

use std::collections::BTreeMap;
use std::path::Path;

use diesel::{QueryableByName, RunQueryDsl};

use crate::submit::{config_toml, files_under, git_repo, Fixture};
use crate::support::records::{self, JobRecord};
use crate::support::run;

const CLI_SECRET: &str = "cli-Zk81-secret";
const NEW_SECRET: &str = "cli-Wx55-changed";
const PKG_SECRET: &str = "pkg-Qv27-secret";
/// The author of the commits `git_repo` makes, a secret through
/// `containers.git_author`.
const GIT_AUTHOR: &str = "kiln test <test@kiln.invalid>";

const LEAF: &str = r#"name = "leaf"
version = "1"

[environment]
PKGSECRET = "pkg-Qv27-secret"
MIRROR = "https://me:pkg-Qv27-secret@mirror.invalid/"
PLAIN = "nothing to hide"

[phases.build]
script = '''
{{phase "build"}}
echo "seen: $MYSECRET and $PKGSECRET by $AUTHOR"
echo "interpolated: {{this.environment.PKGSECRET}}" >&2
mkdir -p /outputs
printf %s "$MYSECRET" | sha256sum | cut -d' ' -f1 > /outputs/leaf.txt
'''
"#;

const TOP: &str = r##"name = "top"
version = "1"

[dependencies]
build = ["leaf =1"]

[phases.build]
script = '''
{{phase "build"}}
echo "about to fail with $MYSECRET" >&2
echo "#KILN:STATE:ERR:wrong secret $MYSECRET"
exit 1
'''
"##;

/// A repository of `top` (which fails, quoting the secret) above `leaf`
/// (which succeeds), with `secret_env` in the user's configuration.
fn secret_repo(fx: &Fixture) -> std::path::PathBuf {
    let extra = "\n[containers]\ngit_author = \"AUTHOR\"\n";
    let config = config_toml(&fx.image, extra);
    std::fs::create_dir_all(fx.sandbox.user_config().parent().expect("a parent"))
        .expect("creating the user configuration directory");
    std::fs::write(
        fx.sandbox.user_config(),
        "secret_env = [\"MYSECRET\", \"PKGSECRET\", \"AUTHOR\"]\n",
    )
    .expect("writing the user configuration");
    git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("leaf/pkg.toml", LEAF),
            ("top/pkg.toml", TOP),
        ],
    )
}

#[derive(QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

/// Every row of every table of the database as text, and every stored log
/// line decoded.
fn database_text(fx: &Fixture) -> String {
    let mut conn = fx.db.connect();
    let tables: Vec<Text> = diesel::sql_query(
        "SELECT table_name::text AS text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load(&mut conn)
    .expect("listing the tables");
    assert!(tables.iter().any(|t| t.text == "jobs"), "no jobs table");
    let mut out = String::new();
    for table in &tables {
        let rows: Vec<Text> =
            diesel::sql_query(format!("SELECT t::text AS text FROM \"{}\" t", table.text))
                .load(&mut conn)
                .expect("reading a table");
        for row in rows {
            out.push_str(&row.text);
            out.push('\n');
        }
    }
    for submit in records::submits(&mut conn) {
        for job in records::jobs_of(&mut conn, &submit) {
            for line in records::log_of(&mut conn, &job.job) {
                out.push_str(&line.text());
                out.push('\n');
            }
        }
    }
    out
}

/// Every file under `dir`, concatenated.
fn files_text(dir: &Path) -> String {
    files_under(dir)
        .iter()
        .map(|f| {
            String::from_utf8_lossy(&std::fs::read(dir.join(f)).expect("reading")).into_owned()
        })
        .collect()
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [CLI_SECRET, NEW_SECRET, PKG_SECRET, GIT_AUTHOR] {
        assert!(
            !text.contains(secret),
            "{what} shows the secret `{secret}`:\n{text}"
        );
    }
}

fn sha256_hex(text: &str) -> String {
    crate::support::repo::sha256_hex(text.as_bytes())
}

/// The `leaf` job of a submit, and what it staged.
fn leaf_of(fx: &Fixture, submit: &kiln::db::models::submits::Submit) -> (JobRecord, String) {
    let mut conn = fx.db.connect();
    let jobs = records::jobs_of(&mut conn, submit);
    let leaf = records::job_named(&jobs, "leaf").clone();
    let staged = fx.staging().join(submit.uuid.to_string()).join("leaf.txt");
    let seen = std::fs::read_to_string(staged).expect("reading what leaf staged");
    (leaf, seen.trim().to_owned())
}

#[test]
fn secrets_reach_the_container_and_nothing_else() {
    let Some(fx) = Fixture::new() else { return };
    let repo = secret_repo(&fx);
    let cli = format!("MYSECRET={CLI_SECRET}");
    let changed = format!("MYSECRET={NEW_SECRET}");
    let runs: [(&[&str], Option<&str>, &str); 3] = [
        (&["-vvv", "--write-log"], None, &cli),
        (&["-vv", "--write-log"], Some("trace"), &cli),
        (&["-v"], None, &changed),
    ];
    let mut printed = String::new();
    for (flags, kiln_log, env) in runs {
        let mut cmd = fx.submit_command(&repo, &["top", "-I", "busybox", "-E", env]);
        cmd.args(flags);
        if let Some(filter) = kiln_log {
            cmd.env("KILN_LOG", filter);
        }
        let (out, stdout, stderr) = run(&mut cmd);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        // The verbose runs did print diagnostics, and the failure was shown.
        if flags.contains(&"-vvv") {
            assert!(stderr.contains("DEBUG"), "{stderr}");
        }
        assert!(stdout.contains("wrong secret ****"), "{stdout}");
        assert!(stdout.contains("about to fail with ****"), "{stdout}");
        printed.push_str(&stdout);
        printed.push_str(&stderr);
    }
    let mut conn = fx.db.connect();
    let submits = records::submits(&mut conn);
    assert_eq!(submits.len(), 3);

    // The containers got the real values.
    let leaves: Vec<(JobRecord, String)> = submits.iter().map(|s| leaf_of(&fx, s)).collect();
    assert_eq!(leaves[0].1, sha256_hex(CLI_SECRET));
    assert_eq!(leaves[1].1, sha256_hex(CLI_SECRET));
    assert_eq!(leaves[2].1, sha256_hex(NEW_SECRET));

    // Build keys follow the secret without holding it.
    let key = |i: usize| leaves[i].0.job.build_key.clone();
    assert_eq!(key(0), key(1), "the same secret gives the same build key");
    assert_ne!(key(0), key(2), "another secret gives another build key");
    let inputs = &leaves[0].0.job.build_key_inputs;
    for name in ["MYSECRET", "PKGSECRET", "MIRROR", "AUTHOR"] {
        let value = inputs["environment"][name].as_str().unwrap_or_default();
        assert!(value.starts_with("hmac-sha256:"), "{name}: {inputs}");
    }
    assert_eq!(inputs["environment"]["PLAIN"], "nothing to hide");
    assert!(
        inputs["script_sha256"]
            .as_str()
            .is_some_and(|s| s.starts_with("hmac-sha256:")),
        "the script holds a secret: {inputs}"
    );

    // The recorded environment and script are masked.
    let env: BTreeMap<String, String> = records::env_of_job(&mut conn, &leaves[0].0.job);
    assert_eq!(env["MYSECRET"], "********");
    assert_eq!(env["PKGSECRET"], "********");
    assert_eq!(env["AUTHOR"], "********");
    assert_eq!(env["MIRROR"], "https://me:****@mirror.invalid/");
    assert!(leaves[0].0.job.script.contains("interpolated: ****"));

    // Nothing shows a secret: records, logs, log files, output.
    let log = records::log_of(&mut conn, &leaves[0].0.job);
    assert!(
        log.iter()
            .any(|l| l.text() == "seen: **** and **** by ****"),
        "the script printed the secrets, scrubbed"
    );
    assert_no_secret("the database", &database_text(&fx));
    let log_files = files_text(&fx.sandbox.path().join("data/kiln/logs"));
    assert!(
        log_files.contains("seen: **** and **** by ****"),
        "{log_files}"
    );
    assert_no_secret("the --write-log files", &log_files);
    assert_no_secret("the submits' output", &printed);

    let show = |args: &[&str]| {
        let mut cmd = fx.db.kiln(&fx.sandbox);
        cmd.arg("--repo").arg(&repo).args(args);
        let (out, stdout, stderr) = run(&mut cmd);
        assert!(out.status.success(), "{args:?}: {stderr}");
        format!("{stdout}{stderr}")
    };
    let job = leaves[0].0.job.uuid.to_string();
    let shown = [
        show(&["db", "job", &job, "--env", "--script", "--log"]),
        show(&["db", "job", &job, "--env", "--script", "-o", "json"]),
        show(&["env-of", "leaf", "1"]),
        show(&["env-of", "leaf", "1", "-o", "json"]),
        show(&["find-pkg", "leaf", "--all"]),
        show(&["find-pkg", "leaf", "-o", "json"]),
        show(&["config", "show"]),
    ];
    assert!(shown[2].contains("********"), "{}", shown[2]);
    for text in &shown {
        assert_no_secret("a command showing records or packages", text);
    }
}
