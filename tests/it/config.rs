//! `kiln config show` and configuration errors, through the real binary:
//! a butido `config.toml` loads unchanged, mistakes exit with code 2 naming
//! file, key and line, passwords are masked, and every value shows its
//! source.

use std::path::PathBuf;

use crate::support::snapshot::assert_snapshot;
use crate::support::{run, Sandbox};

/// A butido repository's `config.toml`, with every kind of key.
const BUTIDO: &str = r##"# Example configuration file for butido
compatibility = 1
progress_format = "[{elapsed_precise}] ({percent:>3}%): {bar:40.cyan/blue} | {msg}"
shebang = "#!/bin/bash"
build_error_lines = 10
script_highlight_theme = "Solarized (dark)"
releases_root  = "releases"
release_stores = [ "default" ]
staging        = "staging"
source_cache   = "sources"
log_dir        = "logs"
strict_script_interpolation = true

database_host     = "localhost"
database_port     = 5432
database_user     = "pgdev"
database_password = "pw-never-shown"
database_name     = "butido"
database_connection_timeout = 30

available_phases = [ "sourcecheck", "patchcheck", "depcheck", "build" ]

[docker]
images = [
    { name = "debian:bullseye", short_name = "deb11" },
    { name = "debian:bookworm", short_name = "deb12" },
]

[docker.endpoints.testhostname]
uri           = "http://0.0.0.0:8095" # the URI of the endpoint
endpoint_type = "http" # either "http" or "socket"
maxjobs       = 3

[containers]
check_env_names = true
allowed_env     = [ "FOO", "BAR" ]
git_author      = "GIT_AUTHOR_INFO"
git_commit_hash = "GIT_COMMIT_HASH"
"##;

/// A sandbox with a package repository holding `config_toml`.
fn repo_with(config_toml: &str) -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let repo = sandbox.path().join("repo");
    std::fs::create_dir_all(&repo).expect("creating the repository");
    let file = repo.join("config.toml");
    std::fs::write(&file, config_toml).expect("writing config.toml");
    (sandbox, file)
}

/// `kiln --repo repo config show --output json`, as (key → (value, source)).
fn show_json(sandbox: &Sandbox, envs: &[(&str, &str)]) -> Vec<(String, serde_json::Value, String)> {
    let mut cmd = sandbox.kiln();
    cmd.args(["--repo", "repo", "config", "show", "--output", "json"]);
    cmd.envs(envs.iter().copied());
    let (out, stdout, stderr) = run(&mut cmd);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("JSON output");
    rows.into_iter()
        .map(|r| {
            (
                r["key"].as_str().expect("key").to_owned(),
                r["value"].clone(),
                r["source"].as_str().expect("source").to_owned(),
            )
        })
        .collect()
}

fn entry<'a>(
    rows: &'a [(String, serde_json::Value, String)],
    key: &str,
) -> &'a (String, serde_json::Value, String) {
    rows.iter()
        .find(|(k, _, _)| k == key)
        .unwrap_or_else(|| panic!("no `{key}` in {rows:?}"))
}

#[test]
fn butido_config_loads_and_shows_sources() {
    let (sandbox, file) = repo_with(BUTIDO);
    let f = file.display().to_string();
    let repo = sandbox.path().join("repo");
    let rows = show_json(&sandbox, &[]);
    let cases: &[(&str, serde_json::Value, String)] = &[
        ("compatibility", 1.into(), format!("{f}:2")),
        ("build_error_lines", 10.into(), format!("{f}:5")),
        (
            "releases_root",
            repo.join("releases").display().to_string().into(),
            format!("{f}:7"),
        ),
        (
            "staging",
            repo.join("staging").display().to_string().into(),
            format!("{f}:9"),
        ),
        (
            "available_phases",
            serde_json::json!(["sourcecheck", "patchcheck", "depcheck", "build"]),
            format!("{f}:21"),
        ),
        (
            "docker.endpoints.testhostname.maxjobs",
            3.into(),
            format!("{f}:32"),
        ),
        (
            "docker.endpoints.testhostname.endpoint_type",
            "http".into(),
            format!("{f}:31"),
        ),
        (
            "docker.endpoints.testhostname.timeout",
            10.into(),
            "default".into(),
        ),
        (
            "containers.git_author",
            "GIT_AUTHOR_INFO".into(),
            format!("{f}:37"),
        ),
        ("job_timeout", serde_json::Value::Null, "default".into()),
        (
            "database",
            "postgres://pgdev:********@localhost:5432/butido".into(),
            format!("{f}:14"),
        ),
        ("database_password", "********".into(), format!("{f}:17")),
    ];
    for (key, value, source) in cases {
        let (_, v, s) = entry(&rows, key);
        assert_eq!(v, value, "value of {key}");
        assert_eq!(s, source, "source of {key}");
    }
    let images = &entry(&rows, "docker.images").1;
    assert_eq!(images[1]["short_name"], "deb12");
    // No endpoint is added when the file names some.
    assert!(!rows
        .iter()
        .any(|(k, _, _)| k.starts_with("docker.endpoints.local")));
}

#[test]
fn passwords_are_masked_in_every_format() {
    let (sandbox, _) = repo_with(BUTIDO);
    for format in ["table", "csv", "json"] {
        let (out, stdout, stderr) = run(sandbox
            .kiln()
            .args(["--repo", "repo", "config", "show", "-o", format]));
        assert_eq!(out.status.code(), Some(0), "{format}: {stderr}");
        assert!(
            !stdout.contains("pw-never-shown") && !stderr.contains("pw-never-shown"),
            "{format}:\n{stdout}"
        );
        assert!(stdout.contains("********"), "{format}:\n{stdout}");
    }
    let (out, stdout, stderr) = run(sandbox.kiln().args([
        "--repo",
        "repo",
        "--database-url",
        "postgres://me:url-secret@db.example:5433/kiln",
        "config",
        "show",
        "-o",
        "csv",
    ]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains("url-secret"), "{stdout}");
    assert!(
        stdout.contains(
            "database_url,postgres://me:********@db.example:5433/kiln,flag --database-url"
        ),
        "{stdout}"
    );
}

#[test]
fn table_output_has_one_key_per_line() {
    let (sandbox, _) = repo_with(BUTIDO);
    let (out, stdout, stderr) = run(sandbox.kiln().args(["--repo", "repo", "config", "show"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_snapshot!("config_show_table", stdout);
}

#[test]
fn environment_variable_overrides_file_value() {
    let (sandbox, _) = repo_with(BUTIDO);
    let rows = show_json(
        &sandbox,
        &[
            ("KILN_DOCKER__ENDPOINTS__TESTHOSTNAME__MAXJOBS", "7"),
            ("KILN_AVAILABLE_PHASES", r#"["build"]"#),
            ("KILN_DATABASE_PASSWORD", "12345"),
        ],
    );
    let cases: &[(&str, serde_json::Value, &str)] = &[
        (
            "docker.endpoints.testhostname.maxjobs",
            7.into(),
            "env KILN_DOCKER__ENDPOINTS__TESTHOSTNAME__MAXJOBS",
        ),
        (
            "available_phases",
            serde_json::json!(["build"]),
            "env KILN_AVAILABLE_PHASES",
        ),
        (
            "database_password",
            "********".into(),
            "env KILN_DATABASE_PASSWORD",
        ),
    ];
    for (key, value, source) in cases {
        let (_, v, s) = entry(&rows, key);
        assert_eq!(v, value, "value of {key}");
        assert_eq!(s, source, "source of {key}");
    }
}

#[test]
fn user_file_overrides_repository_file() {
    let (sandbox, _) = repo_with(BUTIDO);
    let user = sandbox.user_config();
    std::fs::create_dir_all(user.parent().expect("a parent"))
        .expect("creating the config directory");
    std::fs::write(
        &user,
        "build_error_lines = 25\n\n[docker.endpoints.testhostname]\nmaxjobs = 9\n",
    )
    .expect("writing the user's file");
    let u = user.display().to_string();
    let rows = show_json(&sandbox, &[]);
    assert_eq!(entry(&rows, "build_error_lines").1, 25);
    assert_eq!(entry(&rows, "build_error_lines").2, format!("{u}:1"));
    // Tables merge key by key: the uri stays the repository's.
    assert_eq!(
        entry(&rows, "docker.endpoints.testhostname.maxjobs").2,
        format!("{u}:4")
    );
    assert_eq!(
        entry(&rows, "docker.endpoints.testhostname.uri").1,
        "http://0.0.0.0:8095"
    );
}

#[test]
fn stray_variable_is_a_warning() {
    let (sandbox, _) = repo_with(BUTIDO);
    let (out, _, stderr) = run(sandbox
        .kiln()
        .args(["--repo", "repo", "config", "show"])
        .env("KILN_MAXJOBZ", "3"));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_snapshot!("stray_variable_warning", stderr);
}

#[test]
fn works_without_a_repository() {
    let sandbox = Sandbox::new();
    let (out, stdout, stderr) = run(sandbox.kiln().args(["config", "show", "-o", "csv"]));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let data = sandbox.path().join("data/kiln");
    assert!(
        stdout.contains(&format!(
            "database,embedded ({}),default",
            data.join("postgres").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("docker.endpoints.local.maxjobs,"),
        "{stdout}"
    );
    assert!(stdout.contains("available_phases,[],default"), "{stdout}");
}

/// Each case: what is wrong, the text of config.toml.
#[test]
fn mistakes_exit_2_naming_file_key_and_line() {
    let cases: &[(&str, &str)] = &[
        (
            "unknown key",
            "compatibility = 1\navailable_phases = [\"build\"]\ncolour = \"blue\"\n[docker]\nimages = [\"debian:12\"]\n",
        ),
        (
            "wrong type",
            "compatibility = 1\navailable_phases = [\"build\"]\n[docker]\nimages = [\"debian:12\"]\n[docker.endpoints.b]\nuri = \"http://b:2375\"\nmaxjobs = \"four\"\n",
        ),
        (
            "syntax error",
            "compatibility = 1\navailable_phases = [\"build\"\n[docker]\n",
        ),
        (
            "newer format",
            "compatibility = 2\n",
        ),
        (
            "missing phases",
            "compatibility = 1\n[docker]\nimages = [\"debian:12\"]\n",
        ),
    ];
    let mut transcript = String::new();
    for (what, text) in cases {
        let (sandbox, file) = repo_with(text);
        let (out, stdout, stderr) = run(sandbox.kiln().args(["--repo", "repo", "config", "show"]));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{what}: stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            stderr.contains(&file.display().to_string()),
            "{what}: no file name in:\n{stderr}"
        );
        transcript += &format!("# {what}\n{stderr}\n");
    }
    assert_snapshot!("config_mistakes", transcript);
}

#[test]
fn bad_variable_exits_2_naming_it() {
    let (sandbox, _) = repo_with(BUTIDO);
    let (out, _, stderr) = run(sandbox
        .kiln()
        .args(["--repo", "repo", "config", "show"])
        .env("KILN_BUILD_ERROR_LINES", "lots"));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_snapshot!("bad_variable", stderr);
}

#[test]
fn missing_config_file_flag_exits_2() {
    let sandbox = Sandbox::new();
    let (out, _, stderr) = run(sandbox
        .kiln()
        .args(["--config", "nope.toml", "config", "show"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_snapshot!("missing_config_file_flag", stderr);
}
