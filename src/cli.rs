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

    /// Show the dependency tree of a package.
    ///
    /// Loads the package repository, resolves the dependencies of NAME for
    /// the image given with -I and the variables given with -E (they decide
    /// which conditional dependencies apply, and -I checks every package's
    /// allowed_images and denied_images), and prints the tree. Build
    /// dependencies are marked "(build)"; a package whose dependencies were
    /// already shown above is marked "(*)" instead of showing them again.
    ///
    /// Without VERSION, kiln takes the highest version of NAME (versions
    /// compare by their numeric parts: 1.10 is above 1.9) and says so when
    /// there are several.
    #[command(after_help = TREE_OF_EXAMPLES)]
    TreeOf(TreeOfArgs),

    /// Build a package and its whole dependency tree in containers.
    ///
    /// Resolves the tree of NAME for the image and the variables, checks
    /// everything before anything runs (sources verified, scripts linted,
    /// images and variable names allowed, endpoints reachable with the image
    /// present), records the submit and every job in the database, then runs
    /// one job per package in a fresh container, each as soon as its
    /// dependencies have succeeded, on the endpoint with the most free slots.
    /// Each job's /outputs land in the submit's staging directory and are
    /// recorded as artifacts with their SHA-256.
    ///
    /// Exit codes: 0 all jobs succeeded, 1 a job failed, 2 a usage or input
    /// error (nothing was built), 130 interrupted (Ctrl-C; a second Ctrl-C
    /// exits at once).
    #[command(visible_alias = "build", after_help = SUBMIT_EXAMPLES)]
    Submit(SubmitArgs),
}

const SUBMIT_EXAMPLES: &str = "\
Examples:
  kiln submit world -I busybox                   build world and everything it needs
  kiln submit zlib 1.3.1 -I busybox -E CFLAGS=-O3
  kiln build world -I busybox --endpoint build-1 --endpoint build-2
  kiln submit world -I busybox --hide-bars 2> build.log
  kiln db jobs --submit <UUID>                   what the submit recorded";

/// `kiln submit NAME [VERSION]`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The package to build.
    pub name: String,

    /// Its version (default: the highest version of NAME).
    #[arg(id = "package_version", value_name = "VERSION")]
    pub version: Option<String>,

    /// The build image, by its full or short name from `docker.images`.
    #[arg(short = 'I', long, value_name = "IMAGE")]
    pub image: String,

    /// A variable for every job's container (repeatable); conditions see it too.
    #[arg(short = 'E', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// Build only on this endpoint (repeatable; default: all configured endpoints).
    #[arg(long = "endpoint", value_name = "NAME")]
    pub endpoints: Vec<String>,

    /// Do not verify the sources' hashes before building.
    #[arg(long)]
    pub no_verify: bool,

    /// Do not lint the scripts before building.
    #[arg(long)]
    pub no_lint: bool,

    /// The parent directory of the submit's staging directory (default: `staging`).
    #[arg(long, value_name = "DIR")]
    pub staging_dir: Option<std::path::PathBuf>,

    /// The first line of every script, instead of the configured `shebang`.
    #[arg(long, value_name = "LINE")]
    pub shebang: Option<String>,

    /// Also write each job's log to a file under `log_dir`.
    #[arg(long)]
    pub write_log: bool,

    /// Keep the containers of finished jobs (for debugging a failure).
    #[arg(long)]
    pub keep_containers: bool,

    /// Start no new job once a job failed.
    #[arg(long)]
    pub fail_fast: bool,

    /// Print one plain line per state change instead of progress bars.
    #[arg(long)]
    pub hide_bars: bool,
}

const TREE_OF_EXAMPLES: &str = "\
Examples:
  kiln tree-of openssl                          the tree of the highest version
  kiln tree-of openssl 3.0.13 -I debian:12      as it would be built on debian:12
  kiln tree-of openssl -E WITH_TESTS=1          with conditions seeing WITH_TESTS
  kiln tree-of openssl --serial-buildorder      one package per line, build order
  kiln tree-of openssl --dot | dot -Tsvg > openssl.svg";

/// `kiln tree-of NAME [VERSION]`
#[derive(Debug, Args)]
pub struct TreeOfArgs {
    /// The package.
    pub name: String,

    /// Its version (default: the highest version of NAME).
    #[arg(id = "package_version", value_name = "VERSION")]
    pub version: Option<String>,

    /// The build image (its full or short name from the configuration): conditions
    /// `in_image` and the packages' allowed/denied images are checked against it.
    #[arg(short = 'I', long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// A variable as a build would get it (repeatable); conditions `has_env` and
    /// `env_eq` see these.
    #[arg(short = 'E', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// Print a Graphviz graph instead (build dependencies dotted).
    #[arg(long, conflicts_with_all = ["serial_buildorder", "output"])]
    pub dot: bool,

    /// Print the packages in the order a serial build would build them.
    #[arg(long, conflicts_with = "output")]
    pub serial_buildorder: bool,

    /// Output format.
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub output: Option<TreeFormat>,
}

/// How `tree-of` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TreeFormat {
    /// An indented tree.
    Tree,
    /// The tree and the build plan as one JSON object.
    Json,
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
