//! `kiln db setup|status|cli|stop`, and the dispatch of the listings
//! (`db_query`), details (`db_show`) and lineage (`db_lineage`).

use std::process::Command;

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::{DbCommand, DbTool};
use crate::db::{self, Location, Reachability};
use crate::error::Outcome;
use crate::ui;

pub fn run(ctx: &Context, cmd: DbCommand) -> Result<Outcome> {
    let config = ctx.config()?;
    let location = Location::from_config(&config)?;
    match cmd {
        DbCommand::Submit(args) => super::db_show::submit(&config, args),
        DbCommand::Job(args) => super::db_show::job(&config, args),
        DbCommand::LogOf(args) => super::db_show::log_of(&config, args),
        DbCommand::Lineage(args) => super::db_lineage::run(&config, args),
        cmd @ (DbCommand::Submits(_)
        | DbCommand::Jobs(_)
        | DbCommand::Artifacts(_)
        | DbCommand::Releases(_)
        | DbCommand::Envvars(_)
        | DbCommand::Images(_)
        | DbCommand::Endpoints(_)
        | DbCommand::Packages(_)
        | DbCommand::Stats(_)) => super::db_query::run(&config, cmd),
        DbCommand::Setup => setup(&location),
        DbCommand::Status => status(&location),
        DbCommand::Cli(args) => cli(&location, args.tool),
        DbCommand::Stop => stop(&location),
        DbCommand::Reap => reap(&config),
    }
}

/// A connection for reading the records, after recording `lost` the
/// submits whose kiln process is gone, so that no listing shows a dead
/// submit `running`. A session that may not write (a read-only role)
/// reads the records as they are.
pub(super) fn connect_reaped(config: &crate::config::Config) -> Result<diesel::PgConnection> {
    let mut conn = db::connect(config)?;
    if let Err(err) = record_lost(&mut conn) {
        tracing::debug!("not recording lost submits: {err:#}");
    }
    Ok(conn)
}

/// Records every submit whose kiln process is gone `lost`, with its
/// unfinished jobs; returns how many jobs.
fn record_lost(conn: &mut diesel::PgConnection) -> Result<usize> {
    let lost = db::models::liveness::reap_lost(conn, crate::orchestrator::owner::is_dead)
        .context("recording the submits whose kiln process is gone")?;
    Ok(lost.len())
}

/// `kiln db reap`: record lost submits, then remove what they left on
/// the endpoints.
fn reap(config: &crate::config::Config) -> Result<Outcome> {
    let mut conn = db::connect(config)?;
    let jobs = record_lost(&mut conn)?;
    ui::db::print_reaped_jobs(jobs)?;
    let pool = db::pool(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut outcome = Outcome::Success;
    for endpoint in &config.docker.endpoints {
        let removed = runtime.block_on(async {
            let connected = crate::endpoint::Endpoint::connect(endpoint).await?;
            crate::orchestrator::submit::remove_leftovers(&pool, &connected).await
        });
        match removed {
            Ok(n) => ui::db::print_reaped_containers(&endpoint.name, n)?,
            Err(err) => {
                ui::print_error(&err.context(format!("endpoint `{}`", endpoint.name)));
                outcome = Outcome::Failed;
            }
        }
    }
    Ok(outcome)
}

fn setup(location: &Location) -> Result<Outcome> {
    let mut conn = location.connect()?;
    let applied = db::run_pending_migrations(&mut conn, location.schema())
        .with_context(|| format!("setting up the database at {}", location.describe()))?;
    let after = db::migration_status(&mut conn)?;
    ui::db::print_setup(&applied, &after)?;
    Ok(Outcome::Success)
}

fn status(location: &Location) -> Result<Outcome> {
    let status = location.status();
    ui::db::print_status(&status)?;
    Ok(match status.reachability {
        Reachability::Reachable { .. } => Outcome::Success,
        Reachability::Unreachable { .. } => Outcome::Failed,
    })
}

/// `kiln db cli [--tool psql|pgcli]`: the client on the database, with
/// kiln's schema first on the search path.
fn cli(location: &Location, tool: DbTool) -> Result<Outcome> {
    let invocation = location.psql_invocation()?;
    let (program, args) = match tool {
        DbTool::Psql => (find_psql(location)?, invocation.args.clone()),
        // pgcli takes the connection URL as its DBNAME argument.
        DbTool::Pgcli => (
            find_on_path("pgcli").ok_or_else(|| {
                anyhow::anyhow!(
                    "`pgcli` was not found on PATH; install it (`pip install pgcli`) or use `kiln db cli`"
                )
            })?,
            invocation.args.iter().skip(1).cloned().collect(),
        ),
    };
    let mut cmd = Command::new(&program);
    cmd.args(&args);
    if let Some(password) = &invocation.password {
        cmd.env("PGPASSWORD", password.expose());
    }
    cmd.env("PGOPTIONS", &invocation.options);
    let status = cmd
        .status()
        .with_context(|| format!("running {}", program.display()))?;
    Ok(if status.success() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// `psql` on `PATH`, else beside the embedded server's programs.
fn find_psql(location: &Location) -> Result<std::path::PathBuf> {
    if let Some(p) = find_on_path("psql") {
        return Ok(p);
    }
    if location.embedded().is_some() {
        if let Some(p) = db::embedded::ServerPrograms::find(None)
            .ok()
            .and_then(|p| p.psql())
        {
            return Ok(p);
        }
    }
    anyhow::bail!(
        "`psql` was not found on PATH; install the PostgreSQL client \
         (Debian or Ubuntu: `apt-get install postgresql-client`)"
    )
}

/// The program `name` in a directory of `PATH`.
fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn stop(location: &Location) -> Result<Outcome> {
    match location.server() {
        db::Server::Embedded(server) => {
            let outcome = server.stop().with_context(|| {
                format!(
                    "stopping kiln's embedded database in {}",
                    server.dir().display()
                )
            })?;
            ui::db::print_stop(server.dir(), outcome)?;
        }
        db::Server::External { .. } => ui::db::print_stop_external(&location.describe())?,
    }
    Ok(Outcome::Success)
}
