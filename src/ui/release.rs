//! What `kiln release` prints: the plan of a release or removal (stderr,
//! so that stdout stays for data), the question before it, and what was
//! done.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::error::escape_controls;
use crate::release_plan::{Action, Planned};
use crate::store::ReleaseStore;

/// The plan, one line per artifact, on stderr.
pub fn print_plan(store: &ReleaseStore, plan: &[Planned<'_>]) -> Result<()> {
    let rows = plan.iter().map(|p| {
        vec![
            escape_controls(&p.artifact.package).into_owned(),
            escape_controls(&p.artifact.version).into_owned(),
            escape_controls(&p.artifact.path).into_owned(),
            super::tabular::human_size(p.artifact.size),
            describe(p.action).to_owned(),
        ]
    });
    let table = super::tabular::table(&["PACKAGE", "VERSION", "PATH", "SIZE", "ACTION"], rows);
    eprint!(
        "into `{}` ({}):\n{table}",
        store.name(),
        store.root().display()
    );
    Ok(())
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Release => "release",
        Action::AlreadyReleased => "already released",
        Action::RecordOnly => "already there: record",
        Action::Replace { .. } => "replace (--update)",
        Action::Conflict { .. } => "REFUSED: a different file is there",
    }
}

/// Asks a yes/no question on the terminal; `true` without asking when
/// stdin or stderr is not a terminal (a script, a pipeline).
pub fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().context("writing the question")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    let yes = matches!(answer.trim(), "y" | "Y" | "yes" | "Yes");
    if !yes {
        eprintln!("nothing was done");
    }
    Ok(yes)
}

/// What the release did, in one line per kind, on stderr.
pub fn print_released(store: &ReleaseStore, plan: &[Planned<'_>]) {
    let count = |f: fn(&Action) -> bool| plan.iter().filter(|p| f(&p.action)).count();
    let released = count(|a| matches!(a, Action::Release | Action::RecordOnly));
    let replaced = count(|a| matches!(a, Action::Replace { .. }));
    let unchanged = count(|a| matches!(a, Action::AlreadyReleased));
    let mut parts = vec![format!("{released} released")];
    if replaced > 0 {
        parts.push(format!("{replaced} replaced"));
    }
    if unchanged > 0 {
        parts.push(format!("{unchanged} already released (nothing to do)"));
    }
    eprintln!(
        "{} artifact{} into `{}`: {}",
        plan.len(),
        if plan.len() == 1 { "" } else { "s" },
        store.name(),
        parts.join(", ")
    );
}

/// The files a removal deletes, on stderr.
pub fn print_removal_plan(files: &[PathBuf]) {
    eprintln!("removing:");
    for file in files {
        eprintln!("  {}", file.display());
    }
}

/// What a removal did, on stderr.
pub fn print_removed(
    store: &ReleaseStore,
    name: &str,
    version: &str,
    n: usize,
    missing: &[String],
) {
    eprintln!(
        "removed {n} release{} of {} {} from `{}` (recorded; `kiln release list --all` shows them)",
        if n == 1 { "" } else { "s" },
        escape_controls(name),
        escape_controls(version),
        store.name()
    );
    for path in missing {
        eprintln!(
            "note: {} was already gone",
            store.root().join(path).display()
        );
    }
}
