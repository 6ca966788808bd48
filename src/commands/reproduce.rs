//! `kiln reproduce SUBMIT`: rebuild a recorded submit from its commit (and
//! stored changes) in a temporary work tree, with the same package, image
//! and variables and no reuse, then compare every artifact with the
//! original's and print the proof.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};

use super::submit::{check_out, outcome_of, print_summary, submit_tree, Origin};
use super::{select, Context};
use crate::cli::{ReproduceArgs, SubmitArgs};
use crate::db;
use crate::db::listings::reproduce::{self, Original};
use crate::db::listings::submits;
use crate::error::Outcome;
use crate::orchestrator::submit::ExpectedImage;
use crate::ui::reproduce::Report;

pub fn run(ctx: &Context, args: ReproduceArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let mut conn = db::connect(&config)?;
    let (id, uuid) = submits::resolve(&mut conn, &args.submit)?;
    let original =
        reproduce::original(&mut conn, id).with_context(|| format!("reading submit {uuid}"))?;
    drop(conn);
    let env = environment(&original, &args.env)?;
    let patch = stored_changes(&original)?;
    if original.kiln_version != crate::VERSION {
        crate::ui::note(&format!(
            "submit {uuid} was built by kiln {}; this is kiln {}",
            original.kiln_version,
            crate::VERSION
        ));
    }
    let checkout = check_out(ctx, &original.commit, patch.as_deref())?;
    let origin = Origin {
        checkout: Some(&checkout),
        expected_image: original.image_digest.clone().map(|digest| ExpectedImage {
            digest,
            allow_other: args.allow_other_image,
        }),
        reproduces: Some(original.id),
    };
    let submit_args = rebuild_args(&original, env, &args);
    let (summary, _, config) = submit_tree(ctx, &submit_args, &origin)?
        .context("a reproduction is a submit, never a dry run")?;
    drop(checkout);
    print_summary(&summary, &config, crate::ui::submit::SummaryTo::Stderr)?;
    if summary.report.interrupted {
        return Ok(outcome_of(&summary));
    }
    let mut conn = db::connect(&config)?;
    let rebuild_id = submits::find(&mut conn, summary.uuid)?;
    let rebuild = reproduce::original(&mut conn, rebuild_id)?;
    let proof = crate::proof::compare(
        &reproduce::built_jobs(&mut conn, original.id)?,
        &reproduce::built_jobs(&mut conn, rebuild.id)?,
    );
    let report = Report {
        original: original.uuid,
        rebuild: summary.uuid,
        identical: proof.identical() && summary.succeeded(),
        image: original.image.clone(),
        original_image_digest: original.image_digest.clone(),
        rebuild_image_digest: rebuild.image_digest,
        original_kiln_version: original.kiln_version.clone(),
        kiln_version: crate::VERSION.to_owned(),
        proof,
    };
    crate::ui::reproduce::print(&report, args.output)?;
    Ok(if report.identical {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// The rebuild's `-E` variables: the recorded ones, and the values of the
/// secret ones (recorded masked) from `given`, which must hold each of
/// them and nothing else.
fn environment(original: &Original, given: &[String]) -> Result<BTreeMap<String, String>> {
    let mut given = select::env_from_args(given)?;
    let mut env = BTreeMap::new();
    let mut missing = Vec::new();
    for (name, value) in &original.env {
        if !hides_a_secret(value) {
            if given.contains_key(name) {
                return Err(crate::input_error!(
                    "-E {name}: submit {} recorded {name}={}; a reproduction builds with the recorded value",
                    original.uuid,
                    crate::error::escape_controls(value)
                ));
            }
            env.insert(name.clone(), value.clone());
            continue;
        }
        match given.remove(name) {
            Some(secret) => {
                env.insert(name.clone(), secret);
            }
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(crate::input_error!(
            "submit {} had variables whose values hide a secret, which is not recorded: give them again with {}",
            original.uuid,
            missing
                .iter()
                .map(|name| format!("-E {name}=..."))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if let Some(name) = given.keys().next() {
        return Err(crate::input_error!(
            "-E {name}: submit {} had no such variable; a reproduction builds with the recorded ones",
            original.uuid
        ));
    }
    Ok(env)
}

/// Whether a recorded value was masked, whole or in part: it held a
/// secret's value, which the database does not keep.
fn hides_a_secret(value: &str) -> bool {
    let mask = crate::log::scrub::MASK;
    value.as_bytes().windows(mask.len()).any(|w| w == mask)
}

/// The patch of the original's uncommitted changes, checked against its
/// recorded SHA-256.
fn stored_changes(original: &Original) -> Result<Option<Vec<u8>>> {
    if !original.dirty {
        return Ok(None);
    }
    let Some(changes) = &original.changes else {
        return Err(crate::input_error!(
            "submit {} was built from a work tree with uncommitted changes that were not stored \
             (kiln {} kept only their hash): it cannot be reproduced",
            original.uuid,
            original.kiln_version
        ));
    };
    let patch = changes.patch().with_context(|| {
        format!(
            "decompressing the stored changes of submit {}",
            original.uuid
        )
    })?;
    let sha256 = crate::plan::build_key::sha256_hex(&patch);
    if original.diff_sha256.as_deref() != Some(sha256.as_str()) {
        return Err(anyhow::anyhow!(
            "the stored changes of submit {} have SHA-256 {sha256}, not the recorded {}",
            original.uuid,
            original.diff_sha256.as_deref().unwrap_or("(none)")
        ));
    }
    Ok(Some(patch))
}

/// The submit that rebuilds `original`.
fn rebuild_args(
    original: &Original,
    env: BTreeMap<String, String>,
    args: &ReproduceArgs,
) -> SubmitArgs {
    SubmitArgs {
        name: original.package.clone(),
        version: Some(original.version.clone()),
        image: original.image.clone(),
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        endpoints: args.endpoints.clone(),
        commit: None,
        require_all_endpoints: false,
        no_verify: args.no_verify,
        // The original's scripts passed; a linter changed since is no reason to stop.
        no_lint: true,
        staging_dir: args.staging_dir.clone(),
        shebang: original.shebang.clone(),
        write_log: false,
        keep_containers: false,
        fail_fast: false,
        no_reuse: true,
        rebuild: Vec::new(),
        dry_run: false,
        output: None,
    }
}
