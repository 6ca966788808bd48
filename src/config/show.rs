//! The effective configuration as a list of entries (key, value, source)
//! for `kiln config show`. Passwords are masked here, so nothing that
//! prints these entries can leak one. Pure: no I/O.

use serde_json::{json, Value as Json};

use super::password::mask_password;
use super::{Config, DatabaseTarget, Source};

/// One effective key: its value (as JSON; `null` when unset) and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownEntry {
    pub key: String,
    pub value: Json,
    pub source: Source,
}

fn path_json(p: &std::path::Path) -> Json {
    Json::String(p.display().to_string())
}

fn opt<T: Into<Json>>(v: Option<T>) -> Json {
    v.map_or(Json::Null, Into::into)
}

/// Every key of the configuration, in the order of the documentation.
pub(crate) fn entries(c: &Config) -> Vec<ShownEntry> {
    let p = &c.provenance;
    let mut out = Vec::new();
    let mut push = |key: &str, value: Json| {
        let source = p.source(key);
        out.push(ShownEntry {
            key: key.to_owned(),
            value,
            source,
        });
    };
    push("compatibility", c.compatibility.into());
    push("log_dir", path_json(&c.log_dir));
    push(
        "strict_script_interpolation",
        c.strict_script_interpolation.into(),
    );
    push("progress_format", opt(c.progress_format.clone()));
    push("package_print_format", opt(c.package_print_format.clone()));
    push("build_error_lines", c.build_error_lines.into());
    push(
        "script_highlight_theme",
        opt(c.script_highlight_theme.clone()),
    );
    push(
        "script_linter",
        c.script_linter.as_deref().map_or(Json::Null, path_json),
    );
    push("shebang", c.shebang.clone().into());
    push("releases_root", path_json(&c.releases_root));
    push("release_stores", c.release_stores.clone().into());
    push("staging", path_json(&c.staging));
    push("source_cache", path_json(&c.source_cache));
    let database = match &c.database {
        DatabaseTarget::Embedded { dir } => json!(format!("embedded ({})", dir.display())),
        DatabaseTarget::External { url } => json!(mask_password(url.expose())),
    };
    push("database", database);
    for (key, value) in &p.database_keys {
        push(key, value.clone());
    }
    push(
        "database_connection_timeout",
        c.database_connection_timeout.as_secs().into(),
    );
    push(
        "database_outage_timeout",
        c.database_outage_timeout.as_secs().into(),
    );
    push(
        "database_default_query_limit",
        c.database_default_query_limit.into(),
    );
    push("database_schema", c.database_schema.clone().into());
    push("available_phases", c.available_phases.clone().into());
    let images: Vec<Json> = c
        .docker
        .images
        .iter()
        .map(|i| json!({ "name": i.name, "short_name": i.short_name }))
        .collect();
    push("docker.images", images.into());
    push(
        "docker.docker_versions",
        opt(c.docker.docker_versions.clone()),
    );
    push(
        "docker.docker_api_versions",
        opt(c.docker.docker_api_versions.clone()),
    );
    for e in &c.docker.endpoints {
        let k = |s: &str| format!("docker.endpoints.{}.{s}", e.name);
        push(&k("uri"), mask_password(&e.uri).into());
        let ty = match e.kind() {
            super::EndpointKind::Socket => "socket",
            super::EndpointKind::Http | super::EndpointKind::Https => "http",
        };
        push(&k("endpoint_type"), ty.into());
        push(&k("maxjobs"), e.maxjobs.into());
        push(&k("network_mode"), opt(e.network_mode.clone()));
        push(&k("timeout"), e.timeout.as_secs().into());
        if let Some(tls) = &e.tls {
            push(&k("tls.ca"), path_json(&tls.ca));
            push(&k("tls.cert"), path_json(&tls.cert));
            push(&k("tls.key"), path_json(&tls.key));
        }
    }
    push(
        "containers.check_env_names",
        c.containers.check_env_names.into(),
    );
    push(
        "containers.allowed_env",
        c.containers.allowed_env.clone().into(),
    );
    push(
        "containers.git_author",
        opt(c.containers.git_author.clone()),
    );
    push(
        "containers.git_commit_hash",
        opt(c.containers.git_commit_hash.clone()),
    );
    push("secret_env", c.secret_env.clone().into());
    push("log_limit", c.log_limit.into());
    push("job_timeout", opt(c.job_timeout.map(|d| d.as_secs())));
    push(
        "job_silence_timeout",
        opt(c.job_silence_timeout.map(|d| d.as_secs())),
    );
    out
}
