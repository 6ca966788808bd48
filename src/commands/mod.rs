//! One file per command: each turns parsed arguments into library calls and
//! hands results to [`crate::ui`]. No command holds logic that another
//! module should own.

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::Outcome;

mod config;
mod db;
mod db_query;
mod db_show;
mod context;

pub use context::Context;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<Outcome> {
    let ctx = Context::new(cli.global);
    match cli.command {
        Command::Config(cmd) => config::run(&ctx, cmd),
        Command::Db(cmd) => db::run(&ctx, cmd),
    }
}
