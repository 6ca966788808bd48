//! What `kiln db ...` prints.

use crate::db::embedded::{ServerState, StopOutcome};
use crate::db::{MigrationStatus, Reachability, Status};

/// After `kiln db setup`: the migrations it applied, or that there was nothing to do.
pub fn print_setup(applied: &[String], after: &MigrationStatus) -> anyhow::Result<()> {
    super::write_stdout(|out| {
        if applied.is_empty() {
            writeln!(
                out,
                "The database schema is up to date ({} applied); nothing to do.",
                count(after.applied.len(), "migration")
            )?;
            return Ok(());
        }
        for name in applied {
            writeln!(out, "applied migration {name}")?;
        }
        writeln!(
            out,
            "The database schema is up to date ({} applied).",
            count(after.applied.len(), "migration")
        )?;
        Ok(())
    })
}

/// `kiln db status`.
pub fn print_status(status: &Status) -> anyhow::Result<()> {
    super::write_stdout(|out| {
        writeln!(out, "database:   {}", status.location)?;
        if let Some(embedded) = &status.embedded {
            writeln!(out, "directory:  {}", embedded.dir.display())?;
            writeln!(out, "socket:     {}", embedded.socket_dir.display())?;
            writeln!(out, "server log: {}", embedded.log_file.display())?;
            let state = match embedded.state {
                ServerState::NotCreated => "not created yet".to_owned(),
                ServerState::Stopped => "stopped".to_owned(),
                ServerState::Running { pid } => format!("running (pid {pid})"),
            };
            match &embedded.server_user {
                Some(user) => writeln!(out, "server:     {state}, as user `{user}`")?,
                None => writeln!(out, "server:     {state}")?,
            }
        }
        match &status.reachability {
            Reachability::Unreachable { error } => {
                writeln!(out, "reachable:  no")?;
                writeln!(out, "error:      {error}")?;
            }
            Reachability::Reachable {
                server_version,
                migrations,
            } => {
                writeln!(out, "reachable:  yes, PostgreSQL {server_version}")?;
                writeln!(
                    out,
                    "migrations: {} applied, {} pending",
                    migrations.applied.len(),
                    migrations.pending.len()
                )?;
                for name in &migrations.applied {
                    writeln!(out, "  applied   {name}")?;
                }
                for name in &migrations.pending {
                    writeln!(out, "  pending   {name}")?;
                }
                for version in &migrations.unknown {
                    writeln!(out, "  unknown   {version} (applied by a newer kiln)")?;
                }
                if !migrations.pending.is_empty() {
                    writeln!(out, "Run `kiln db setup` to apply the pending migrations.")?;
                }
            }
        }
        Ok(())
    })
}

/// `kiln db stop` on the embedded server.
pub fn print_stop(dir: &std::path::Path, outcome: StopOutcome) -> anyhow::Result<()> {
    super::write_stdout(|out| {
        match outcome {
            StopOutcome::Stopped { pid } => {
                writeln!(
                    out,
                    "Stopped kiln's embedded database server in {} (pid {pid}).",
                    dir.display()
                )?;
            }
            StopOutcome::NotRunning => {
                writeln!(
                    out,
                    "kiln's embedded database server in {} was not running.",
                    dir.display()
                )?;
            }
        }
        Ok(())
    })
}

/// `kiln db stop` when the database is not the embedded one.
pub fn print_stop_external(location: &str) -> anyhow::Result<()> {
    super::write_stdout(|out| {
        writeln!(
            out,
            "The configured database is {location}; kiln does not run it, so there is nothing to stop."
        )?;
        Ok(())
    })
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What `db reap` recorded.
pub fn print_reaped_jobs(jobs: usize) -> anyhow::Result<()> {
    super::write_stdout(|out| {
        writeln!(
            out,
            "Recorded {} of submits whose kiln process is gone as lost.",
            count(jobs, "unfinished job")
        )?;
        Ok(())
    })
}

/// What `db reap` removed on one endpoint.
pub fn print_reaped_containers(endpoint: &str, removed: usize) -> anyhow::Result<()> {
    super::write_stdout(|out| {
        writeln!(
            out,
            "Endpoint `{endpoint}`: removed {} left by submits whose kiln process is gone.",
            count(removed, "container")
        )?;
        Ok(())
    })
}

/// `kiln metrics`: one row per count, as a table, CSV or JSON.
pub fn print_metrics(
    format: crate::cli::OutputFormat,
    metrics: &[crate::db::listings::metrics::Metric],
) -> anyhow::Result<()> {
    let rows = metrics
        .iter()
        .map(|m| vec![serde_json::json!(m.name), serde_json::json!(m.count)])
        .collect();
    let listing = super::listing::Listing {
        columns: vec!["metric", "count"],
        rows,
    };
    super::listing::print(format, &listing)
}
