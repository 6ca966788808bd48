//! Turning what the user typed into things of the repository and the
//! configuration: `-E NAME=VALUE` variables, `-I IMAGE`, `NAME [VERSION]`.
//! Shared by the commands that take them; errors are input errors (exit 2).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::config::{Config, ImageConfig};
use crate::package::{image_is, parse_env_assignment, PackageId, PackageSet};

/// The `-E NAME=VALUE` arguments as a map (a later one of the same name wins).
pub fn env_from_args(args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for assignment in args {
        let (name, value) =
            parse_env_assignment(assignment).map_err(|e| crate::input_error!("-E {e}"))?;
        env.insert(name, value);
    }
    Ok(env)
}

/// The configured image called `name` (full or short name). Without any
/// configured image, `name` is taken as it is.
pub fn image(config: &Config, name: &str) -> Result<ImageConfig> {
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
pub fn package(
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
