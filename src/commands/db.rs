//! `kiln db setup|status|cli|stop`.

use anyhow::Result;

use super::Context;
use crate::cli::DbCommand;
use crate::db;
use crate::error::Outcome;

pub fn run(ctx: &Context, cmd: DbCommand) -> Result<Outcome> {
    let config = ctx.config()?;
    match cmd {
        DbCommand::Setup => {
            let mut conn = db::connect(&config)?;
            let applied = db::run_pending_migrations(&mut conn)?;
            if applied.is_empty() {
                println!("The database is up to date; nothing to do.");
            } else {
                for m in applied {
                    println!("applied {m}");
                }
            }
        }
        DbCommand::Status | DbCommand::Cli | DbCommand::Stop => {
            anyhow::bail!("not yet available")
        }
    }
    Ok(Outcome::Success)
}
