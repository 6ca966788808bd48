//! `kiln config show`.

use anyhow::Result;

use super::Context;
use crate::cli::ConfigCommand;
use crate::error::Outcome;

pub fn run(ctx: &Context, cmd: ConfigCommand) -> Result<Outcome> {
    match cmd {
        ConfigCommand::Show(_args) => {
            let config = ctx.config()?;
            println!("{config:#?}");
            Ok(Outcome::Success)
        }
    }
}
