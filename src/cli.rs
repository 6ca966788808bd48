//! The command-line grammar: clap derive types only, no logic. Each command's
//! arguments are validated by the command itself (see [`crate::commands`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Build trees of Linux packages inside Docker containers, and record
/// everything about every build in PostgreSQL.
///
/// kiln reads a package repository (a git work tree of `pkg.toml` files, in
/// butido's format) and its `config.toml`. Run it from anywhere inside the
/// repository, or give `--repo`.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The package repository (default: the git work tree around the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// Read this configuration file instead of `$XDG_CONFIG_HOME/kiln/config.toml`.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Connect to this database (a `postgres://` URL) instead of the configured one.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Print more diagnostics (repeat for more); `KILN_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

/// kiln's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Set up, inspect and query the database.
    #[command(subcommand)]
    Db(DbCommand),
}

/// `kiln config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, with the source of each value.
    ///
    /// Passwords are masked.
    Show(ConfigShowArgs),
}

#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln db ...`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (a second run changes nothing and says so).
    Setup,
    /// Show where the database is, whether it is reachable, and which migrations are applied.
    Status,
    /// Open `psql` on the database.
    Cli,
    /// Stop kiln's embedded database server, if it runs.
    Stop,
}

/// How listings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A table sized to the terminal.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
