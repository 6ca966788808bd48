//! What `kiln endpoint` prints: ping round trips, engine statistics,
//! kiln's containers, what was stopped or removed, images and their
//! presence, as listings (`-o table|csv|json`); the endpoints that failed
//! and a database that could not record their health, on standard error.

use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use super::listing::{self, Listing};
use crate::cli::OutputFormat;
use crate::db::models::SubmitStatus;
use crate::endpoint::{EngineImage, EngineStats};

/// One endpoint's pings.
#[derive(Debug, Clone)]
pub struct PingReport {
    pub endpoint: String,
    pub engine_version: String,
    pub api_version: String,
    /// The round trip of each ping, in order.
    pub round_trips: Vec<Duration>,
}

/// One of kiln's containers, with what the database says of its job.
#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub endpoint: String,
    pub container: String,
    pub state: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub submit: Option<uuid::Uuid>,
    pub job: Option<uuid::Uuid>,
    pub package: Option<(String, String)>,
    /// The submit's status in the database.
    pub submit_status: Option<SubmitStatus>,
}

/// What a `containers stop` or `prune` did on one endpoint.
#[derive(Debug, Clone)]
pub struct CleanupReport {
    pub endpoint: String,
    /// The ids of the containers stopped or removed.
    pub done: Vec<String>,
    /// Those that could not be, each with why.
    pub failed: Vec<(String, String)>,
}

/// Where one image is on one endpoint.
#[derive(Debug, Clone)]
pub struct PresenceRow {
    pub image: String,
    pub endpoint: String,
    /// Its id there, `None` when missing.
    pub id: Option<String>,
    /// `present`, `missing` or `other digest`.
    pub verdict: &'static str,
}

pub fn print_ping(format: OutputFormat, reports: &[PingReport]) -> Result<()> {
    let rows = reports
        .iter()
        .map(|r| {
            let ms: Vec<f64> = r.round_trips.iter().map(millis).collect();
            let mean = (!ms.is_empty()).then(|| ms.iter().sum::<f64>() / ms.len() as f64);
            let min = ms.iter().copied().reduce(f64::min);
            let max = ms.iter().copied().reduce(f64::max);
            vec![
                json!(r.endpoint),
                json!(r.engine_version),
                json!(r.api_version),
                json!(r.round_trips.len()),
                ms_cell(format, min),
                ms_cell(format, mean),
                ms_cell(format, max),
            ]
        })
        .collect();
    listing::print(
        format,
        &Listing {
            columns: vec![
                "endpoint", "engine", "api", "pings", "min_ms", "mean_ms", "max_ms",
            ],
            rows,
        },
    )
}

pub fn print_stats(format: OutputFormat, stats: &[(String, EngineStats)]) -> Result<()> {
    let rows = stats
        .iter()
        .map(|(endpoint, s)| {
            vec![
                json!(endpoint),
                json!(s.containers),
                json!(s.containers_running),
                json!(s.images),
                json!(s.cpus),
                size_cell(format, s.memory_bytes),
                json!(s.operating_system),
                json!(s.kernel_version),
                json!(s.architecture),
                json!(s.system_time),
            ]
        })
        .collect();
    listing::print(
        format,
        &Listing {
            columns: vec![
                "endpoint",
                "containers",
                "running",
                "images",
                "cpus",
                "memory",
                "os",
                "kernel",
                "arch",
                "system_time",
            ],
            rows,
        },
    )
}

pub fn print_containers(format: OutputFormat, containers: &[ContainerRow]) -> Result<()> {
    let now = Utc::now();
    let rows = containers
        .iter()
        .map(|c| {
            let age = c.created.map(|t| (now - t).num_seconds().max(0));
            vec![
                json!(c.endpoint),
                json!(id_cell(format, &c.container)),
                json!(c.job.map(|u| uuid_cell(format, &u))),
                json!(c.submit.map(|u| uuid_cell(format, &u))),
                json!(c.package.as_ref().map(|p| &p.0)),
                json!(c.package.as_ref().map(|p| &p.1)),
                json!(c.state),
                json!(c.submit_status),
                json!(c.created.map(|t| t.to_rfc3339())),
                age_cell(format, age),
            ]
        })
        .collect();
    listing::print(
        format,
        &Listing {
            columns: vec![
                "endpoint",
                "container",
                "job",
                "submit",
                "package",
                "version",
                "state",
                "submit_status",
                "created",
                "age",
            ],
            rows,
        },
    )
}

/// Per endpoint, how many containers were stopped or removed (`what`:
/// `stopped`, `removed`); each failure is named on standard error.
pub fn print_cleanup(
    format: OutputFormat,
    what: &'static str,
    reports: &[CleanupReport],
) -> Result<()> {
    for report in reports {
        for (id, why) in &report.failed {
            eprintln!(
                "warning: endpoint `{}`: container {} was not {what}: {why}",
                report.endpoint,
                crate::endpoint::logs::short(id)
            );
        }
    }
    let rows = reports
        .iter()
        .map(|r| {
            let ids: Vec<String> = r.done.iter().map(|id| id_cell(format, id)).collect();
            vec![
                json!(r.endpoint),
                json!(r.done.len()),
                json!(r.failed.len()),
                json!(ids),
            ]
        })
        .collect();
    listing::print(
        format,
        &Listing {
            columns: vec!["endpoint", what, "failed", "containers"],
            rows,
        },
    )
}

pub fn print_images(format: OutputFormat, images: &[(String, EngineImage)]) -> Result<()> {
    let rows = images
        .iter()
        .map(|(endpoint, i)| {
            vec![
                json!(endpoint),
                json!(i.tags),
                json!(i.id),
                json!(i.created.map(|t| t.to_rfc3339())),
                size_cell(format, Some(i.size_bytes)),
            ]
        })
        .collect();
    listing::print(
        format,
        &Listing {
            columns: vec!["endpoint", "tags", "id", "created", "size"],
            rows,
        },
    )
}

pub fn print_presence(format: OutputFormat, rows: &[PresenceRow]) -> Result<()> {
    for row in rows.iter().filter(|r| r.verdict != "present") {
        eprintln!(
            "error: image `{}` on endpoint `{}`: {}",
            row.image,
            row.endpoint,
            match &row.id {
                Some(id) => format!("another digest ({id})"),
                None => "missing".into(),
            }
        );
    }
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                json!(r.image),
                json!(r.endpoint),
                json!(r.verdict),
                json!(r.id),
            ]
        })
        .collect();
    listing::print(
        format,
        &Listing {
            columns: vec!["image", "endpoint", "status", "id"],
            rows: cells,
        },
    )
}

/// An endpoint that did not answer (or refused what was asked), named.
pub fn print_endpoint_failed(name: &str, err: &anyhow::Error) {
    eprintln!("error: endpoint `{name}`: {}", crate::error::chain(err));
}

/// The engines answered, but the database could not record what they said.
pub fn warn_health_not_recorded(err: &anyhow::Error) {
    eprintln!(
        "warning: the endpoints' health was not recorded in the database: {}",
        crate::error::chain(err)
    );
}

/// The package names of the containers are not shown.
pub fn warn_jobs_unknown(err: &anyhow::Error) {
    eprintln!(
        "warning: the containers' jobs were not read from the database: {}",
        crate::error::chain(err)
    );
}

fn millis(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Milliseconds rounded to tenths in a table, as they are elsewhere.
fn ms_cell(format: OutputFormat, ms: Option<f64>) -> Json {
    match (format, ms) {
        (_, None) => Json::Null,
        (OutputFormat::Table, Some(ms)) => json!(format!("{ms:.1}")),
        (_, Some(ms)) => json!((ms * 1000.0).round() / 1000.0),
    }
}

/// Bytes: readable in a table, a number for tools.
fn size_cell(format: OutputFormat, bytes: Option<i64>) -> Json {
    match (format, bytes) {
        (_, None) => Json::Null,
        (OutputFormat::Table, Some(b)) => json!(super::tabular::human_size(b)),
        (_, Some(b)) => json!(b),
    }
}

/// Seconds: readable in a table, a number for tools.
fn age_cell(format: OutputFormat, seconds: Option<i64>) -> Json {
    match (format, seconds) {
        (_, None) => Json::Null,
        #[allow(clippy::cast_precision_loss)]
        (OutputFormat::Table, Some(s)) => json!(super::tabular::human_duration(Some(s as f64))),
        (_, Some(s)) => json!(s),
    }
}

/// Container ids: short in a table, whole for tools.
fn id_cell(format: OutputFormat, id: &str) -> String {
    match format {
        OutputFormat::Table => crate::endpoint::logs::short(id).to_owned(),
        _ => id.to_owned(),
    }
}

fn uuid_cell(format: OutputFormat, u: &uuid::Uuid) -> String {
    match format {
        OutputFormat::Table => super::tabular::short_uuid(u),
        _ => u.to_string(),
    }
}
