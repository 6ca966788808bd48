//! The end of a submit: a table of every job and, for each failed job, its
//! phase, message and last log lines.

use std::io::Write;

use anyhow::Result;
use serde_json::Value as Json;

use super::listing::{self, Listing};
use crate::cli::OutputFormat;
use crate::db::models::JobStatus;
use crate::orchestrator::submit::SubmitSummary;

/// Prints the summary to stdout.
pub fn print_summary(summary: &SubmitSummary, error_lines: usize) -> Result<()> {
    let mut listing = Listing {
        columns: vec![
            "package", "version", "status", "endpoint", "duration", "job",
        ],
        rows: Vec::new(),
    };
    for (spec, report) in summary.jobs.iter().zip(&summary.report.jobs) {
        let duration = match (report.started, report.finished) {
            (Some(start), Some(end)) => Json::String(format!(
                "{:.1}s",
                (end - start).num_milliseconds() as f64 / 1000.0
            )),
            _ => Json::Null,
        };
        listing.rows.push(vec![
            Json::String(spec.package.clone()),
            Json::String(spec.version.clone()),
            Json::String(report.status.as_str().to_owned()),
            report
                .endpoint
                .clone()
                .map(Json::String)
                .unwrap_or(Json::Null),
            duration,
            Json::String(spec.uuid.to_string()),
        ]);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "submit {}", summary.uuid)?;
    out.write_all(listing::render(OutputFormat::Table, &listing)?.as_bytes())?;
    for (spec, report) in summary.jobs.iter().zip(&summary.report.jobs) {
        let Some(failure) = &report.failure else {
            continue;
        };
        if !matches!(report.status, JobStatus::Failed | JobStatus::TimedOut) {
            continue;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{} {} ({}) {}{}: {}",
            spec.package,
            spec.version,
            spec.uuid,
            report.status.as_str(),
            failure
                .phase
                .as_deref()
                .map(|p| format!(" in phase {p}"))
                .unwrap_or_default(),
            failure.message
        )?;
        let lines = &failure.last_lines;
        let start = lines.len().saturating_sub(error_lines);
        for line in &lines[start..] {
            writeln!(out, "    {line}")?;
        }
    }
    let counts = count_statuses(summary);
    writeln!(out)?;
    writeln!(out, "{counts}")?;
    if let Some(reason) = &summary.report.aborted {
        writeln!(out, "kiln stopped the submit: {reason}")?;
    }
    if let Some(reason) = &summary.unrecorded_end {
        writeln!(
            out,
            "the end of the submit could not be recorded: {reason}; the next kiln run records it lost"
        )?;
    }
    Ok(())
}

fn count_statuses(summary: &SubmitSummary) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for report in &summary.report.jobs {
        let status = report.status.as_str();
        match counts.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    format!("{} jobs: {}", summary.report.jobs.len(), parts.join(", "))
}
