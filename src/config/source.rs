//! Where a configuration value comes from ([`Source`], [`Layer`]) and the
//! process environment the loader reads ([`Environment`]). Kept apart from
//! the process so that loading can be tested with any environment; nothing
//! here reads a file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "KILN_";

/// `KILN_*` variables that kiln reads for other purposes: never configuration keys.
pub const NON_CONFIG_VARS: &[&str] = &["KILN_LOG"];

/// Prefixes of `KILN_*` variables that belong to kiln's tests and
/// benchmarks (`KILN_TEST_DATABASE_URL`, `KILN_BENCH_SUBMITS`, ...): never
/// configuration keys, and never warned about.
pub const NON_CONFIG_PREFIXES: &[&str] = &["KILN_TEST_", "KILN_BENCH_"];

/// Whether a `KILN_*` variable may name a configuration key: not one kiln
/// reads for another purpose, nor a test or benchmark setting.
pub fn is_config_var(name: &str) -> bool {
    name.starts_with(ENV_PREFIX)
        && !NON_CONFIG_VARS.contains(&name)
        && !NON_CONFIG_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The layers of configuration, from the lowest precedence to the highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// kiln's built-in defaults.
    Default,
    /// `config.toml` at the top of the package repository.
    RepoFile,
    /// The user's file (`$XDG_CONFIG_HOME/kiln/config.toml` or `--config FILE`).
    UserFile,
    /// `KILN_*` environment variables.
    Env,
    /// Command-line flags.
    Flag,
}

/// Where one effective value was set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Source {
    /// Nothing set it: kiln's default.
    #[default]
    Default,
    /// A configuration file, with the line of the key when known.
    File { path: PathBuf, line: Option<usize> },
    /// An environment variable, by name.
    Env(String),
    /// A command-line flag, by name (`--database-url`).
    Flag(String),
}

impl Source {
    /// A file source without a line.
    pub fn file(path: &Path) -> Self {
        Source::File {
            path: path.to_owned(),
            line: None,
        }
    }

    /// The directory relative paths set by this source are relative to:
    /// the file's directory, else the current directory.
    pub fn base_dir<'a>(&'a self, cwd: &'a Path) -> &'a Path {
        match self {
            Source::File { path, .. } => path.parent().unwrap_or(cwd),
            Source::Default | Source::Env(_) | Source::Flag(_) => cwd,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Source::File { path, line: None } => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// The part of the process environment configuration depends on: `KILN_*`
/// variables, `DOCKER_HOST`, the XDG directories, `HOME`, and the current
/// directory (for relative paths given in variables and flags).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    cwd: PathBuf,
}

/// Variables besides `KILN_*` that configuration reads.
const OTHER_VARS: &[&str] = &["DOCKER_HOST", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME"];

impl Environment {
    /// The environment of this process. Variables whose names or values are
    /// not UTF-8 are left out (with a warning for `KILN_*` ones).
    pub fn from_process() -> Self {
        let mut vars = BTreeMap::new();
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str().map(str::to_owned) else {
                continue;
            };
            if !key.starts_with(ENV_PREFIX) && !OTHER_VARS.contains(&key.as_str()) {
                continue;
            }
            match value.into_string() {
                Ok(value) => {
                    vars.insert(key, value);
                }
                Err(_) => {
                    tracing::warn!("ignoring environment variable {key}: its value is not UTF-8")
                }
            }
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Self { vars, cwd }
    }

    /// An environment made of the given variables and current directory.
    pub fn from_pairs<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
        cwd: impl Into<PathBuf>,
    ) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            cwd: cwd.into(),
        }
    }

    /// A variable's value; empty values count as unset.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The `KILN_*` variables that may name configuration keys, sorted by name.
    pub fn config_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .filter(|(k, _)| is_config_var(k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The current directory.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// The home directory (`HOME`), if set.
    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// kiln's data directory: `$XDG_DATA_HOME/kiln`, else `~/.local/share/kiln`.
    pub fn data_dir(&self) -> PathBuf {
        match self.var("XDG_DATA_HOME") {
            Some(dir) => PathBuf::from(dir).join("kiln"),
            None => self.home_or_root().join(".local/share/kiln"),
        }
    }

    /// The user's configuration directory: `$XDG_CONFIG_HOME/kiln`, else `~/.config/kiln`.
    pub fn config_dir(&self) -> PathBuf {
        match self.var("XDG_CONFIG_HOME") {
            Some(dir) => PathBuf::from(dir).join("kiln"),
            None => self.home_or_root().join(".config/kiln"),
        }
    }

    fn home_or_root(&self) -> PathBuf {
        self.home().unwrap_or_else(|| PathBuf::from("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_display() {
        let cases = [
            (Source::Default, "default"),
            (
                Source::File {
                    path: "/r/config.toml".into(),
                    line: Some(3),
                },
                "/r/config.toml:3",
            ),
            (Source::file(Path::new("/u/c.toml")), "/u/c.toml"),
            (Source::Env("KILN_X".into()), "env KILN_X"),
            (Source::Flag("--database-url".into()), "flag --database-url"),
        ];
        for (source, want) in cases {
            assert_eq!(source.to_string(), want);
        }
    }

    #[test]
    fn directories_follow_xdg_then_home() {
        let check = |vars: &[(&str, &str)], data: &str, config: &str| {
            let env = Environment::from_pairs(vars.iter().copied(), "/cwd");
            assert_eq!(env.data_dir(), PathBuf::from(data), "{vars:?}");
            assert_eq!(env.config_dir(), PathBuf::from(config), "{vars:?}");
        };
        check(&[("HOME", "/h")], "/h/.local/share/kiln", "/h/.config/kiln");
        check(
            &[
                ("HOME", "/h"),
                ("XDG_DATA_HOME", "/d"),
                ("XDG_CONFIG_HOME", "/c"),
            ],
            "/d/kiln",
            "/c/kiln",
        );
        check(
            &[("HOME", "/h"), ("XDG_DATA_HOME", "")],
            "/h/.local/share/kiln",
            "/h/.config/kiln",
        );
        check(&[], "/.local/share/kiln", "/.config/kiln");
    }

    #[test]
    fn config_vars_leave_out_kiln_log_and_others() {
        let env = Environment::from_pairs(
            [
                ("KILN_LOG", "debug"),
                ("KILN_SHEBANG", "#!/bin/sh"),
                ("DOCKER_HOST", "x"),
            ],
            "/",
        );
        let names: Vec<_> = env.config_vars().map(|(k, _)| k).collect();
        assert_eq!(names, ["KILN_SHEBANG"]);
    }

    #[test]
    fn test_and_benchmark_variables_are_not_configuration() {
        let check = |name: &str, is_config: bool| {
            assert_eq!(is_config_var(name), is_config, "{name}");
        };
        check("KILN_TEST_DATABASE_URL", false);
        check("KILN_TEST_", false);
        check("KILN_BENCH_SUBMITS", false);
        check("KILN_LOG", false);
        check("KILN_SHEBANG", true);
        check("KILN_TESTING", true);
        check("KILN_DATABASE_URL", true);
        check("PATH", false);
        let env = Environment::from_pairs(
            [
                ("KILN_TEST_DATABASE_URL", "postgres:///x"),
                ("KILN_BENCH_JOBS", "100"),
                ("KILN_SHEBANG", "#!/bin/sh"),
            ],
            "/",
        );
        let names: Vec<_> = env.config_vars().map(|(k, _)| k).collect();
        assert_eq!(names, ["KILN_SHEBANG"]);
    }
}
