//! `kiln submit NAME [VERSION] -I IMAGE`: resolve and check the tree, then
//! hand it to the orchestrator and print how every job ended.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use tokio_util::sync::CancellationToken;

use super::{select, Context};
use crate::cli::{OutputFormat, SubmitArgs};
use crate::config::{Config, EndpointConfig};
use crate::db::models::SubmitId;
use crate::error::Outcome;
use crate::orchestrator::reuse::ReuseOptions;
use crate::orchestrator::submit::{dry_run, submit, ExpectedImage, SubmitRequest, SubmitSummary};
use crate::orchestrator::RunOptions;
use crate::package::{PackageId, PackageSet, Target};
use crate::plan::Plan;
use crate::repo::git::{Checkout, CheckoutError};
use crate::ui::progress::ProgressMode;
use crate::ui::submit::SummaryTo;

pub fn run(ctx: &Context, args: SubmitArgs) -> Result<Outcome> {
    let checkout = match &args.commit {
        Some(rev) => Some(check_out(ctx, rev, None)?),
        None => None,
    };
    let origin = Origin {
        checkout: checkout.as_ref(),
        ..Origin::default()
    };
    let Some((summary, staging, config)) = submit_tree(ctx, &args, &origin)? else {
        return Ok(Outcome::Success);
    };
    match args.output {
        Some(OutputFormat::Json) => {
            print_summary(&summary, &config, SummaryTo::Stderr)?;
            print_submit_document(&config, summary.uuid, &staging)?;
        }
        _ => print_summary(&summary, &config, SummaryTo::Stdout)?,
    }
    Ok(outcome_of(&summary))
}

/// Where a submit's tree comes from, and what the submit is for.
#[derive(Default)]
pub(super) struct Origin<'a> {
    /// A checkout of another commit, built instead of the work tree.
    pub checkout: Option<&'a Checkout>,
    /// The image digest a reproduction must build with.
    pub expected_image: Option<ExpectedImage>,
    /// The submit a reproduction rebuilds.
    pub reproduces: Option<SubmitId>,
}

/// Writes commit `rev` of the repository kiln runs in (with `changes`
/// applied) into a temporary work tree.
pub(super) fn check_out(ctx: &Context, rev: &str, changes: Option<&[u8]>) -> Result<Checkout> {
    let Some(root) = ctx.repo_root()? else {
        return Err(crate::input_error!(
            "--commit {rev}: not inside a package repository: run kiln inside one or give --repo DIR"
        ));
    };
    let checkout = Checkout::new(&root, rev, changes).map_err(|err| match err {
        CheckoutError::Other(err) => err,
        err => crate::input_error!("{err}"),
    })?;
    tracing::info!(
        "building commit {} from a temporary work tree at {}",
        checkout.state.commit,
        checkout.path().display()
    );
    Ok(checkout)
}

/// Resolves, checks and submits the tree `args` ask for, from `origin`.
/// `None` for a dry run (its plan is printed); else the summary, the
/// staging root and the configuration.
pub(super) fn submit_tree(
    ctx: &Context,
    args: &SubmitArgs,
    origin: &Origin<'_>,
) -> Result<Option<(SubmitSummary, std::path::PathBuf, Arc<Config>)>> {
    let tree_dir = origin.checkout.map(Checkout::path);
    let config = ctx.config_at(tree_dir)?;
    config.phases()?;
    config.images()?;
    let env = select::env_from_args(&args.env)?;
    let image = select::image(&config, &args.image)?;
    let endpoints = choose_endpoints(&config.docker.endpoints, &args.endpoints)?;
    let repo = ctx.repository_at(tree_dir)?;
    let packages = repo.packages();
    let root = select::package(packages, &args.name, args.version.as_deref(), repo.root())?;
    let plan = Plan::new(
        packages,
        root,
        &Target {
            image: Some(&image),
            env: &env,
        },
    )?;
    let tree: Vec<PackageId> = plan
        .serial_buildorder()
        .iter()
        .map(|&n| plan.node(n).package)
        .collect();
    let reuse = reuse_options(packages, &tree, args)?;
    if args.output == Some(OutputFormat::Csv) && !args.dry_run {
        return Err(crate::input_error!(
            "--output csv is for --dry-run; a submit prints `table` or `json`"
        ));
    }
    if !args.no_verify {
        verify_sources(&config, packages, &tree)?;
    }
    if !args.no_lint {
        lint_scripts(&config, packages, &tree)?;
    }
    let git = match origin.checkout {
        Some(checkout) => checkout.state.clone(),
        None => crate::repo::git::state_of(repo.root())?,
    };
    let staging = config.ensure_dir(args.staging_dir.as_ref().unwrap_or(&config.staging))?;
    let pool = prepare_database(&config)?;

    let request = SubmitRequest {
        packages,
        repo_root: repo.root().to_owned(),
        git,
        expected_image: origin.expected_image.clone(),
        reproduces: origin.reproduces,
        plan: &plan,
        image,
        env,
        endpoints,
        staging,
        shebang: args.shebang.clone(),
        sources_verified: !args.no_verify,
        reuse,
        keep_containers: args.keep_containers,
        write_log: args.write_log,
        require_all_endpoints: args.require_all_endpoints,
        options: RunOptions {
            fail_fast: args.fail_fast,
            job_attempts: config.job_attempts,
            shared_capacity: Some(shared_capacity(&config)?),
            progress: ProgressMode::detect(ctx.global.hide_bars),
            progress_format: config.progress_format.clone(),
        },
        submitter: {
            let actor = crate::actor::current();
            (actor.user.clone(), actor.host.clone())
        },
    };
    let config = Arc::new(config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    if args.dry_run {
        let planned = runtime.block_on(dry_run(config, pool, request))?;
        crate::ui::submit::print_dry_run(&planned, args.output.unwrap_or(OutputFormat::Table))?;
        return Ok(None);
    }
    let staging_root = request.staging.clone();
    let summary = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(interrupt_handler(cancel.clone()));
        submit(Arc::clone(&config), pool, request, cancel).await
    })?;
    // Every container is removed by now; database work still waiting for a
    // lost server must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    Ok(Some((summary, staging_root, config)))
}

/// Prints how every job of a submit ended.
pub(super) fn print_summary(summary: &SubmitSummary, config: &Config, to: SummaryTo) -> Result<()> {
    crate::ui::submit::print_summary(summary, config.build_error_lines, to)
}

/// The exit of a submit: interrupted, every job succeeded, or not.
pub(super) fn outcome_of(summary: &SubmitSummary) -> Outcome {
    if summary.report.interrupted {
        Outcome::Interrupted
    } else if summary.succeeded() {
        Outcome::Success
    } else {
        Outcome::Failed
    }
}

/// The submit as `kiln db submit UUID --output json --artifacts` prints it,
/// read back from the database once it ended.
pub(super) fn print_submit_document(
    config: &crate::config::Config,
    uuid: uuid::Uuid,
    staging: &std::path::Path,
) -> Result<()> {
    let mut conn = crate::db::connect(config)?;
    let detail = crate::db::listings::submits::find(&mut conn, uuid)
        .and_then(|id| crate::db::listings::submits::submit_detail(&mut conn, id, Some(staging)))
        .with_context(|| format!("reading submit {uuid} back"))?;
    crate::ui::tabular::print_json(&detail)
}

/// Ctrl-C once: cancel (no new jobs; running containers stopped and
/// removed). Ctrl-C twice: exit at once.
async fn interrupt_handler(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    cancel.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// `--no-reuse` and `--rebuild`; a package to rebuild must be in the tree.
fn reuse_options(
    packages: &PackageSet,
    tree: &[PackageId],
    args: &SubmitArgs,
) -> Result<ReuseOptions> {
    for name in &args.rebuild {
        if !tree
            .iter()
            .any(|&id| packages.get(id).name.as_str() == name)
        {
            return Err(crate::input_error!(
                "--rebuild {}: no package of that name is in the tree of {}",
                crate::error::escape_controls(name),
                args.name
            ));
        }
    }
    Ok(ReuseOptions {
        disabled: args.no_reuse,
        rebuild: args.rebuild.iter().cloned().collect(),
    })
}

/// The endpoints named with `--endpoint`, or all configured ones.
fn choose_endpoints(
    configured: &[EndpointConfig],
    names: &[String],
) -> Result<Vec<EndpointConfig>> {
    if names.is_empty() {
        return Ok(configured.to_vec());
    }
    names
        .iter()
        .map(|name| {
            configured
                .iter()
                .find(|e| &e.name == name)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = configured.iter().map(|e| e.name.as_str()).collect();
                    crate::input_error!(
                        "--endpoint {name}: no such endpoint (configured: {})",
                        known.join(", ")
                    )
                })
        })
        .collect()
}

/// A pool on a database whose schema is current. kiln's own embedded
/// database is brought up to date; a configured one must be set up with
/// `kiln db setup` (it may be shared, and migrating it is a decision).
/// The sessions through which the endpoints' slots are shared with every
/// kiln that uses this database.
fn shared_capacity(config: &Config) -> Result<crate::db::slots::Connector> {
    Ok(crate::db::slots::connector(
        crate::db::Location::from_config(config)?,
    ))
}

fn prepare_database(config: &crate::config::Config) -> Result<crate::db::Pool> {
    let location = crate::db::Location::from_config(config)?;
    let mut conn = location.connect()?;
    if location.embedded().is_some() {
        crate::db::run_pending_migrations(&mut conn, location.schema())?;
    } else {
        let status = crate::db::migration_status(&mut conn)?;
        if !status.pending.is_empty() {
            return Err(crate::input_error!(
                "the database at {} lacks {} migration(s): run `kiln db setup` first",
                location.describe(),
                status.pending.len()
            ));
        }
    }
    location.pool(config.database_connection_timeout)
}

/// Every source of the tree must be in the source cache with its hash.
fn verify_sources(
    config: &crate::config::Config,
    packages: &PackageSet,
    tree: &[PackageId],
) -> Result<()> {
    let problems: Vec<String> = crate::store::sources::verify(config, packages, tree)?
        .into_iter()
        .filter(|check| !check.status.is_ok())
        .map(|check| {
            format!(
                "{} source `{}` ({}): {}",
                packages.get(check.package).id_string(),
                check.key,
                check.path.display(),
                check.status
            )
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(crate::input_error!(
        "sources failed verification (`kiln source download` fetches missing ones; --no-verify skips this check):\n  {}",
        problems.join("\n  ")
    ))
}

/// Lint errors stop the submit; warnings are shown.
fn lint_scripts(
    config: &crate::config::Config,
    packages: &PackageSet,
    tree: &[PackageId],
) -> Result<()> {
    let findings = crate::lint::lint(config, packages, tree)?;
    let mut errors = Vec::new();
    for finding in &findings {
        let line = format!(
            "{}: {}",
            packages.get(finding.package).id_string(),
            finding.kind
        );
        match finding.severity() {
            crate::package::lint::Severity::Error => errors.push(line),
            crate::package::lint::Severity::Warning => tracing::warn!("lint: {line}"),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(crate::input_error!(
        "lint found problems in the tree (--no-lint skips this check):\n  {}",
        errors.join("\n  ")
    ))
}
