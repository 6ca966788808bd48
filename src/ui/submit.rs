//! The end of a submit: a table of every job (a reused one with the job it
//! came from), why a job was built although an earlier build had its key,
//! for each failed job its phase, message and last log lines, and the
//! counts (`23 jobs: 2 built, 21 reused`). Also what `submit --dry-run`
//! found.

use std::io::Write;

use anyhow::{Context as _, Result};
use serde_json::Value as Json;

use super::listing::{self, Listing};
use crate::cli::OutputFormat;
use crate::db::models::JobStatus;
use crate::orchestrator::reuse::{short, BuildReason, Decision};
use crate::orchestrator::submit::{DryRun, SubmitSummary};

/// Where a summary goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryTo {
    Stdout,
    /// When standard output carries a JSON document.
    Stderr,
}

/// Prints the summary to standard output or error.
pub fn print_summary(summary: &SubmitSummary, error_lines: usize, to: SummaryTo) -> Result<()> {
    let mut text = Vec::new();
    write_summary(summary, error_lines, &mut text)?;
    match to {
        SummaryTo::Stdout => super::write_stdout(|out| out.write_all(&text)),
        SummaryTo::Stderr => std::io::stderr()
            .lock()
            .write_all(&text)
            .context("writing to standard error"),
    }
}

fn write_summary(summary: &SubmitSummary, error_lines: usize, out: &mut dyn Write) -> Result<()> {
    let mut listing = Listing {
        columns: vec![
            "package",
            "version",
            "status",
            "endpoint",
            "duration",
            "job",
            "reused from",
        ],
        rows: Vec::new(),
    };
    for ((spec, report), decision) in summary
        .jobs
        .iter()
        .zip(&summary.report.jobs)
        .zip(&summary.decisions)
    {
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
            decision
                .reused()
                .map(|from| Json::String(from.uuid.to_string()))
                .unwrap_or(Json::Null),
        ]);
    }
    writeln!(out, "submit {}", summary.uuid)?;
    out.write_all(listing::render(OutputFormat::Table, &listing)?.as_bytes())?;
    // An earlier build had the key, but could not be reused: say why.
    for (spec, decision) in summary.jobs.iter().zip(&summary.decisions) {
        if let Decision::Build(reason @ BuildReason::ArtifactUnusable { .. }) = decision {
            writeln!(out, "{} {} built: {reason}", spec.package, spec.version)?;
        }
    }
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

/// `N jobs: B built, R reused, ...`: succeeded jobs count as built, then
/// the other statuses in the order they first appear.
fn count_statuses(summary: &SubmitSummary) -> String {
    let mut counts: Vec<(&str, usize)> = vec![("built", 0), ("reused", 0)];
    for report in &summary.report.jobs {
        let status = match report.status {
            JobStatus::Succeeded => "built",
            other => other.as_str(),
        };
        match counts.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    format!("{}: {}", jobs(summary.report.jobs.len()), parts.join(", "))
}

/// `1 job`, `2 jobs`.
fn jobs(n: usize) -> String {
    match n {
        1 => "1 job".to_owned(),
        n => format!("{n} jobs"),
    }
}

/// What `submit --dry-run` found: per job, `build` and why, or `reuse` and
/// the job it would come from; in a table, then the counts.
pub fn print_dry_run(planned: &DryRun, format: OutputFormat) -> Result<()> {
    let whole = format != OutputFormat::Table;
    let mut listing = Listing {
        columns: vec!["package", "version", "action", "why", "build key"],
        rows: Vec::new(),
    };
    for ((job, decision), change) in planned
        .jobs
        .iter()
        .zip(&planned.decisions)
        .zip(&planned.changes)
    {
        let (action, why) = match decision {
            Decision::Reuse(from) => ("reuse", format!("job {} has the same build key", from.uuid)),
            Decision::Build(reason) => ("build", build_why(reason, change.as_ref())),
        };
        let key = match whole {
            true => job.build_key.as_str(),
            false => &job.build_key[..12],
        };
        listing.rows.push(vec![
            Json::String(job.spec.package.clone()),
            Json::String(job.spec.version.clone()),
            Json::String(action.to_owned()),
            Json::String(why),
            Json::String(key.to_owned()),
        ]);
    }
    let text = listing::render(format, &listing)?;
    let reused = planned
        .decisions
        .iter()
        .filter(|d| d.reused().is_some())
        .count();
    super::write_stdout(|out| {
        out.write_all(text.as_bytes())?;
        if whole {
            return Ok(());
        }
        writeln!(
            out,
            "\n{}: {} to build, {reused} to reuse (dry run: nothing recorded, nothing run)",
            jobs(planned.jobs.len()),
            planned.jobs.len() - reused
        )
    })
}

/// Why a job would be built; for one with no earlier build of its key,
/// what changed since the nearest earlier build of its package.
fn build_why(
    reason: &BuildReason,
    change: Option<&crate::db::listings::explain::EarlierChange>,
) -> String {
    match (reason, change) {
        (BuildReason::NoEarlierBuild, Some(change)) if change.differences.is_empty() => format!(
            "no succeeded build with this build key (job {} had it)",
            short(&change.job)
        ),
        (BuildReason::NoEarlierBuild, Some(change)) => {
            format!(
                "changed since job {}: {}",
                short(&change.job),
                changed_fields(&change.differences)
            )
        }
        (BuildReason::NoEarlierBuild, None) => "no earlier build of this package".to_owned(),
        (other, _) => other.to_string(),
    }
}

/// The fields that differ, shortly: each of the job's own, and its
/// dependencies whose keys changed by name when one, else by number.
fn changed_fields(differences: &[crate::plan::build_key::Difference]) -> String {
    use crate::plan::build_key::Field;
    let (deps, own): (Vec<_>, Vec<_>) = differences
        .iter()
        .partition(|d| matches!(d.field, Field::Dependency(_)));
    let mut parts: Vec<String> = own.iter().map(|d| d.field.to_string()).collect();
    match deps.as_slice() {
        [] => {}
        [one] => parts.push(one.field.to_string()),
        many => parts.push(format!("{} dependencies", many.len())),
    }
    parts.join(", ")
}
