//! Property tests of loading `config.toml`: over arbitrary text and over
//! documents built from the real keys with hostile values, a load never
//! panics, every problem names where it was set (the file) and the key at
//! fault (or, for syntax errors, the line), with control characters
//! escaped, and an accepted configuration holds nothing that cannot be
//! recorded or used as a directory name.

use proptest::prelude::*;
use toml::{Table, Value};

use super::*;

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9._-]{0,8}",
        "\\PC{0,10}",
        ".{0,10}",
        prop::sample::select(vec![
            "..",
            "a/b",
            "a\\b",
            "\u{0}",
            "x\u{0}y",
            "\u{1b}[2J",
            "unix:///var/run/docker.sock",
            "http://h:1",
            "https://",
            "postgres://u:p@h/db",
            "#!/bin/sh",
            "{{",
            "",
        ])
        .prop_map(str::to_owned),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => hostile().prop_map(Value::String),
        2 => any::<i64>().prop_map(Value::Integer),
        1 => prop_oneof![Just(0i64), Just(1), Just(-1), Just(u32::MAX.into()), Just(i64::MAX)]
            .prop_map(Value::Integer),
        1 => any::<bool>().prop_map(Value::Boolean),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(hostile(), inner, 0..3)
                .prop_map(|m| Value::Table(m.into_iter().collect())),
        ]
    })
}

/// Mostly a value from `valid`, now and then a hostile one of any type.
fn mostly(valid: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Value> {
    prop_oneof![6 => valid.boxed(), 1 => any_value().boxed()]
}

/// A name as a value: plain, or with a NUL, a control character or a path in it.
fn name_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => "[a-z][a-z0-9:._-]{0,6}",
        1 => "[a-z]{0,3}\\x00[a-z]{0,3}",
        1 => "[a-z]{0,3}[\\x01-\\x1f\\x7f][a-z]{0,3}",
        1 => "[a-z./\\\\]{1,4}",
    ]
    .prop_map(Value::String)
}

fn names(n: usize) -> impl Strategy<Value = Value> {
    prop::collection::vec(name_value(), 1..n).prop_map(Value::Array)
}

fn small_integer() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0i64..100).prop_map(Value::Integer),
        1 => prop_oneof![Just(-1i64), Just(u32::MAX.into()), Just(i64::from(u32::MAX) + 1), Just(i64::MAX)]
            .prop_map(Value::Integer),
    ]
}

/// The top-level keys, each with values mostly of its own type.
fn top_level() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let path = || mostly(name_value());
    let entries = (
        prop::option::weighted(0.9, mostly(names(3))),
        prop::option::of(path()),
        prop::option::of(path()),
        prop::option::of(mostly(names(3))),
        prop::option::of(path()),
        prop::option::of(mostly(small_integer())),
        prop::option::of(mostly(small_integer())),
        prop::option::of(mostly(small_integer())),
        prop::option::of(mostly(small_integer())),
        prop::option::of(mostly(
            prop_oneof![Just("#!/bin/sh".to_owned()), "#![ -~]{0,6}", ".{0,6}"]
                .prop_map(Value::String),
        )),
        prop::option::weighted(0.2, mostly(hostile().prop_map(Value::String))),
        prop::option::weighted(
            0.1,
            (
                prop::sample::select(vec![
                    "unknown",
                    "database_port",
                    "compatibility",
                    "secret_env",
                    "log_limit",
                ]),
                any_value(),
            ),
        ),
    );
    entries.prop_map(
        |(
            phases,
            log_dir,
            staging,
            stores,
            cache,
            lines,
            limit,
            timeout,
            silence,
            shebang,
            url,
            other,
        )| {
            let mut out = Vec::new();
            for (key, value) in [
                ("available_phases", phases),
                ("log_dir", log_dir),
                ("staging", staging),
                ("release_stores", stores),
                ("source_cache", cache),
                ("build_error_lines", lines),
                ("database_default_query_limit", limit),
                ("job_timeout", timeout),
                ("job_silence_timeout", silence),
                ("shebang", shebang),
                ("database_url", url),
            ] {
                if let Some(v) = value {
                    out.push((key, v));
                }
            }
            out.extend(other);
            out
        },
    )
}

fn endpoint() -> impl Strategy<Value = Value> {
    (
        mostly(
            prop_oneof![
                Just("unix:///var/run/docker.sock".to_owned()),
                Just("http://h:2375".to_owned()),
                hostile()
            ]
            .prop_map(Value::String),
        ),
        prop::option::of(mostly(small_integer())),
        prop::option::of(mostly(small_integer())),
        prop::option::weighted(0.1, any_value()),
    )
        .prop_map(|(uri, maxjobs, timeout, tls)| {
            let mut t = Table::new();
            t.insert("uri".into(), uri);
            for (key, value) in [("maxjobs", maxjobs), ("timeout", timeout), ("tls", tls)] {
                if let Some(v) = value {
                    t.insert(key.into(), v);
                }
            }
            Value::Table(t)
        })
}

fn image() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => name_value(),
        4 => (name_value(), prop::option::of(name_value())).prop_map(|(name, short)| {
            let mut t = Table::new();
            t.insert("name".into(), name);
            if let Some(short) = short {
                t.insert("short_name".into(), short);
            }
            Value::Table(t)
        }),
        1 => any_value(),
    ]
}

fn endpoint_name() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => "[a-z][a-z0-9-]{0,5}",
        1 => "[a-z]{0,3}[\\x01-\\x1f\\x7f][a-z]{0,3}",
        1 => hostile(),
    ]
}

/// A `config.toml`: top-level keys with values mostly of their type, a
/// `[docker]` table and a `[containers]` table.
fn document() -> impl Strategy<Value = Table> {
    (
        top_level(),
        prop::option::weighted(0.9, prop::collection::vec(image(), 1..3)),
        prop::option::of(prop::collection::btree_map(
            endpoint_name(),
            endpoint(),
            0..3,
        )),
        prop::option::weighted(
            0.2,
            prop::collection::btree_map(
                prop::sample::select(vec!["check_env_names", "allowed_env", "git_author", "x"]),
                any_value(),
                0..3,
            ),
        ),
    )
        .prop_map(|(keys, images, endpoints, containers)| {
            let mut t = Table::new();
            for (key, value) in keys {
                t.insert(key.to_owned(), value);
            }
            let mut docker = Table::new();
            if let Some(images) = images {
                docker.insert("images".into(), Value::Array(images));
            }
            if let Some(endpoints) = endpoints {
                let endpoints = endpoints.into_iter().collect();
                docker.insert("endpoints".into(), Value::Table(endpoints));
            }
            t.insert("docker".into(), Value::Table(docker));
            if let Some(containers) = containers {
                let containers = containers
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                t.insert("containers".into(), Value::Table(containers));
            }
            t
        })
}

fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[docker]".to_owned()),
        Just("[docker.endpoints.a]".to_owned()),
        Just("available_phases = [\"build\"]".to_owned()),
        "[a-z_.\\[\\]\"]{1,12} = [\"0-9a-z\\[\\]{}\\\\u,]{0,12}",
        ".{0,16}",
    ];
    prop_oneof![
        ".{0,64}",
        prop::collection::vec(piece, 0..8).prop_map(|lines| lines.join("\n")),
    ]
}

/// Loads `text` as a repository's `config.toml` in a fresh home.
fn load_text(text: &str) -> Result<(), TestCaseError> {
    let fail = |e: std::io::Error| TestCaseError::fail(e.to_string());
    let tmp = tempfile::tempdir().map_err(fail)?;
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).map_err(fail)?;
    let file = repo.join("config.toml");
    std::fs::write(&file, text).map_err(fail)?;
    let p = tmp.path();
    let env = Environment::from_pairs(
        [
            ("XDG_CONFIG_HOME", p.join("config").display().to_string()),
            ("XDG_DATA_HOME", p.join("data").display().to_string()),
            ("HOME", p.join("home").display().to_string()),
        ],
        p,
    );
    let options = LoadOptions {
        repo_root: Some(repo),
        ..LoadOptions::default()
    };
    match Config::load_with(&options, &env) {
        Ok(config) => check_accepted(&config),
        Err(ConfigError::Problems(problems)) => {
            for problem in &problems.0 {
                check_problem(&file, problem)?;
            }
            Ok(())
        }
        Err(other) => {
            let text = other.to_string();
            prop_assert!(!text.chars().any(char::is_control), "{text:?}");
            prop_assert!(text.contains(&file.display().to_string()), "{text}");
            Ok(())
        }
    }
}

fn check_accepted(config: &Config) -> Result<(), TestCaseError> {
    for store in &config.release_stores {
        prop_assert!(
            crate::store::paths::component_problem(store).is_none(),
            "{store:?}"
        );
    }
    for image in &config.docker.images {
        let names = [Some(&image.name), image.short_name.as_ref()];
        for name in names.into_iter().flatten() {
            prop_assert!(
                !name.is_empty() && !name.chars().any(char::is_control),
                "{name:?}"
            );
        }
    }
    for endpoint in &config.docker.endpoints {
        prop_assert!(
            !endpoint.name.chars().any(char::is_control),
            "{:?}",
            endpoint.name
        );
        prop_assert!(!endpoint.uri.contains('\0'));
    }
    for phase in &config.available_phases {
        prop_assert!(!phase.contains('\0'), "{phase:?}");
    }
    prop_assert!(!config.shebang.contains('\0'));
    prop_assert!(
        i64::try_from(config.build_error_lines).is_ok_and(|n| n <= validate::MAX_ERROR_LINES)
    );
    prop_assert!(config
        .job_timeout
        .is_none_or(|t| t.as_secs() <= u32::MAX.into()));
    prop_assert!(config
        .job_silence_timeout
        .is_none_or(|t| t.as_secs() <= u32::MAX.into()));
    Ok(())
}

/// A problem names the file it was found in, and the key at fault or the
/// line of a syntax error; it holds no raw control character.
fn check_problem(file: &std::path::Path, problem: &Problem) -> Result<(), TestCaseError> {
    let text = problem.to_string();
    prop_assert!(!text.chars().any(char::is_control), "{text:?}");
    match &problem.source {
        Source::File { path, line } => {
            prop_assert_eq!(path, file, "{}", text);
            prop_assert!(
                problem.key.as_deref().is_some_and(|k| !k.is_empty()) || line.is_some(),
                "neither key nor line: {}",
                text
            );
        }
        // The repository's file requires keys it lacks: named by file above;
        // defaults (the local engine) and the environment name themselves.
        Source::Default | Source::Env(_) | Source::Flag(_) => {
            prop_assert!(problem.key.is_some(), "{}", text)
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn hostile_configurations_are_loaded_or_rejected_by_name(doc in document()) {
        let Ok(text) = toml::to_string(&doc) else {
            return Err(TestCaseError::reject("not representable as TOML"));
        };
        load_text(&text)?;
    }

    #[test]
    fn arbitrary_text_is_loaded_or_rejected_by_name(text in text()) {
        load_text(&text)?;
    }
}
