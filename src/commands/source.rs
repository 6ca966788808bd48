//! `kiln source verify|list-missing|url|of|download`: the sources of the
//! chosen packages in the source cache.

use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::sync::mpsc;

use super::{select, Context};
use crate::cli::{SourceArgs, SourceCommand, SourceDownloadArgs};
use crate::config::Config;
use crate::error::Outcome;
use crate::package::{PackageId, PackageSet};
use crate::repo::Repository;
use crate::store::download::{self, DownloadItem, DownloadOptions, ManualSources};
use crate::store::sources::{self, SourceStatus};
use crate::store::PathError;
use crate::ui::packages::print_listing;
use crate::ui::sources as ui;

pub fn run(ctx: &Context, cmd: SourceCommand) -> Result<Outcome> {
    let config = ctx.config()?;
    let repo = ctx.repository()?;
    match cmd {
        SourceCommand::Verify(args) => verify(&config, &repo, &args),
        SourceCommand::ListMissing(args) => list_missing(&config, &repo, &args),
        SourceCommand::Url(args) => list(&config, &repo, &args, true, false),
        SourceCommand::Of(args) => list(&config, &repo, &args, false, true),
        SourceCommand::Download(args) => download(&config, &repo, &args),
    }
}

fn chosen(repo: &Repository, which: &crate::cli::PackageSelection) -> Result<Vec<PackageId>> {
    select::selection(repo.packages(), which, repo.root())
}

fn verify(config: &Config, repo: &Repository, args: &SourceArgs) -> Result<Outcome> {
    let packages = repo.packages();
    let ids = chosen(repo, &args.which)?;
    let checks = sources::verify(config, packages, &ids)?;
    print_listing(
        args.output,
        &ui::verify_listing(packages, &checks),
        "the packages have no sources",
    )?;
    crate::ui::packages::print_note(&ui::verify_summary(&checks));
    Ok(if checks.iter().all(|c| c.status.is_ok()) {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

fn list_missing(config: &Config, repo: &Repository, args: &SourceArgs) -> Result<Outcome> {
    let packages = repo.packages();
    let ids = chosen(repo, &args.which)?;
    let checks = sources::verify(config, packages, &ids)?;
    let missing = sources::sources_of(packages, &ids)
        .into_iter()
        .zip(&checks)
        .filter(|(_, check)| check.status == SourceStatus::Missing)
        .map(|((id, key, source), check)| (id, key, source, check.path.display().to_string()));
    print_listing(
        args.output,
        &ui::source_listing(packages, missing, true, true),
        "no source is missing",
    )?;
    Ok(Outcome::Success)
}

fn list(
    config: &Config,
    repo: &Repository,
    args: &SourceArgs,
    url: bool,
    path: bool,
) -> Result<Outcome> {
    let packages = repo.packages();
    let ids = chosen(repo, &args.which)?;
    let rows = sources::sources_of(packages, &ids)
        .into_iter()
        .map(|(id, key, source)| {
            let file = sources::source_path(config, packages.get(id), key)?;
            Ok((id, key, source, file.display().to_string()))
        })
        .collect::<Result<Vec<_>, PathError>>()?;
    print_listing(
        args.output,
        &ui::source_listing(packages, rows, url, path),
        "the packages have no sources",
    )?;
    Ok(Outcome::Success)
}

fn download_items(
    config: &Config,
    packages: &PackageSet,
    ids: &[PackageId],
) -> Result<Vec<DownloadItem>, PathError> {
    sources::sources_of(packages, ids)
        .into_iter()
        .map(|(id, key, source)| {
            Ok(DownloadItem {
                label: ui::source_label(packages, id, key),
                url: source.url.clone(),
                hash: source.hash.clone(),
                path: sources::source_path(config, packages.get(id), key)?,
                download_manually: source.download_manually,
            })
        })
        .collect()
}

/// The chosen packages and every package their trees hold, as a build in
/// the image with the variables would resolve them; sorted, each once.
fn with_dependencies(
    config: &Config,
    packages: &PackageSet,
    ids: Vec<PackageId>,
    args: &SourceDownloadArgs,
) -> Result<Vec<PackageId>> {
    let env = select::env_from_args(&args.env)?;
    let image = match &args.image {
        Some(name) => Some(select::image(config, name)?),
        None => None,
    };
    let target = crate::package::Target {
        image: image.as_ref(),
        env: &env,
    };
    let mut all = Vec::new();
    for id in ids {
        let plan = crate::plan::Plan::new(packages, id, &target)?;
        all.extend(plan.nodes().iter().map(|node| node.package));
    }
    all.sort_by(|a, b| select::by_name_and_version(packages, *a, *b));
    all.dedup();
    Ok(all)
}

fn download(config: &Config, repo: &Repository, args: &SourceDownloadArgs) -> Result<Outcome> {
    let packages = repo.packages();
    let mut ids = chosen(repo, &args.which)?;
    if args.recursive {
        ids = with_dependencies(config, packages, ids, args)?;
    }
    let items = download_items(config, packages, &ids)?;
    if items.is_empty() {
        crate::ui::packages::print_note("the packages have no sources");
        return Ok(Outcome::Success);
    }
    let options = DownloadOptions {
        jobs: usize::from(args.jobs),
        timeout: Duration::from_secs(args.timeout),
        manual: if args.force {
            ManualSources::Download
        } else {
            ManualSources::Refuse
        },
    };
    let labels = items.iter().map(|i| i.label.clone()).collect();
    let mut display = ui::DownloadDisplay::new(ui::DownloadDisplayMode::detect(), labels);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the download runtime")?;
    let outcomes = runtime.block_on(async {
        let (events, mut received) = mpsc::unbounded_channel();
        let transfers = download::download(items.clone(), &options, events);
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(transfers, interrupted);
        let mut watching = true;
        loop {
            tokio::select! {
                Some(event) = received.recv() => display.handle(event),
                result = &mut transfers => {
                    while let Ok(event) = received.try_recv() {
                        display.handle(event);
                    }
                    break result.map(Some);
                }
                signal = &mut interrupted, if watching => match signal {
                    Ok(()) => break Ok(None),
                    Err(e) => {
                        tracing::warn!("cannot watch for Ctrl-C: {e}");
                        watching = false;
                    }
                },
            }
        }
    });
    display.finish();
    let Some(outcomes) = outcomes? else {
        crate::ui::packages::print_note("interrupted: no partial file was kept");
        return Ok(Outcome::Interrupted);
    };
    let (report, ok) = ui::download_report(&items, &outcomes);
    crate::ui::packages::print_note(report.trim_end());
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
