//! Configuration: the layers of spec/config.md (the repository's butido
//! `config.toml`, the user's file, `KILN_*` variables, flags) merged into one
//! raw table, then validated into [`Config`]. Nothing else reads
//! configuration files or `KILN_*` variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Where configuration comes from, besides the fixed locations.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The package repository's top directory; its `config.toml` is the first layer.
    pub repo_root: Option<PathBuf>,
    /// `--config FILE`: replaces the user's file.
    pub user_file: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

/// A configuration that cannot be used: the message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

/// A secret string: never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The secret itself: only for handing it to the thing that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"********\"")
    }
}

/// Which PostgreSQL database kiln uses.
#[derive(Debug, Clone)]
pub enum DatabaseTarget {
    /// kiln's own server in its data directory, started on demand.
    Embedded { dir: PathBuf },
    /// A configured server; the URL may hold a password.
    External { url: Secret },
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
    pub images: Vec<ImageConfig>,
    pub docker_versions: Option<Vec<String>>,
    pub docker_api_versions: Option<Vec<String>>,
    /// Never empty: the local engine when none is configured.
    pub endpoints: Vec<EndpointConfig>,
}

#[derive(Debug, Clone, Default)]
pub struct ContainersConfig {
    pub check_env_names: bool,
    pub allowed_env: Vec<String>,
    pub git_author: Option<String>,
    pub git_commit_hash: Option<String>,
}

/// The validated, effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub compatibility: u32,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    pub strict_script_interpolation: bool,
    pub progress_format: Option<String>,
    pub package_print_format: Option<String>,
    pub build_error_lines: usize,
    pub script_highlight_theme: Option<String>,
    pub script_linter: Option<PathBuf>,
    pub shebang: String,
    pub releases_root: PathBuf,
    pub release_stores: Vec<String>,
    pub staging: PathBuf,
    pub source_cache: PathBuf,
    pub database: DatabaseTarget,
    pub database_connection_timeout: Duration,
    pub database_default_query_limit: usize,
    pub available_phases: Vec<String>,
    pub docker: DockerConfig,
    pub containers: ContainersConfig,
    pub secret_env: Vec<String>,
    pub log_limit: u64,
    pub job_timeout: Option<Duration>,
    pub job_silence_timeout: Option<Duration>,
}

/// kiln's data directory: `$XDG_DATA_HOME/kiln`, else `~/.local/share/kiln`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("kiln");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    home.join(".local/share/kiln")
}

/// The user's configuration directory: `$XDG_CONFIG_HOME/kiln`, else `~/.config/kiln`.
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("kiln");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
    home.join(".config/kiln")
}

// ---------------------------------------------------------------------------
// A first, simple loader. It reads the repository's file and the user's file
// (the latter replacing keys of the former at the top level).
// ---------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    compatibility: Option<u32>,
    log_dir: Option<PathBuf>,
    strict_script_interpolation: Option<bool>,
    progress_format: Option<String>,
    package_print_format: Option<String>,
    build_error_lines: Option<usize>,
    script_highlight_theme: Option<String>,
    script_linter: Option<PathBuf>,
    shebang: Option<String>,
    releases_root: Option<PathBuf>,
    release_stores: Option<Vec<String>>,
    staging: Option<PathBuf>,
    source_cache: Option<PathBuf>,
    database_url: Option<String>,
    database_host: Option<String>,
    database_port: Option<u16>,
    database_user: Option<String>,
    database_password: Option<String>,
    database_name: Option<String>,
    database_connection_timeout: Option<u64>,
    database_default_query_limit: Option<usize>,
    available_phases: Option<Vec<String>>,
    docker: Option<RawDocker>,
    containers: Option<RawContainers>,
    secret_env: Option<Vec<String>>,
    log_limit: Option<u64>,
    job_timeout: Option<u64>,
    job_silence_timeout: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocker {
    images: Option<Vec<RawImage>>,
    docker_versions: Option<Vec<String>>,
    docker_api_versions: Option<Vec<String>>,
    endpoints: Option<BTreeMap<String, RawEndpoint>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    name: String,
    short_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    uri: String,
    endpoint_type: Option<String>,
    maxjobs: Option<usize>,
    network_mode: Option<String>,
    timeout: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContainers {
    check_env_names: Option<bool>,
    allowed_env: Option<Vec<String>>,
    git_author: Option<String>,
    git_commit_hash: Option<String>,
}

fn read_layer(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

impl Config {
    /// Loads and validates the configuration from all layers.
    pub fn load(options: &LoadOptions) -> Result<Config, ConfigError> {
        let mut raw = RawConfig::default();
        if let Some(root) = &options.repo_root {
            let path = root.join("config.toml");
            if path.exists() {
                raw = read_layer(&path)?;
            }
        }
        let user = options
            .user_file
            .clone()
            .unwrap_or_else(|| config_dir().join("config.toml"));
        if user.exists() {
            let layer = read_layer(&user)?;
            if layer.database_url.is_some() {
                raw.database_url = layer.database_url;
            }
        }
        if let Some(url) = &options.database_url {
            raw.database_url = Some(url.clone());
        }
        if let Ok(url) = std::env::var("KILN_DATABASE_URL") {
            raw.database_url = Some(url);
        }
        Ok(Self::from_raw(raw))
    }

    fn from_raw(raw: RawConfig) -> Config {
        let data_dir = data_dir();
        let database = match raw.database_url {
            Some(url) => DatabaseTarget::External { url: Secret::new(url) },
            None => DatabaseTarget::Embedded { dir: data_dir.join("postgres") },
        };
        let docker = raw.docker.unwrap_or_default();
        let mut endpoints: Vec<EndpointConfig> = docker
            .endpoints
            .unwrap_or_default()
            .into_iter()
            .map(|(name, e)| EndpointConfig {
                name,
                uri: e.uri,
                maxjobs: e.maxjobs.unwrap_or(1),
                network_mode: e.network_mode,
                timeout: Duration::from_secs(e.timeout.unwrap_or(10)),
                tls: None,
            })
            .collect();
        if endpoints.is_empty() {
            let uri = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
            endpoints.push(EndpointConfig {
                name: "local".into(),
                uri,
                maxjobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
                network_mode: None,
                timeout: Duration::from_secs(10),
                tls: None,
            });
        }
        let containers = raw.containers.unwrap_or_default();
        Config {
            compatibility: raw.compatibility.unwrap_or(1),
            log_dir: raw.log_dir.unwrap_or_else(|| data_dir.join("logs")),
            strict_script_interpolation: raw.strict_script_interpolation.unwrap_or(true),
            progress_format: raw.progress_format,
            package_print_format: raw.package_print_format,
            build_error_lines: raw.build_error_lines.unwrap_or(10),
            script_highlight_theme: raw.script_highlight_theme,
            script_linter: raw.script_linter,
            shebang: raw.shebang.unwrap_or_else(|| "#!/bin/bash".into()),
            releases_root: raw.releases_root.unwrap_or_else(|| data_dir.join("releases")),
            release_stores: raw.release_stores.unwrap_or_else(|| vec!["default".into()]),
            staging: raw.staging.unwrap_or_else(|| data_dir.join("staging")),
            source_cache: raw.source_cache.unwrap_or_else(|| data_dir.join("sources")),
            database,
            database_connection_timeout: Duration::from_secs(raw.database_connection_timeout.unwrap_or(30)),
            database_default_query_limit: raw.database_default_query_limit.unwrap_or(10),
            available_phases: raw.available_phases.unwrap_or_default(),
            docker: DockerConfig {
                images: docker
                    .images
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| ImageConfig { name: i.name, short_name: i.short_name })
                    .collect(),
                docker_versions: docker.docker_versions,
                docker_api_versions: docker.docker_api_versions,
                endpoints,
            },
            containers: ContainersConfig {
                check_env_names: containers.check_env_names.unwrap_or(false),
                allowed_env: containers.allowed_env.unwrap_or_default(),
                git_author: containers.git_author,
                git_commit_hash: containers.git_commit_hash,
            },
            secret_env: raw.secret_env.unwrap_or_default(),
            log_limit: raw.log_limit.unwrap_or(64 << 20),
            job_timeout: raw.job_timeout.map(Duration::from_secs),
            job_silence_timeout: raw.job_silence_timeout.map(Duration::from_secs),
            data_dir,
        }
    }
}
