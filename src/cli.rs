//! The command-line grammar: clap derive types only, no logic. Each command's
//! arguments are validated by the command itself (see [`crate::commands`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::db::listings::{EnvPair, PackageSpec, TimeSpec, UuidPrefix};

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

    /// List submits, newest first.
    Submits(DbSubmitsArgs),
    /// Show one submit: everything recorded about it, then its jobs.
    Submit(DbSubmitArgs),
    /// List jobs, newest first.
    Jobs(DbJobsArgs),
    /// Show one job: everything recorded about it, and on request its log, script and environment.
    Job(DbJobArgs),
    /// Print a job's log from the database (optionally following a running job).
    LogOf(DbLogOfArgs),
    /// List artifacts, those of the newest jobs first.
    Artifacts(DbArtifactsArgs),
    /// List releases of artifacts into release stores, newest first.
    Releases(DbReleasesArgs),
    /// List recorded environment variables, newest first.
    Envvars(DbNamedListArgs),
    /// List images and the digests they resolved to.
    Images(DbListArgs),
    /// List endpoints with what kiln last learned of them.
    Endpoints(DbListArgs),
    /// List package versions, newest first, with their last job.
    Packages(DbNamedListArgs),
    /// Job statistics per package (or endpoint, or image) over a time window.
    Stats(DbStatsArgs),
}

/// Options every `db` listing takes.
#[derive(Debug, Args)]
pub struct ListOptions {
    /// Show at most N rows (0 for all; default: `database_default_query_limit`).
    #[arg(long, short = 'l', value_name = "N")]
    pub limit: Option<u32>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// Filters on a time column. WHEN is a duration back from now (`2h`,
/// `3 days`), a date (`2026-01-31`) or a date-time (`2026-01-31T12:00:00Z`);
/// dates and date-times without an offset are UTC.
#[derive(Debug, Args)]
pub struct TimeFilter {
    /// Only rows older than WHEN.
    #[arg(long, value_name = "WHEN")]
    pub older_than: Option<TimeSpec>,

    /// Only rows newer than WHEN.
    #[arg(long, value_name = "WHEN")]
    pub newer_than: Option<TimeSpec>,
}

/// `kiln db submits`
#[derive(Debug, Args)]
pub struct DbSubmitsArgs {
    /// Only submits that asked for this package (NAME or NAME@VERSION).
    #[arg(long, short = 'p', value_name = "NAME[@VERSION]")]
    pub package: Option<PackageSpec>,

    /// Only submits whose tree built this package anywhere (NAME or NAME@VERSION).
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub with_package: Option<PackageSpec>,

    /// Only submits for this image (its name or configured short name).
    #[arg(long, short = 'I', value_name = "IMAGE")]
    pub image: Option<String>,

    /// Only submits of a repository commit whose hash starts with this.
    #[arg(long, value_name = "HASH-PREFIX")]
    pub commit: Option<String>,

    /// Only submits in this status.
    #[arg(long, value_enum)]
    pub status: Option<SubmitStatusArg>,

    #[command(flatten)]
    pub time: TimeFilter,

    #[command(flatten)]
    pub list: ListOptions,
}

/// `kiln db submit`
#[derive(Debug, Args)]
pub struct DbSubmitArgs {
    /// The submit's UUID, or a unique prefix of it.
    #[arg(value_name = "UUID")]
    pub submit: UuidPrefix,

    /// Also print the resolved package tree (JSON).
    #[arg(long)]
    pub tree: bool,

    /// Also print the build plan (JSON).
    #[arg(long)]
    pub plan: bool,

    /// Output format (`table` is text; CSV is not offered for one record).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln db jobs`
#[derive(Debug, Args)]
pub struct DbJobsArgs {
    /// Only jobs of this submit (UUID or unique prefix).
    #[arg(long, short = 's', value_name = "UUID")]
    pub submit: Option<UuidPrefix>,

    /// Only jobs of this package (NAME or NAME@VERSION).
    #[arg(long, short = 'p', value_name = "NAME[@VERSION]")]
    pub package: Option<PackageSpec>,

    /// Only jobs in this image (its name or configured short name).
    #[arg(long, short = 'I', value_name = "IMAGE")]
    pub image: Option<String>,

    /// Only jobs on this endpoint.
    #[arg(long, short = 'e', value_name = "NAME")]
    pub endpoint: Option<String>,

    /// Only jobs in this status.
    #[arg(long, value_enum)]
    pub status: Option<JobStatusArg>,

    /// Only jobs that ran with this variable set to this value (repeatable; all must match).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<EnvPair>,

    #[command(flatten)]
    pub time: TimeFilter,

    #[command(flatten)]
    pub list: ListOptions,
}

/// `kiln db job`
#[derive(Debug, Args)]
pub struct DbJobArgs {
    /// The job's UUID, or a unique prefix of it.
    #[arg(value_name = "UUID")]
    pub job: UuidPrefix,

    /// Also print the job's log.
    #[arg(long)]
    pub log: bool,

    /// Also print the rendered script.
    #[arg(long)]
    pub script: bool,

    /// Also print the environment variables the job ran with.
    #[arg(long)]
    pub env: bool,

    /// Output format (`table` is text; CSV is not offered for one record).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln db log-of`
#[derive(Debug, Args)]
pub struct DbLogOfArgs {
    /// The job's UUID, or a unique prefix of it.
    #[arg(value_name = "JOB")]
    pub job: UuidPrefix,

    /// Keep printing new log lines while the job is queued or running.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

/// `kiln db artifacts`
#[derive(Debug, Args)]
pub struct DbArtifactsArgs {
    /// Only artifacts of this job (UUID or unique prefix).
    #[arg(long, short = 'j', value_name = "UUID")]
    pub job: Option<UuidPrefix>,

    /// Only artifacts of this submit's jobs (UUID or unique prefix).
    #[arg(long, short = 's', value_name = "UUID")]
    pub submit: Option<UuidPrefix>,

    /// Only artifacts of this package (NAME or NAME@VERSION).
    #[arg(long, short = 'p', value_name = "NAME[@VERSION]")]
    pub package: Option<PackageSpec>,

    /// Only artifacts released into at least one release store.
    #[arg(long, conflicts_with = "unreleased")]
    pub released: bool,

    /// Only artifacts released into no release store.
    #[arg(long)]
    pub unreleased: bool,

    /// Only artifacts whose SHA-256 starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub sha256: Option<String>,

    #[command(flatten)]
    pub list: ListOptions,
}

/// `kiln db releases`
#[derive(Debug, Args)]
pub struct DbReleasesArgs {
    /// Only releases into this release store.
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,

    /// Only releases of this package's artifacts (NAME or NAME@VERSION).
    #[arg(long, short = 'p', value_name = "NAME[@VERSION]")]
    pub package: Option<PackageSpec>,

    #[command(flatten)]
    pub time: TimeFilter,

    #[command(flatten)]
    pub list: ListOptions,
}

/// `kiln db envvars` and `kiln db packages`
#[derive(Debug, Args)]
pub struct DbNamedListArgs {
    /// Only rows with exactly this name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    #[command(flatten)]
    pub list: ListOptions,
}

/// `kiln db images` and `kiln db endpoints`
#[derive(Debug, Args)]
pub struct DbListArgs {
    #[command(flatten)]
    pub list: ListOptions,
}

/// `kiln db stats`
#[derive(Debug, Args)]
pub struct DbStatsArgs {
    /// Group by this.
    #[arg(long, value_enum, default_value_t = StatsByArg::Package)]
    pub by: StatsByArg,

    /// Count jobs queued since WHEN (a duration back from now, a date or a date-time).
    #[arg(long, value_name = "WHEN", default_value = "30 days")]
    pub since: TimeSpec,

    /// Show at most N groups, those with the most jobs (default: all).
    #[arg(long, short = 'l', value_name = "N", default_value_t = 0)]
    pub limit: u32,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// The status of a submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SubmitStatusArg {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Lost,
}

/// The status of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum JobStatusArg {
    Queued,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Lost,
    Reused,
    DepFailed,
}

/// What `db stats` groups jobs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsByArg {
    /// The package name (all versions together).
    Package,
    Endpoint,
    Image,
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
