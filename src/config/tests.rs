//! Loading whole configurations: layering, defaults, sources, and the
//! error of each kind of mistake, with files in a temporary directory and
//! an [`Environment`] made for each case.

use std::path::{Path, PathBuf};

use super::*;

/// A butido `config.toml` as found in package repositories.
const BUTIDO: &str = r##"# butido configuration
compatibility = 1
progress_format = "[{elapsed_precise}] ({percent:>3}%): {bar:40.cyan/blue} | {msg}"
shebang = "#!/bin/bash"
build_error_lines = 12
script_highlight_theme = "Solarized (dark)"
releases_root = "releases"
release_stores = [ "default", "testing" ]
staging = "/tmp/kiln-test-staging"
source_cache = "sources"
log_dir = "logs"
strict_script_interpolation = true

database_host     = "db.example"
database_port     = 5433
database_user     = "pgdev"
database_password = "s3cr3t-pw"
database_name     = "butido"
database_connection_timeout = 15

available_phases = [ "unpack", "patch", "configure", "build", "fixup", "pack" ]

[docker]
images = [
    { name = "debian:bullseye", short_name = "deb11" },
    { name = "local:rockylinux8" },
]
docker_versions = [ "20.10.24" ]

[docker.endpoints.testhostname]
uri           = "http://0.0.0.0:8095"
endpoint_type = "http"
maxjobs       = 3

[docker.endpoints.sock]
uri = "unix:///var/run/docker.sock"
endpoint_type = "socket"
maxjobs = 1
network_mode = "host"
timeout = 5

[containers]
check_env_names = true
allowed_env     = [ "FOO", "BAR" ]
git_author      = "GIT_AUTHOR_INFO"
git_commit_hash = "GIT_COMMIT_HASH"
"##;

/// A test home: a repository directory, a user configuration directory,
/// and an environment pointing at them.
struct Home {
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        for sub in ["repo", "config/kiln", "data", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("directories");
        }
        let p = dir.path();
        let vars = vec![
            (
                "XDG_CONFIG_HOME".into(),
                p.join("config").display().to_string(),
            ),
            ("XDG_DATA_HOME".into(), p.join("data").display().to_string()),
            ("HOME".into(), p.join("home").display().to_string()),
        ];
        Self { dir, vars }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }
    fn repo_file(&self) -> PathBuf {
        self.repo().join("config.toml")
    }
    fn user_file(&self) -> PathBuf {
        self.path().join("config/kiln/config.toml")
    }
    fn write_repo(&self, text: &str) -> &Self {
        std::fs::write(self.repo_file(), text).expect("writing repo config");
        self
    }
    fn write_user(&self, text: &str) -> &Self {
        std::fs::write(self.user_file(), text).expect("writing user config");
        self
    }
    fn env(&self, extra: &[(&str, &str)]) -> Environment {
        let mut vars = self.vars.clone();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Environment::from_pairs(vars, self.path())
    }
    fn load(&self, extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        self.load_flag(extra, None)
    }
    fn load_flag(&self, extra: &[(&str, &str)], url: Option<&str>) -> Result<Config, ConfigError> {
        let options = LoadOptions {
            repo_root: Some(self.repo()),
            user_file: None,
            database_url: url.map(Into::into),
            ..LoadOptions::default()
        };
        Config::load_with(&options, &self.env(extra))
    }
}

fn err_text(r: Result<Config, ConfigError>) -> String {
    match r {
        Ok(c) => panic!("expected an error, got {c:#?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn nothing_configured_gives_defaults() {
    let home = Home::new();
    let c = home.load(&[]).expect("loads without any file");
    let data = home.path().join("data/kiln");
    assert_eq!(c.data_dir, data);
    assert_eq!(c.log_dir, data.join("logs"));
    assert_eq!(c.staging, data.join("staging"));
    assert_eq!(c.release_stores, ["default"]);
    assert_eq!(c.shebang, "#!/bin/bash");
    assert_eq!(c.build_error_lines, 10);
    assert!(c.strict_script_interpolation);
    assert_eq!(c.log_limit, 64 << 20);
    assert!(
        matches!(&c.database, DatabaseTarget::Embedded { dir } if *dir == data.join("postgres"))
    );
    let [local] = c.docker.endpoints.as_slice() else {
        panic!("one endpoint: {:?}", c.docker.endpoints)
    };
    assert_eq!(local.name, "local");
    assert_eq!(local.uri, "unix:///var/run/docker.sock");
    assert_eq!(local.maxjobs, validate::local_cpus());
    assert!(c.available_phases.is_empty());
    assert!(c.phases().is_err());
    assert!(c.images().is_err());
    assert!(c.provenance.files.is_empty());
}

#[test]
fn docker_host_names_the_local_engine() {
    let home = Home::new();
    let cases = [
        (
            "unix:///run/user/1000/docker.sock",
            "unix:///run/user/1000/docker.sock",
        ),
        ("tcp://127.0.0.1:2375", "http://127.0.0.1:2375"),
        ("https://dock:2376", "https://dock:2376"),
    ];
    for (host, want) in cases {
        let c = home.load(&[("DOCKER_HOST", host)]).expect(host);
        assert_eq!(c.docker.endpoints[0].uri, want);
        assert_eq!(
            c.provenance.source("docker.endpoints.local.uri"),
            Source::Env("DOCKER_HOST".into())
        );
    }
    let e = err_text(home.load(&[("DOCKER_HOST", "ssh://box")]));
    assert!(e.contains("environment variable DOCKER_HOST"), "{e}");
}

#[test]
fn butido_file_loads() {
    let home = Home::new();
    home.write_repo(BUTIDO);
    let c = home.load(&[]).expect("butido config loads");
    let repo = home.repo();
    assert_eq!(c.releases_root, repo.join("releases"));
    assert_eq!(c.source_cache, repo.join("sources"));
    assert_eq!(c.log_dir, repo.join("logs"));
    assert_eq!(c.staging, PathBuf::from("/tmp/kiln-test-staging"));
    assert_eq!(c.release_stores, ["default", "testing"]);
    assert_eq!(c.build_error_lines, 12);
    assert_eq!(c.phases().expect("phases").len(), 6);
    assert_eq!(c.images().expect("images").len(), 2);
    assert_eq!(
        c.docker.find_image("deb11").map(|i| i.name.as_str()),
        Some("debian:bullseye")
    );
    assert_eq!(
        c.docker.docker_versions.as_deref(),
        Some(&["20.10.24".to_owned()][..])
    );
    assert_eq!(c.database_connection_timeout, Duration::from_secs(15));
    let DatabaseTarget::External { url } = &c.database else {
        panic!("external database")
    };
    assert_eq!(
        url.expose(),
        "postgres://pgdev:s3cr3t-pw@db.example:5433/butido"
    );
    let names: Vec<_> = c.docker.endpoints.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["sock", "testhostname"]);
    let sock = &c.docker.endpoints[0];
    assert_eq!(
        (sock.kind(), sock.maxjobs, sock.timeout),
        (EndpointKind::Socket, 1, Duration::from_secs(5))
    );
    assert_eq!(sock.network_mode.as_deref(), Some("host"));
    assert_eq!(c.docker.endpoints[1].maxjobs, 3);
    assert!(c.containers.check_env_names);
    assert_eq!(c.containers.git_author.as_deref(), Some("GIT_AUTHOR_INFO"));
    assert_eq!(
        c.provenance.repo_file.as_deref(),
        Some(home.repo_file().as_path())
    );
    assert_eq!(
        c.provenance.source("build_error_lines"),
        Source::File {
            path: home.repo_file(),
            line: Some(5)
        }
    );
    assert_eq!(c.provenance.source("job_timeout"), Source::Default);
}

#[test]
fn passwords_never_show() {
    let home = Home::new();
    home.write_repo(BUTIDO);
    let c = home.load(&[]).expect("loads");
    assert!(!format!("{c:?}").contains("s3cr3t-pw"));
    assert!(!format!("{c:#?}").contains("s3cr3t-pw"));
    let entries = c.shown_entries();
    let text = format!("{entries:?}");
    assert!(!text.contains("s3cr3t-pw"), "{text}");
    let value = |k: &str| entries.iter().find(|e| e.key == k).map(|e| e.value.clone());
    assert_eq!(
        value("database_password"),
        Some(serde_json::json!("********"))
    );
    assert_eq!(
        value("database"),
        Some(serde_json::json!(
            "postgres://pgdev:********@db.example:5433/butido"
        ))
    );

    let c = home
        .load_flag(&[], Some("postgres://u:flag-pw@h/db"))
        .expect("the flag wins over the file's database_* keys");
    let text = format!("{:?}{c:?}", c.shown_entries());
    assert!(!text.contains("flag-pw"), "{text}");
    let e = c
        .shown_entries()
        .into_iter()
        .find(|e| e.key == "database_url")
        .expect("database_url");
    assert_eq!(e.value, serde_json::json!("postgres://u:********@h/db"));
    assert_eq!(e.source, Source::Flag("--database-url".into()));
    // The file's database_* keys are not in effect, so not shown.
    assert!(!c.shown_entries().iter().any(|e| e.key == "database_host"));
}

/// butido's `--db-*` flags set the database_* keys above every layer; a
/// URL from a lower layer is refused with them, naming `--database-url`.
#[test]
fn butido_database_flags_override_the_keys() {
    let home = Home::new();
    home.write_repo(BUTIDO);
    let load = |flags: DatabaseFlags| {
        let options = LoadOptions {
            repo_root: Some(home.repo()),
            database_flags: flags,
            ..LoadOptions::default()
        };
        Config::load_with(&options, &home.env(&[]))
    };
    let c = load(DatabaseFlags {
        host: Some("other.example".into()),
        port: Some(6543),
        name: Some("kiln".into()),
        connection_timeout: Some(7),
        ..DatabaseFlags::default()
    })
    .expect("flags over the file's keys");
    assert_eq!(
        c.database.describe(),
        "postgres://pgdev:********@other.example:6543/kiln"
    );
    assert_eq!(c.database_connection_timeout, Duration::from_secs(7));
    let source = |key: &str| {
        c.shown_entries()
            .into_iter()
            .find(|e| e.key == key)
            .map(|e| e.source)
    };
    assert_eq!(
        source("database_port"),
        Some(Source::Flag("--db-port".into()))
    );

    home.write_repo("database_url = \"postgres://u@h/db\"");
    let err = load(DatabaseFlags {
        port: Some(6543),
        ..DatabaseFlags::default()
    })
    .expect_err("a part of a configured URL");
    assert!(
        err.to_string()
            .contains("give the whole URL with --database-url"),
        "{err}"
    );
}

/// Each case: repository file, user file, variables → the value of one
/// key (via `config show`) and its source.
#[test]
fn layering() {
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        &'a [(&'a str, &'a str)],
        &'a str,
        serde_json::Value,
        &'a str,
    );
    let cases: &[Case] = &[
        (
            "build_error_lines = 5",
            None,
            &[],
            "build_error_lines",
            5.into(),
            "repo:1",
        ),
        (
            "build_error_lines = 5",
            Some("build_error_lines = 7"),
            &[],
            "build_error_lines",
            7.into(),
            "user:1",
        ),
        (
            "build_error_lines = 5",
            Some("\nbuild_error_lines = 7"),
            &[("KILN_BUILD_ERROR_LINES", "9")],
            "build_error_lines",
            9.into(),
            "env KILN_BUILD_ERROR_LINES",
        ),
        // tables merge key by key: the user's file changes one key of an endpoint
        (
            "[docker.endpoints.b]\nuri = \"http://b:2375\"\nmaxjobs = 2",
            Some("[docker.endpoints.b]\nmaxjobs = 6"),
            &[],
            "docker.endpoints.b.uri",
            "http://b:2375".into(),
            "repo:2",
        ),
        (
            "[docker.endpoints.b]\nuri = \"http://b:2375\"\nmaxjobs = 2",
            Some("[docker.endpoints.b]\nmaxjobs = 6"),
            &[],
            "docker.endpoints.b.maxjobs",
            6.into(),
            "user:2",
        ),
        // arrays replace
        (
            "release_stores = [\"a\", \"b\"]",
            Some("release_stores = [\"c\"]"),
            &[],
            "release_stores",
            serde_json::json!(["c"]),
            "user:1",
        ),
        (
            "",
            None,
            &[("KILN_RELEASE_STORES", "[\"x\", \"y\"]")],
            "release_stores",
            serde_json::json!(["x", "y"]),
            "env KILN_RELEASE_STORES",
        ),
        // the spec's example: the default local endpoint tuned by a variable
        (
            "",
            None,
            &[("KILN_DOCKER__ENDPOINTS__LOCAL__MAXJOBS", "4")],
            "docker.endpoints.local.maxjobs",
            4.into(),
            "env KILN_DOCKER__ENDPOINTS__LOCAL__MAXJOBS",
        ),
        (
            "",
            None,
            &[],
            "docker.endpoints.local.uri",
            "unix:///var/run/docker.sock".into(),
            "default",
        ),
        // a string key whose value reads as a number stays a string
        (
            "",
            None,
            &[
                ("KILN_CONTAINERS__GIT_AUTHOR", "AUTHOR"),
                ("KILN_SHEBANG", "#!/bin/sh -e"),
            ],
            "shebang",
            "#!/bin/sh -e".into(),
            "env KILN_SHEBANG",
        ),
        (
            "",
            None,
            &[("KILN_DATABASE_USER", "u"), ("KILN_DATABASE_NAME", "2024")],
            "database_name",
            "2024".into(),
            "env KILN_DATABASE_NAME",
        ),
        // a stray variable is only a warning; KILN_LOG is not a key
        (
            "",
            None,
            &[("KILN_NO_SUCH_KEY", "1"), ("KILN_LOG", "debug")],
            "build_error_lines",
            10.into(),
            "default",
        ),
        // the database URL of a later layer wins over the repository's database_* keys
        (
            "database_host = \"h\"\ndatabase_user = \"u\"",
            Some("database_url = \"postgres://me@there/db\""),
            &[],
            "database",
            "postgres://me@there/db".into(),
            "user:1",
        ),
    ];
    for (repo, user, vars, key, want, want_source) in cases {
        let home = Home::new();
        home.write_repo(&format!(
            "available_phases = [\"build\"]\ndocker.images = [\"img\"]\n{repo}"
        ));
        if let Some(user) = user {
            home.write_user(user);
        }
        let c = home
            .load(vars)
            .unwrap_or_else(|e| panic!("{repo:?} / {user:?} / {vars:?}: {e}"));
        let entry = c
            .shown_entries()
            .into_iter()
            .find(|e| e.key == *key)
            .unwrap_or_else(|| panic!("no entry {key}"));
        assert_eq!(
            entry.value, *want,
            "{key} of {repo:?} / {user:?} / {vars:?}"
        );
        let source = entry
            .source
            .to_string()
            .replace(&home.repo_file().display().to_string(), "repo")
            .replace(&home.user_file().display().to_string(), "user");
        // The two lines the test adds before the repository text.
        let source = match source.strip_prefix("repo:") {
            Some(line) => format!("repo:{}", line.parse::<usize>().expect("a line") - 2),
            None => source,
        };
        assert_eq!(
            source, *want_source,
            "source of {key} of {repo:?} / {user:?} / {vars:?}"
        );
    }
}

/// Each case: repository file, variables → fragments the error must hold.
#[test]
fn errors_name_file_key_and_line() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        ("colour = \"blue\"", &[], &["repo:1: `colour`: unknown key"]),
        ("[docker.endpoints.a]\nuri = \"http://a:1\"\nmaxjob = 2", &[], &[
            "repo:3: `docker.endpoints.a.maxjob`: unknown key; did you mean `maxjobs`?",
        ]),
        ("build_error_lines = \"ten\"", &[], &["repo:1: `build_error_lines`: expected an integer, found a string"]),
        ("strict_script_interpolation = 1", &[], &["expected a boolean (true or false), found an integer"]),
        ("release_stores = \"default\"", &[], &["`release_stores`: expected an array of strings, found a string"]),
        ("a = 1\nb = \"unterminated\n", &[], &["repo:2:", "syntax error"]),
        ("compatibility = 2", &[], &["repo:1: `compatibility`: this configuration is for format 2", "knows format 1"]),
        ("compatibility = 0", &[], &["`compatibility`: must be 1, not 0"]),
        ("[docker.endpoints.a]\nuri = \"http://a:1\"\nmaxjobs = 0", &[], &[
            "repo:3: `docker.endpoints.a.maxjobs`: must be at least 1, not 0",
        ]),
        ("[docker.endpoints.a]\nuri = \"ftp://a\"", &[], &["repo:2: `docker.endpoints.a.uri`: expected a `unix://`"]),
        ("[docker.endpoints.a]\nmaxjobs = 1", &[], &["repo:1: `docker.endpoints.a.uri`: is required"]),
        ("[docker.endpoints.a]\nuri = \"unix:///s\"\nendpoint_type = \"http\"", &[], &[
            "repo:3: `docker.endpoints.a.endpoint_type`: `http` does not fit the URI `unix:///s`",
        ]),
        ("[docker.endpoints.a]\nuri = \"http://a:1\"\nendpoint_type = \"tcp\"", &[], &["expected `socket` or `http`, not `tcp`"]),
        ("[docker.endpoints.a]\nuri = \"http://a:1\"\ntls = { ca = \"ca.pem\", cert = \"c.pem\", key = \"k.pem\" }", &[], &[
            "`docker.endpoints.a.tls`: is only for `https://` endpoints",
        ]),
        ("[docker.endpoints.a]\nuri = \"https://a:1\"\n[docker.endpoints.a.tls]\nca = \"ca.pem\"\ncert = \"c.pem\"", &[], &[
            "repo:4: `docker.endpoints.a.tls.ca`: no such file",
            "`docker.endpoints.a.tls.key`: is required",
        ]),
        ("database_url = \"mysql://u:pw@h/db\"", &[], &["repo:1: `database_url`: must be a `postgres://`"]),
        ("database_url = \"postgres://h/db\"\ndatabase_host = \"h\"", &[], &["`database_url`: is set together with database_* keys"]),
        ("database_port = 99999", &[], &["`database_port`: must be at most 65535, not 99999"]),
        ("database_password = \"x\"", &[], &["`database_password`: is set but `database_user` is not"]),
        ("shebang = \"/bin/sh\"", &[], &["`shebang`: must be one line starting with `#!`"]),
        ("release_stores = []", &[], &["`release_stores`: must list at least one release store"]),
        ("release_stores = [\"a\", \"a\"]", &[], &["`a` is listed twice"]),
        ("release_stores = [\"../x\"]", &[], &["not a valid directory name"]),
        ("release_stores = [\"a\\\\b\", \"x\\u001b\"]", &[], &[
            "`a\\b`: not a valid directory name: it holds a path separator",
            "`x\\u{1b}`: not a valid directory name: it holds a control character",
        ]),
        ("shebang = \"#!/bin/sh\\u0000\"", &[], &["repo:1: `shebang`: holds a NUL character"]),
        ("[docker.endpoints.a]\nuri = \"http://a:1\"\nnetwork_mode = \"host\\u0000\"", &[], &[
            "repo:3: `docker.endpoints.a.network_mode`: holds a NUL character",
        ]),
        ("[docker.endpoints.\"a\\u0000\"]\nuri = \"http://a:1\"", &[], &["repo:1: `docker.endpoints.a\\0`: holds a NUL character"]),
        ("[docker.endpoints.\"a\\u0007\"]\nuri = \"http://a:1\"", &[], &["`docker.endpoints.a\\u{7}`: an endpoint name must not hold control characters"]),
        ("job_timeout = 4294967296", &[], &["`job_timeout`: must be at most 4294967295, not 4294967296"]),
        ("job_silence_timeout = 9223372036854775807", &[], &["`job_silence_timeout`: must be at most 4294967295"]),
        ("build_error_lines = 100001", &[], &["`build_error_lines`: must be at most 100000, not 100001"]),
        ("database_default_query_limit = 4294967296", &[], &["`database_default_query_limit`: must be at most 4294967295"]),
        ("progress_format = \"{bar:x}\"", &[], &["`progress_format`: not a valid progress bar template"]),
        ("package_print_format = \"{{#if x}}\"", &[], &["`package_print_format`: not a valid Handlebars template"]),
        ("[containers]\nallowed_env = [\"OK\", \"NOT-OK\"]", &[], &["`containers.allowed_env`: `NOT-OK`: not a valid environment variable name"]),
        ("", &[("KILN_BUILD_ERROR_LINES", "many")], &[
            "environment variable KILN_BUILD_ERROR_LINES: `build_error_lines`: expected an integer, found a string",
        ]),
        ("", &[("KILN_DOCKER__ENDPOINTS__X__URI", "gopher://x")], &[
            "environment variable KILN_DOCKER__ENDPOINTS__X__URI: `docker.endpoints.x.uri`",
        ]),
        ("database_url = \"postgres://h/db\"", &[("KILN_DATABASE_HOST", "other")], &[
            "`database_url`: is overridden by a database_* key set later (at env KILN_DATABASE_HOST)",
        ]),
    ];
    for (repo, vars, fragments) in cases {
        let home = Home::new();
        home.write_repo(&format!(
            "available_phases = [\"build\"]\ndocker.images = [\"img\"]\n{repo}"
        ));
        let text =
            err_text(home.load(vars)).replace(&home.repo_file().display().to_string(), "repo");
        // Lines in the messages count the two lines added above.
        let text = shift_lines(&text, 2);
        for fragment in *fragments {
            assert!(
                text.contains(fragment),
                "{repo:?} {vars:?}:\n{text}\nlacks: {fragment}"
            );
        }
    }
}

/// Rewrites `repo:N` to `repo:N-by`.
fn shift_lines(text: &str, by: usize) -> String {
    let re = regex::Regex::new(r"repo:(\d+)").expect("regex");
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let n: usize = c[1].parse().expect("number");
        format!("repo:{}", n - by)
    })
    .into_owned()
}

#[test]
fn repository_file_requires_phases_and_images() {
    let cases: &[(&str, &[&str])] = &[
        ("compatibility = 1", &["`available_phases`: is required", "`docker.images`: is required"]),
        ("available_phases = []\n[docker]\nimages = []", &[
            "`available_phases`: must list at least one phase",
            "`docker.images`: must list at least one image",
        ]),
        ("available_phases = [\"build\"]\n[docker]\nimages = [{ short_name = \"x\" }]", &["`docker.images[0].name`: is required"]),
        (
            "available_phases = [\"build\"]\n[docker]\nimages = [{ name = \"a\", short_name = \"x\" }, { name = \"b\", short_name = \"x\" }]",
            &["`docker.images[1]`: `b` has a name or short name that `a` already uses"],
        ),
        ("available_phases = [\"build\"]\n[docker]\nimages = [{ name = \"a\", tag = \"x\" }]", &["`docker.images[0].tag`: unknown key"]),
    ];
    for (repo, fragments) in cases {
        let home = Home::new();
        home.write_repo(repo);
        let text = err_text(home.load(&[]));
        for fragment in *fragments {
            assert!(
                text.contains(fragment),
                "{repo:?}:\n{text}\nlacks: {fragment}"
            );
        }
    }
    // Without a repository file, neither is required.
    let home = Home::new();
    home.write_user("build_error_lines = 3");
    assert!(home.load(&[]).is_ok());
}

#[test]
fn every_problem_of_a_file_is_reported() {
    let home = Home::new();
    home.write_repo("available_phases = [\"b\"]\ndocker.images = [\"i\"]\ncolour = 1\nshebang = 3\n[docker.endpoints.a]\nuri = \"unix:///s\"\nmaxjobs = -1\n");
    let err = home.load(&[]).expect_err("three problems");
    assert_eq!(err.problems().len(), 3, "{err}");
    let lines: Vec<_> = err
        .problems()
        .iter()
        .map(|p| match p.source {
            Source::File { line, .. } => line,
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [Some(3), Some(4), Some(7)],
        "in the order of the file: {err}"
    );
    assert!(
        err.to_string()
            .starts_with("invalid configuration (3 problems):"),
        "{err}"
    );
}

#[test]
fn syntax_errors_of_both_files_are_reported() {
    let home = Home::new();
    home.write_repo("a = \n").write_user("[x\n");
    let err = home.load(&[]).expect_err("syntax errors");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}:1:", home.repo_file().display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}:1:", home.user_file().display())),
        "{text}"
    );
}

#[test]
fn explicit_user_file_must_exist() {
    let home = Home::new();
    let options = LoadOptions {
        repo_root: None,
        user_file: Some(home.path().join("missing.toml")),
        ..LoadOptions::default()
    };
    let err = Config::load_with(&options, &home.env(&[])).expect_err("missing --config file");
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

#[test]
fn relative_paths_follow_their_source() {
    let home = Home::new();
    home.write_user("staging = \"st\"\nsource_cache = \"~/src\"\n");
    let c = home.load(&[("KILN_LOG_DIR", "lg")]).expect("loads");
    assert_eq!(c.staging, home.path().join("config/kiln/st"));
    assert_eq!(c.source_cache, home.path().join("home/src"));
    // Variables are relative to the current directory (the test home).
    assert_eq!(c.log_dir, home.path().join("lg"));
}

#[test]
fn a_checkout_of_another_commit_gives_its_config_with_paths_relative_to_the_repository() {
    let home = Home::new();
    let required = "available_phases = [\"b\"]\ndocker.images = [\"i\"]\n";
    home.write_repo(&format!("{required}staging = \"now\"\n"));
    let checkout = home.path().join("checkout");
    std::fs::create_dir(&checkout).expect("checkout directory");
    std::fs::write(
        checkout.join("config.toml"),
        format!("{required}staging = \"then\"\n"),
    )
    .expect("writing");
    let options = LoadOptions {
        repo_root: Some(home.repo()),
        repo_checkout: Some(checkout),
        ..LoadOptions::default()
    };
    let c = Config::load_with(&options, &home.env(&[])).expect("loads");
    assert_eq!(c.staging, home.repo().join("then"));
}

#[test]
fn tls_files_resolve_and_must_exist() {
    let home = Home::new();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::write(home.repo().join(f), "x").expect("writing TLS file");
    }
    home.write_repo(
        "available_phases = [\"b\"]\ndocker.images = [\"i\"]\n[docker.endpoints.remote]\nuri = \"https://build:2376\"\nmaxjobs = 2\ntls = { ca = \"ca.pem\", cert = \"cert.pem\", key = \"key.pem\" }\n",
    );
    let c = home.load(&[]).expect("loads");
    let e = &c.docker.endpoints[0];
    assert_eq!(e.kind(), EndpointKind::Https);
    let tls = e.tls.as_ref().expect("tls");
    assert_eq!(tls.key, home.repo().join("key.pem"));
}

#[test]
fn ensure_dir_creates_and_names_the_key() {
    let home = Home::new();
    home.write_user(&format!(
        "staging = \"{}\"",
        home.path().join("blocker/st").display()
    ));
    std::fs::write(home.path().join("blocker"), "a file, not a directory").expect("writing");
    let c = home.load(&[]).expect("loads");
    let made = c
        .ensure_dir(c.log_dir.join("a/b"))
        .expect("creates nested directories");
    assert!(made.is_dir());
    assert_eq!(c.ensure_dir(&made).expect("exists already"), made);
    let err = c.ensure_dir(c.staging.join("x")).expect_err("under a file");
    assert!(err.to_string().contains("configured by `staging`"), "{err}");
    assert_eq!(
        c.release_store("default").expect("default store").root(),
        c.releases_root.join("default")
    );
    assert!(c.release_store("nope").is_err());
}

#[test]
fn example_file_validates() {
    let home = Home::new();
    home.write_repo(include_str!("../../config.toml.example"));
    let c = home
        .load(&[])
        .unwrap_or_else(|e| panic!("config.toml.example: {e}"));
    assert!(!c.available_phases.is_empty());
    assert!(!c.docker.images.is_empty());
}

/// Every key kiln uses, as `table.key` paths for messages.
fn documented_keys() -> Vec<(&'static str, &'static str)> {
    use validate::*;
    let tables: [(&str, &[&str]); 5] = [
        ("", ROOT_KEYS),
        ("docker", DOCKER_KEYS),
        ("docker.endpoints.<name>", ENDPOINT_KEYS),
        ("docker.endpoints.<name>.tls", TLS_KEYS),
        ("containers", CONTAINERS_KEYS),
    ];
    tables
        .into_iter()
        .flat_map(|(table, keys)| keys.iter().map(move |k| (table, *k)))
        .filter(|(_, k)| {
            !IGNORED_BUTIDO_KEYS.contains(k) && !["docker", "containers", "endpoints"].contains(k)
        })
        .collect()
}

#[test]
fn example_file_documents_every_key() {
    let text = include_str!("../../config.toml.example");
    for (table, key) in documented_keys() {
        let re = regex::Regex::new(&format!(
            r"(?m)^#?\s*(tls = \{{ )?{key}\s*=|\{{ {key} =|, {key} ="
        ))
        .expect("regex");
        assert!(
            re.is_match(text),
            "config.toml.example does not show `{table}.{key}`"
        );
    }
}

#[test]
fn user_guide_documents_every_key() {
    let text = include_str!("../../docs/configuration.md");
    for (table, key) in documented_keys() {
        assert!(
            text.contains(&format!("`{key}`")),
            "docs/configuration.md does not document `{table}.{key}`"
        );
    }
    for key in validate::IGNORED_BUTIDO_KEYS {
        assert!(
            text.contains(&format!("`{key}`")),
            "docs/configuration.md does not mention `{key}`"
        );
    }
}

#[test]
fn older_butido_keys_load() {
    let home = Home::new();
    home.write_repo(
        r#"compatibility = 1
spinner_format = "{spinner} {msg}"
available_phases = ["build"]
[docker]
verify_images_present = true
images = ["debian:bullseye"]
[[docker.endpoints]]
name = "a"
uri = "http://a:2375"
endpoint_type = "http"
speed = 1
maxjobs = 2
[[docker.endpoints]]
name = "b"
uri = "unix:///var/run/docker.sock"
endpoint_type = "socket"
speed = 2
maxjobs = 1
"#,
    );
    let c = home.load(&[]).unwrap_or_else(|e| panic!("{e}"));
    let eps: Vec<_> = c
        .docker
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.maxjobs))
        .collect();
    assert_eq!(eps, [("a", 2), ("b", 1)]);
    assert_eq!(c.docker.images[0].name, "debian:bullseye");

    home.write_repo("available_phases = [\"b\"]\ndocker.images = [\"i\"]\n[[docker.endpoints]]\nuri = \"http://a:1\"\n[[docker.endpoints]]\nname = \"x\"\nuri = \"http://a:1\"\n[[docker.endpoints]]\nname = \"x\"\nuri = \"http://b:1\"\n");
    let text = err_text(home.load(&[]));
    assert!(
        text.contains("`docker.endpoints[0].name`: is required"),
        "{text}"
    );
    assert!(
        text.contains("`docker.endpoints.x`: two endpoints have this name"),
        "{text}"
    );
}

#[test]
fn image_names_hold_no_control_characters() {
    for (images, fragment) in [
        (
            "[ { name = \"deb\\u001b[2J\" } ]",
            "repo:2: `docker.images[0].name`: must not hold control characters",
        ),
        (
            "[ { name = \"deb\", short_name = \"d\\n\" } ]",
            "`docker.images[0].short_name`: must not hold control characters",
        ),
        (
            "[ \"deb\\u0000\" ]",
            "`docker.images[0]`: holds a NUL character",
        ),
        (
            "[ \"deb\\u0007\" ]",
            "`docker.images[0]`: must be a name without control characters",
        ),
    ] {
        let home = Home::new();
        home.write_repo(&format!(
            "available_phases = [\"build\"]\n[docker]\nimages = {images}\n"
        ));
        let text =
            err_text(home.load(&[])).replace(&home.repo_file().display().to_string(), "repo");
        let text = shift_lines(&text, 1);
        assert!(
            text.contains(fragment),
            "{images}:\n{text}\nlacks: {fragment}"
        );
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }
}
