//! `kiln find-artifact REGEX [VERSION]`: the artifacts the database knows
//! of, checked on disk where they should be (staging, release stores), the
//! ones present with their recorded SHA-256 listed.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use rayon::prelude::*;

use super::{select, Context};
use crate::cli::FindArtifactArgs;
use crate::db;
use crate::db::listings::find_artifact::{self, Candidate, Wanted};
use crate::error::Outcome;
use crate::store::{RelPath, Sha256Digest};
use crate::ui::find_artifact::{Found, Location};

pub fn run(ctx: &Context, args: FindArtifactArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let wanted = Wanted {
        name_regex: args.regex.clone(),
        version: args
            .version
            .as_deref()
            .map(|v| v.strip_prefix('=').unwrap_or(v).trim().to_owned()),
        env: select::env_from_args(&args.env)?.into_iter().collect(),
        image: match &args.image {
            Some(image) => Some(select::image(&config, image)?.name),
            None => None,
        },
    };
    let mut conn = db::connect(&config)?;
    if let Some(problem) = find_artifact::regex_problem(&mut conn, &args.regex)? {
        return Err(crate::input_error!(
            "REGEX `{}` is not a valid regular expression: {problem}",
            crate::error::escape_controls(&args.regex)
        ));
    }
    let limit = super::db_query::limit(&config, &args.list);
    let candidates =
        find_artifact::find(&mut conn, &wanted, limit).context("looking up artifacts")?;
    let staging = args
        .staging_dir
        .clone()
        .unwrap_or_else(|| config.staging.clone());
    let (found, gone) = check_on_disk(&candidates, &staging, &config.releases_root);
    if gone > 0 {
        crate::ui::note(&format!(
            "{gone} recorded location{} left out: the file is missing or has changed",
            if gone == 1 { " was" } else { "s were" }
        ));
    }
    if args.paths {
        crate::ui::find_artifact::print_paths(&found)?;
    } else {
        crate::ui::find_artifact::print(&found, args.list.output)?;
    }
    Ok(Outcome::Success)
}

/// Every place each candidate should be, kept where the file is there
/// with its recorded SHA-256; and how many places were not.
fn check_on_disk<'a>(
    candidates: &'a [Candidate],
    staging: &std::path::Path,
    releases_root: &std::path::Path,
) -> (Vec<Found<'a>>, usize) {
    let places: Vec<(&Candidate, Location, PathBuf)> = candidates
        .iter()
        .filter_map(|c| RelPath::new(&c.path).ok().map(|rel| (c, rel)))
        .flat_map(|(c, rel)| {
            let staged = (
                c,
                Location::Staging,
                rel.under(&staging.join(c.submit.to_string())),
            );
            let released = c.stores.iter().map(move |store| {
                (
                    c,
                    Location::Store(store.clone()),
                    rel.under(&releases_root.join(store)),
                )
            });
            std::iter::once(staged).chain(released).collect::<Vec<_>>()
        })
        .collect();
    let total = places.len();
    let found: Vec<Found<'a>> = places
        .into_par_iter()
        .filter(|(c, _, path)| {
            Sha256Digest::from_hex(&c.sha256).is_some_and(|expected| {
                crate::store::reuse::take(std::slice::from_ref(path), &expected, None).is_ok()
            })
        })
        .map(|(artifact, location, path)| Found {
            artifact,
            location,
            path,
        })
        .collect();
    let gone = total - found.len();
    (found, gone)
}
