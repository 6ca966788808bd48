//! `kiln explain` as text: the verdict, then each field that differs, a
//! dependency's own explanation indented below it.

use std::fmt::Write as _;

use crate::db::listings::explain::{Explanation, JobFacts, Verdict};
use crate::error::escape_controls;

/// The explanation as lines of text.
pub fn text(explanation: &Explanation) -> String {
    let mut out = String::new();
    write_explanation(&mut out, explanation, 0);
    out
}

fn write_explanation(out: &mut String, e: &Explanation, depth: usize) {
    let pad = "  ".repeat(depth);
    let job = describe(&e.job);
    // Writing to a String cannot fail.
    let _ = match (&e.verdict, &e.compared_with) {
        (Verdict::Reused, Some(from)) => writeln!(
            out,
            "{pad}{job} was not built: it reused the artifacts of job {} (same build key)",
            from.uuid
        ),
        (Verdict::SameKey, Some(other)) => writeln!(
            out,
            "{pad}{job} has the same build key as {}; built because: {}",
            describe(other),
            e.job
                .build_reason
                .as_deref()
                .map(escape_controls)
                .unwrap_or_else(|| "(no reason recorded)".into())
        ),
        (Verdict::InputsDiffer, Some(other)) => {
            writeln!(out, "{pad}{job} differs from {} in:", describe(other))
        }
        _ => writeln!(
            out,
            "{pad}{job} was built: no earlier build of {} {} succeeded or was reused",
            escape_controls(&e.job.package),
            escape_controls(&e.job.version)
        ),
    };
    for explained in &e.differences {
        let _ = writeln!(
            out,
            "{pad}  {}",
            escape_controls(&explained.difference.to_string())
        );
        if let Some(because) = &explained.because {
            write_explanation(out, because, depth + 2);
        }
    }
}

fn describe(job: &JobFacts) -> String {
    format!(
        "job {} ({} {}, {})",
        job.uuid,
        escape_controls(&job.package),
        escape_controls(&job.version),
        job.status.as_str()
    )
}
