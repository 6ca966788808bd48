//! `kiln config show`: the effective configuration, one key per line with
//! its value and where it was set; passwords masked.

use anyhow::Result;

use super::Context;
use crate::cli::ConfigCommand;
use crate::error::Outcome;
use crate::ui::listing::{self, Listing};

pub fn run(ctx: &Context, cmd: ConfigCommand) -> Result<Outcome> {
    match cmd {
        ConfigCommand::Show(args) => {
            let config = ctx.config()?;
            let rows = config
                .shown_entries()
                .into_iter()
                .map(|e| vec![e.key.into(), e.value, e.source.to_string().into()])
                .collect();
            let listing = Listing {
                columns: vec!["key", "value", "source"],
                rows,
            };
            listing::print(args.output, &listing)?;
            Ok(Outcome::Success)
        }
    }
}
