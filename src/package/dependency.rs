//! Dependencies of a package: the `"NAME =VERSION"` strings of `pkg.toml`,
//! their optional conditions, and what the conditions are evaluated against
//! (a [`Target`]: the build image and the command line's variables).

use std::collections::BTreeMap;
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::name::{NameError, PackageName, PackageVersion};
use crate::config::ImageConfig;
use crate::error::escape_controls;

/// Whether a dependency is needed to build the package or to run it. Both
/// are built first and copied into the package's container; the kind
/// matters for display and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DependencyKind {
    Build,
    Runtime,
}

impl DependencyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyKind::Build => "build",
            DependencyKind::Runtime => "runtime",
        }
    }
}

impl fmt::Display for DependencyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dependency: an exact (name, version), possibly only under a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub name: PackageName,
    pub version: PackageVersion,
    pub condition: Option<Condition>,
}

/// Why a dependency string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    #[error("dependency `{}` is not of the form \"NAME =VERSION\"", escape_controls(.0))]
    Form(String),
    #[error("dependency `{}`: only exact versions are supported (\"NAME =VERSION\")", escape_controls(.0))]
    NotExact(String),
    #[error("dependency `{}`: {source}", escape_controls(.spec))]
    Name { spec: String, source: NameError },
}

impl Dependency {
    /// Parses `"NAME =VERSION"` or `"NAME VERSION"` (surrounding spaces are
    /// ignored; `"NAME=VERSION"` and `"NAME = VERSION"` are accepted too).
    pub fn parse(spec: &str) -> Result<Self, DependencyError> {
        let s = spec.trim();
        let split = s.find(|c: char| c.is_whitespace() || c == '=');
        let Some(split) = split else {
            return Err(DependencyError::Form(spec.to_owned()));
        };
        let (name, rest) = s.split_at(split);
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('=').map(str::trim_start).unwrap_or(rest);
        if rest.is_empty() {
            return Err(DependencyError::Form(spec.to_owned()));
        }
        if rest.starts_with(['<', '>', '~', '^', '*', '!', '=']) {
            return Err(DependencyError::NotExact(spec.to_owned()));
        }
        let name = PackageName::new(name).map_err(|source| DependencyError::Name {
            spec: spec.to_owned(),
            source,
        })?;
        let version = PackageVersion::new(rest).map_err(|source| DependencyError::Name {
            spec: spec.to_owned(),
            source,
        })?;
        Ok(Dependency {
            name,
            version,
            condition: None,
        })
    }

    /// Whether this dependency applies to a build for `target`.
    pub fn applies(&self, target: &Target<'_>) -> bool {
        self.condition.as_ref().is_none_or(|c| c.holds(target))
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ={}", self.name, self.version)
    }
}

/// Serialized as written in `pkg.toml`: the string `"NAME =VERSION"`, or a
/// table `{ name, condition }` when there is a condition.
impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.condition {
            None => serializer.collect_str(self),
            Some(condition) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("name", &self.to_string())?;
                map.serialize_entry("condition", condition)?;
                map.end()
            }
        }
    }
}

/// A dependency's condition: it holds when every given part holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// Every named variable was given on the command line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_env: Option<Vec<String>>,
    /// Every named variable was given with this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_eq: Option<BTreeMap<String, String>>,
    /// The build image is one of these (full or short name); false without an image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_image: Option<Vec<String>>,
}

impl Condition {
    pub fn holds(&self, target: &Target<'_>) -> bool {
        let has_env = self
            .has_env
            .as_ref()
            .is_none_or(|vars| vars.iter().all(|v| target.env.contains_key(v)));
        let env_eq = self.env_eq.as_ref().is_none_or(|pairs| {
            pairs
                .iter()
                .all(|(k, v)| target.env.get(k).is_some_and(|given| given == v))
        });
        let in_image = self.in_image.as_ref().is_none_or(|images| {
            target
                .image
                .is_some_and(|img| images.iter().any(|i| image_is(img, i)))
        });
        has_env && env_eq && in_image
    }
}

/// Whether `image` is the one called `wanted` (by its full or short name).
pub fn image_is(image: &ImageConfig, wanted: &str) -> bool {
    image.name == wanted || image.short_name.as_deref() == Some(wanted)
}

/// What conditions and image restrictions are evaluated against: the
/// build image (none for e.g. `tree-of` without `-I`) and the variables
/// given on the command line with `-E`.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub image: Option<&'a ImageConfig>,
    pub env: &'a BTreeMap<String, String>,
}

/// Parses a command-line `NAME=VALUE` assignment (as given to `-E`, and to
/// the `--env` filter of `db jobs`). The value may be anything but a NUL
/// character, which can neither reach a container nor be recorded.
pub fn parse_env_assignment(s: &str) -> Result<(String, String), String> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(format!(
            "`{}` is not of the form NAME=VALUE",
            escape_controls(s)
        ));
    };
    if !super::is_env_name(name) {
        return Err(format!(
            "`{}` is not a valid variable name ({})",
            escape_controls(name),
            super::ENV_NAME_RULE
        ));
    }
    if value.contains('\0') {
        return Err(format!(
            "the value of `{name}` holds a NUL character, which cannot be passed to a container or recorded"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_parse(input: &str, expected: Result<(&str, &str), &str>) {
        let got = Dependency::parse(input);
        match (got, expected) {
            (Ok(dep), Ok((name, version))) => {
                assert_eq!(
                    (dep.name.as_str(), dep.version.as_str()),
                    (name, version),
                    "{input:?}"
                );
                assert!(dep.condition.is_none());
            }
            (Err(err), Err(fragment)) => {
                assert!(
                    err.to_string().contains(fragment),
                    "{input:?}: `{err}` lacks `{fragment}`"
                )
            }
            (got, expected) => panic!("{input:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn dependency_strings() {
        for (input, expected) in [
            ("gcc =12.2.0", Ok(("gcc", "12.2.0"))),
            ("gcc 12.2.0", Ok(("gcc", "12.2.0"))),
            ("  gcc   =12.2.0 ", Ok(("gcc", "12.2.0"))),
            ("gcc=12.2.0", Ok(("gcc", "12.2.0"))),
            ("gcc = 12.2.0", Ok(("gcc", "12.2.0"))),
            ("lib-foo_bar+x =1.0-rc1", Ok(("lib-foo_bar+x", "1.0-rc1"))),
            ("gcc", Err("not of the form")),
            ("gcc =", Err("not of the form")),
            ("", Err("not of the form")),
            ("gcc >=12", Err("only exact versions")),
            ("gcc ==12", Err("only exact versions")),
            ("gcc =v12", Err("version `v12` is not valid")),
            ("-gcc =12", Err("package name `-gcc` is not valid")),
            ("gcc =1 2", Err("version `1 2` is not valid")),
        ] {
            check_parse(input, expected);
        }
    }

    #[test]
    fn env_assignment_errors_name_the_culprit() {
        for (input, expected) in [
            ("CC=gcc", Ok(("CC", "gcc"))),
            ("X=a=b", Ok(("X", "a=b"))),
            ("X=", Ok(("X", ""))),
            ("X=\u{1b}[1m", Ok(("X", "\u{1b}[1m"))),
            ("X=a\0b", Err("the value of `X` holds a NUL character")),
            ("1X=a", Err("`1X` is not a valid variable name")),
            (
                "A\u{1b}B=c",
                Err("`A\\u{1b}B` is not a valid variable name"),
            ),
            (
                "NOVALUE\n",
                Err("`NOVALUE\\n` is not of the form NAME=VALUE"),
            ),
        ] {
            let got = parse_env_assignment(input);
            match (&got, expected) {
                (Ok((n, v)), Ok((name, value))) => {
                    assert_eq!((n.as_str(), v.as_str()), (name, value))
                }
                (Err(e), Err(fragment)) => assert!(e.contains(fragment), "{input:?}: {e}"),
                _ => panic!("{input:?}: {got:?}, expected {expected:?}"),
            }
        }
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn image(name: &str, short: Option<&str>) -> ImageConfig {
        ImageConfig {
            name: name.into(),
            short_name: short.map(Into::into),
        }
    }

    fn strings(s: &[&str]) -> Option<Vec<String>> {
        Some(s.iter().map(|s| s.to_string()).collect())
    }

    fn check_condition(
        condition: Condition,
        image: Option<&ImageConfig>,
        env: &BTreeMap<String, String>,
        expected: bool,
    ) {
        let target = Target { image, env };
        assert_eq!(
            condition.holds(&target),
            expected,
            "{condition:?} with {image:?} {env:?}"
        );
    }

    #[test]
    fn conditions() {
        let deb = image("registry/debian:12", Some("debian"));
        let alp = image("alpine:3", None);
        let none = env(&[]);
        let ab = env(&[("A", "1"), ("B", "2")]);
        type Case<'a> = (
            Condition,
            Option<&'a ImageConfig>,
            &'a BTreeMap<String, String>,
            bool,
        );
        let cases: Vec<Case<'_>> = vec![
            (Condition::default(), None, &none, true),
            (
                Condition {
                    has_env: strings(&["A"]),
                    ..Default::default()
                },
                None,
                &ab,
                true,
            ),
            (
                Condition {
                    has_env: strings(&["A", "C"]),
                    ..Default::default()
                },
                None,
                &ab,
                false,
            ),
            (
                Condition {
                    has_env: strings(&["A"]),
                    ..Default::default()
                },
                None,
                &none,
                false,
            ),
            (
                Condition {
                    env_eq: Some(env(&[("A", "1")])),
                    ..Default::default()
                },
                None,
                &ab,
                true,
            ),
            (
                Condition {
                    env_eq: Some(env(&[("A", "2")])),
                    ..Default::default()
                },
                None,
                &ab,
                false,
            ),
            (
                Condition {
                    env_eq: Some(env(&[("Z", "1")])),
                    ..Default::default()
                },
                None,
                &ab,
                false,
            ),
            (
                Condition {
                    in_image: strings(&["debian"]),
                    ..Default::default()
                },
                Some(&deb),
                &none,
                true,
            ),
            (
                Condition {
                    in_image: strings(&["registry/debian:12"]),
                    ..Default::default()
                },
                Some(&deb),
                &none,
                true,
            ),
            (
                Condition {
                    in_image: strings(&["debian"]),
                    ..Default::default()
                },
                Some(&alp),
                &none,
                false,
            ),
            (
                Condition {
                    in_image: strings(&["debian"]),
                    ..Default::default()
                },
                None,
                &none,
                false,
            ),
            (
                Condition {
                    has_env: strings(&["A"]),
                    in_image: strings(&["alpine:3"]),
                    ..Default::default()
                },
                Some(&alp),
                &ab,
                true,
            ),
            (
                Condition {
                    has_env: strings(&["A"]),
                    in_image: strings(&["alpine:3"]),
                    ..Default::default()
                },
                Some(&alp),
                &none,
                false,
            ),
        ];
        for (condition, image, env, expected) in cases {
            check_condition(condition, image, env, expected);
        }
    }

    #[test]
    fn env_assignments() {
        for (input, expected) in [
            ("A=1", Some(("A", "1"))),
            ("A=", Some(("A", ""))),
            ("_X=a=b", Some(("_X", "a=b"))),
            ("A", None),
            ("=1", None),
            ("1A=1", None),
            ("A-B=1", None),
        ] {
            let got = parse_env_assignment(input).ok();
            let got = got.as_ref().map(|(k, v)| (k.as_str(), v.as_str()));
            assert_eq!(got, expected, "{input:?}");
        }
    }

    #[test]
    fn serialized_like_pkg_toml() {
        let mut dep = Dependency::parse("a =1").expect("valid");
        assert_eq!(
            serde_json::to_value(&dep).expect("serializable"),
            serde_json::json!("a =1")
        );
        dep.condition = Some(Condition {
            has_env: strings(&["X"]),
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_value(&dep).expect("serializable"),
            serde_json::json!({"name": "a =1", "condition": {"has_env": ["X"]}})
        );
    }
}
