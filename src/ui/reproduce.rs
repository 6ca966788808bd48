//! `kiln reproduce`'s report: the table of artifacts compared (or CSV, or
//! the whole report as JSON), then what was found about each job whose
//! artifacts are not identical, and a count.

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value as Json};
use uuid::Uuid;

use super::listing::{self, Listing};
use crate::cli::OutputFormat;
use crate::error::escape_controls;
use crate::proof::{Cause, JobFinding, Proof};

/// What a reproduction found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The submit reproduced, and the one that rebuilt it.
    pub original: Uuid,
    pub rebuild: Uuid,
    /// Every artifact identical and every job rebuilt.
    pub identical: bool,
    pub image: String,
    pub original_image_digest: Option<String>,
    pub rebuild_image_digest: Option<String>,
    pub original_kiln_version: String,
    pub kiln_version: String,
    #[serde(flatten)]
    pub proof: Proof,
}

/// Prints the report on stdout in `format`.
pub fn print(report: &Report, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => super::tabular::print_json(report),
        OutputFormat::Csv => listing::print(format, &artifact_listing(&report.proof, false)),
        OutputFormat::Table => {
            let mut text = listing::render(format, &artifact_listing(&report.proof, true))?;
            if let Some(line) = image_line(report) {
                text.push_str(&line);
                text.push('\n');
            }
            for finding in &report.proof.findings {
                text.push_str(&finding_line(finding));
                text.push('\n');
            }
            text.push_str(&count_line(report));
            text.push('\n');
            super::write_stdout(|out| out.write_all(text.as_bytes()))
        }
    }
}

fn artifact_listing(proof: &Proof, short: bool) -> Listing {
    let hash = |h: &Option<String>| match h {
        Some(h) if short => json!(h.get(..16).unwrap_or(h)),
        Some(h) => json!(h),
        None => json!("-"),
    };
    Listing {
        columns: vec![
            "package", "version", "artifact", "original", "rebuilt", "result",
        ],
        rows: proof
            .artifacts
            .iter()
            .map(|a| -> Vec<Json> {
                vec![
                    json!(a.package),
                    json!(a.version),
                    json!(a.artifact),
                    hash(&a.original),
                    hash(&a.rebuilt),
                    json!(a.verdict.as_str()),
                ]
            })
            .collect(),
    }
}

/// One line on a job whose artifacts are not identical.
pub fn finding_line(finding: &JobFinding) -> String {
    let job = format!(
        "{} {}",
        escape_controls(&finding.package),
        escape_controls(&finding.version)
    );
    match &finding.cause {
        Cause::NotDeterministic => format!(
            "{job}: the build is not deterministic: its inputs are equal, its artifacts differ"
        ),
        Cause::InputsDiffer { differences } if differences.is_empty() => {
            format!(
                "{job}: its build inputs differ (recorded in an older form: run `kiln explain`)"
            )
        }
        Cause::InputsDiffer { differences } => {
            let fields: Vec<String> = differences
                .iter()
                .map(|d| escape_controls(&d.to_string()).into_owned())
                .collect();
            format!("{job}: its build inputs differ: {}", fields.join("; "))
        }
        Cause::RebuildFailed { status } => format!("{job}: the rebuild ended {status}"),
        Cause::NotInRebuild => format!("{job}: not in the rebuild's tree"),
        Cause::NotInOriginal => format!("{job}: not in the original's tree"),
    }
}

/// A note when the rebuild ran on another image digest than the original.
fn image_line(report: &Report) -> Option<String> {
    match (&report.original_image_digest, &report.rebuild_image_digest) {
        (Some(before), Some(after)) if before != after => Some(format!(
            "image {}: the original was built with {before}, the rebuild with {after}",
            escape_controls(&report.image)
        )),
        _ => None,
    }
}

fn count_line(report: &Report) -> String {
    let counts: Vec<String> = report
        .proof
        .counts()
        .into_iter()
        .map(|(verdict, n)| format!("{n} {verdict}"))
        .collect();
    let total = report.proof.artifacts.len();
    let verdict = if report.identical {
        "reproduced"
    } else {
        "NOT reproduced"
    };
    format!(
        "{verdict}: {total} artifact{} ({}); original {}, rebuild {}",
        if total == 1 { "" } else { "s" },
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        },
        report.original,
        report.rebuild
    )
}
