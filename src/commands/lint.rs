//! `kiln lint [NAME [VERSION]]`: kiln's checks and the configured
//! `script_linter` on some or all packages; exit code 1 when anything is found.

use anyhow::Result;

use super::{select, Context};
use crate::cli::LintArgs;
use crate::error::Outcome;
use crate::lint::LintOptions;

pub fn run(ctx: &Context, args: LintArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let repo = ctx.repository()?;
    let packages = repo.packages();
    let ids = match &args.name {
        Some(name) => select::versions(packages, name, args.version.as_deref(), repo.root())?,
        None => select::all(packages),
    };
    let mut options = LintOptions::default();
    if let Some(jobs) = args.jobs {
        options.linter_jobs = usize::from(jobs);
    }
    let findings = crate::lint::lint_with(&config, packages, &ids, &options)?;
    crate::ui::lint::print(packages, ids.len(), &findings)?;
    Ok(if findings.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
