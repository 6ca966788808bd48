//! The command-line grammar: clap derive types only, no logic. Each command's
//! arguments are validated by the command itself (see [`crate::commands`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::db::listings::{parse_limit, EnvPair, PackageSpec, TimeSpec, UuidPrefix};
use crate::db::models::{JobStatus, SubmitStatus};

/// Build trees of Linux packages inside Docker containers, and record
/// everything about every build in PostgreSQL.
///
/// kiln reads a package repository (a git work tree of `pkg.toml` files, in
/// butido's format) and its `config.toml`. Run it from anywhere inside the
/// repository, or give `--repo`.
#[derive(Debug, Parser)]
#[command(name = "kiln", version = crate::VERSION, propagate_version = true, max_term_width = 100)]
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

    /// Print one plain line per state change instead of progress bars.
    #[arg(long, global = true)]
    pub hide_bars: bool,

    /// The database server's host name or socket directory (butido's name
    /// for it), instead of the configured `database_host`.
    #[arg(
        long = "db-url",
        global = true,
        value_name = "HOST",
        help_heading = "Database"
    )]
    pub db_host: Option<String>,

    /// The database server's port, instead of the configured `database_port`.
    #[arg(long, global = true, value_name = "PORT", help_heading = "Database",
        value_parser = clap::value_parser!(u16).range(1..))]
    pub db_port: Option<u16>,

    /// The database user, instead of the configured `database_user`.
    #[arg(long, global = true, value_name = "USER", help_heading = "Database")]
    pub db_user: Option<String>,

    /// The database password, instead of the configured `database_password`
    /// (other users of the machine can see it: prefer the configuration).
    #[arg(
        long,
        alias = "db-pw",
        global = true,
        value_name = "PASSWORD",
        help_heading = "Database"
    )]
    pub db_password: Option<String>,

    /// The database name, instead of the configured `database_name`.
    #[arg(long, global = true, value_name = "NAME", help_heading = "Database")]
    pub db_name: Option<String>,

    /// Seconds to wait for a database connection, instead of the configured
    /// `database_connection_timeout`.
    #[arg(long, global = true, value_name = "SECONDS", help_heading = "Database",
        value_parser = clap::value_parser!(u32).range(1..))]
    pub db_timeout: Option<u32>,

    /// butido's Chrome trace file: not in kiln (refused, naming `KILN_LOG`).
    #[arg(long, global = true, hide = true)]
    pub tracing_chrome: bool,
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

    /// Check the Docker endpoints, list and clean kiln's containers on them.
    ///
    /// Each command talks to the endpoint NAME, or to every configured
    /// endpoint at once (each within its configured `timeout`), and records
    /// what it learns of each one's health in the database (`kiln db
    /// endpoints`): whether it answered, when it last did, its engine and
    /// API versions, the timeout it was given, and why it failed. When the
    /// database cannot be reached, the command still prints what the
    /// engines said, with a warning that their health was not recorded.
    ///
    /// Exit codes: 0 every endpoint answered (and, for `images
    /// verify-present`, has the image), 1 an endpoint did not answer, or
    /// lacks the image or has another digest of it, 2 a usage or
    /// configuration error (an unknown NAME).
    #[command(after_help = ENDPOINT_EXAMPLES)]
    Endpoint(EndpointArgs),

    /// Release a submit's artifacts into a release store, remove releases,
    /// list them.
    ///
    /// A release copies staged artifacts into `<releases_root>/<STORE>/`,
    /// keeping their paths, each checked against its recorded SHA-256
    /// before it is moved into place, and records who released what,
    /// when, from which host. Nothing is ever overwritten silently and no
    /// record is deleted: `release rm` and `release new --update` record
    /// the removal.
    #[command(subcommand, after_help = RELEASE_EXAMPLES)]
    Release(ReleaseCommand),

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
    /// A job whose build key (package, version, rendered script, image
    /// digest, environment, the content of its sources and patches, and
    /// the keys of its dependencies) matches an earlier succeeded job whose
    /// artifacts are all still present with their recorded SHA-256 is not
    /// built: it is recorded `reused`, and those artifacts are placed in
    /// the new staging directory. --dry-run shows what would be built and
    /// why; `kiln explain JOB` says why a job was built.
    ///
    /// Exit codes: 0 all jobs succeeded (or were reused), 1 a job failed, 2 a usage or input
    /// error (nothing was built), 130 interrupted (Ctrl-C; a second Ctrl-C
    /// exits at once).
    #[command(visible_alias = "build", after_help = SUBMIT_EXAMPLES)]
    Submit(SubmitArgs),

    /// List the packages that depend directly on a package.
    ///
    /// Searches every package of the repository for dependencies on NAME, in
    /// any version, and lists each one: the dependent package, the kind of
    /// dependency, the version of NAME it names, and its condition, if any.
    /// Conditions are shown, not evaluated: a conditional dependency is
    /// listed whether or not it would apply to a build.
    #[command(after_help = WHAT_DEPENDS_EXAMPLES)]
    WhatDepends(WhatDependsArgs),

    /// List the direct dependencies of a package.
    ///
    /// Lists each dependency of NAME (of every version of NAME, or of
    /// VERSION only) with its kind (build or runtime), the exact version it
    /// names, and its condition (in pkg.toml's form), if it has one. Use
    /// `tree-of` for the whole tree.
    #[command(visible_alias = "depsof", after_help = DEPENDENCIES_OF_EXAMPLES)]
    DependenciesOf(DependenciesOfArgs),

    /// List the versions of a package in the repository.
    ///
    /// Lists every version of NAME, lowest first (versions compare by their
    /// numeric parts: 1.10 is above 1.9), with the pkg.toml that defines it.
    #[command(visible_alias = "versions", after_help = VERSIONS_OF_EXAMPLES)]
    VersionsOf(VersionsOfArgs),

    /// List the environment variables a package sets for its build.
    ///
    /// Prints the `environment` table of NAME VERSION, merged from every
    /// layer from the repository's top down to the package. Variables given
    /// with -E at build time are added to these.
    #[command(visible_alias = "env", after_help = ENV_OF_EXAMPLES)]
    EnvOf(EnvOfArgs),

    /// Find packages by name and show what they are made of.
    ///
    /// Prints every package whose name matches REGEX (anywhere in the name:
    /// anchor it with ^ and $ for an exact match), lowest version first,
    /// only VERSION when given. Without --show-* switches, one line per
    /// package; each switch adds a section, --all adds every section.
    ///
    /// When the configuration sets `package_print_format` (a Handlebars
    /// template, as in butido), each package is printed with it: the
    /// template sees `p` (the package), `i` (its index, from 0), `script`
    /// (the rendered script, when it is shown) and the booleans
    /// `print_any`, `print_sources`, `print_dependencies`, `print_patches`,
    /// `print_env`, `print_allowed_images`, `print_denied_images`,
    /// `print_phases`, `print_script`.
    ///
    /// The script is syntax highlighted when `script_highlight_theme` is
    /// configured and standard output is a terminal.
    #[command(after_help = FIND_PKG_EXAMPLES)]
    FindPkg(FindPkgArgs),

    /// Check packages for mistakes before they are built.
    ///
    /// kiln's own checks: phases that `available_phases` does not list (they
    /// are left out of the script), patches that are missing, sources
    /// without a proper hash, images in `allowed_images` or `denied_images`
    /// that `docker.images` does not have (a warning), `allowed_images` that
    /// leave no configured image, dependencies on packages the repository
    /// does not have, and scripts that do not render. Then, when
    /// `script_linter` is configured, that program gets each rendered script
    /// on its standard input; a non-zero exit is a finding, and what it
    /// printed says why.
    ///
    /// Without NAME, every package of the repository is checked. Exits with
    /// 1 when anything is found, 0 when nothing is.
    #[command(after_help = LINT_EXAMPLES)]
    Lint(LintArgs),

    /// Check, list and download the sources of packages.
    ///
    /// The sources of a package live in the source cache (`source_cache` in
    /// the configuration) as `<source_cache>/<name>-<version>/<key>.source`,
    /// where <key> is the name of the `[sources.<key>]` table. Each command
    /// takes one package (NAME, every version of it, or NAME VERSION) or
    /// all packages whose name matches --matching REGEX.
    #[command(subcommand, after_help = SOURCE_EXAMPLES)]
    Source(SourceCommand),

    /// Say why a job was built rather than reused.
    ///
    /// Compares the job's recorded build key inputs with those of the
    /// nearest earlier job of the same package and version that succeeded
    /// or was reused (newest first, one built in the same image preferred),
    /// or with OTHER_JOB when given, and lists each field that differs: the
    /// script, an environment variable, a source, a patch, the image digest,
    /// or a dependency's build key, in which case the dependency is
    /// explained the same way, down to the one whose own input changed.
    /// When the keys are equal, it says why the job was built all the same
    /// (an earlier artifact missing or changed, a dependency built,
    /// --no-reuse, --rebuild). For a reused job, it names the job it reused.
    #[command(after_help = EXPLAIN_EXAMPLES)]
    Explain(ExplainArgs),

    /// Find built artifacts of packages, in staging and in release stores.
    ///
    /// Lists the artifacts of every package whose name matches REGEX (a
    /// PostgreSQL regular expression, matched anywhere in the name: anchor
    /// it, `^zlib$`, for one name), of VERSION when given, built by a job
    /// that succeeded (or was reused) with every -E variable at that value
    /// and in the -I image, newest first. Each artifact is shown where its
    /// file is now with its recorded SHA-256: its submit's staging
    /// directory, and each release store it is released into. Files that
    /// are gone or changed are left out (with a note).
    #[command(after_help = FIND_ARTIFACT_EXAMPLES)]
    FindArtifact(FindArtifactArgs),

    /// Rebuild a recorded submit and prove what it got.
    ///
    /// Rebuilds SUBMIT from the database and the repository alone: the
    /// commit it was built from (written into a temporary work tree; the
    /// work tree kiln runs in is not touched), with the uncommitted changes
    /// it had, the same package, version and image, and the same `-E`
    /// variables. Nothing is reused. Secret variables are not recorded:
    /// give their values again with -E. The image must still resolve to
    /// the digest the original was built with (--allow-other-image builds
    /// with another and reports it).
    ///
    /// Then every artifact of the rebuild is compared with the original's
    /// by SHA-256, in a table (stdout; the build's summary goes to stderr).
    /// A job whose artifacts differ although its build inputs are equal is
    /// not deterministic; where the inputs differ, the fields that do are
    /// named, as `kiln explain` does. The new submit records which one it
    /// reproduces.
    ///
    /// Exit codes: 0 every artifact identical, 1 an artifact differs or is
    /// on one side only (or the rebuild failed), 2 a usage or input error
    /// (nothing was built), 130 interrupted.
    #[command(after_help = REPRODUCE_EXAMPLES)]
    Reproduce(ReproduceArgs),
    /// Print the provenance of built artifacts: an in-toto Statement with a
    /// SLSA Provenance v1 predicate.
    ///
    /// The document (JSON, on standard output) says which files a build made
    /// and what went into them, from the database's records alone: its
    /// `subject` lists the artifacts by path (relative to the submit's
    /// staging directory) and SHA-256; its `predicate` lists what was asked
    /// for (package, version, image, the command line's variables), what
    /// each job took in (the repository's commit, the image's digest, every
    /// source, patch and input artifact by digest), and when, where and by
    /// which kiln each job ran. Secret variables are named, never valued.
    ///
    /// Give a submit (every artifact of its jobs that succeeded or were
    /// reused), a job, or one artifact: a submit or job by its UUID or a
    /// unique start of it, an artifact by its path as `kiln db artifacts`
    /// lists it, alone when one artifact has that path, else as
    /// SUBMIT-UUID/PATH (its place under the staging root). A reused job's
    /// provenance is that of the build it reused, and says so.
    ///
    /// kiln does not sign the document: sign it with a tool of your choice
    /// (it is the statement that a DSSE envelope carries). The user guide
    /// ("Provenance") describes every field. Exit codes: 0 printed, 1 the
    /// database failed, 2 nothing recorded has that name, or it has no
    /// artifacts.
    #[command(after_help = PROVENANCE_EXAMPLES)]
    Provenance(ProvenanceArgs),

    /// Print counts of what the database holds: submits, jobs (by status),
    /// packages, artifacts, releases, images, endpoints, log lines.
    Metrics(MetricsArgs),

    /// Print the completion script of a shell, for kiln's commands and flags.
    ///
    /// Install it where the shell looks for completions, for example:
    /// `kiln generate-completions bash > /etc/bash_completion.d/kiln`,
    /// `kiln generate-completions zsh > "${fpath[1]}/_kiln"`,
    /// `kiln generate-completions fish > ~/.config/fish/completions/kiln.fish`.
    GenerateCompletions(GenerateCompletionsArgs),

    /// Write kiln's manual pages (kiln.1, and one per command) into a directory.
    ///
    /// Install them with, for example:
    /// `kiln generate-man /usr/local/share/man/man1 && mandb`; then `man kiln`,
    /// `man kiln-submit`.
    GenerateMan(GenerateManArgs),
}

/// `kiln metrics`
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln generate-completions SHELL`
#[derive(Debug, Args)]
pub struct GenerateCompletionsArgs {
    /// The shell.
    #[arg(value_enum, default_value_t = CompletionShell::Bash)]
    pub shell: CompletionShell,
}

/// A shell that kiln writes completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Elvish,
    Fish,
    Powershell,
    Zsh,
}

/// `kiln generate-man DIR`
#[derive(Debug, Args)]
pub struct GenerateManArgs {
    /// The directory to write the pages into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

const WHAT_DEPENDS_EXAMPLES: &str = "\
Examples:
  kiln what-depends zlib                  every package that depends on zlib
  kiln what-depends zlib -t build         only build dependencies
  kiln what-depends zlib -o json          as JSON";

const DEPENDENCIES_OF_EXAMPLES: &str = "\
Examples:
  kiln dependencies-of curl               the dependencies of every version of curl
  kiln dependencies-of curl 8.4.0         of one version
  kiln dependencies-of curl -o csv        as CSV";

const VERSIONS_OF_EXAMPLES: &str = "\
Examples:
  kiln versions-of zlib
  kiln versions-of zlib -o json";

const ENV_OF_EXAMPLES: &str = "\
Examples:
  kiln env-of sqlite 3.44.0
  kiln env-of sqlite 3.44.0 -o json";

const FIND_PKG_EXAMPLES: &str = "\
Examples:
  kiln find-pkg ssl                       every package with `ssl` in its name
  kiln find-pkg '^zlib$' --terse          `name version`, one per line
  kiln find-pkg '^zlib$' 1.3.1 --all      everything about zlib 1.3.1
  kiln find-pkg '^curl$' --show-dependencies --show-script
  kiln find-pkg . -o json | jq '.[].name' every package, as JSON";

const LINT_EXAMPLES: &str = "\
Examples:
  kiln lint                               every package of the repository
  kiln lint openssl                       every version of openssl
  kiln lint openssl 3.1.4 --jobs 2        one version, two linter processes at a time";

const SOURCE_EXAMPLES: &str = "\
Examples:
  kiln source verify --matching .         check every source of the repository
  kiln source list-missing --matching '^lib'
  kiln source url curl 8.4.0              where the sources of curl 8.4.0 come from
  kiln source of curl                     where the sources of every curl are kept
  kiln source download curl --jobs 4      fetch what is missing, and verify it";

/// `kiln what-depends NAME`
#[derive(Debug, Args)]
pub struct WhatDependsArgs {
    /// The package depended on (any version of it).
    pub name: String,

    /// Only dependencies of this kind (repeatable; default: both).
    #[arg(short = 't', long = "type", value_enum, value_name = "KIND")]
    pub kind: Vec<DependencyType>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// A kind of dependency, as chosen on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DependencyType {
    /// `dependencies.build`: needed to build the package.
    Build,
    /// `dependencies.runtime`: needed to run it.
    Runtime,
}

/// `kiln dependencies-of NAME [VERSION]`
#[derive(Debug, Args)]
pub struct DependenciesOfArgs {
    /// The package.
    pub name: String,

    /// Only this version (default: every version of NAME).
    #[arg(id = "package_version", value_name = "VERSION")]
    pub version: Option<String>,

    /// Only dependencies of this kind (repeatable; default: both).
    #[arg(short = 't', long = "type", value_enum, value_name = "KIND")]
    pub kind: Vec<DependencyType>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln versions-of NAME`
#[derive(Debug, Args)]
pub struct VersionsOfArgs {
    /// The package.
    pub name: String,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln env-of NAME VERSION`
#[derive(Debug, Args)]
pub struct EnvOfArgs {
    /// The package.
    pub name: String,

    /// Its version.
    #[arg(id = "package_version", value_name = "VERSION")]
    pub version: String,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln find-pkg REGEX [VERSION]`
#[derive(Debug, Args)]
pub struct FindPkgArgs {
    /// A regular expression matched against package names (Rust `regex` syntax).
    pub regex: String,

    /// Only this version.
    #[arg(id = "package_version", value_name = "VERSION")]
    pub version: Option<String>,

    /// Print only `name version`, one package per line (the --show-*
    /// switches are then left out, as butido does).
    #[arg(long, short = 't', conflicts_with = "output")]
    pub terse: bool,

    /// Show every section (all the --show-* switches).
    #[arg(long, short = 'a', visible_short_alias = 'A')]
    pub all: bool,

    /// Show the sources: URL, hash, and whether they must be downloaded by hand.
    #[arg(long, short = 'S', visible_aliases = ["source", "sources"])]
    pub show_sources: bool,

    /// Show the build and runtime dependencies, with their conditions.
    #[arg(long, short = 'D', visible_aliases = ["dependencies", "deps"])]
    pub show_dependencies: bool,

    /// With the dependencies: only those of this kind (repeatable; default: both).
    #[arg(long, value_enum, value_name = "KIND")]
    pub dependency_type: Vec<DependencyType>,

    /// Show the patches (paths relative to the repository's top).
    #[arg(long, short = 'p', visible_alias = "patches")]
    pub show_patches: bool,

    /// Show the environment variables the package sets.
    #[arg(long, short = 'E', visible_alias = "env")]
    pub show_env: bool,

    /// butido's package flags: kiln's packages have none (refused).
    #[arg(long = "flags", short = 'F', hide = true)]
    pub show_flags: bool,

    /// Show `allowed_images`.
    #[arg(long, visible_alias = "allowed-images")]
    pub show_allowed_images: bool,

    /// Show `denied_images`.
    #[arg(long, visible_alias = "denied-images")]
    pub show_denied_images: bool,

    /// Show the phases the package has, and where each was written.
    #[arg(long, short = 'P', visible_alias = "phases")]
    pub show_phases: bool,

    /// Show the rendered build script.
    #[arg(long, short = 's', visible_alias = "script")]
    pub show_script: bool,

    #[command(flatten)]
    pub script: ScriptStyleArgs,

    /// Output format: readable text, or a JSON array of the packages (every
    /// field; the script too when it is shown).
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub output: Option<PackageFormat>,
}

/// How a shown script looks (`find-pkg --show-script`, `db job --script`).
#[derive(Debug, Args)]
pub struct ScriptStyleArgs {
    /// Number the script's lines.
    #[arg(long, conflicts_with = "no_line_numbers")]
    pub line_numbers: bool,

    /// Do not number the script's lines (the default).
    #[arg(long, alias = "no-script-line-numbers")]
    pub no_line_numbers: bool,

    /// Highlight the script (with `script_highlight_theme`; the default on a terminal).
    #[arg(long, visible_alias = "highlight", conflicts_with = "no_highlighting")]
    pub highlighting: bool,

    /// Do not highlight the script.
    #[arg(long, visible_alias = "no-highlight", alias = "no-script-highlight")]
    pub no_highlighting: bool,
}

/// How `find-pkg` prints packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PackageFormat {
    /// Readable text (or `package_print_format` when configured).
    Text,
    /// A JSON array of packages.
    Json,
}

/// `kiln lint [NAME [VERSION]]`
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Only this package (every version of it); default: every package.
    pub name: Option<String>,

    /// Only this version of NAME.
    #[arg(id = "package_version", value_name = "VERSION", requires = "name")]
    pub version: Option<String>,

    /// Run at most N `script_linter` processes at once (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N", allow_negative_numbers = true,
        value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

/// `kiln source ...`
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Check each source file in the source cache against its hash.
    ///
    /// Lists every source of the chosen packages with its status: `ok`,
    /// `missing`, `mismatch` (the file has another hash: expected and found
    /// are shown) or `unreadable`. Exits with 1 unless every source is ok.
    Verify(SourceArgs),

    /// List the sources that are not in the source cache.
    ListMissing(SourceArgs),

    /// Print the URLs of the sources.
    Url(SourceArgs),

    /// Print where the sources are kept in the source cache.
    Of(SourceArgs),

    /// Download missing sources into the source cache.
    ///
    /// Fetches each source that is not in the cache (or whose file there
    /// has the wrong hash) over HTTP or HTTPS, at most --jobs at a time, into
    /// a temporary file beside its final place. The file is renamed into
    /// place only when its hash is right; a wrong hash removes it and is an
    /// error. Files already there with the right hash are not fetched.
    /// Sources marked `download_manually` are refused unless --force is
    /// given. Exits with 1 unless every source is in place afterwards.
    Download(SourceDownloadArgs),
}

/// Which packages a `source` command works on.
#[derive(Debug, Args)]
pub struct PackageSelection {
    /// The package (every version of it unless VERSION is given; without
    /// NAME and --matching, every package of the repository).
    pub name: Option<String>,

    /// Only this version of NAME.
    #[arg(id = "package_version", value_name = "VERSION", requires = "name")]
    pub version: Option<String>,

    /// Every package whose name matches this regular expression instead
    /// (`.` for all packages).
    #[arg(long, short = 'm', value_name = "REGEX", conflicts_with = "name")]
    pub matching: Option<String>,
}

/// `kiln source verify|list-missing|url|of`
#[derive(Debug, Args)]
pub struct SourceArgs {
    #[command(flatten)]
    pub which: PackageSelection,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln source download`
#[derive(Debug, Args)]
pub struct SourceDownloadArgs {
    #[command(flatten)]
    pub which: PackageSelection,

    /// Download at most N files at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4,
        allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,

    /// Give up on a server that does not connect, or sends nothing, for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
        allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,

    /// Also download sources marked `download_manually`.
    #[arg(long)]
    pub force: bool,

    /// Also the sources of every package the chosen ones depend on, as a
    /// build in -I IMAGE with the -E variables would resolve them.
    #[arg(long)]
    pub recursive: bool,

    /// With --recursive: the build image conditions and allowed images see.
    #[arg(short = 'I', long, value_name = "IMAGE", requires = "recursive")]
    pub image: Option<String>,

    /// With --recursive: a variable as a build would get it (repeatable).
    #[arg(
        short = 'E',
        long = "env",
        value_name = "NAME=VALUE",
        requires = "recursive"
    )]
    pub env: Vec<String>,
}

const SUBMIT_EXAMPLES: &str = "\
Examples:
  kiln submit world -I busybox                   build world and everything it needs
  kiln submit zlib 1.3.1 -I busybox -E CFLAGS=-O3
  kiln build world -I busybox --endpoint build-1 --endpoint build-2
  kiln submit world -I busybox --hide-bars 2> build.log
  kiln submit world -I busybox --dry-run         what would be built, what reused, and why
  kiln submit world -I busybox --dry-run -o json the same, for tools
  kiln submit world -I busybox --rebuild zlib    build zlib (and what needs it) again
  kiln submit world -I busybox --commit v1.2     build world as it was at tag v1.2
  kiln db jobs --submit <UUID>                   what the submit recorded";

const FIND_ARTIFACT_EXAMPLES: &str = "\
Examples:
  kiln find-artifact '^zlib$'                     every zlib artifact, newest first
  kiln find-artifact '^zlib$' 1.3.1 -I busybox    of zlib 1.3.1 built in busybox
  kiln find-artifact openssl -E FIPS=1 --paths    paths only, for scripts
  kiln find-artifact '^curl$' -o json             with SHA-256, job and submit, for tools";

/// `kiln find-artifact REGEX [VERSION]`
#[derive(Debug, Args)]
pub struct FindArtifactArgs {
    /// A regular expression the package's name must match.
    #[arg(value_name = "REGEX")]
    pub regex: String,

    /// Only this version (exactly; `=1.2` is taken as `1.2`).
    #[arg(id = "package_version", value_name = "VERSION")]
    pub version: Option<String>,

    /// Only artifacts of jobs that had this variable with this value (repeatable).
    #[arg(short = 'E', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// Only artifacts built in this image (its name or short name).
    #[arg(short = 'I', long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// The staging root the submits' directories are in (default: `staging`).
    #[arg(long, value_name = "DIR")]
    pub staging_dir: Option<std::path::PathBuf>,

    /// Print only the paths of the files found, one per line.
    #[arg(long, conflicts_with = "output")]
    pub paths: bool,

    /// butido's switch to leave out its script check: kiln never compares
    /// scripts here (its build keys do), so this changes nothing.
    #[arg(long, short = 'S', hide = true)]
    pub no_script_filter: bool,

    #[command(flatten)]
    pub list: ListOptions,
}

const REPRODUCE_EXAMPLES: &str = "\
Examples:
  kiln reproduce 3f2a                           rebuild submit 3f2a… and compare
  kiln reproduce 3f2a -E TOKEN=\"$TOKEN\"         give a secret variable's value again
  kiln reproduce 3f2a --output json > proof.json  the comparison, for CI
  kiln reproduce 3f2a --allow-other-image       build even if the image has moved";

/// `kiln reproduce SUBMIT`
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The submit's UUID, or a unique prefix of it.
    #[arg(value_name = "SUBMIT")]
    pub submit: UuidPrefix,

    /// The value of a secret variable of the original submit (repeatable);
    /// other variables are taken from the record.
    #[arg(short = 'E', long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// Build with the image's current digest when it is not the one the
    /// original was built with (the difference is reported).
    #[arg(long)]
    pub allow_other_image: bool,

    /// Build only on this endpoint (repeatable; default: all configured endpoints).
    #[arg(long = "endpoint", value_name = "NAME")]
    pub endpoints: Vec<String>,

    /// The parent directory of the rebuild's staging directory (default: `staging`).
    #[arg(long, value_name = "DIR")]
    pub staging_dir: Option<std::path::PathBuf>,

    /// Do not verify the sources' hashes before building.
    #[arg(long)]
    pub no_verify: bool,

    /// The comparison as a table, CSV or JSON.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

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

    /// Refuse to start when a configured (or --endpoint) endpoint does not
    /// answer, instead of building on the ones that do.
    #[arg(long)]
    pub require_all_endpoints: bool,

    /// Build the packages as they are at this commit (a hash, branch or
    /// tag), written into a temporary work tree that is removed afterwards;
    /// the work tree and the index are not touched.
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,

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
    #[arg(long, short = 'L', visible_alias = "write-log-file")]
    pub write_log: bool,

    /// Keep the containers of finished jobs (for debugging a failure).
    #[arg(long)]
    pub keep_containers: bool,

    /// Start no new job once a job failed.
    #[arg(long)]
    pub fail_fast: bool,

    /// Build every job, reusing no earlier build.
    #[arg(long)]
    pub no_reuse: bool,

    /// Build this package even when an earlier build could be reused
    /// (repeatable); the packages that depend on it are built too.
    #[arg(long, value_name = "NAME")]
    pub rebuild: Vec<String>,

    /// Print each job with `build` (and why) or `reuse` (and from which
    /// job), without recording or running anything.
    #[arg(long)]
    pub dry_run: bool,

    /// `json`: at the end, print the submit as `kiln db submit UUID
    /// --output json --artifacts` would (UUID, status, commit, each job
    /// with its artifacts, staged paths and SHA-256), with the summary on
    /// stderr. With --dry-run, also `csv`; both hold whole build keys.
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,
}

const EXPLAIN_EXAMPLES: &str = "\
Examples:
  kiln explain 3f2a                       why job 3f2a… was built
  kiln explain 3f2a 9c1d                  what differs between two jobs' inputs
  kiln explain 3f2a --output json         the same, for tools";

/// `kiln explain JOB [OTHER_JOB]`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The job's UUID, or a unique prefix of it.
    #[arg(value_name = "JOB")]
    pub job: UuidPrefix,

    /// The job to compare it with (default: the nearest earlier build of
    /// its package and version).
    #[arg(value_name = "OTHER_JOB")]
    pub other: Option<UuidPrefix>,

    /// Output format (`table` is text; CSV is not offered).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

const PROVENANCE_EXAMPLES: &str = "\
Examples:
  kiln provenance 3f2a > world.intoto.json    every artifact of submit (or job) 3f2a…
  kiln provenance 3f2a/zlib-1.3.1.tar.gz      one artifact, by its place under the staging root
  kiln provenance zlib-1.3.1.tar.gz           the one artifact with this path

Check the staged files against the document (each subject's SHA-256):
  jq -r '.subject[] | \"\\(.digest.sha256)  \\(.name)\"' world.intoto.json \\
    | (cd staging/SUBMIT-UUID && sha256sum --check)

See what went into them:
  jq '.predicate.buildDefinition.resolvedDependencies' world.intoto.json";

/// `kiln provenance SUBMIT|JOB|ARTIFACT`
#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    /// A submit or job (its UUID, or a unique start of it), or an artifact
    /// (its path, or SUBMIT-UUID/PATH).
    #[arg(value_name = "SUBMIT|JOB|ARTIFACT")]
    pub target: String,
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

const ENDPOINT_EXAMPLES: &str = "\
Examples:
  kiln endpoint ping                             ping every endpoint 10 times, a second apart
  kiln endpoint build-1 ping -n 3 --sleep 0      ping one endpoint 3 times, at once
  kiln endpoint stats                            containers, images, CPUs, memory of each engine
  kiln endpoint containers list --all            kiln's containers, stopped ones too
  kiln endpoint containers list --submit 3f2a    those of submit 3f2a…
  kiln endpoint containers stop --older-than 2h  stop containers of submits that no longer run
  kiln endpoint containers prune                 remove stopped containers of ended submits
  kiln endpoint images list -o json              the images of every endpoint, with their ids
  kiln endpoint images verify-present busybox    the same image id on every endpoint?";

/// `kiln endpoint [NAME] ...`
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// The endpoint to talk to, by its configured name (default: every configured endpoint).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    #[command(subcommand)]
    pub command: EndpointCommand,
}

/// `kiln endpoint [NAME] ping|stats|containers|images`
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Ping the engines: round-trip times, engine and API versions.
    ///
    /// Asks each engine for its versions (checked against
    /// `docker_versions` and `docker_api_versions`), then pings it N
    /// times, SECONDS apart, and prints the fastest, mean and slowest
    /// round trip. An endpoint that does not answer, or whose versions
    /// kiln may not use, is named on standard error and recorded unhealthy.
    Ping(EndpointPingArgs),

    /// Show what each engine reports of its machine.
    ///
    /// Containers (all, and running), images, CPUs, memory, operating
    /// system, kernel and architecture, and the engine's clock.
    Stats(EndpointOutputArgs),

    /// List, stop and remove kiln's containers.
    #[command(subcommand)]
    Containers(EndpointContainersCommand),

    /// List images, and check that an image is the same on every endpoint.
    #[command(subcommand)]
    Images(EndpointImagesCommand),
}

/// `kiln endpoint ping`
#[derive(Debug, Args)]
pub struct EndpointPingArgs {
    /// How many times to ping each endpoint.
    #[arg(long = "times", short = 'n', value_name = "N", default_value_t = 10,
        allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub times: u32,

    /// How many seconds to wait between two pings.
    #[arg(long, value_name = "SECONDS", default_value_t = 1)]
    pub sleep: u64,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln endpoint stats`, `kiln endpoint images list`
#[derive(Debug, Args)]
pub struct EndpointOutputArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln endpoint containers ...`
#[derive(Debug, Subcommand)]
pub enum EndpointContainersCommand {
    /// List kiln's containers with their job, package, state and age.
    ///
    /// Only the containers kiln made (label `org.kiln.managed`), running
    /// ones unless --all. The job's package and version come from the
    /// database; a job it does not know (another kiln's) shows none.
    List(EndpointContainersListArgs),

    /// Remove kiln's stopped containers whose submit no longer runs.
    ///
    /// Removes each container kiln made that is not running (exited,
    /// created or dead) and whose job's submit is not running in the
    /// database: submits whose kiln process is gone are recorded `lost`
    /// first. A container of a running submit, or of a job this database
    /// does not know (another kiln's), is never touched. Prints how many
    /// containers were removed from each endpoint.
    Prune(EndpointContainersPruneArgs),

    /// Stop kiln's running containers whose submit no longer runs.
    ///
    /// Stops each running container kiln made whose job's submit is not
    /// running in the database (submits whose kiln process is gone are
    /// recorded `lost` first): SIGTERM, then SIGKILL after --timeout. A
    /// live submit's container is never stopped. `prune` removes them
    /// afterwards.
    Stop(EndpointContainersStopArgs),
}

/// Which of kiln's containers a `containers` command takes.
#[derive(Debug, Args)]
pub struct ContainerFilter {
    /// Only containers of this submit (its UUID or a unique start of it).
    #[arg(long, short = 's', value_name = "UUID")]
    pub submit: Option<UuidPrefix>,

    /// Only containers created before WHEN (a duration back from now such as
    /// `2h`, a date or a date-time).
    #[arg(long, value_name = "WHEN")]
    pub older_than: Option<TimeSpec>,

    /// Only containers created after WHEN.
    #[arg(long, value_name = "WHEN")]
    pub newer_than: Option<TimeSpec>,
}

/// `kiln endpoint containers list`
#[derive(Debug, Args)]
pub struct EndpointContainersListArgs {
    /// Also containers that are not running.
    #[arg(long, short = 'a', visible_alias = "list-stopped")]
    pub all: bool,

    #[command(flatten)]
    pub filter: ContainerFilter,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln endpoint containers prune`
#[derive(Debug, Args)]
pub struct EndpointContainersPruneArgs {
    #[command(flatten)]
    pub filter: ContainerFilter,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln endpoint containers stop`
#[derive(Debug, Args)]
pub struct EndpointContainersStopArgs {
    #[command(flatten)]
    pub filter: ContainerFilter,

    /// Seconds a container has to stop after SIGTERM before it gets SIGKILL.
    #[arg(long, short = 't', value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln endpoint images ...`
#[derive(Debug, Subcommand)]
pub enum EndpointImagesCommand {
    /// List the images each endpoint holds, with their ids and names.
    List(EndpointOutputArgs),

    /// Check that an image is on every endpoint, with the same id.
    ///
    /// Without IMAGE, every image of `docker.images`. Exits with 1 naming
    /// each endpoint where an image is missing, or has an id (digest)
    /// other than the one most endpoints have.
    VerifyPresent(EndpointVerifyPresentArgs),
}

/// `kiln endpoint images verify-present [IMAGE]`
#[derive(Debug, Args)]
pub struct EndpointVerifyPresentArgs {
    /// The image, by its full or configured short name (default: every configured image).
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

const RELEASE_EXAMPLES: &str = "\
Examples:
  kiln release new 3f2a --to stable              release every artifact of submit 3f2a…
  kiln release new 3f2a zlib 1.3.1 --to stable   only those of zlib 1.3.1
  kiln release new 3f2a --to stable --update     replace files released earlier at the same paths
  kiln release rm --from stable zlib 1.3.1       remove zlib 1.3.1 from stable (recorded)
  kiln release list --store stable --all         every release of stable, removed ones too";

/// `kiln release ...`
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Copy a submit's artifacts into a release store.
    ///
    /// Releases every artifact of SUBMIT (of its succeeded and reused
    /// jobs), or those of package NAME (and VERSION), from the submit's
    /// staging directory into `<releases_root>/<STORE>/`, at the same
    /// relative paths. Each file is copied to a temporary file beside its
    /// place, its SHA-256 checked against the recorded one (a staged file
    /// that changed since it was built is refused, named), then renamed
    /// into place. A file already released with the same content is left
    /// as it is and said so; another file at a released path is refused,
    /// unless --update, which replaces it and records the earlier release
    /// as replaced.
    ///
    /// On a terminal, it lists what it will do and asks first, unless
    /// --non-interactive.
    ///
    /// Exit codes: 0 released (or already released), 1 a file was refused
    /// (changed since it was built, missing, or a different file at its
    /// path: nothing released), 2 a usage or input error, 130 the question
    /// was answered no.
    New(ReleaseNewArgs),

    /// Remove the released files of a package version from a store.
    ///
    /// Deletes the files of NAME VERSION's current releases in STORE and
    /// records each removal (when, by whom, from which host); the release
    /// rows stay, so `release list --all` still shows them.
    #[command(visible_alias = "remove")]
    Rm(ReleaseRmArgs),

    /// List releases, newest first (current ones; --all for removed too).
    ///
    /// The same listing as `kiln db releases`.
    #[command(visible_alias = "ls")]
    List(DbReleasesArgs),
}

/// `kiln release new SUBMIT [NAME [VERSION]] --to STORE`
#[derive(Debug, Args)]
pub struct ReleaseNewArgs {
    /// The submit's UUID, or a unique prefix of it.
    #[arg(value_name = "SUBMIT")]
    pub submit: UuidPrefix,

    /// Only the artifacts of this package.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Only the artifacts of this version of NAME.
    #[arg(id = "package_version", value_name = "VERSION", requires = "name")]
    pub version: Option<String>,

    /// Every artifact of the submit (the default without NAME).
    #[arg(long, conflicts_with = "name")]
    pub all: bool,

    /// The release store (one of `release_stores`).
    #[arg(long, value_name = "STORE")]
    pub to: String,

    /// Replace a different file released earlier at the same path.
    #[arg(long)]
    pub update: bool,

    /// Do not ask before releasing (`-q` prints only errors).
    #[arg(long, visible_alias = "noninteractive")]
    pub non_interactive: bool,

    /// The parent directory of the submit's staging directory (default: `staging`).
    #[arg(long, value_name = "DIR")]
    pub staging_dir: Option<std::path::PathBuf>,
}

/// `kiln release rm --from STORE NAME VERSION`
#[derive(Debug, Args)]
pub struct ReleaseRmArgs {
    /// The release store.
    #[arg(long, value_name = "STORE")]
    pub from: String,

    /// The package.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Its version.
    #[arg(id = "package_version", value_name = "VERSION")]
    pub version: String,

    /// Do not ask before removing (`-q` prints only errors).
    #[arg(long, visible_alias = "noninteractive")]
    pub non_interactive: bool,
}

/// `kiln db ...`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (a second run changes nothing and says so).
    Setup,
    /// Show where the database is, whether it is reachable, and which migrations are applied.
    Status,
    /// Open `psql` (or `pgcli`, with --tool) on the database.
    Cli(DbCliArgs),
    /// Stop kiln's embedded database server, if it runs.
    Stop,
    /// Record submits whose kiln process is gone as lost, and remove their
    /// containers.
    ///
    /// A submit whose kiln process died (killed, its machine lost) stays
    /// `running` in the records until a kiln notices: every `db` listing
    /// and `db submit`/`db job` records it `lost` first (when its process
    /// is gone from this machine, or its lease has run out), and so does
    /// this command, which then removes the containers such submits left on
    /// every configured endpoint that answers.
    Reap,

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
    /// Show what went into an artifact or job, or (--reverse) what was built from it.
    ///
    /// Without --reverse: the tree of everything that went into ARTIFACT or
    /// JOB: the job that built it, with its submit's repository commit, its
    /// image (name and digest), the SHA-256 of its sources and patches and
    /// its environment (secrets as recorded, masked), then each input
    /// artifact with the job that built it, and so on down to the jobs
    /// that took no inputs. A reused job names the job it reused. A job
    /// that comes again is marked (*) instead of being repeated.
    ///
    /// With --reverse: everything built from it: every job that took it
    /// (or one of the job's artifacts) as an input, directly or not, and
    /// every job that reused one of those, with their artifacts, and the
    /// current releases holding any of them, each with the chain of jobs
    /// that led there. --released prints only those releases.
    ///
    /// ARTIFACT is a path as `kiln db artifacts` shows it. A path that
    /// several jobs made (every build of a package makes the same one) is
    /// refused with the candidates: choose with --job or --sha256.
    #[command(after_help = LINEAGE_EXAMPLES)]
    Lineage(DbLineageArgs),
}

const LINEAGE_EXAMPLES: &str = "\
Examples:
  kiln db lineage curl-8.4.0.tar.gz --job 3f2a     what went into curl's tarball
  kiln db lineage 3f2a                             the same, from job 3f2a…
  kiln db lineage 3f2a --output json               as a nested tree, for tools
  kiln db lineage 3f2a --dot | dot -Tsvg > 3f2a.svg
  kiln db lineage openssl-3.1.4.tar.gz --job 9c1d --reverse
                                                   everything built from it
  kiln db lineage --package openssl 3.1.4 --reverse --released
                                                   current releases holding anything
                                                   built from openssl 3.1.4
  kiln db lineage --package openssl 3.1.4 --commit 0a1b2c --reverse --released
                                                   ... built from openssl 3.1.4 at
                                                   that commit";

/// `kiln db cli`
#[derive(Debug, Args)]
pub struct DbCliArgs {
    /// The client to run (default: `psql`).
    #[arg(long, value_enum, default_value_t = DbTool::Psql)]
    pub tool: DbTool,
}

/// A PostgreSQL client for `db cli`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbTool {
    Psql,
    Pgcli,
}

/// Options every `db` listing takes.
#[derive(Debug, Args)]
pub struct ListOptions {
    /// Show at most N rows (0 for all; default: `database_default_query_limit`).
    #[arg(long, short = 'l', visible_short_alias = 'L', value_name = "N",
        allow_negative_numbers = true, value_parser = parse_limit)]
    pub limit: Option<u32>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table,
        default_value_if("csv", "true", Some("csv")))]
    pub output: OutputFormat,

    /// The same as `--output csv`.
    #[arg(long, conflicts_with = "output")]
    pub csv: bool,
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
    #[arg(
        long,
        short = 'p',
        visible_alias = "for-pkg",
        value_name = "NAME[@VERSION]"
    )]
    pub package: Option<PackageSpec>,

    /// Only submits whose tree built this package anywhere (NAME or NAME@VERSION).
    #[arg(long, visible_alias = "with-pkg", value_name = "NAME[@VERSION]")]
    pub with_package: Option<PackageSpec>,

    /// Only submits for this image (its name or configured short name).
    #[arg(long, short = 'I', value_name = "IMAGE")]
    pub image: Option<String>,

    /// Only submits of a repository commit whose hash starts with this.
    #[arg(long, value_name = "HASH-PREFIX")]
    pub commit: Option<String>,

    /// Only submits in this status.
    #[arg(long, value_enum)]
    pub status: Option<SubmitStatus>,

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

    /// Also list each job's artifacts with their SHA-256 and their path in
    /// the staging directory (under `staging`, or --staging-dir).
    #[arg(long)]
    pub artifacts: bool,

    /// The staging root the submit used, for --artifacts (default: `staging`).
    #[arg(long, value_name = "DIR", requires = "artifacts")]
    pub staging_dir: Option<std::path::PathBuf>,

    /// Output format (`table` is text; CSV is not offered for one record).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `kiln db jobs`
#[derive(Debug, Args)]
pub struct DbJobsArgs {
    /// Only jobs of this submit (UUID or unique prefix).
    #[arg(
        long,
        short = 's',
        visible_short_alias = 'S',
        visible_alias = "of-submit",
        value_name = "UUID"
    )]
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
    pub status: Option<JobStatus>,

    /// Only jobs that ran with this variable set to this value (repeatable; all must match).
    #[arg(long = "env", short = 'E', value_name = "NAME=VALUE")]
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
    #[arg(long, short = 'L')]
    pub log: bool,

    /// Also print the rendered script.
    #[arg(long, short = 's')]
    pub script: bool,

    /// Also print the environment variables the job ran with.
    #[arg(long, short = 'E')]
    pub env: bool,

    #[command(flatten)]
    pub script_style: ScriptStyleArgs,

    /// Output format (`table` is text; CSV is not offered for one record).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// butido's CSV of one job: not offered (refused, naming `--output json`).
    #[arg(long, hide = true)]
    pub csv: bool,
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
    #[arg(long, short = 'j', visible_short_alias = 'J', value_name = "UUID")]
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
    #[arg(long, visible_alias = "to", value_name = "STORE")]
    pub store: Option<String>,

    /// Only releases of this package's artifacts (NAME or NAME@VERSION).
    #[arg(long, short = 'p', value_name = "NAME[@VERSION]")]
    pub package: Option<PackageSpec>,

    /// Also releases that were removed or replaced.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub time: TimeFilter,

    #[command(flatten)]
    pub list: ListOptions,
}

/// `kiln db lineage`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("start").required(true).args(["target", "package"])))]
pub struct DbLineageArgs {
    /// A job (its UUID or a unique prefix), or an artifact (its path as
    /// `kiln db artifacts` shows it). A value that is a job's UUID prefix
    /// names the job; give --job to name an artifact instead.
    #[arg(value_name = "ARTIFACT|JOB")]
    pub target: Option<String>,

    /// ARTIFACT is the one this job made (UUID or unique prefix).
    #[arg(long, short = 'j', value_name = "UUID", requires = "target")]
    pub job: Option<UuidPrefix>,

    /// ARTIFACT is the one whose SHA-256 starts with this.
    #[arg(long, value_name = "PREFIX", requires = "target")]
    pub sha256: Option<String>,

    /// Start from every artifact of every succeeded or reused job of this
    /// package (NAME, NAME VERSION or NAME@VERSION); needs --reverse.
    #[arg(long, short = 'p', num_args = 1..=2, value_names = ["NAME", "VERSION"],
        requires = "reverse")]
    pub package: Option<Vec<String>>,

    /// With --package: only jobs of submits whose repository commit starts with this.
    #[arg(long, value_name = "HASH-PREFIX", requires = "package")]
    pub commit: Option<String>,

    /// Show what was built from it, instead of what went into it.
    #[arg(long)]
    pub reverse: bool,

    /// With --reverse: print only the current releases that hold anything
    /// built from it.
    #[arg(long, requires = "reverse")]
    pub released: bool,

    /// Print a Graphviz graph instead (jobs, artifacts and releases as nodes).
    #[arg(long, conflicts_with = "output")]
    pub dot: bool,

    /// Output format: `table` is text; `json` is a nested tree, or with
    /// --reverse a list.
    #[arg(long, short = 'o', value_enum, value_name = "FORMAT")]
    pub output: Option<LineageFormat>,
}

/// How `db lineage` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LineageFormat {
    /// A tree (or with --reverse, tables) as text.
    Table,
    /// A nested JSON tree (with --reverse, a JSON array).
    Json,
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
    #[arg(long, short = 'l', value_name = "N", default_value_t = 0,
        allow_negative_numbers = true, value_parser = parse_limit)]
    pub limit: u32,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
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

    /// The butido command lines of the user guide's table ("Coming from
    /// butido"), each with `kiln` for `butido`.
    fn butido_forms() -> Vec<Vec<String>> {
        let guide = include_str!("../docs/user-guide.md");
        let section = guide
            .split("\n## Coming from butido\n")
            .nth(1)
            .expect("the user guide has a section \"Coming from butido\"");
        section
            .lines()
            .take_while(|line| !line.starts_with("## "))
            .filter_map(|line| line.strip_prefix("| `butido"))
            .map(|rest| {
                let form = rest.split('`').next().unwrap_or_default();
                std::iter::once("kiln".to_owned())
                    .chain(form.split_whitespace().map(str::to_owned))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_butido_form_of_the_user_guide_parses() {
        let forms = butido_forms();
        assert!(forms.len() > 60, "only {} forms", forms.len());
        for form in forms {
            match Cli::try_parse_from(&form) {
                Ok(_) => {}
                Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {}
                Err(e) => panic!("{}: {e}", form.join(" ")),
            }
        }
    }

    /// The `--status` filters take exactly the statuses of the model enums,
    /// spelled as stored: a status added to the enum is a filter value.
    #[test]
    fn status_filters_take_every_model_status() {
        let parse = |line: &str| {
            Cli::try_parse_from(line.split_whitespace()).unwrap_or_else(|e| panic!("{line}: {e}"))
        };
        for status in JobStatus::ALL {
            let Command::Db(DbCommand::Jobs(jobs)) =
                parse(&format!("kiln db jobs --status {status}")).command
            else {
                panic!("not db jobs")
            };
            assert_eq!(jobs.status, Some(*status));
        }
        for status in SubmitStatus::ALL {
            let Command::Db(DbCommand::Submits(submits)) =
                parse(&format!("kiln db submits --status {status}")).command
            else {
                panic!("not db submits")
            };
            assert_eq!(submits.status, Some(*status));
        }
        assert!(Cli::try_parse_from(["kiln", "db", "jobs", "--status", "done"]).is_err());
        assert!(Cli::try_parse_from(["kiln", "db", "submits", "--status", "reused"]).is_err());
        let shown: Vec<String> = Cli::command()
            .find_subcommand("db")
            .and_then(|db| db.find_subcommand("jobs"))
            .and_then(|jobs| jobs.get_arguments().find(|a| a.get_id() == "status"))
            .expect("db jobs --status")
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_owned())
            .collect();
        let stored: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(shown, stored);
    }

    #[test]
    fn butido_flags_mean_what_kiln_flags_do() {
        let parse = |line: &str| {
            Cli::try_parse_from(line.split_whitespace()).unwrap_or_else(|e| panic!("{line}: {e}"))
        };
        let Command::Db(DbCommand::Jobs(jobs)) =
            parse("kiln db jobs -S 3f2a -E A=1 -L 3 --csv").command
        else {
            panic!("not db jobs")
        };
        assert_eq!(jobs.submit.as_ref().map(|s| s.as_str()), Some("3f2a"));
        assert_eq!(jobs.env.len(), 1);
        assert_eq!(jobs.list.limit, Some(3));
        assert_eq!(jobs.list.output, OutputFormat::Csv);

        let Command::FindPkg(find) = parse("kiln find-pkg curl -SDpEPs -t").command else {
            panic!("not find-pkg")
        };
        assert!(find.terse);
        assert!(find.show_sources && find.show_dependencies && find.show_patches);
        assert!(find.show_env && find.show_phases && find.show_script);

        let cli = parse("kiln --hide-bars --db-url h --db-pw p build curl -I x -L");
        assert!(cli.global.hide_bars);
        assert_eq!(cli.global.db_host.as_deref(), Some("h"));
        assert_eq!(cli.global.db_password.as_deref(), Some("p"));
        let Command::Submit(submit) = cli.command else {
            panic!("not submit")
        };
        assert!(submit.write_log);

        let Command::Db(DbCommand::Artifacts(artifacts)) = parse("kiln db artifacts").command
        else {
            panic!("not db artifacts")
        };
        assert_eq!(artifacts.list.output, OutputFormat::Table);
    }
}
