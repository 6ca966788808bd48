//! `kiln db setup|status|cli|stop`.

use anyhow::Result;

use super::Context;
use crate::cli::DbCommand;
use crate::db;
use crate::error::Outcome;

pub fn run(ctx: &Context, cmd: DbCommand) -> Result<Outcome> {
    let config = ctx.config()?;
    match cmd {
        DbCommand::Submit(args) => return super::db_show::submit(&config, args),
        DbCommand::Job(args) => return super::db_show::job(&config, args),
        DbCommand::LogOf(args) => return super::db_show::log_of(&config, args),
        cmd @ (DbCommand::Submits(_)
        | DbCommand::Jobs(_)
        | DbCommand::Artifacts(_)
        | DbCommand::Releases(_)
        | DbCommand::Envvars(_)
        | DbCommand::Images(_)
        | DbCommand::Endpoints(_)
        | DbCommand::Packages(_)
        | DbCommand::Stats(_)) => return super::db_query::run(&config, cmd),
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
