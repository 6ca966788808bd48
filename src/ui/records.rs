//! How each kind of database record is shown: the columns of every `db`
//! listing (table and CSV), and the text of `db submit` and `db job`.
//! The JSON forms are the records' own `Serialize` implementations.

use std::fmt::Write as _;

use crate::db::listings::artifacts::{ArtifactItem, ReleaseRow};
use crate::db::listings::jobs::{EnvVar, JobDetail, JobRow};
use crate::db::listings::lookups::{EndpointRow, EnvVarRow, ImageRow, PackageRow};
use crate::db::listings::stats::StatsRow;
use crate::db::listings::submits::{SubmitDetail, SubmitListItem};
use crate::db::models::job_attempts::AttemptOutcome;
use crate::db::models::JobStatus;

use super::tabular::{
    human_duration, human_size, opt, rfc3339, rfc3339_opt, seconds_opt, short_time, short_time_opt,
    short_uuid, table, table_cell, DisplayNames, Tabular,
};

impl Tabular for SubmitListItem {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "uuid",
        "started_at",
        "ended_at",
        "duration_seconds",
        "status",
        "package_name",
        "package_version",
        "image",
        "commit",
        "repo_dirty",
        "submitter_user",
        "submitter_host",
        "jobs",
        "jobs_failed",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "SUBMIT", "STARTED", "STATUS", "PACKAGE", "VERSION", "IMAGE", "COMMIT", "JOBS", "FAILED",
        "DURATION", "BY",
    ];

    fn csv_cells(&self) -> Vec<String> {
        let s = &self.submit;
        vec![
            s.uuid.to_string(),
            rfc3339(&s.started_at),
            rfc3339_opt(&s.ended_at),
            seconds_opt(s.duration_seconds),
            s.status.to_string(),
            s.package_name.clone(),
            s.package_version.clone(),
            s.image.clone(),
            s.commit.clone(),
            s.repo_dirty.to_string(),
            s.submitter_user.clone(),
            s.submitter_host.clone(),
            self.jobs.to_string(),
            self.jobs_failed.to_string(),
        ]
    }

    fn table_cells(&self, names: &DisplayNames) -> Vec<String> {
        let s = &self.submit;
        let dirty = if s.repo_dirty { "+" } else { "" };
        vec![
            short_uuid(&s.uuid),
            short_time(&s.started_at),
            s.status.to_string(),
            s.package_name.clone(),
            s.package_version.clone(),
            names.image(&s.image).to_owned(),
            format!("{}{dirty}", &s.commit[..s.commit.len().min(10)]),
            self.jobs.to_string(),
            self.jobs_failed.to_string(),
            human_duration(s.duration_seconds),
            format!("{}@{}", s.submitter_user, s.submitter_host),
        ]
    }
}

impl Tabular for JobRow {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "submit_uuid",
        "uuid",
        "queued_at",
        "started_at",
        "finished_at",
        "endpoint",
        "status",
        "exit_status",
        "package_name",
        "package_version",
        "image",
        "image_digest",
        "duration_seconds",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "SUBMIT", "JOB", "TIME", "ENDPOINT", "STATUS", "PACKAGE", "VERSION", "IMAGE", "DURATION",
    ];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            self.submit_uuid.to_string(),
            self.uuid.to_string(),
            rfc3339(&self.queued_at),
            rfc3339_opt(&self.started_at),
            rfc3339_opt(&self.finished_at),
            opt(&self.endpoint),
            self.status.to_string(),
            opt(&self.exit_status),
            self.package_name.clone(),
            self.package_version.clone(),
            self.image.clone(),
            opt(&self.image_digest),
            seconds_opt(self.duration_seconds),
        ]
    }

    fn table_cells(&self, names: &DisplayNames) -> Vec<String> {
        vec![
            short_uuid(&self.submit_uuid),
            short_uuid(&self.uuid),
            short_time(&self.started_at.unwrap_or(self.queued_at)),
            self.endpoint.clone().unwrap_or_else(|| "-".into()),
            self.status.to_string(),
            self.package_name.clone(),
            self.package_version.clone(),
            names.image(&self.image).to_owned(),
            human_duration(self.duration_seconds),
        ]
    }
}

impl Tabular for ArtifactItem {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "path",
        "size",
        "sha256",
        "created_at",
        "job_uuid",
        "package_name",
        "package_version",
        "released_to",
    ];
    const TABLE_COLUMNS: &'static [&'static str] =
        &["PATH", "SIZE", "SHA256", "JOB", "PACKAGE", "RELEASED TO"];

    fn csv_cells(&self) -> Vec<String> {
        let a = &self.artifact;
        vec![
            a.path.clone(),
            a.size.to_string(),
            a.sha256.clone(),
            rfc3339(&a.created_at),
            a.job_uuid.to_string(),
            a.package_name.clone(),
            a.package_version.clone(),
            self.released_to.join(" "),
        ]
    }

    fn table_cells(&self, _: &DisplayNames) -> Vec<String> {
        let a = &self.artifact;
        vec![
            a.path.clone(),
            human_size(a.size),
            a.sha256[..a.sha256.len().min(12)].to_owned(),
            short_uuid(&a.job_uuid),
            format!("{}@{}", a.package_name, a.package_version),
            if self.released_to.is_empty() {
                "-".into()
            } else {
                self.released_to.join(", ")
            },
        ]
    }
}

impl Tabular for ReleaseRow {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "released_at",
        "store",
        "released_by",
        "released_host",
        "path",
        "size",
        "sha256",
        "package_name",
        "package_version",
        "job_uuid",
        "removed_at",
        "removed_by",
        "removal",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "RELEASED", "STORE", "BY", "PATH", "PACKAGE", "SHA256", "JOB", "STATE",
    ];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            rfc3339(&self.released_at),
            self.store.clone(),
            self.released_by.clone(),
            self.released_host.clone(),
            self.path.clone(),
            self.size.to_string(),
            self.sha256.clone(),
            self.package_name.clone(),
            self.package_version.clone(),
            self.job_uuid.to_string(),
            rfc3339_opt(&self.removed_at),
            opt(&self.removed_by),
            opt(&self.removal),
        ]
    }

    fn table_cells(&self, _: &DisplayNames) -> Vec<String> {
        let state = match (&self.removal, &self.removed_at) {
            (Some(removal), Some(at)) => format!("{removal} {}", short_time(at)),
            _ => "current".to_owned(),
        };
        vec![
            short_time(&self.released_at),
            self.store.clone(),
            format!("{}@{}", self.released_by, self.released_host),
            self.path.clone(),
            format!("{}@{}", self.package_name, self.package_version),
            self.sha256[..self.sha256.len().min(12)].to_owned(),
            short_uuid(&self.job_uuid),
            state,
        ]
    }
}

impl Tabular for EnvVarRow {
    const CSV_COLUMNS: &'static [&'static str] = &["name", "value", "last_used_at"];
    const TABLE_COLUMNS: &'static [&'static str] = &["NAME", "VALUE", "LAST USED"];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.value.clone(),
            rfc3339_opt(&self.last_used_at),
        ]
    }

    fn table_cells(&self, _: &DisplayNames) -> Vec<String> {
        vec![
            self.name.clone(),
            self.value.clone(),
            short_time_opt(&self.last_used_at),
        ]
    }
}

impl Tabular for ImageRow {
    const CSV_COLUMNS: &'static [&'static str] = &["name", "digests"];
    const TABLE_COLUMNS: &'static [&'static str] =
        &["IMAGE", "SHORT NAME", "DIGESTS SEEN", "LAST SEEN"];

    fn csv_cells(&self) -> Vec<String> {
        let digests: Vec<&str> = self.digests.iter().map(|d| d.digest.as_str()).collect();
        vec![self.name.clone(), digests.join(" ")]
    }

    fn table_cells(&self, names: &DisplayNames) -> Vec<String> {
        let short = names.image(&self.name);
        let digests: Vec<&str> = self.digests.iter().map(|d| d.digest.as_str()).collect();
        vec![
            self.name.clone(),
            if short == self.name {
                "-".into()
            } else {
                short.to_owned()
            },
            if digests.is_empty() {
                "-".into()
            } else {
                digests.join("\n")
            },
            short_time_opt(&self.digests.iter().map(|d| d.last_seen).max()),
        ]
    }
}

impl Tabular for EndpointRow {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "name",
        "uri",
        "engine_version",
        "api_version",
        "last_checked_at",
        "last_seen_at",
        "healthy",
        "last_error",
        "timeout_ms",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "ENDPOINT",
        "URI",
        "ENGINE",
        "API",
        "HEALTH",
        "CHECKED",
        "LAST SEEN",
        "TIMEOUT",
        "LAST ERROR",
    ];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.uri.clone(),
            opt(&self.engine_version),
            opt(&self.api_version),
            rfc3339_opt(&self.last_checked_at),
            rfc3339_opt(&self.last_seen_at),
            opt(&self.healthy),
            opt(&self.last_error),
            opt(&self.timeout_ms),
        ]
    }

    fn table_cells(&self, _: &DisplayNames) -> Vec<String> {
        let health = match self.healthy {
            Some(true) => "healthy",
            Some(false) => "unhealthy",
            None => "unknown",
        };
        vec![
            self.name.clone(),
            self.uri.clone(),
            self.engine_version.clone().unwrap_or_else(|| "-".into()),
            self.api_version.clone().unwrap_or_else(|| "-".into()),
            health.into(),
            short_time_opt(&self.last_checked_at),
            short_time_opt(&self.last_seen_at),
            timeout_text(self.timeout_ms),
            self.last_error.clone().unwrap_or_else(|| "-".into()),
        ]
    }
}

/// A reply timeout recorded in milliseconds, as `humantime` writes it (`10s`).
fn timeout_text(ms: Option<i32>) -> String {
    match ms.and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) => humantime::format_duration(std::time::Duration::from_millis(ms)).to_string(),
        None => "-".into(),
    }
}

impl Tabular for PackageRow {
    const CSV_COLUMNS: &'static [&'static str] =
        &["name", "version", "last_job_at", "last_job_status"];
    const TABLE_COLUMNS: &'static [&'static str] = &["PACKAGE", "VERSION", "LAST JOB", "STATUS"];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.version.clone(),
            rfc3339_opt(&self.last_job_at),
            opt(&self.last_job_status),
        ]
    }

    fn table_cells(&self, _: &DisplayNames) -> Vec<String> {
        vec![
            self.name.clone(),
            self.version.clone(),
            short_time_opt(&self.last_job_at),
            self.last_job_status
                .map_or_else(|| "-".into(), |s| s.to_string()),
        ]
    }
}

impl Tabular for StatsRow {
    const CSV_COLUMNS: &'static [&'static str] = &[
        "name",
        "jobs",
        "succeeded",
        "failed",
        "success_rate",
        "median_seconds",
        "p95_seconds",
    ];
    const TABLE_COLUMNS: &'static [&'static str] =
        &["NAME", "JOBS", "OK", "FAILED", "SUCCESS", "MEDIAN", "P95"];

    fn csv_cells(&self) -> Vec<String> {
        vec![
            opt(&self.name),
            self.jobs.to_string(),
            self.succeeded.to_string(),
            self.failed.to_string(),
            seconds_opt(self.success_rate),
            seconds_opt(self.median_seconds),
            seconds_opt(self.p95_seconds),
        ]
    }

    fn table_cells(&self, _: &DisplayNames) -> Vec<String> {
        vec![
            self.name.clone().unwrap_or_else(|| "-".into()),
            self.jobs.to_string(),
            self.succeeded.to_string(),
            self.failed.to_string(),
            self.success_rate
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "-".into()),
            human_duration(self.median_seconds),
            human_duration(self.p95_seconds),
        ]
    }
}

/// Lines of `label: value`, labels aligned.
fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let _ = writeln!(out, "{label:>width$}: {}", table_cell(value));
    }
    out
}

fn env_lines(env: &[EnvVar]) -> String {
    if env.is_empty() {
        return "  (none)\n".into();
    }
    env.iter()
        .map(|e| format!("  {}={}\n", table_cell(&e.name), table_cell(&e.value)))
        .collect()
}

/// The text of `db submit`: everything recorded, then its jobs.
pub fn submit_text(d: &SubmitDetail, names: &DisplayNames) -> String {
    let s = &d.submit;
    let counts: Vec<String> = d
        .job_counts
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect();
    let total: i64 = d.job_counts.values().sum();
    let repo = match (&d.repo_diff_sha256, d.changes_size) {
        (Some(diff), Some(size)) => format!(
            "{} with uncommitted changes (stored: {}, sha256 {diff})",
            s.commit,
            human_size(size)
        ),
        (Some(diff), None) => format!(
            "{} with uncommitted changes (not stored; sha256 {diff})",
            s.commit
        ),
        _ => format!("{} (clean)", s.commit),
    };
    let mut out = fields(&[
        ("submit", s.uuid.to_string()),
        ("status", s.status.to_string()),
        ("started", rfc3339(&s.started_at)),
        ("ended", rfc3339_opt(&s.ended_at)),
        ("duration", human_duration(s.duration_seconds)),
        (
            "package",
            format!("{}@{}", s.package_name, s.package_version),
        ),
        ("image", s.image.clone()),
        ("commit", repo),
        (
            "submitter",
            format!("{}@{}", s.submitter_user, s.submitter_host),
        ),
        ("kiln", d.kiln_version.clone()),
        ("jobs", format!("{total} ({})", counts.join(", "))),
    ]);
    if let Some(original) = d.reproduces {
        out.push_str(&fields(&[("reproduces", original.to_string())]));
    }
    out.push_str(&fields(&[(
        "status set",
        format!(
            "{} by {}",
            rfc3339(&d.status_set_at),
            table_cell(&d.status_set_by)
        ),
    )]));
    out.push_str("\nenvironment:\n");
    out.push_str(&env_lines(&d.env));
    out.push_str("\njobs:\n");
    out.push_str(&table(
        JobRow::TABLE_COLUMNS,
        d.jobs.iter().map(|j| j.job.table_cells(names)),
    ));
    let staged: Vec<Vec<String>> = d
        .jobs
        .iter()
        .flat_map(|j| {
            let job = short_uuid(&j.job.uuid);
            j.artifacts.iter().flatten().map(move |a| {
                vec![
                    job.clone(),
                    a.path.clone(),
                    a.sha256.clone(),
                    a.staged_path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                ]
            })
        })
        .collect();
    if d.jobs.iter().any(|j| j.artifacts.is_some()) {
        out.push_str("\nartifacts:\n");
        out.push_str(&table(&["job", "path", "sha256", "staged at"], staged));
    }
    out
}

/// What `db job` prints besides the header.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobSections {
    pub script: bool,
    /// Number the script's lines.
    pub line_numbers: bool,
    pub env: bool,
}

/// The text of `db job` (the log, when asked for, follows it).
pub fn job_text(d: &JobDetail, sections: JobSections, names: &DisplayNames) -> String {
    let j = &d.job;
    let mut pairs = vec![
        ("job", j.uuid.to_string()),
        ("submit", j.submit_uuid.to_string()),
        (
            "package",
            format!("{}@{}", j.package_name, j.package_version),
        ),
        ("status", j.status.to_string()),
        (
            "image",
            match &j.image_digest {
                Some(digest) => format!("{} ({digest})", j.image),
                None => j.image.clone(),
            },
        ),
        ("endpoint", j.endpoint.clone().unwrap_or_else(|| "-".into())),
        (
            "container",
            d.container_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("queued", rfc3339(&j.queued_at)),
        ("started", rfc3339_opt(&j.started_at)),
        ("finished", rfc3339_opt(&j.finished_at)),
        ("duration", human_duration(j.duration_seconds)),
        ("exit status", opt(&j.exit_status)),
    ];
    if let Some(phase) = &d.failed_phase {
        pairs.push(("failed phase", phase.clone()));
    }
    if let Some(msg) = &d.error_message {
        pairs.push(("error", msg.clone()));
    }
    pairs.push((
        "status set",
        format!(
            "{} by {}",
            rfc3339(&d.status_set_at),
            table_cell(&d.status_set_by)
        ),
    ));
    pairs.push(("build key", d.build_key.clone()));
    if let Some(reused) = &d.reused_job_uuid {
        pairs.push(("reused from", reused.to_string()));
    }
    if let Some(reason) = &d.build_reason {
        pairs.push(("built because", reason.clone()));
    }
    let truncated = if d.log_truncated {
        " (cut: head and tail kept)"
    } else {
        ""
    };
    pairs.push(("log", format!("{}{truncated}", human_size(d.log_bytes))));
    let mut out = fields(&pairs);
    if !d.dependencies.is_empty() {
        out.push_str("\ndependencies:\n");
        out.push_str(&table(
            &["JOB", "PACKAGE", "KIND"],
            d.dependencies.iter().map(|dep| {
                vec![
                    short_uuid(&dep.uuid),
                    format!("{}@{}", dep.package_name, dep.package_version),
                    dep.kind.to_string(),
                ]
            }),
        ));
    }
    if !d.attempts.is_empty() {
        out.push_str("\nattempts:\n");
        out.push_str(&table(
            &[
                "#",
                "ENDPOINT",
                "CONTAINER",
                "STARTED",
                "FINISHED",
                "OUTCOME",
                "ERROR",
            ],
            d.attempts.iter().map(|a| {
                vec![
                    a.attempt.to_string(),
                    a.endpoint.clone(),
                    a.container_id
                        .as_deref()
                        .map_or_else(|| "-".into(), |c| c.chars().take(12).collect()),
                    rfc3339(&a.started_at),
                    rfc3339_opt(&a.finished_at),
                    a.outcome
                        .map_or(JobStatus::Running.as_str(), AttemptOutcome::as_str)
                        .to_owned(),
                    table_cell(a.error_message.as_deref().unwrap_or("")).into_owned(),
                ]
            }),
        ));
    }
    for (title, list) in [
        ("input artifacts", &d.inputs),
        ("output artifacts", &d.outputs),
    ] {
        let _ = write!(out, "\n{title}:\n");
        if list.is_empty() {
            out.push_str("  (none)\n");
        } else {
            out.push_str(&table(
                ArtifactItem::TABLE_COLUMNS,
                list.iter().map(|a| a.table_cells(names)),
            ));
        }
    }
    if sections.env {
        out.push_str("\nenvironment:\n");
        out.push_str(&env_lines(&d.env));
    }
    if sections.script {
        out.push_str("\nscript:\n");
        let script = if sections.line_numbers {
            super::packages::number_lines(&d.script)
        } else {
            d.script.clone()
        };
        out.push_str(&script);
        if !script.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
