//! What `kiln db ...` prints.

use crate::db::embedded::{ServerState, StopOutcome};
use crate::db::{MigrationStatus, Reachability, Status};

/// After `kiln db setup`: the migrations it applied, or that there was nothing to do.
pub fn print_setup(applied: &[String], after: &MigrationStatus) {
    if applied.is_empty() {
        println!(
            "The database schema is up to date ({} applied); nothing to do.",
            count(after.applied.len(), "migration")
        );
        return;
    }
    for name in applied {
        println!("applied migration {name}");
    }
    println!(
        "The database schema is up to date ({} applied).",
        count(after.applied.len(), "migration")
    );
}

/// `kiln db status`.
pub fn print_status(status: &Status) {
    println!("database:   {}", status.location);
    if let Some(embedded) = &status.embedded {
        println!("directory:  {}", embedded.dir.display());
        println!("socket:     {}", embedded.socket_dir.display());
        println!("server log: {}", embedded.log_file.display());
        let state = match embedded.state {
            ServerState::NotCreated => "not created yet".to_owned(),
            ServerState::Stopped => "stopped".to_owned(),
            ServerState::Running { pid } => format!("running (pid {pid})"),
        };
        match &embedded.server_user {
            Some(user) => println!("server:     {state}, as user `{user}`"),
            None => println!("server:     {state}"),
        }
    }
    match &status.reachability {
        Reachability::Unreachable { error } => {
            println!("reachable:  no");
            println!("error:      {error}");
        }
        Reachability::Reachable {
            server_version,
            migrations,
        } => {
            println!("reachable:  yes, PostgreSQL {server_version}");
            println!(
                "migrations: {} applied, {} pending",
                migrations.applied.len(),
                migrations.pending.len()
            );
            for name in &migrations.applied {
                println!("  applied   {name}");
            }
            for name in &migrations.pending {
                println!("  pending   {name}");
            }
            for version in &migrations.unknown {
                println!("  unknown   {version} (applied by a newer kiln)");
            }
            if !migrations.pending.is_empty() {
                println!("Run `kiln db setup` to apply the pending migrations.");
            }
        }
    }
}

/// `kiln db stop` on the embedded server.
pub fn print_stop(dir: &std::path::Path, outcome: StopOutcome) {
    match outcome {
        StopOutcome::Stopped { pid } => {
            println!(
                "Stopped kiln's embedded database server in {} (pid {pid}).",
                dir.display()
            )
        }
        StopOutcome::NotRunning => {
            println!(
                "kiln's embedded database server in {} was not running.",
                dir.display()
            )
        }
    }
}

/// `kiln db stop` when the database is not the embedded one.
pub fn print_stop_external(location: &str) {
    println!(
        "The configured database is {location}; kiln does not run it, so there is nothing to stop."
    );
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What `db reap` recorded.
pub fn print_reaped_jobs(jobs: usize) {
    println!(
        "Recorded {} of submits whose kiln process is gone as lost.",
        count(jobs, "unfinished job")
    );
}

/// What `db reap` removed on one endpoint.
pub fn print_reaped_containers(endpoint: &str, removed: usize) {
    println!(
        "Endpoint `{endpoint}`: removed {} left by submits whose kiln process is gone.",
        count(removed, "container")
    );
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
