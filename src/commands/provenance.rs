//! `kiln provenance SUBMIT|JOB|ARTIFACT`: the in-toto Statement (SLSA
//! Provenance v1) of recorded artifacts, made from the database alone.

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::ProvenanceArgs;
use crate::db;
use crate::db::listings::provenance;
use crate::error::{escape_controls, Outcome};
use crate::ui::tabular as listing;

pub fn run(ctx: &Context, args: ProvenanceArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let mut conn = db::connect(&config)?;
    let target = provenance::find_target(&mut conn, &args.target)?;
    let records = provenance::provenance_records(&mut conn, target).with_context(|| {
        format!(
            "reading the provenance of `{}`",
            escape_controls(&args.target)
        )
    })?;
    let statement = crate::provenance::statement(&records, crate::VERSION);
    listing::print_json(&statement)?;
    Ok(Outcome::Success)
}
