//! `kiln metrics`: counts of what the database holds.

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::MetricsArgs;
use crate::db::listings::metrics;
use crate::error::Outcome;

pub fn run(ctx: &Context, args: MetricsArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let mut conn = super::db::connect_reaped(&config)?;
    let rows = metrics::metrics(&mut conn).context("counting the records")?;
    crate::ui::db::print_metrics(args.output, &rows)?;
    Ok(Outcome::Success)
}
