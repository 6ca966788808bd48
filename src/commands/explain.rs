//! `kiln explain JOB [OTHER_JOB]`: why a job was built rather than reused.

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::{ExplainArgs, OutputFormat};
use crate::db;
use crate::db::listings::{explain, jobs};
use crate::error::Outcome;
use crate::ui::tabular as listing;

pub fn run(ctx: &Context, args: ExplainArgs) -> Result<Outcome> {
    if args.output == OutputFormat::Csv {
        return Err(crate::input_error!(
            "explain shows one explanation: use `--output table` or `--output json`"
        ));
    }
    let config = ctx.config()?;
    let mut conn = db::connect(&config)?;
    let (id, uuid) = jobs::resolve(&mut conn, &args.job)?;
    let other = match &args.other {
        Some(prefix) => Some(jobs::resolve(&mut conn, prefix)?.0),
        None => None,
    };
    let explanation =
        explain::explain(&mut conn, id, other).with_context(|| format!("explaining job {uuid}"))?;
    match args.output {
        OutputFormat::Json => listing::print_json(&explanation)?,
        _ => {
            let text = crate::ui::explain::text(&explanation);
            crate::ui::write_stdout(|out| out.write_all(text.as_bytes()))?;
        }
    }
    Ok(Outcome::Success)
}
