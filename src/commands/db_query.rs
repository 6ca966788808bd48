//! `kiln db submits|jobs|artifacts|releases|envvars|images|endpoints|packages|stats`:
//! turns the listing flags into filters, runs the query, prints the rows.

use anyhow::{Context as _, Result};
use chrono::Utc;

use crate::cli::{
    DbArtifactsArgs, DbCommand, DbJobsArgs, DbReleasesArgs, DbStatsArgs, DbSubmitsArgs,
    ListOptions, StatsByArg, TimeFilter,
};
use crate::config::Config;
use crate::db;
use crate::db::listings::artifacts::{self, ArtifactFilter, ReleaseFilter, Released};
use crate::db::listings::jobs::{self, JobFilter};
use crate::db::listings::stats::{self, StatsBy};
use crate::db::listings::submits::{self, SubmitFilter};
use crate::db::listings::{lookups, HexPrefix, Limit, TimeWindow};
use crate::error::Outcome;
use crate::ui::tabular::{self as listing, DisplayNames};

/// Runs one of the listing commands.
pub fn run(config: &Config, cmd: DbCommand) -> Result<Outcome> {
    let names = DisplayNames::new(&config.docker.images);
    let mut conn = super::db::connect_reaped(config)?;
    let conn = &mut conn;
    match cmd {
        DbCommand::Submits(args) => {
            let (rows, list) = submits_listing(config, conn, args)?;
            listing::print(&rows, list.output, "submits", &names)?;
        }
        DbCommand::Jobs(args) => {
            let (rows, list) = jobs_listing(config, conn, args)?;
            listing::print(&rows, list.output, "jobs", &names)?;
        }
        DbCommand::Artifacts(args) => {
            let (rows, list) = artifacts_listing(config, conn, args)?;
            listing::print(&rows, list.output, "artifacts", &names)?;
        }
        DbCommand::Releases(args) => {
            let (rows, list) = releases_listing(config, conn, args)?;
            listing::print(&rows, list.output, "releases", &names)?;
        }
        DbCommand::Envvars(args) => {
            let rows =
                lookups::list_env_vars(conn, args.name.as_deref(), limit(config, &args.list))
                    .context("listing environment variables")?;
            listing::print(&rows, args.list.output, "environment variables", &names)?;
        }
        DbCommand::Images(args) => {
            let rows =
                lookups::list_images(conn, limit(config, &args.list)).context("listing images")?;
            listing::print(&rows, args.list.output, "images", &names)?;
        }
        DbCommand::Endpoints(args) => {
            let rows = lookups::list_endpoints(conn, limit(config, &args.list))
                .context("listing endpoints")?;
            listing::print(&rows, args.list.output, "endpoints", &names)?;
        }
        DbCommand::Packages(args) => {
            let rows =
                lookups::list_packages(conn, args.name.as_deref(), limit(config, &args.list))
                    .context("listing packages")?;
            listing::print(&rows, args.list.output, "packages", &names)?;
        }
        DbCommand::Stats(args) => stats(conn, args, &names)?,
        other => anyhow::bail!("`{other:?}` is not a listing"),
    }
    Ok(Outcome::Success)
}

/// `--limit N`, or the configured `database_default_query_limit`.
pub(super) fn limit(config: &Config, list: &ListOptions) -> Limit {
    let default = u32::try_from(config.database_default_query_limit).unwrap_or(u32::MAX);
    Limit::from_count(list.limit.unwrap_or(default))
}

fn window(time: &TimeFilter) -> TimeWindow {
    let now = Utc::now();
    TimeWindow {
        after: time.newer_than.map(|t| t.resolve(now)),
        before: time.older_than.map(|t| t.resolve(now)),
    }
}

/// An image's full name, given its name or configured short name.
fn image_name(config: &Config, given: &str) -> String {
    config
        .docker
        .images
        .iter()
        .find(|i| i.short_name.as_deref() == Some(given))
        .map(|i| i.name.clone())
        .unwrap_or_else(|| given.to_owned())
}

fn submits_listing(
    config: &Config,
    conn: &mut db::listings::Conn,
    args: DbSubmitsArgs,
) -> Result<(Vec<submits::SubmitListItem>, ListOptions)> {
    let filter = SubmitFilter {
        package: args.package,
        with_package: args.with_package,
        image: args.image.as_deref().map(|i| image_name(config, i)),
        commit: args
            .commit
            .as_deref()
            .map(|c| HexPrefix::parse(c, "commit hash", 64))
            .transpose()?,
        status: args.status,
        window: window(&args.time),
    };
    let rows = submits::list_submits(conn, &filter, limit(config, &args.list))
        .context("listing submits")?;
    Ok((rows, args.list))
}

fn jobs_listing(
    config: &Config,
    conn: &mut db::listings::Conn,
    args: DbJobsArgs,
) -> Result<(Vec<jobs::JobRow>, ListOptions)> {
    let submit = match &args.submit {
        Some(prefix) => Some(submits::resolve(conn, prefix)?.0),
        None => None,
    };
    let filter = JobFilter {
        submit,
        package: args.package,
        image: args.image.as_deref().map(|i| image_name(config, i)),
        endpoint: args.endpoint,
        status: args.status,
        env: args.env,
        window: window(&args.time),
    };
    let rows = jobs::list_jobs(conn, &filter, limit(config, &args.list)).context("listing jobs")?;
    Ok((rows, args.list))
}

fn artifacts_listing(
    config: &Config,
    conn: &mut db::listings::Conn,
    args: DbArtifactsArgs,
) -> Result<(Vec<artifacts::ArtifactItem>, ListOptions)> {
    let job = match &args.job {
        Some(prefix) => Some(jobs::resolve(conn, prefix)?.0),
        None => None,
    };
    let submit = match &args.submit {
        Some(prefix) => Some(submits::resolve(conn, prefix)?.0),
        None => None,
    };
    let released = match (args.released, args.unreleased) {
        (true, _) => Some(Released::Yes),
        (false, true) => Some(Released::No),
        (false, false) => None,
    };
    let filter = ArtifactFilter {
        job,
        submit,
        package: args.package,
        released,
        sha256: args
            .sha256
            .as_deref()
            .map(|s| HexPrefix::parse(s, "SHA-256", 64))
            .transpose()?,
    };
    let rows = artifacts::list_artifacts(conn, &filter, limit(config, &args.list))
        .context("listing artifacts")?;
    Ok((rows, args.list))
}

pub(super) fn releases_listing(
    config: &Config,
    conn: &mut db::listings::Conn,
    args: DbReleasesArgs,
) -> Result<(Vec<artifacts::ReleaseRow>, ListOptions)> {
    let filter = ReleaseFilter {
        store: args.store,
        package: args.package,
        window: window(&args.time),
        all: args.all,
    };
    let rows = artifacts::list_releases(conn, &filter, limit(config, &args.list))
        .context("listing releases")?;
    Ok((rows, args.list))
}

fn stats(conn: &mut db::listings::Conn, args: DbStatsArgs, names: &DisplayNames) -> Result<()> {
    let by = match args.by {
        StatsByArg::Package => StatsBy::Package,
        StatsByArg::Endpoint => StatsBy::Endpoint,
        StatsByArg::Image => StatsBy::Image,
    };
    let since = args.since.resolve(Utc::now());
    let rows = stats::job_stats(conn, by, since, Limit::from_count(args.limit))
        .context("computing job statistics")?;
    listing::print(&rows, args.output, "jobs in the time window", names)
}
