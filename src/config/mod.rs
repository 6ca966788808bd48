//! Configuration: the layers of spec/config.md (the repository's butido
//! `config.toml`, the user's file, `KILN_*` variables, flags) merged into one
//! raw tree ([`raw`]), then validated into [`Config`] ([`validate`]), with
//! the source of every value kept for `kiln config show` ([`show`]).
//! Nothing else reads configuration files or `KILN_*` variables.
//!
//! Loading reads files: it is blocking, so async code calls it through
//! `spawn_blocking` (commands call it before any runtime work starts).
//!
//! `available_phases` and `docker.images` are required only when the
//! package repository has a `config.toml`, so that `kiln db ...` and
//! `kiln config show` work outside any repository. Code that builds asks
//! through [`Config::phases`] and [`Config::images`], which fail with a
//! [`ConfigError`] when they are not configured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod database;
mod error;
mod password;
#[cfg(test)]
mod proptests;
mod raw;
mod show;
mod source;
mod validate;

pub use database::{DatabaseTarget, Secret};
pub use error::{ConfigError, Problem, Problems};
pub use password::{mask_password, split_password, MASK};
pub use show::ShownEntry;
pub use source::{
    is_config_var, Environment, Layer, Source, ENV_PREFIX, NON_CONFIG_PREFIXES, NON_CONFIG_VARS,
};
pub use validate::{
    is_schema_name, COMPATIBILITY, DEFAULT_DATABASE_SCHEMA, DEFAULT_DOCKER_SOCKET,
    DEFAULT_LOG_LIMIT, LOCAL_ENDPOINT, MAX_MAXJOBS,
};

/// Where configuration comes from, besides the fixed locations.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The package repository's top directory; its `config.toml` is the first layer.
    pub repo_root: Option<PathBuf>,
    /// A work tree of another commit of that repository (`--commit`): its
    /// `config.toml` is read instead, and the paths it sets stay relative
    /// to `repo_root` (the checkout is temporary).
    pub repo_checkout: Option<PathBuf>,
    /// `--config FILE`: replaces the user's file.
    pub user_file: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// butido's `--db-*` flags.
    pub database_flags: DatabaseFlags,
}

/// butido's database flags (`--db-url HOST`, `--db-port`, `--db-user`,
/// `--db-password`, `--db-name`, `--db-timeout`): each sets its
/// `database_*` key above every other layer.
#[derive(Debug, Clone, Default)]
pub struct DatabaseFlags {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    pub connection_timeout: Option<u32>,
}

impl DatabaseFlags {
    /// The flags given, each as its key, its flag and its value.
    fn items(&self) -> Vec<(&'static str, &'static str, raw::Value)> {
        let text = |v: &Option<String>| v.clone().map(raw::Value::String);
        let number = |v: Option<i64>| v.map(raw::Value::Integer);
        [
            ("database_host", "--db-url", text(&self.host)),
            (
                "database_port",
                "--db-port",
                number(self.port.map(i64::from)),
            ),
            ("database_user", "--db-user", text(&self.user)),
            ("database_password", "--db-password", text(&self.password)),
            ("database_name", "--db-name", text(&self.name)),
            (
                "database_connection_timeout",
                "--db-timeout",
                number(self.connection_timeout.map(i64::from)),
            ),
        ]
        .into_iter()
        .filter_map(|(key, flag, value)| Some((key, flag, value?)))
        .collect()
    }
}

/// How an endpoint is reached, from the scheme of its URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// `unix:///path`: a Unix socket (butido's `endpoint_type = "socket"`).
    Socket,
    /// `http://host:port` (butido's `endpoint_type = "http"`).
    Http,
    /// `https://host:port`, optionally with client certificates (`tls`).
    Https,
}

/// How kiln reaches one Docker endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub name: String,
    /// `unix:///path`, `http://host:port` or `https://host:port`.
    pub uri: String,
    pub maxjobs: usize,
    pub network_mode: Option<String>,
    pub timeout: Duration,
    pub tls: Option<TlsConfig>,
}

impl EndpointConfig {
    /// How the endpoint is reached (validated at load, so never a guess).
    pub fn kind(&self) -> EndpointKind {
        validate::parse_endpoint_uri(&self.uri).unwrap_or(EndpointKind::Http)
    }
}

/// Client certificates for an `https://` endpoint; the files exist at load time.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// An image builds may use, by its full name and an optional short name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    pub name: String,
    pub short_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    /// Distinct names and short names; empty only without a repository file.
    pub images: Vec<ImageConfig>,
    pub docker_versions: Option<Vec<String>>,
    pub docker_api_versions: Option<Vec<String>>,
    /// Never empty: the local engine when none is configured.
    pub endpoints: Vec<EndpointConfig>,
}

impl DockerConfig {
    /// The image with this name or short name.
    pub fn find_image(&self, name: &str) -> Option<&ImageConfig> {
        self.images
            .iter()
            .find(|i| i.name == name || i.short_name.as_deref() == Some(name))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ContainersConfig {
    pub check_env_names: bool,
    pub allowed_env: Vec<String>,
    pub git_author: Option<String>,
    pub git_commit_hash: Option<String>,
}

/// Where the effective values came from: for `kiln config show`. Holds no
/// secret (the password of `database_password` is kept masked).
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The configuration files read, lowest precedence first.
    pub files: Vec<PathBuf>,
    /// The repository's `config.toml`, when there was one.
    pub repo_file: Option<PathBuf>,
    /// Source of each key that something set, by dotted path
    /// (`docker.endpoints.local.maxjobs`); absent keys have their default.
    /// `database` is the source of the effective database.
    pub sources: BTreeMap<String, Source>,
    /// The database keys that were set, in display form (passwords masked).
    pub database_keys: Vec<(String, serde_json::Value)>,
}

impl Provenance {
    /// Where `key` was set; [`Source::Default`] when nothing set it.
    pub fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }
}

/// The validated, effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub compatibility: u32,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    pub strict_script_interpolation: bool,
    /// `None`: the built-in template.
    pub progress_format: Option<String>,
    /// `None`: the built-in template.
    pub package_print_format: Option<String>,
    pub build_error_lines: usize,
    pub script_highlight_theme: Option<String>,
    pub script_linter: Option<PathBuf>,
    pub shebang: String,
    pub releases_root: PathBuf,
    /// Never empty; distinct directory names under `releases_root`.
    pub release_stores: Vec<String>,
    pub staging: PathBuf,
    pub source_cache: PathBuf,
    pub database: DatabaseTarget,
    pub database_connection_timeout: Duration,
    /// How long a running submit waits for a lost database to come back
    /// before it stops its jobs.
    pub database_outage_timeout: Duration,
    pub database_default_query_limit: usize,
    /// The PostgreSQL schema kiln's tables are in (`database_schema`).
    pub database_schema: String,
    /// Empty only without a repository file; see [`Config::phases`].
    pub available_phases: Vec<String>,
    pub docker: DockerConfig,
    pub containers: ContainersConfig,
    pub secret_env: Vec<String>,
    pub log_limit: u64,
    pub job_timeout: Option<Duration>,
    pub job_silence_timeout: Option<Duration>,
    /// How many times a job is tried when engines fail under it (a job
    /// whose script fails is never tried again).
    pub job_attempts: u32,
    /// Where each value came from.
    pub provenance: Provenance,
}

/// kiln's data directory: `$XDG_DATA_HOME/kiln`, else `~/.local/share/kiln`.
pub fn data_dir() -> PathBuf {
    Environment::from_process().data_dir()
}

/// The user's configuration directory: `$XDG_CONFIG_HOME/kiln`, else `~/.config/kiln`.
pub fn config_dir() -> PathBuf {
    Environment::from_process().config_dir()
}

/// Reads a configuration file, or `None` when it does not exist.
fn read_file(path: &Path) -> Result<Option<String>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn absolute(path: &Path, env: &Environment) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        env.cwd().join(path)
    }
}

impl Config {
    /// Loads and validates the configuration from all layers, with this
    /// process's environment.
    pub fn load(options: &LoadOptions) -> Result<Config, ConfigError> {
        Self::load_with(options, &Environment::from_process())
    }

    /// Loads and validates the configuration from all layers, with the
    /// given environment (`KILN_*`, `DOCKER_HOST`, XDG directories, `HOME`).
    pub fn load_with(options: &LoadOptions, env: &Environment) -> Result<Config, ConfigError> {
        let repo_file = options
            .repo_root
            .as_ref()
            .map(|root| absolute(&root.join("config.toml"), env));
        let (user_file, user_required) = match &options.user_file {
            Some(file) => (absolute(file, env), true),
            None => (env.config_dir().join("config.toml"), false),
        };

        let mut files = Vec::new();
        let mut problems = Vec::new();
        let mut layers = Vec::new();
        let mut repo_present = None;
        let candidates = [
            (repo_file, Layer::RepoFile, false),
            (Some(user_file), Layer::UserFile, user_required),
        ];
        for (path, layer, required) in candidates {
            let Some(path) = path else { continue };
            let read_from = match (&options.repo_checkout, layer) {
                (Some(checkout), Layer::RepoFile) => checkout.join("config.toml"),
                _ => path.clone(),
            };
            let text = match read_file(&read_from)? {
                Some(text) => text,
                None if required => {
                    return Err(ConfigError::Read {
                        path,
                        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    })
                }
                None => continue,
            };
            match raw::parse_file(&path, &text, layer) {
                Ok(table) => {
                    problems.extend(validate::check_compatibility(&table));
                    layers.push(table);
                }
                Err(p) => problems.extend(p),
            }
            if layer == Layer::RepoFile {
                repo_present = Some(path.clone());
            }
            files.push(path);
        }
        if !problems.is_empty() {
            return Err(ConfigError::Problems(Problems(problems)));
        }

        let mut root = raw::Table::new();
        for layer in layers {
            raw::merge(&mut root, layer);
        }
        for name in raw::apply_env(&mut root, env) {
            tracing::warn!("environment variable {name} names no configuration key; ignored");
        }
        if let Some(url) = &options.database_url {
            let item = raw::Item {
                value: raw::Value::String(url.clone()),
                source: Source::Flag("--database-url".into()),
                layer: Layer::Flag,
                raw: None,
            };
            raw::set_path(&mut root, &["database_url".to_owned()], item);
        }
        for (key, flag, value) in options.database_flags.items() {
            let item = raw::Item {
                value,
                source: Source::Flag(flag.into()),
                layer: Layer::Flag,
                raw: None,
            };
            raw::set_path(&mut root, &[key.to_owned()], item);
        }

        let ctx = validate::Context {
            env,
            repo_file: repo_present.as_deref(),
            files,
        };
        validate::validate(root, ctx).map_err(|p| ConfigError::Problems(Problems(p)))
    }

    /// The phases of the build script, in order: an error when no
    /// configuration lists them (no package repository).
    pub fn phases(&self) -> Result<&[String], ConfigError> {
        if self.available_phases.is_empty() {
            return Err(ConfigError::Missing {
                key: "available_phases",
                hint: "run kiln inside a package repository whose config.toml lists them, or give --repo",
            });
        }
        Ok(&self.available_phases)
    }

    /// The images builds may use: an error when none is configured.
    pub fn images(&self) -> Result<&[ImageConfig], ConfigError> {
        if self.docker.images.is_empty() {
            return Err(ConfigError::Missing {
                key: "docker.images",
                hint: "run kiln inside a package repository whose config.toml lists them, or give --repo",
            });
        }
        Ok(&self.docker.images)
    }

    /// A release store, which must be listed in `release_stores`.
    pub fn release_store(&self, name: &str) -> Result<crate::store::ReleaseStore, ConfigError> {
        if !self.release_stores.iter().any(|s| s == name) {
            return Err(ConfigError::UnknownReleaseStore {
                name: name.to_owned(),
                known: self.release_stores.join(", "),
            });
        }
        crate::store::ReleaseStore::new(name, &self.releases_root)
            .map_err(|e| ConfigError::Other(e.to_string()))
    }

    /// Creates `path` (and its parents) if it does not exist, and returns
    /// it. The error names the configuration key whose directory `path` is
    /// (or lies under). Blocking: call it from `spawn_blocking` in async code.
    pub fn ensure_dir(&self, path: impl AsRef<Path>) -> Result<PathBuf, ConfigError> {
        let path = path.as_ref();
        match std::fs::create_dir_all(path) {
            Ok(()) => Ok(path.to_owned()),
            Err(source) => Err(ConfigError::CreateDir {
                path: path.to_owned(),
                key: self.key_of_dir(path),
                source,
            }),
        }
    }

    /// The configuration key a directory belongs to, the most specific first.
    fn key_of_dir(&self, path: &Path) -> Option<&'static str> {
        let dirs: [(&Path, &'static str); 5] = [
            (&self.log_dir, "log_dir"),
            (&self.releases_root, "releases_root"),
            (&self.staging, "staging"),
            (&self.source_cache, "source_cache"),
            (&self.data_dir, "data directory (XDG_DATA_HOME)"),
        ];
        dirs.iter()
            .filter(|(dir, _)| path.starts_with(dir))
            .max_by_key(|(dir, _)| dir.components().count())
            .map(|(_, key)| *key)
    }

    /// The effective configuration as one entry per key, passwords masked.
    pub fn shown_entries(&self) -> Vec<ShownEntry> {
        show::entries(self)
    }
}

#[cfg(test)]
mod tests;
