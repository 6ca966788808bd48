//! `kiln tree-of NAME [VERSION]`: load the repository, plan the tree of one
//! package for an image and variables, print it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::{TreeFormat, TreeOfArgs};
use crate::config::ImageConfig;
use crate::error::Outcome;
use crate::package::{image_is, parse_env_assignment, PackageId, PackageSet, Target};
use crate::plan::Plan;
use crate::ui::tree::TreeView;

pub fn run(ctx: &Context, args: TreeOfArgs) -> Result<Outcome> {
    let view = match (args.dot, args.serial_buildorder, args.output) {
        (true, _, _) => TreeView::Dot,
        (_, true, _) => TreeView::BuildOrder,
        (_, _, Some(TreeFormat::Json)) => TreeView::Json,
        _ => TreeView::Tree,
    };
    let mut env = BTreeMap::new();
    for assignment in &args.env {
        let (name, value) =
            parse_env_assignment(assignment).map_err(|e| crate::input_error!("-E {e}"))?;
        env.insert(name, value);
    }
    let image = match &args.image {
        Some(name) => Some(image(ctx, name)?),
        None => None,
    };

    let repo = ctx.repository()?;
    let packages = repo.packages();
    let package = choose(packages, &args.name, args.version.as_deref(), repo.root())?;
    let target = Target {
        image: image.as_ref(),
        env: &env,
    };
    let plan = Plan::new(packages, package, &target)?;
    crate::ui::tree::print(view, packages, &plan).context("writing the tree")?;
    Ok(Outcome::Success)
}

/// The configured image called `name` (full or short name). Without any
/// configured image, `name` is taken as it is.
fn image(ctx: &Context, name: &str) -> Result<ImageConfig> {
    let config = ctx.config()?;
    let images = &config.docker.images;
    if images.is_empty() {
        return Ok(ImageConfig {
            name: name.to_owned(),
            short_name: None,
        });
    }
    match images.iter().find(|i| image_is(i, name)) {
        Some(image) => Ok(image.clone()),
        None => {
            let known: Vec<&str> = images
                .iter()
                .map(|i| i.short_name.as_deref().unwrap_or(&i.name))
                .collect();
            Err(crate::input_error!(
                "-I {name}: not a configured image (docker.images has: {})",
                known.join(", ")
            ))
        }
    }
}

/// The package the user named: `version` if given, else the highest version.
fn choose(
    packages: &PackageSet,
    name: &str,
    version: Option<&str>,
    root: &Path,
) -> Result<PackageId> {
    let mut ids = packages.versions(name).to_vec();
    ids.sort_by(|a, b| {
        packages
            .get(*a)
            .version
            .cmp_release(&packages.get(*b).version)
    });
    let versions: Vec<&str> = ids
        .iter()
        .map(|&id| packages.get(id).version.as_str())
        .collect();
    let Some(&highest) = ids.last() else {
        return Err(crate::input_error!(
            "the repository {} has no package {name}",
            root.display()
        ));
    };
    match version {
        Some(v) => {
            let v = v.strip_prefix('=').unwrap_or(v);
            packages.find(name, v).ok_or_else(|| {
                crate::input_error!("{name} has no version {v} (it has {})", versions.join(", "))
            })
        }
        None => {
            if versions.len() > 1 {
                crate::ui::tree::print_version_choice(
                    name,
                    packages.get(highest).version.as_str(),
                    &versions,
                );
            }
            Ok(highest)
        }
    }
}
