//! The errors of configuration: [`ConfigError`] and the [`Problem`]s it
//! lists, each naming where the bad value was set (file and line, or
//! variable, or flag) and its key. Messages never repeat a secret value, and
//! show control characters escaped.

use std::fmt;
use std::path::PathBuf;

use super::source::Source;
use crate::error::escape_controls;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the offending value (or the table missing a key) was set.
    pub source: Source,
    /// The column, for TOML syntax errors.
    pub column: Option<usize>,
    /// The dotted key path, when the problem is about a key.
    pub key: Option<String>,
    pub message: String,
}

impl Problem {
    /// A problem with the key `key`, set by `source`.
    pub fn key(source: Source, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            source,
            column: None,
            key: Some(key.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Default => f.write_str("default")?,
            Source::File { path, line } => {
                write!(f, "{}", path.display())?;
                if let Some(line) = line {
                    write!(f, ":{line}")?;
                    if let Some(column) = self.column {
                        write!(f, ":{column}")?;
                    }
                }
            }
            Source::Env(name) => write!(f, "environment variable {name}")?,
            Source::Flag(name) => write!(f, "flag {name}")?,
        }
        // Keys and messages may quote values from files: never send a
        // control character in them raw to the terminal.
        let message = escape_controls(&self.message);
        match &self.key {
            Some(key) => write!(f, ": `{}`: {message}", escape_controls(key)),
            None => write!(f, ": {message}"),
        }
    }
}

/// Every problem found in one load, in the order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// A configuration that cannot be used: the message names the file (or
/// variable or flag) and the key. Every variant is a user error (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// Syntax errors, wrong types, unknown keys, bad values: all found at once.
    #[error("{0}")]
    Problems(Problems),
    /// A configured directory could not be created.
    #[error("cannot create directory {path}{}", key.map(|k| format!(" (configured by `{k}`)")).unwrap_or_default())]
    CreateDir {
        path: PathBuf,
        key: Option<&'static str>,
        source: std::io::Error,
    },
    /// A key the caller needs is not configured (see [`super::Config::phases`]).
    #[error("`{key}` is not configured: {hint}")]
    Missing {
        key: &'static str,
        hint: &'static str,
    },
    /// A release store that `release_stores` does not list.
    #[error("release store `{name}` is not configured; `release_stores` lists: {known}")]
    UnknownReleaseStore { name: String, known: String },
    #[error("{0}")]
    Other(String),
}

impl ConfigError {
    /// The problems, if this error lists them.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Problems(p) => &p.0,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_display_names_place_and_key() {
        let file = |line| Source::File {
            path: "/r/config.toml".into(),
            line,
        };
        let cases = [
            (
                Problem::key(
                    file(Some(4)),
                    "docker.endpoints.a.maxjobs",
                    "must be at least 1",
                ),
                "/r/config.toml:4: `docker.endpoints.a.maxjobs`: must be at least 1",
            ),
            (
                Problem {
                    source: file(Some(2)),
                    column: Some(7),
                    key: None,
                    message: "syntax error: invalid string".into(),
                },
                "/r/config.toml:2:7: syntax error: invalid string",
            ),
            (
                Problem::key(
                    Source::Env("KILN_SHEBANG".into()),
                    "shebang",
                    "expected a string",
                ),
                "environment variable KILN_SHEBANG: `shebang`: expected a string",
            ),
            (
                Problem::key(file(None), "available_phases", "is required"),
                "/r/config.toml: `available_phases`: is required",
            ),
        ];
        for (problem, want) in cases {
            assert_eq!(problem.to_string(), want);
        }
    }

    #[test]
    fn problems_display_one_or_many() {
        let p = |m: &str| Problem::key(Source::Default, "k", m);
        assert_eq!(
            Problems(vec![p("a")]).to_string(),
            "invalid configuration: default: `k`: a"
        );
        assert_eq!(
            Problems(vec![p("a"), p("b")]).to_string(),
            "invalid configuration (2 problems):\n  default: `k`: a\n  default: `k`: b"
        );
    }
}
