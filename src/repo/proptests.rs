//! Property tests of loading `pkg.toml` files: over arbitrary text and over
//! documents built from the real keys with hostile values, a load never
//! panics, every rejection names the file (and the key, where a key is at
//! fault) with control characters escaped, and every package it accepts
//! can be recorded and kept: no NUL anywhere, a version and source keys that
//! cannot carry a path.

use std::path::Path;

use proptest::prelude::*;
use toml::{Table, Value};

use super::{load, RepoError};
use crate::store::paths::{component_problem, under_root};

/// Strings a hostile or careless repository could hold.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9][a-z0-9._+-]{0,8}",
        "[0-9][0-9.a-z-]{0,6}",
        "\\PC{0,10}",
        ".{0,10}",
        prop::sample::select(vec![
            "1/../../../../tmp/x",
            "..",
            ".",
            "1\\..\\..\\x",
            "1.0\u{0}",
            "\u{0}",
            "1\u{1b}[2J",
            "a\nb",
            "/etc/passwd",
            "",
            "=1.0",
            "gcc =12",
            "x =1/../y",
        ])
        .prop_map(str::to_owned),
    ]
}

fn string() -> impl Strategy<Value = Value> {
    hostile().prop_map(Value::String)
}

/// Mostly a value from `valid`, now and then a hostile string, so that
/// many documents load and what they let through is checked too.
fn mostly(valid: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    prop_oneof![6 => valid, 1 => hostile()].prop_map(Value::String)
}

/// Free text as values hold it: anything, a NUL or an escape now and then.
fn text_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => "[ -~]{0,12}",
        1 => ".{0,8}",
        1 => "[a-z]{0,3}\\x00[a-z]{0,3}",
        1 => "[a-z]{0,3}[\\x01-\\x1f\\x7f][a-z]{0,3}",
    ]
    .prop_map(Value::String)
}

/// A value of any type, for keys given the wrong one.
fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => string(),
        1 => any::<i64>().prop_map(Value::Integer),
        1 => any::<bool>().prop_map(Value::Boolean),
        1 => prop::collection::vec(string(), 0..3).prop_map(Value::Array),
        1 => prop::collection::btree_map(hostile(), string(), 0..3)
            .prop_map(|m| Value::Table(m.into_iter().collect())),
    ]
}

fn strings(n: usize) -> impl Strategy<Value = Value> {
    prop::collection::vec(mostly("[a-z:0-9]{1,8}"), 0..n).prop_map(Value::Array)
}

/// `environment` or `meta`: mostly plain names, values of any text.
fn string_map() -> impl Strategy<Value = Value> {
    let key = prop_oneof![6 => "[A-Z_][A-Z0-9_]{0,5}".boxed(), 1 => hostile().boxed()];
    let value = prop_oneof![8 => text_value(), 1 => any_value()];
    prop::collection::btree_map(key, value, 0..4)
        .prop_map(|m| Value::Table(m.into_iter().collect()))
}

fn table(entries: Vec<(&str, Value)>) -> Value {
    Value::Table(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

fn source() -> impl Strategy<Value = Value> {
    let hash = prop_oneof![
        4 => prop_oneof![
            "[0-9a-f]{40}".prop_map(|h| ("sha1", h)),
            "[0-9a-f]{64}".prop_map(|h| ("sha256", h)),
            "[0-9a-f]{128}".prop_map(|h| ("sha512", h)),
        ],
        1 => (prop::sample::select(vec!["sha1", "md5"]), hostile()),
    ];
    (text_value(), hash, any::<bool>())
        .prop_map(|(url, (kind, hash), manual)| (url, kind, hash, manual))
        .prop_map(|(url, kind, hash, manual)| {
            table(vec![
                ("url", url),
                (
                    "hash",
                    table(vec![
                        ("type", Value::String(kind.into())),
                        ("hash", Value::String(hash)),
                    ]),
                ),
                ("download_manually", Value::Boolean(manual)),
            ])
        })
}

fn source_key() -> impl Strategy<Value = String> {
    prop_oneof![6 => "[a-z.][a-z0-9_./\\\\-]{0,5}".boxed(), 1 => hostile().boxed()]
}

fn dependency() -> impl Strategy<Value = Value> {
    prop_oneof![
        (hostile(), hostile()).prop_map(|(n, v)| Value::String(format!("{n} ={v}"))),
        string(),
        (hostile(), hostile(), string_map()).prop_map(|(n, v, env_eq)| {
            table(vec![
                ("name", Value::String(format!("{n} ={v}"))),
                (
                    "condition",
                    table(vec![("env_eq", env_eq), ("has_env", Value::String(n))]),
                ),
            ])
        }),
        any_value(),
    ]
}

fn phase() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => text_value().prop_map(|s| table(vec![("script", s)])),
        1 => string().prop_map(|s| table(vec![("path", s)])),
        1 => any_value(),
    ]
}

/// A `pkg.toml` document: any subset of the real keys, mostly with values
/// that load, now and then hostile ones, and now and then an unknown key.
fn document() -> impl Strategy<Value = Table> {
    let keys = (
        prop::option::weighted(
            0.8,
            prop_oneof![6 => mostly("[a-z][a-z0-9+-]{0,6}"), 1 => any_value()],
        ),
        prop::option::weighted(
            0.8,
            prop_oneof![6 => mostly("=?[0-9][0-9./\\\\a-z-]{0,5}"), 1 => any_value()],
        ),
        prop::option::of(prop::collection::btree_map(source_key(), source(), 0..3)),
        prop::option::weighted(0.2, prop::collection::vec(dependency(), 0..3)),
        prop::option::of(string_map()),
        prop::option::of(string_map()),
        prop::option::of(prop::collection::btree_map("[a-z]{1,6}", phase(), 0..3)),
        prop::option::weighted(0.1, strings(3)),
        prop::option::of(strings(3)),
        prop::option::weighted(0.1, (hostile(), any_value())),
    );
    keys.prop_map(
        |(name, version, sources, deps, env, meta, phases, patches, images, unknown)| {
            let mut t = Table::new();
            let mut set = |key: &str, value: Option<Value>| {
                if let Some(v) = value {
                    t.insert(key.to_owned(), v);
                }
            };
            set("name", name);
            set("version", version);
            set(
                "sources",
                sources.map(|s| Value::Table(s.into_iter().collect())),
            );
            set(
                "dependencies",
                deps.map(|d| table(vec![("runtime", Value::Array(d))])),
            );
            set("environment", env);
            set("meta", meta);
            set(
                "phases",
                phases.map(|p| Value::Table(p.into_iter().collect())),
            );
            set("patches", patches);
            set("allowed_images", images);
            if let Some((key, value)) = unknown {
                t.insert(key, value);
            }
            t
        },
    )
}

/// Text that may or may not be TOML: arbitrary characters, or lines of
/// `key = value` pieces.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("name = \"a\"".to_owned()),
        Just("version = \"1\"".to_owned()),
        Just("[sources.src]".to_owned()),
        Just("[environment]".to_owned()),
        Just("[dependencies]".to_owned()),
        Just("[[phases]]".to_owned()),
        "[a-z_.\\[\\]\"]{1,10} = [\"0-9a-z\\[\\]{}\\\\u,]{0,12}",
        ".{0,16}",
    ];
    prop_oneof![
        ".{0,64}",
        prop::collection::vec(piece, 0..8).prop_map(|lines| lines.join("\n")),
    ]
}

/// Writes the layers (the root's and a leaf's) and loads the repository.
fn load_layers(root_layer: &str, leaf_layer: &str) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let root = tmp.path();
    std::fs::create_dir_all(root.join("leaf")).map_err(|e| TestCaseError::fail(e.to_string()))?;
    std::fs::write(root.join("pkg.toml"), root_layer)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    std::fs::write(root.join("leaf/pkg.toml"), leaf_layer)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    match load(root) {
        Ok(repo) => check_accepted(&repo),
        Err(errors) => {
            for error in errors.errors() {
                check_rejection(root, error)?;
            }
            Ok(())
        }
    }
}

/// An accepted package can be recorded (no NUL) and kept (paths stay under
/// the source cache).
fn check_accepted(repo: &super::Repository) -> Result<(), TestCaseError> {
    let cache = Path::new("/cache");
    for (_, package) in repo.packages().iter() {
        let json =
            serde_json::to_string(package).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!json.contains("\\u0000"), "a NUL was accepted: {json}");
        for phase in package.phases.values() {
            prop_assert!(!phase.script.contains('\0'));
        }
        let version = package.version.as_str();
        prop_assert!(
            component_problem(version).is_none() && !version.chars().any(char::is_whitespace),
            "version {version:?} accepted"
        );
        for key in package.sources.keys() {
            let dir = format!("{}-{}", package.name, package.version);
            let path = under_root(cache, &[&dir, &format!("{key}.source")]);
            prop_assert!(path.is_ok(), "source key {key:?}: {path:?}");
        }
    }
    Ok(())
}

/// A rejection names its file, and its key where a key is at fault; what
/// it quotes holds no raw control character.
fn check_rejection(root: &Path, error: &RepoError) -> Result<(), TestCaseError> {
    let text = error.to_string();
    prop_assert!(
        !text.chars().any(char::is_control),
        "raw control character in {text:?}"
    );
    prop_assert!(
        error.file().starts_with(root),
        "{text}: names {}",
        error.file().display()
    );
    let file = error.file().display().to_string();
    match error {
        RepoError::Duplicate { .. } => prop_assert!(text.contains(&file), "{text}"),
        RepoError::Invalid { key, .. } | RepoError::Merged { key, .. } => {
            prop_assert!(text.starts_with(&file), "{text}");
            prop_assert!(!key.is_empty(), "no key in {text}");
        }
        RepoError::Read { .. } | RepoError::Syntax { .. } => {
            prop_assert!(text.starts_with(&file), "{text}")
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn hostile_documents_are_loaded_or_rejected_by_name(
        shared in document(),
        leaf in document(),
    ) {
        let (Ok(shared), Ok(leaf)) = (toml::to_string(&shared), toml::to_string(&leaf)) else {
            return Err(TestCaseError::reject("not representable as TOML"));
        };
        load_layers(&shared, &leaf)?;
    }

    #[test]
    fn arbitrary_text_is_loaded_or_rejected_by_name(shared in text(), leaf in text()) {
        load_layers(&shared, &leaf)?;
    }
}
