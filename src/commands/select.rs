//! Turning what the user typed into things of the repository and the
//! configuration: `-E NAME=VALUE` variables, `-I IMAGE`, and packages named
//! `NAME` (every version), `NAME VERSION`, `NAME [VERSION]` (the highest
//! when omitted) or `--matching REGEX`. Shared by the commands that take
//! them; errors are input errors (exit code 2). Lists of packages come back
//! sorted by name, then version (lowest first).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use regex::Regex;

use crate::cli::{DependencyType, PackageSelection};
use crate::config::{Config, ImageConfig};
use crate::package::{image_is, parse_env_assignment, DependencyKind, PackageId, PackageSet};

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

/// The kinds of dependency `-t/--type` (or `--dependency-type`) chose:
/// both when none is given.
pub fn dependency_kinds(types: &[DependencyType]) -> Vec<DependencyKind> {
    if types.is_empty() {
        return vec![DependencyKind::Build, DependencyKind::Runtime];
    }
    types
        .iter()
        .map(|t| match t {
            DependencyType::Build => DependencyKind::Build,
            DependencyType::Runtime => DependencyKind::Runtime,
        })
        .collect()
}

/// The largest compiled size of a user's regular expression.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Orders packages by name, then version (see `PackageVersion::cmp_release`).
pub fn by_name_and_version(packages: &PackageSet, a: PackageId, b: PackageId) -> Ordering {
    let (pa, pb) = (packages.get(a), packages.get(b));
    pa.name
        .cmp(&pb.name)
        .then_with(|| pa.version.cmp_release(&pb.version))
}

/// Every package of the repository, sorted.
pub fn all(packages: &PackageSet) -> Vec<PackageId> {
    let mut ids: Vec<PackageId> = packages.iter().map(|(id, _)| id).collect();
    ids.sort_by(|a, b| by_name_and_version(packages, *a, *b));
    ids
}

/// Every version of `name`, lowest first, or only `version` when given.
pub fn versions(
    packages: &PackageSet,
    name: &str,
    version: Option<&str>,
    root: &Path,
) -> Result<Vec<PackageId>> {
    let mut ids = packages.versions(name).to_vec();
    if ids.is_empty() {
        return Err(crate::input_error!(
            "the repository {} has no package {name}",
            root.display()
        ));
    }
    ids.sort_by(|a, b| by_name_and_version(packages, *a, *b));
    let Some(version) = version else {
        return Ok(ids);
    };
    let version = version.strip_prefix('=').unwrap_or(version);
    match packages.find(name, version) {
        Some(id) => Ok(vec![id]),
        None => {
            let known: Vec<&str> = ids
                .iter()
                .map(|&id| packages.get(id).version.as_str())
                .collect();
            Err(crate::input_error!(
                "{name} has no version {version} (it has {})",
                known.join(", ")
            ))
        }
    }
}

/// Compiles a regular expression given on the command line.
pub fn regex(pattern: &str) -> Result<Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| crate::input_error!("`{pattern}` is not a valid regular expression: {e}"))
}

/// Every package whose name `pattern` matches (anywhere in the name), sorted.
pub fn matching(packages: &PackageSet, pattern: &Regex) -> Vec<PackageId> {
    let mut ids: Vec<PackageId> = packages
        .iter()
        .filter(|(_, p)| pattern.is_match(p.name.as_str()))
        .map(|(id, _)| id)
        .collect();
    ids.sort_by(|a, b| by_name_and_version(packages, *a, *b));
    ids
}

/// The packages a `NAME [VERSION] | --matching REGEX` selection names
/// (every package when it names none, as butido's `source` commands do). A
/// regular expression that matches nothing is an input error too.
pub fn selection(
    packages: &PackageSet,
    which: &PackageSelection,
    root: &Path,
) -> Result<Vec<PackageId>> {
    match (&which.name, &which.matching) {
        (Some(name), _) => versions(packages, name, which.version.as_deref(), root),
        (None, Some(pattern)) => {
            let ids = matching(packages, &regex(pattern)?);
            if ids.is_empty() {
                return Err(crate::input_error!(
                    "no package name of the repository {} matches `{pattern}`",
                    root.display()
                ));
            }
            Ok(ids)
        }
        (None, None) => Ok(all(packages)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::testing::package;

    fn set() -> PackageSet {
        PackageSet::new(vec![
            package("zlib", "1.3.1", &[], &[]),
            package("zlib", "1.2.13", &[], &[]),
            package("libz", "1.10", &[], &[]),
            package("libz", "1.9", &[], &[]),
            package("curl", "8.4.0", &[], &[]),
        ])
        .0
    }

    fn names(packages: &PackageSet, ids: &[PackageId]) -> Vec<String> {
        ids.iter().map(|&id| packages.get(id).id_string()).collect()
    }

    #[test]
    fn selections() {
        let packages = set();
        let root = Path::new("/repo");
        let check = |which: PackageSelection, expected: Result<&[&str], &str>| {
            let got = selection(&packages, &which, root);
            match (got, expected) {
                (Ok(ids), Ok(want)) => assert_eq!(names(&packages, &ids), want, "{which:?}"),
                (Err(e), Err(fragment)) => {
                    assert!(crate::error::is_input_error(&e), "{which:?}: {e}");
                    assert!(e.to_string().contains(fragment), "{which:?}: {e}");
                }
                (got, _) => panic!("{which:?}: got {got:?}"),
            }
        };
        let sel =
            |name: Option<&str>, version: Option<&str>, matching: Option<&str>| PackageSelection {
                name: name.map(Into::into),
                version: version.map(Into::into),
                matching: matching.map(Into::into),
            };
        check(
            sel(Some("zlib"), None, None),
            Ok(&["zlib 1.2.13", "zlib 1.3.1"]),
        );
        check(sel(Some("zlib"), Some("=1.3.1"), None), Ok(&["zlib 1.3.1"]));
        check(
            sel(Some("zlib"), Some("2"), None),
            Err("zlib has no version 2 (it has 1.2.13, 1.3.1)"),
        );
        check(
            sel(Some("nope"), None, None),
            Err("the repository /repo has no package nope"),
        );
        check(
            sel(None, None, Some("z")),
            Ok(&["libz 1.9", "libz 1.10", "zlib 1.2.13", "zlib 1.3.1"]),
        );
        check(
            sel(None, None, Some("^z")),
            Ok(&["zlib 1.2.13", "zlib 1.3.1"]),
        );
        check(sel(None, None, Some("^x")), Err("matches `^x`"));
        check(
            sel(None, None, None),
            Ok(&[
                "curl 8.4.0",
                "libz 1.9",
                "libz 1.10",
                "zlib 1.2.13",
                "zlib 1.3.1",
            ]),
        );
        check(
            sel(None, None, Some("(")),
            Err("not a valid regular expression"),
        );
        assert_eq!(
            names(&packages, &all(&packages)),
            [
                "curl 8.4.0",
                "libz 1.9",
                "libz 1.10",
                "zlib 1.2.13",
                "zlib 1.3.1"
            ]
        );
    }
}
