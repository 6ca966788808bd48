//! From the merged raw tree to the typed [`Config`]: every key is checked
//! for its type and value, unknown keys are refused (or, when a `KILN_*`
//! variable made them, warned about), defaults are filled in, relative paths
//! are resolved, and every problem is collected before any is reported.
//! Records the source of each value in [`Provenance`] for `config show`.
//! Reads no file (it only asks whether TLS files exist).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::database::{build_url, is_postgres_url, DatabaseParts, DatabaseTarget, Secret, MASK};
use super::error::Problem;
use super::password::mask_password;
use super::raw::{join_key, Item, Table, Value};
use super::source::{Environment, Layer, Source};
use super::{
    Config, ContainersConfig, DockerConfig, EndpointConfig, EndpointKind, ImageConfig, Provenance,
    TlsConfig,
};
use crate::package::{is_env_name, ENV_NAME_RULE};

/// The newest configuration format this kiln knows (`compatibility`).
pub const COMPATIBILITY: i64 = 1;

/// The local Docker engine's socket, used when `DOCKER_HOST` is not set.
pub const DEFAULT_DOCKER_SOCKET: &str = "unix:///var/run/docker.sock";

/// The name of the endpoint used when none is configured.
pub const LOCAL_ENDPOINT: &str = "local";

/// Default of `log_limit`: 64 MiB.
pub const DEFAULT_LOG_LIMIT: u64 = 64 << 20;

/// Whether `name` is a schema name kiln takes (`database_schema`): a
/// lower-case letter or `_`, then lower-case letters, digits or `_`, at
/// most 63 bytes, not starting with `pg_`: a name PostgreSQL takes unquoted.
pub fn is_schema_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("pg_")
}

/// The PostgreSQL schema kiln's tables live in unless `database_schema` says otherwise.
pub const DEFAULT_DATABASE_SCHEMA: &str = "kiln";

/// How many times a job is tried when engines fail under it, unless
/// `job_attempts` says otherwise.
pub const DEFAULT_JOB_ATTEMPTS: u32 = 3;
/// The most attempts `job_attempts` may ask for.
pub const MAX_JOB_ATTEMPTS: u32 = 100;

/// The most jobs an endpoint's `maxjobs` may let run at once (each is a
/// slot shared through the database, `db::slots`).
pub const MAX_MAXJOBS: usize = 4096;

/// The most log lines `build_error_lines` may ask to keep for each job.
pub const MAX_ERROR_LINES: i64 = 100_000;

/// butido keys kiln accepts so that butido files load, but does not use.
pub(crate) const IGNORED_BUTIDO_KEYS: &[&str] =
    &["spinner_format", "verify_images_present", "speed"];

pub(crate) const ROOT_KEYS: &[&str] = &[
    "compatibility",
    "log_dir",
    "strict_script_interpolation",
    "progress_format",
    "spinner_format",
    "package_print_format",
    "build_error_lines",
    "script_highlight_theme",
    "script_linter",
    "shebang",
    "releases_root",
    "release_stores",
    "staging",
    "source_cache",
    "database_url",
    "database_host",
    "database_port",
    "database_user",
    "database_password",
    "database_name",
    "database_connection_timeout",
    "database_outage_timeout",
    "database_default_query_limit",
    "database_schema",
    "available_phases",
    "docker",
    "containers",
    "secret_env",
    "log_limit",
    "job_timeout",
    "job_silence_timeout",
    "job_attempts",
];
pub(crate) const DOCKER_KEYS: &[&str] = &[
    "images",
    "docker_versions",
    "docker_api_versions",
    "verify_images_present",
    "endpoints",
];
pub(crate) const ENDPOINT_KEYS: &[&str] = &[
    "uri",
    "endpoint_type",
    "maxjobs",
    "network_mode",
    "timeout",
    "tls",
    "speed",
];
pub(crate) const TLS_KEYS: &[&str] = &["ca", "cert", "key"];
pub(crate) const IMAGE_KEYS: &[&str] = &["name", "short_name"];
pub(crate) const CONTAINERS_KEYS: &[&str] = &[
    "check_env_names",
    "allowed_env",
    "git_author",
    "git_commit_hash",
];

/// What validation needs besides the tree.
pub(crate) struct Context<'a> {
    pub env: &'a Environment,
    /// The repository's `config.toml`, when there is one: it makes
    /// `available_phases` and `docker.images` required.
    pub repo_file: Option<&'a Path>,
    pub files: Vec<PathBuf>,
}

/// A value of a file or variable, checked against the type a key needs.
struct Checker<'a> {
    env: &'a Environment,
    problems: Vec<Problem>,
    sources: BTreeMap<String, Source>,
}

/// Validates the merged tree into a [`Config`].
pub(crate) fn validate(mut root: Table, ctx: Context<'_>) -> Result<Config, Vec<Problem>> {
    let mut c = Checker {
        env: ctx.env,
        problems: Vec::new(),
        sources: BTreeMap::new(),
    };
    let data_dir = ctx.env.data_dir();
    let t = &mut root;

    let compatibility = c.compatibility(t).unwrap_or(COMPATIBILITY);
    let log_dir = c
        .path(t, "", "log_dir")
        .unwrap_or_else(|| data_dir.join("logs"));
    let strict_script_interpolation = c
        .boolean(t, "", "strict_script_interpolation")
        .unwrap_or(true);
    let progress_format = c.template(t, "progress_format", check_progress_template);
    // butido's spinner template: accepted so that butido files load; kiln has no spinners.
    if c.string(t, "", "spinner_format").is_some() {
        c.ignored("spinner_format");
    }
    let package_print_format = c.template(t, "package_print_format", check_handlebars_template);
    let build_error_lines = c
        .integer(t, "", "build_error_lines", 0, MAX_ERROR_LINES)
        .map_or(10, to_usize);
    let script_highlight_theme = c.nonempty_string(t, "", "script_highlight_theme");
    let script_linter = c.path(t, "", "script_linter");
    let shebang = c.shebang(t).unwrap_or_else(|| "#!/bin/bash".into());
    let releases_root = c
        .path(t, "", "releases_root")
        .unwrap_or_else(|| data_dir.join("releases"));
    let release_stores = c
        .release_stores(t)
        .unwrap_or_else(|| vec!["default".into()]);
    let staging = c
        .path(t, "", "staging")
        .unwrap_or_else(|| data_dir.join("staging"));
    let source_cache = c
        .path(t, "", "source_cache")
        .unwrap_or_else(|| data_dir.join("sources"));
    let (database, database_keys) = c.database(t, &data_dir);
    let database_connection_timeout = secs(
        c.integer(t, "", "database_connection_timeout", 1, u32::MAX.into())
            .unwrap_or(30),
    );
    let database_outage_timeout = secs(
        c.integer(t, "", "database_outage_timeout", 1, 86_400)
            .unwrap_or(60),
    );
    let database_default_query_limit = c
        .integer(t, "", "database_default_query_limit", 1, u32::MAX.into())
        .map_or(10, to_usize);
    let database_schema = c
        .schema_name(t, "database_schema")
        .unwrap_or_else(|| DEFAULT_DATABASE_SCHEMA.to_owned());
    let available_phases = c.phases(t, ctx.repo_file);
    let docker = c.docker(t, ctx.repo_file);
    let containers = c.containers(t);
    let secret_env = c.env_names(t, "", "secret_env").unwrap_or_default();
    let log_limit = c
        .integer(t, "", "log_limit", 1, i64::MAX)
        .map_or(DEFAULT_LOG_LIMIT, to_u64);
    let job_timeout = c
        .integer(t, "", "job_timeout", 1, u32::MAX.into())
        .map(secs);
    let job_silence_timeout = c
        .integer(t, "", "job_silence_timeout", 1, u32::MAX.into())
        .map(secs);
    let job_attempts = c
        .integer(t, "", "job_attempts", 1, MAX_JOB_ATTEMPTS.into())
        .map_or(DEFAULT_JOB_ATTEMPTS, |n| {
            u32::try_from(n).unwrap_or(DEFAULT_JOB_ATTEMPTS)
        });
    c.finish(root, "", ROOT_KEYS);

    if !c.problems.is_empty() {
        sort_problems(&mut c.problems, &ctx.files);
        return Err(c.problems);
    }
    Ok(Config {
        compatibility: u32::try_from(compatibility).unwrap_or(1),
        data_dir,
        log_dir,
        strict_script_interpolation,
        progress_format,
        package_print_format,
        build_error_lines,
        script_highlight_theme,
        script_linter,
        shebang,
        releases_root,
        release_stores,
        staging,
        source_cache,
        database,
        database_connection_timeout,
        database_outage_timeout,
        database_default_query_limit,
        database_schema,
        available_phases,
        docker,
        containers,
        secret_env,
        log_limit,
        job_timeout,
        job_silence_timeout,
        job_attempts,
        provenance: Provenance {
            files: ctx.files,
            repo_file: ctx.repo_file.map(Path::to_owned),
            sources: c.sources,
            database_keys,
        },
    })
}

/// Orders problems as a reader meets them: by file (in the order the files
/// are read), then line; variables and flags after the files.
pub(crate) fn sort_problems(problems: &mut [Problem], files: &[PathBuf]) {
    problems.sort_by_key(|p| match &p.source {
        Source::File { path, line } => {
            let file = files.iter().position(|f| f == path).unwrap_or(files.len());
            (0, file, String::new(), line.unwrap_or(0))
        }
        Source::Env(name) => (1, 0, name.clone(), 0),
        Source::Flag(name) => (2, 0, name.clone(), 0),
        Source::Default => (3, 0, String::new(), 0),
    });
}

/// Checks a file's own `compatibility` before anything else: a file for a
/// newer kiln would otherwise yield a list of confusing problems.
pub(crate) fn check_compatibility(table: &Table) -> Option<Problem> {
    let item = table.get("compatibility")?;
    match item.value {
        Value::Integer(n) if n > COMPATIBILITY => Some(compatibility_too_new(item, n)),
        _ => None,
    }
}

fn compatibility_too_new(item: &Item, n: i64) -> Problem {
    Problem::key(
        item.source.clone(),
        "compatibility",
        format!("this configuration is for format {n}, but this kiln knows format {COMPATIBILITY} at most; update kiln"),
    )
}

fn secs(n: i64) -> Duration {
    Duration::from_secs(to_u64(n))
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn to_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn check_progress_template(t: &str) -> Result<(), String> {
    indicatif::ProgressStyle::with_template(t)
        .map(drop)
        .map_err(|e| format!("not a valid progress bar template: {e}"))
}

fn check_handlebars_template(t: &str) -> Result<(), String> {
    handlebars::Template::compile(t)
        .map(drop)
        .map_err(|e| format!("not a valid Handlebars template: {e}"))
}

/// Parses an endpoint URI: `unix:///absolute/path`, `http://host[:port]`
/// or `https://host[:port]`.
pub(crate) fn parse_endpoint_uri(uri: &str) -> Result<EndpointKind, String> {
    if let Some(path) = uri.strip_prefix("unix://") {
        return if path.starts_with('/') {
            Ok(EndpointKind::Socket)
        } else {
            Err(
                "a `unix://` URI needs an absolute path, as in `unix:///var/run/docker.sock`"
                    .into(),
            )
        };
    }
    let kind = if uri.starts_with("http://") {
        EndpointKind::Http
    } else if uri.starts_with("https://") {
        EndpointKind::Https
    } else if uri.starts_with("tcp://") {
        return Err("`tcp://` is not supported here; write `http://` (or `https://`) with the same host and port".into());
    } else {
        return Err("expected a `unix://`, `http://` or `https://` URI".into());
    };
    match url::Url::parse(uri) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(kind),
        Ok(_) => Err("the URI has no host".into()),
        Err(e) => Err(format!("not a valid URI: {e}")),
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggestion(key: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (distance(key, k), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

impl Checker<'_> {
    fn problem(&mut self, source: &Source, key: &str, message: impl Into<String>) {
        self.problems
            .push(Problem::key(source.clone(), key, message));
    }

    /// Notes a butido key that kiln accepts and does not use.
    fn ignored(&self, path: &str) {
        let key = path.rsplit('.').next().unwrap_or(path);
        debug_assert!(
            IGNORED_BUTIDO_KEYS.contains(&key),
            "{key} is not an ignored key"
        );
        tracing::debug!("`{path}` has no effect in kiln; ignored");
    }

    fn type_error(&mut self, item: &Item, key: &str, expected: &str) {
        let found = item.value.type_name();
        self.problem(
            &item.source,
            key,
            format!("expected {expected}, found {found}"),
        );
    }

    /// Removes `key` from `table`, recording where it was set.
    fn take(&mut self, table: &mut Table, prefix: &str, key: &str) -> Option<(String, Item)> {
        let item = table.remove(key)?;
        let path = join_key(prefix, key);
        self.sources.insert(path.clone(), item.source.clone());
        Some((path, item))
    }

    /// The keys left in `table` are unknown: problems, or warnings when a
    /// `KILN_*` variable made them.
    fn finish(&mut self, table: Table, prefix: &str, known: &[&str]) {
        for (key, item) in table {
            let path = join_key(prefix, &key);
            let hint = suggestion(&key, known);
            match (&item.layer, &item.source) {
                (Layer::Env, Source::Env(var)) => {
                    tracing::warn!("environment variable {var} names no configuration key (`{path}`{hint}); ignored");
                }
                _ => self.problem(&item.source, &path, format!("unknown key{hint}")),
            }
        }
    }

    fn string_of(&mut self, item: Item, path: &str) -> Option<String> {
        match item.value {
            Value::String(s) => Some(s),
            Value::Array(_) | Value::Table(_) => {
                self.type_error(&item, path, "a string");
                None
            }
            // From a variable, text that happened to parse as a number is still text.
            _ if item.raw.is_some() => item.raw,
            _ => {
                self.type_error(&item, path, "a string");
                None
            }
        }
    }

    fn string(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<String> {
        let (path, item) = self.take(t, prefix, key)?;
        self.string_of(item, &path)
    }

    /// A PostgreSQL schema name kiln can use unquoted: a lower-case letter
    /// or `_`, then lower-case letters, digits or `_`, at most 63 bytes.
    fn schema_name(&mut self, t: &mut Table, key: &str) -> Option<String> {
        let (path, item) = self.take(t, "", key)?;
        let source = item.source.clone();
        let s = self.string_of(item, &path)?;
        if !is_schema_name(&s) {
            self.problem(
                &source,
                &path,
                format!(
                    "`{}` is not a schema name kiln takes: a lower-case letter or `_`, then lower-case letters, digits or `_` (at most 63, not starting with `pg_`)",
                    crate::error::escape_controls(&s)
                ),
            );
            return None;
        }
        Some(s)
    }

    fn nonempty_string(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<String> {
        let (path, item) = self.take(t, prefix, key)?;
        let source = item.source.clone();
        let s = self.string_of(item, &path)?;
        if s.is_empty() {
            self.problem(&source, &path, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// A name (of an image, an endpoint): not empty, no control character.
    fn name(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<String> {
        let source = t.get(key).map(|item| item.source.clone())?;
        let name = self.nonempty_string(t, prefix, key)?;
        if name.chars().any(char::is_control) {
            let path = join_key(prefix, key);
            self.problem(&source, &path, "must not hold control characters");
            return None;
        }
        Some(name)
    }

    fn boolean(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<bool> {
        let (path, item) = self.take(t, prefix, key)?;
        match item.value {
            Value::Boolean(b) => Some(b),
            _ => {
                self.type_error(&item, &path, "a boolean (true or false)");
                None
            }
        }
    }

    fn integer(
        &mut self,
        t: &mut Table,
        prefix: &str,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let (path, item) = self.take(t, prefix, key)?;
        self.integer_of(&item, &path, min, max)
    }

    fn integer_of(&mut self, item: &Item, path: &str, min: i64, max: i64) -> Option<i64> {
        let Value::Integer(n) = item.value else {
            self.type_error(item, path, "an integer");
            return None;
        };
        if n < min {
            self.problem(
                &item.source,
                path,
                format!("must be at least {min}, not {n}"),
            );
            return None;
        }
        if n > max {
            self.problem(
                &item.source,
                path,
                format!("must be at most {max}, not {n}"),
            );
            return None;
        }
        Some(n)
    }

    /// A path, resolved: `~/` is the home directory; a relative path is
    /// relative to the directory of the file that set it (or to the current
    /// directory, for variables and flags).
    fn path(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<PathBuf> {
        let (path, item) = self.take(t, prefix, key)?;
        let source = item.source.clone();
        let text = self.string_of(item, &path)?;
        if text.is_empty() {
            self.problem(&source, &path, "must not be empty");
            return None;
        }
        Some(self.resolve(&text, &source))
    }

    fn resolve(&self, text: &str, source: &Source) -> PathBuf {
        let home = self.env.home();
        let expanded = match (text.strip_prefix('~'), home) {
            (Some(""), Some(home)) => home,
            (Some(rest), Some(home)) if rest.starts_with('/') => {
                home.join(rest.trim_start_matches('/'))
            }
            _ => PathBuf::from(text),
        };
        if expanded.is_absolute() {
            expanded
        } else {
            source.base_dir(self.env.cwd()).join(expanded)
        }
    }

    fn array(&mut self, item: Item, path: &str, expected: &str) -> Option<Vec<Item>> {
        match item.value {
            Value::Array(items) => Some(items),
            _ => {
                self.type_error(&item, path, expected);
                None
            }
        }
    }

    fn strings(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<(Source, Vec<String>)> {
        let (path, item) = self.take(t, prefix, key)?;
        let source = item.source.clone();
        let items = self.array(item, &path, "an array of strings")?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            match item.value {
                Value::String(s) => out.push(s),
                _ => {
                    self.type_error(&item, &format!("{path}[{i}]"), "a string");
                    ok = false;
                }
            }
        }
        ok.then_some((source, out))
    }

    /// An array of distinct, non-empty strings, each passing `check`.
    fn names(
        &mut self,
        t: &mut Table,
        prefix: &str,
        key: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<(Source, Vec<String>)> {
        let (source, names) = self.strings(t, prefix, key)?;
        let path = join_key(prefix, key);
        let mut seen = BTreeSet::new();
        let mut ok = true;
        for name in &names {
            if let Err(why) = check(name) {
                self.problem(&source, &path, format!("`{name}`: {why}"));
                ok = false;
            } else if !seen.insert(name.as_str()) {
                self.problem(&source, &path, format!("`{name}` is listed twice"));
                ok = false;
            }
        }
        ok.then_some((source, names))
    }

    fn env_names(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<Vec<String>> {
        self.names(t, prefix, key, |n| {
            if is_env_name(n) {
                Ok(())
            } else {
                Err(format!(
                    "not a valid environment variable name ({ENV_NAME_RULE})"
                ))
            }
        })
        .map(|(_, v)| v)
    }

    fn table(&mut self, t: &mut Table, prefix: &str, key: &str) -> Option<(Source, Table)> {
        let (path, item) = self.take(t, prefix, key)?;
        match item.value {
            Value::Table(inner) => Some((item.source, inner)),
            _ => {
                self.type_error(&item, &path, "a table");
                None
            }
        }
    }

    fn compatibility(&mut self, t: &mut Table) -> Option<i64> {
        let (path, item) = self.take(t, "", "compatibility")?;
        let Value::Integer(n) = item.value else {
            self.type_error(&item, &path, "an integer");
            return None;
        };
        if n > COMPATIBILITY {
            self.problems.push(compatibility_too_new(&item, n));
            return None;
        }
        if n < 1 {
            self.problem(
                &item.source,
                &path,
                format!("must be {COMPATIBILITY}, not {n}"),
            );
            return None;
        }
        Some(n)
    }

    fn template(
        &mut self,
        t: &mut Table,
        key: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<String> {
        let (path, item) = self.take(t, "", key)?;
        let source = item.source.clone();
        let text = self.string_of(item, &path)?;
        if let Err(why) = check(&text) {
            self.problem(&source, &path, why);
            return None;
        }
        Some(text)
    }

    fn shebang(&mut self, t: &mut Table) -> Option<String> {
        let (path, item) = self.take(t, "", "shebang")?;
        let source = item.source.clone();
        let text = self.string_of(item, &path)?;
        if !text.starts_with("#!") || text.contains('\n') {
            self.problem(&source, &path, "must be one line starting with `#!`");
            return None;
        }
        Some(text)
    }

    fn release_stores(&mut self, t: &mut Table) -> Option<Vec<String>> {
        let (source, stores) =
            self.names(
                t,
                "",
                "release_stores",
                |n| match crate::store::paths::component_problem(n) {
                    Some(problem) => Err(format!("not a valid directory name: it {problem}")),
                    None => Ok(()),
                },
            )?;
        if stores.is_empty() {
            self.problem(
                &source,
                "release_stores",
                "must list at least one release store",
            );
            return None;
        }
        Some(stores)
    }

    fn phases(&mut self, t: &mut Table, repo_file: Option<&Path>) -> Vec<String> {
        let present = t.contains_key("available_phases");
        let phases = self.names(t, "", "available_phases", |n| {
            if n.is_empty() || n.chars().any(char::is_whitespace) {
                Err("not a valid phase name".into())
            } else {
                Ok(())
            }
        });
        match phases {
            Some((source, phases)) if phases.is_empty() => {
                self.problem(&source, "available_phases", "must list at least one phase");
                Vec::new()
            }
            Some((_, phases)) => phases,
            None => {
                if let (false, Some(file)) = (present, repo_file) {
                    self.problem(
                        &Source::file(file),
                        "available_phases",
                        "is required in a package repository's configuration (the phases of the build script, in order)",
                    );
                }
                Vec::new()
            }
        }
    }

    fn database(
        &mut self,
        t: &mut Table,
        data_dir: &Path,
    ) -> (DatabaseTarget, Vec<(String, serde_json::Value)>) {
        let mut shown = Vec::new();
        let url = self.take(t, "", "database_url");
        let part_keys = [
            "database_host",
            "database_port",
            "database_user",
            "database_password",
            "database_name",
        ];
        let parts: Vec<(String, Item)> = part_keys
            .iter()
            .filter_map(|k| self.take(t, "", k))
            .collect();

        let mut db = DatabaseParts::default();
        let mut parts_layer = None::<(Layer, Source)>;
        for (key, item) in parts {
            if parts_layer.as_ref().is_none_or(|(l, _)| item.layer > *l) {
                parts_layer = Some((item.layer, item.source.clone()));
            }
            let source = item.source.clone();
            if key == "database_port" {
                if let Some(port) = self.integer_of(&item, &key, 1, 65535) {
                    db.port = u16::try_from(port).ok();
                    shown.push((key, port.into()));
                }
                continue;
            }
            let Some(text) = self.string_of(item, &key) else {
                continue;
            };
            if text.is_empty() {
                self.problem(&source, &key, "must not be empty");
                continue;
            }
            match key.as_str() {
                "database_host" => db.host = Some(text.clone()),
                "database_user" => db.user = Some(text.clone()),
                "database_name" => db.name = Some(text.clone()),
                _ => {
                    db.password = Some(Secret::new(text));
                    shown.push((key, MASK.into()));
                    continue;
                }
            }
            shown.push((key, text.into()));
        }
        if db.password.is_some() && db.user.is_none() {
            if let Some((_, source)) = &parts_layer {
                self.problem(
                    source,
                    "database_password",
                    "is set but `database_user` is not",
                );
            }
        }

        let url = url.and_then(|(key, item)| {
            let (layer, source) = (item.layer, item.source.clone());
            let text = self.string_of(item, &key)?;
            if !is_postgres_url(&text) {
                // The URL may hold a password: never repeat it.
                self.problem(
                    &source,
                    &key,
                    "must be a `postgres://` or `postgresql://` URL",
                );
                return None;
            }
            shown.insert(0, (key, mask_password(&text).into()));
            Some((layer, source, text))
        });

        let target = match (url, parts_layer) {
            (Some((layer, source, text)), Some((parts_layer, parts_source))) => {
                if parts_layer >= layer {
                    let why = if matches!(parts_source, Source::Flag(_)) && parts_layer > layer {
                        format!("is a whole URL, of which {parts_source} cannot set a part; give the whole URL with --database-url instead")
                    } else if parts_layer == layer {
                        format!("is set together with database_* keys (at {parts_source}); set one or the other")
                    } else {
                        format!("is overridden by a database_* key set later (at {parts_source}); set one or the other")
                    };
                    self.problem(&source, "database_url", why);
                }
                // Only the URL is in effect: the database_* keys are not shown.
                tracing::debug!("database_url ({source}) is used; the database_* keys are not");
                shown.retain(|(key, _)| key == "database_url");
                self.sources.insert("database".into(), source);
                DatabaseTarget::External {
                    url: Secret::new(text),
                }
            }
            (Some((_, source, text)), None) => {
                self.sources.insert("database".into(), source);
                DatabaseTarget::External {
                    url: Secret::new(text),
                }
            }
            (None, Some((_, source))) => {
                self.sources.insert("database".into(), source);
                DatabaseTarget::External {
                    url: build_url(&db),
                }
            }
            (None, None) => DatabaseTarget::Embedded {
                dir: data_dir.join("postgres"),
            },
        };
        (target, shown)
    }

    fn docker(&mut self, t: &mut Table, repo_file: Option<&Path>) -> DockerConfig {
        let (_, mut d) = self.table(t, "", "docker").unwrap_or_default();
        let images = self.images(&mut d, repo_file);
        let docker_versions = self
            .strings(&mut d, "docker", "docker_versions")
            .map(|(_, v)| v);
        let docker_api_versions = self
            .strings(&mut d, "docker", "docker_api_versions")
            .map(|(_, v)| v);
        // butido's switch; kiln always checks that the images exist.
        if self
            .boolean(&mut d, "docker", "verify_images_present")
            .is_some()
        {
            self.ignored("docker.verify_images_present");
        }
        let endpoints = self.endpoints(&mut d);
        self.finish(d, "docker", DOCKER_KEYS);
        DockerConfig {
            images,
            docker_versions,
            docker_api_versions,
            endpoints,
        }
    }

    fn images(&mut self, d: &mut Table, repo_file: Option<&Path>) -> Vec<ImageConfig> {
        let Some((path, item)) = self.take(d, "docker", "images") else {
            if let Some(file) = repo_file {
                self.problem(
                    &Source::file(file),
                    "docker.images",
                    "is required in a package repository's configuration (the images builds may use)",
                );
            }
            return Vec::new();
        };
        let source = item.source.clone();
        let Some(items) = self.array(item, &path, "an array of `{ name, short_name }` tables")
        else {
            return Vec::new();
        };
        if items.is_empty() && repo_file.is_some() {
            self.problem(&source, &path, "must list at least one image");
        }
        let mut images = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            let source = item.source.clone();
            let image = match item.value {
                // An image given by its name alone, as older butido files do.
                Value::String(name) if name.is_empty() || name.chars().any(char::is_control) => {
                    self.problem(&source, &ipath, "must be a name without control characters");
                    None
                }
                Value::String(name) => Some(ImageConfig {
                    name,
                    short_name: None,
                }),
                Value::Table(mut it) => {
                    if !it.contains_key("name") {
                        self.problem(&source, &format!("{ipath}.name"), "is required");
                    }
                    let name = self.name(&mut it, &ipath, "name");
                    let short_name = self.name(&mut it, &ipath, "short_name");
                    self.finish(it, &ipath, IMAGE_KEYS);
                    name.map(|name| ImageConfig { name, short_name })
                }
                _ => {
                    self.type_error(&item, &ipath, "a `{ name, short_name }` table");
                    None
                }
            };
            if let Some(image) = image {
                let clash = images.iter().find(|other: &&ImageConfig| {
                    let mine = [Some(&image.name), image.short_name.as_ref()];
                    let theirs = [Some(&other.name), other.short_name.as_ref()];
                    mine.iter()
                        .flatten()
                        .any(|m| theirs.iter().flatten().any(|o| m == o))
                });
                if let Some(other) = clash {
                    let msg = format!(
                        "`{}` has a name or short name that `{}` already uses",
                        image.name, other.name
                    );
                    self.problem(&source, &ipath, msg);
                } else {
                    images.push(image);
                }
            }
        }
        images
    }

    /// `[docker.endpoints.<name>]` tables, or the `[[docker.endpoints]]`
    /// array with a `name` in each of older butido files; the local engine
    /// when there is none.
    fn endpoints(&mut self, d: &mut Table) -> Vec<EndpointConfig> {
        let mut named: Vec<(String, Item)> = Vec::new();
        if let Some((path, item)) = self.take(d, "docker", "endpoints") {
            match item.value {
                Value::Table(table) => named.extend(table),
                Value::Array(items) => {
                    for (i, mut item) in items.into_iter().enumerate() {
                        let ipath = format!("{path}[{i}]");
                        let Value::Table(t) = &mut item.value else {
                            self.type_error(&item, &ipath, "a table");
                            continue;
                        };
                        if !t.contains_key("name") {
                            let source = item.source.clone();
                            self.problem(&source, &format!("{ipath}.name"), "is required");
                            continue;
                        }
                        if let Some(name) = self.name(t, &ipath, "name") {
                            named.push((name, item));
                        }
                    }
                }
                _ => self.type_error(&item, &path, "a table of endpoints"),
            }
        }
        let configured = !named.is_empty();
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, item) in named {
            let path = format!("docker.endpoints.{name}");
            if name.is_empty() {
                self.problem(&item.source, &path, "an endpoint needs a name");
                continue;
            }
            if name.chars().any(char::is_control) {
                self.problem(
                    &item.source,
                    &path,
                    "an endpoint name must not hold control characters",
                );
                continue;
            }
            if !seen.insert(name.clone()) {
                self.problem(&item.source, &path, "two endpoints have this name");
                continue;
            }
            match item.value {
                Value::Table(mut et) => {
                    if let Some(e) = self.endpoint(&name, &item.source, &mut et) {
                        out.push(e);
                    }
                    self.finish(et, &path, ENDPOINT_KEYS);
                }
                _ => self.type_error(&item, &path, "a table"),
            }
        }
        if !configured {
            let mut empty = Table::new();
            if let Some(e) = self.endpoint(LOCAL_ENDPOINT, &Source::Default, &mut empty) {
                out.push(e);
            }
        }
        out
    }

    /// The local engine: `DOCKER_HOST` (`tcp://` read as `http://`), else the default socket.
    fn local_engine_uri(&self) -> (String, Source) {
        match self.env.var("DOCKER_HOST") {
            Some(host) => {
                let uri = match host.strip_prefix("tcp://") {
                    Some(rest) => format!("http://{rest}"),
                    None => host.to_owned(),
                };
                (uri, Source::Env("DOCKER_HOST".into()))
            }
            None => (DEFAULT_DOCKER_SOCKET.to_owned(), Source::Default),
        }
    }

    fn endpoint(
        &mut self,
        name: &str,
        table_source: &Source,
        et: &mut Table,
    ) -> Option<EndpointConfig> {
        let prefix = format!("docker.endpoints.{name}");
        // An endpoint named `local` without a `uri` is the local engine.
        let is_local_engine = name == LOCAL_ENDPOINT && !et.contains_key("uri");
        let uri = match self.take(et, &prefix, "uri") {
            Some((path, item)) => {
                let source = item.source.clone();
                self.string_of(item, &path).map(|u| (u, source))
            }
            None if is_local_engine => {
                let (uri, source) = self.local_engine_uri();
                self.sources.insert(format!("{prefix}.uri"), source.clone());
                Some((uri, source))
            }
            None => {
                self.problem(table_source, &format!("{prefix}.uri"), "is required");
                None
            }
        };
        let kind = uri
            .as_ref()
            .and_then(|(uri, source)| match parse_endpoint_uri(uri) {
                Ok(kind) => Some(kind),
                Err(why) => {
                    self.problem(source, &format!("{prefix}.uri"), why);
                    None
                }
            });
        if let Some((path, item)) = self.take(et, &prefix, "endpoint_type") {
            let source = item.source.clone();
            match self.string_of(item, &path).as_deref() {
                Some(ty @ ("socket" | "http")) => {
                    let fits = match kind {
                        Some(EndpointKind::Socket) => ty == "socket",
                        Some(EndpointKind::Http | EndpointKind::Https) => ty == "http",
                        None => true,
                    };
                    if !fits {
                        let uri = uri.as_ref().map_or("", |(u, _)| u.as_str());
                        self.problem(
                            &source,
                            &path,
                            format!("`{ty}` does not fit the URI `{}`", mask_password(uri)),
                        );
                    }
                }
                Some(other) => self.problem(
                    &source,
                    &path,
                    format!("expected `socket` or `http`, not `{other}`"),
                ),
                None => {}
            }
        }
        let default_maxjobs = if is_local_engine { local_cpus() } else { 1 };
        let maxjobs = self
            .integer(et, &prefix, "maxjobs", 1, MAX_MAXJOBS as i64)
            .map_or(default_maxjobs, to_usize);
        let network_mode = self.nonempty_string(et, &prefix, "network_mode");
        let timeout = secs(
            self.integer(et, &prefix, "timeout", 1, u32::MAX.into())
                .unwrap_or(10),
        );
        // butido's relative speed; kiln balances by free slots instead.
        if self.integer(et, &prefix, "speed", 0, i64::MAX).is_some() {
            self.ignored(&format!("{prefix}.speed"));
        }
        let tls = self.tls(et, &prefix, kind);
        let (uri, _) = uri?;
        kind?;
        Some(EndpointConfig {
            name: name.to_owned(),
            uri,
            maxjobs,
            network_mode,
            timeout,
            tls,
        })
    }

    fn tls(
        &mut self,
        et: &mut Table,
        prefix: &str,
        kind: Option<EndpointKind>,
    ) -> Option<TlsConfig> {
        let (source, mut tt) = self.table(et, prefix, "tls")?;
        let tpath = format!("{prefix}.tls");
        if kind.is_some_and(|k| k != EndpointKind::Https) {
            self.problem(&source, &tpath, "is only for `https://` endpoints");
        }
        let mut file = |c: &mut Self, key: &str| -> Option<PathBuf> {
            let kpath = format!("{tpath}.{key}");
            let item_source = tt.get(key).map(|i| i.source.clone());
            match c.path(&mut tt, &tpath, key) {
                Some(p) if p.is_file() => Some(p),
                Some(p) => {
                    let s = item_source.unwrap_or_else(|| source.clone());
                    c.problem(&s, &kpath, format!("no such file: {}", p.display()));
                    None
                }
                None => {
                    if item_source.is_none() {
                        c.problem(&source, &kpath, "is required");
                    }
                    None
                }
            }
        };
        let ca = file(self, "ca");
        let cert = file(self, "cert");
        let key = file(self, "key");
        self.finish(tt, &tpath, TLS_KEYS);
        Some(TlsConfig {
            ca: ca?,
            cert: cert?,
            key: key?,
        })
    }

    fn containers(&mut self, t: &mut Table) -> ContainersConfig {
        let (_, mut ct) = self.table(t, "", "containers").unwrap_or_default();
        let p = "containers";
        let check_env_names = self.boolean(&mut ct, p, "check_env_names").unwrap_or(false);
        let allowed_env = self
            .env_names(&mut ct, p, "allowed_env")
            .unwrap_or_default();
        let mut var = |c: &mut Self, key: &str| {
            let (path, item) = c.take(&mut ct, p, key)?;
            let source = item.source.clone();
            let name = c.string_of(item, &path)?;
            if !is_env_name(&name) {
                c.problem(
                    &source,
                    &path,
                    format!("`{name}` is not a valid environment variable name ({ENV_NAME_RULE})"),
                );
                return None;
            }
            Some(name)
        };
        let git_author = var(self, "git_author");
        let git_commit_hash = var(self, "git_commit_hash");
        self.finish(ct, p, CONTAINERS_KEYS);
        ContainersConfig {
            check_env_names,
            allowed_env,
            git_author,
            git_commit_hash,
        }
    }
}

/// The number of CPUs, the default `maxjobs` of the local engine.
pub(crate) fn local_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_uris() {
        let cases: [(&str, Result<EndpointKind, &str>); 9] = [
            ("unix:///var/run/docker.sock", Ok(EndpointKind::Socket)),
            ("unix://relative.sock", Err("absolute path")),
            ("http://build1:2375", Ok(EndpointKind::Http)),
            ("http://10.0.0.1", Ok(EndpointKind::Http)),
            ("https://build2:2376", Ok(EndpointKind::Https)),
            ("tcp://build1:2375", Err("`tcp://` is not supported")),
            ("ssh://build1", Err("expected a `unix://`")),
            ("/var/run/docker.sock", Err("expected a `unix://`")),
            ("http://", Err("")),
        ];
        for (uri, want) in cases {
            match (parse_endpoint_uri(uri), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{uri}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{uri}: {got}"),
                (got, want) => panic!("{uri}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn suggestions() {
        let cases = [
            ("maxjob", "; did you mean `maxjobs`?"),
            ("uri", "; did you mean `uri`?"),
            ("colour", ""),
        ];
        for (key, want) in cases {
            assert_eq!(suggestion(key, ENDPOINT_KEYS), want, "{key}");
        }
    }
}
