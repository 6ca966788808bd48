//! `kiln release new|rm|list`: from a submit's staged artifacts to a
//! release store and back. What is released is planned first (what is at
//! each path of the store, on disk and in the records), shown and, on a
//! terminal, confirmed; then every file is copied and checked before any is
//! moved into place, and the records are written in the transaction that
//! places them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use rayon::prelude::*;

use super::Context;
use crate::cli::{DbCommand, DbReleasesArgs, ReleaseCommand, ReleaseNewArgs, ReleaseRmArgs};
use crate::db;
use crate::db::listings::submits;
use crate::db::releasing::{self, CurrentRelease, Releasable, ReleaseRecord};
use crate::error::Outcome;
use crate::release_plan::{Action, Planned};
use crate::store::{Copied, RelPath, ReleaseStore, Sha256Digest, StoreError};

pub fn run(ctx: &Context, cmd: ReleaseCommand) -> Result<Outcome> {
    match cmd {
        ReleaseCommand::New(args) => new(ctx, args),
        ReleaseCommand::Rm(args) => rm(ctx, args),
        ReleaseCommand::List(args) => list(ctx, args),
    }
}

fn new(ctx: &Context, args: ReleaseNewArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let store = config.release_store(&args.to)?;
    let mut conn = db::connect(&config)?;
    let (id, uuid) = submits::resolve(&mut conn, &args.submit)?;
    let items = releasing::releasable(&mut conn, id, args.name.as_deref(), args.version.as_deref())
        .with_context(|| format!("reading the artifacts of submit {uuid}"))?;
    if items.is_empty() {
        return Err(crate::input_error!(
            "submit {uuid} has no artifacts{} to release (only those of succeeded and reused jobs are released)",
            match (&args.name, &args.version) {
                (Some(n), Some(v)) => format!(" of {n} {v}"),
                (Some(n), None) => format!(" of {n}"),
                _ => String::new(),
            }
        ));
    }
    let staging = args
        .staging_dir
        .clone()
        .unwrap_or_else(|| config.staging.clone())
        .join(uuid.to_string());
    let paths: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
    let current = releasing::current_at_paths(&mut conn, store.name(), &paths)
        .context("reading the store's current releases")?;
    let plan = plan_release(&store, &staging, &items, &current, args.update)?;
    if !ctx.global.quiet {
        crate::ui::release::print_plan(&store, &plan)?;
    }
    refuse_conflicts(&store, &plan)?;
    if !args.non_interactive
        && !crate::ui::release::confirm(&format!("Release into `{}`?", store.name()))?
    {
        return Ok(Outcome::Interrupted);
    }
    let copies = copy_all(&store, &plan)?;
    let records: Vec<ReleaseRecord<'_>> = plan
        .iter()
        .filter(|p| p.action.records())
        .map(|p| ReleaseRecord {
            artifact: p.artifact,
            replaces: p.replaces,
        })
        .collect();
    let actor = crate::actor::current();
    releasing::record_releases(&mut conn, store.name(), &records, actor, || {
        place_all(copies)
    })
    .with_context(|| format!("releasing into `{}`", store.name()))?;
    if !ctx.global.quiet {
        crate::ui::release::print_released(&store, &plan);
    }
    Ok(Outcome::Success)
}

/// What to do with each artifact, from what is at its path now.
fn plan_release<'a>(
    store: &ReleaseStore,
    staging: &Path,
    items: &'a [Releasable],
    current: &BTreeMap<String, CurrentRelease>,
    update: bool,
) -> Result<Vec<Planned<'a>>> {
    items
        .par_iter()
        .map(|artifact| {
            let rel = RelPath::new(&artifact.path)?;
            let staged = rel.under(staging);
            if !staged.is_file() {
                return Err(anyhow::anyhow!(
                    "{} {}: the staged artifact {} is missing",
                    artifact.package,
                    artifact.version,
                    staged.display()
                ));
            }
            let recorded = current.get(&artifact.path);
            let action = crate::release_plan::decide(artifact, store.at(&rel)?, recorded, update);
            Ok(Planned {
                artifact,
                staged,
                rel,
                replaces: recorded.filter(|_| action.records()).map(|r| r.id),
                action,
            })
        })
        .collect()
}

/// A different file at a released path stops the whole release (without
/// --update), before anything is copied.
fn refuse_conflicts(store: &ReleaseStore, plan: &[Planned<'_>]) -> Result<()> {
    let conflicts: Vec<String> = plan
        .iter()
        .filter_map(|p| match p.action {
            Action::Conflict { existing } => Some(format!(
                "{}: a different file is released there (sha256 {existing}; releasing {})",
                p.rel.under(store.root()).display(),
                p.artifact.sha256
            )),
            _ => None,
        })
        .collect();
    if conflicts.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "nothing was released: --update replaces released files with different content\n  {}",
        conflicts.join("\n  ")
    ))
}

/// Copies every file that goes into the store beside its place, checked
/// against its recorded SHA-256; any failure leaves nothing behind.
fn copy_all<'a>(store: &ReleaseStore, plan: &'a [Planned<'a>]) -> Result<Vec<(Copied, bool)>> {
    plan.par_iter()
        .filter(|p| p.action.copies())
        .map(|p| {
            let expected = Sha256Digest::from_hex(&p.artifact.sha256).with_context(|| {
                format!(
                    "the recorded SHA-256 of {} is not 64 hex digits",
                    p.artifact.path
                )
            })?;
            let copy = store
                .copy_checked(&p.staged, &p.rel, &expected)
                .context("nothing was released")?;
            Ok((copy, matches!(p.action, Action::Replace { .. })))
        })
        .collect()
}

fn place_all(copies: Vec<(Copied, bool)>) -> Result<()> {
    for (copy, replace) in copies {
        copy.place(replace)?;
    }
    Ok(())
}

fn rm(ctx: &Context, args: ReleaseRmArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let store = config.release_store(&args.from)?;
    let mut conn = db::connect(&config)?;
    let releases =
        releasing::current_of_package(&mut conn, store.name(), &args.name, &args.version)
            .context("reading the store's current releases")?;
    if releases.is_empty() {
        return Err(crate::input_error!(
            "no current release of {} {} in `{}` (`kiln release list --store {} --package {}@{} --all` shows its history)",
            args.name,
            args.version,
            store.name(),
            store.name(),
            args.name,
            args.version
        ));
    }
    let files: Vec<PathBuf> = releases
        .iter()
        .map(|r| RelPath::new(&r.path).map(|rel| rel.under(store.root())))
        .collect::<Result<_, StoreError>>()?;
    if !ctx.global.quiet {
        crate::ui::release::print_removal_plan(&files);
    }
    if !args.non_interactive
        && !crate::ui::release::confirm(&format!(
            "Remove {} {} from `{}`?",
            args.name,
            args.version,
            store.name()
        ))?
    {
        return Ok(Outcome::Interrupted);
    }
    let ids: Vec<_> = releases.iter().map(|r| r.id).collect();
    let actor = crate::actor::current();
    let mut missing = Vec::new();
    releasing::record_removals(&mut conn, &ids, actor, || -> Result<()> {
        for release in &releases {
            if !store.remove(&RelPath::new(&release.path)?)? {
                missing.push(release.path.clone());
            }
        }
        Ok(())
    })
    .with_context(|| {
        format!(
            "removing {} {} from `{}`",
            args.name,
            args.version,
            store.name()
        )
    })?;
    if !ctx.global.quiet {
        crate::ui::release::print_removed(&store, &args.name, &args.version, files.len(), &missing);
    }
    Ok(Outcome::Success)
}

fn list(ctx: &Context, args: DbReleasesArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    super::db_query::run(&config, DbCommand::Releases(args))
}
