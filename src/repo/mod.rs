//! Loading the package repository: the `pkg.toml` hierarchy, its layers and
//! the files they name. The only reader of package files.
//!
//! [`load`] finds every layer (`walk`), parses each layer file once
//! (`layer`), merges the layers of every leaf into a package (`merge`),
//! and indexes the packages; all three steps run in parallel. Every problem
//! of a load is collected and reported together in one [`LoadErrors`].

pub mod git;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use rayon::prelude::*;

mod error;
mod layer;
mod merge;
#[cfg(test)]
mod proptests;
pub mod synthetic;
mod walk;

pub use error::{LoadErrors, RepoError};
pub use walk::LAYER_FILE;

use crate::package::{Package, PackageSet};

/// A loaded package repository.
#[derive(Debug)]
pub struct Repository {
    root: PathBuf,
    packages: PackageSet,
}

impl Repository {
    /// The repository's top directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn packages(&self) -> &PackageSet {
        &self.packages
    }

    pub fn into_packages(self) -> PackageSet {
        self.packages
    }
}

/// The top of the package repository: `explicit` if given (it must be a
/// directory), else the git work tree around the current directory, else none.
pub fn find_root(explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(dir) = explicit {
        if !dir.is_dir() {
            return Err(crate::input_error!(
                "--repo {}: not a directory",
                dir.display()
            ));
        }
        return Ok(Some(dir.to_owned()));
    }
    let cwd = std::env::current_dir()?;
    match git2::Repository::discover(&cwd) {
        Ok(repo) => Ok(repo.workdir().map(Path::to_owned)),
        Err(_) => Ok(None),
    }
}

/// Loads every package of the repository at `root`.
///
/// Blocking (file system work on the rayon pool): call it from
/// `spawn_blocking` in async code.
pub fn load(root: &Path) -> Result<Repository, LoadErrors> {
    let canonical_root = std::fs::canonicalize(root).map_err(|source| {
        LoadErrors::one(RepoError::Read {
            path: root.to_owned(),
            source,
        })
    })?;
    let started = std::time::Instant::now();
    let (files, mut errors) = walk::discover(root);
    tracing::debug!(layers = files.len(), elapsed = ?started.elapsed(), "found the layers");
    let paths: Vec<Arc<Path>> = files
        .iter()
        .map(|f| Arc::from(layer::layer_path(&f.dir)))
        .collect();

    let parsed: Vec<Result<layer::Layer, Vec<RepoError>>> = files
        .par_iter()
        .zip(paths.par_iter())
        .map(|(file, path)| {
            let site = layer::LayerSite {
                root,
                canonical_root: &canonical_root,
                dir: &file.dir,
                file: path,
            };
            let abs = root.join(&**path);
            let text = std::fs::read_to_string(&abs)
                .map_err(|source| vec![RepoError::Read { path: abs, source }])?;
            layer::parse(&site, &text)
        })
        .collect();
    tracing::debug!(elapsed = ?started.elapsed(), "parsed the layers");
    // Leaf layers belong to one package each and are moved into it; the
    // others are shared by the leaves below them.
    let mut shared: Vec<Option<layer::Layer>> = Vec::with_capacity(parsed.len());
    let mut leaves: Vec<(usize, layer::Layer)> = Vec::with_capacity(parsed.len());
    for (i, result) in parsed.into_iter().enumerate() {
        match result {
            Ok(layer) if files[i].is_leaf => {
                leaves.push((i, layer));
                shared.push(None);
            }
            Ok(layer) => shared.push(Some(layer)),
            Err(layer_errors) => {
                errors.extend(layer_errors);
                shared.push(None);
            }
        }
    }

    let merged: Vec<Result<Package, Vec<RepoError>>> = leaves
        .into_par_iter()
        .filter_map(|(leaf, own)| {
            let mut chain = Vec::new();
            let mut at = files[leaf].parent;
            while let Some(i) = at {
                // A layer with errors was reported already; its leaves are skipped.
                chain.push((&paths[i], shared[i].as_ref()?));
                at = files[i].parent;
            }
            chain.reverse();
            Some(merge::merge(root, &paths[leaf], &chain, own))
        })
        .collect();
    let mut packages = Vec::with_capacity(merged.len());
    for result in merged {
        match result {
            Ok(package) => packages.push(package),
            Err(e) => errors.extend(e),
        }
    }
    tracing::debug!(elapsed = ?started.elapsed(), "merged the layers");
    let (packages, duplicates) = PackageSet::new(packages);
    tracing::debug!(packages = packages.len(), elapsed = ?started.elapsed(), "indexed the packages");
    errors.extend(duplicates.into_iter().map(|d| RepoError::Duplicate {
        name: d.name.to_string(),
        version: d.version.to_string(),
        first: root.join(&*d.first),
        second: root.join(&*d.second),
    }));
    match LoadErrors::new(errors) {
        Some(errors) => Err(errors),
        None => Ok(Repository {
            root: root.to_owned(),
            packages,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Target;
    use crate::plan::Plan;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
    }

    #[test]
    fn layers_merge_and_paths_resolve_per_layer() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        write(
            tmp.path(),
            &[
                ("pkg.toml", "patches = [\"patches/common.patch\"]\n[phases.build]\npath = \"scripts/build.sh\"\n[environment]\nA = \"root\"\n"),
                ("patches/common.patch", "--- a\n"),
                ("scripts/build.sh", "make {{this.name}}\n"),
                ("group/pkg.toml", "[environment]\nB = \"group\"\n"),
                ("group/x/pkg.toml", "name = \"x\"\nversion = \"1\"\n[environment]\nA = \"leaf\"\n"),
                ("group/y/pkg.toml", "name = \"y\"\nversion = \"2\"\npatches = [\"fix.patch\", \"../../patches/common.patch\"]\n"),
                ("group/y/fix.patch", "--- b\n"),
                (".hidden/pkg.toml", "this is not read"),
            ],
        );
        let repo = load(tmp.path()).unwrap_or_else(|e| panic!("loads: {e}"));
        let packages = repo.packages();
        assert_eq!(packages.len(), 2);
        let x = packages.get(packages.find("x", "1").expect("x"));
        assert_eq!(x.patches, vec!["patches/common.patch".to_string()]);
        let env: Vec<String> = x
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(env, vec!["A=leaf", "B=group"]);
        assert_eq!(
            x.phases.get("build").map(|p| p.script.as_str()),
            Some("make {{this.name}}\n")
        );
        assert_eq!(&*x.file, Path::new("group/x/pkg.toml"));
        let y = packages.get(packages.find("y", "2").expect("y"));
        assert_eq!(
            y.patches,
            vec![
                "group/y/fix.patch".to_string(),
                "patches/common.patch".to_string()
            ]
        );
    }

    #[test]
    fn an_empty_directory_is_an_empty_repository() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let repo = load(tmp.path()).unwrap_or_else(|e| panic!("loads: {e}"));
        assert!(repo.packages().is_empty());
    }

    #[test]
    fn errors_of_all_files_come_together() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        write(
            tmp.path(),
            &[
                ("a/pkg.toml", "name = \"a\"\nversion = \"1\"\nbogus = 1\n"),
                ("b/pkg.toml", "name = \"b\"\n"),
                ("c/pkg.toml", "name = \"a\"\nversion = \"1\"\n"),
                ("d/pkg.toml", "name = \"a\"\nversion = \"1\"\n"),
                ("e/pkg.toml", "[[["),
            ],
        );
        let errors = load(tmp.path()).expect_err("broken");
        let kinds: Vec<&str> = errors
            .errors()
            .iter()
            .map(|e| match e {
                RepoError::Read { .. } => "read",
                RepoError::Syntax { .. } => "syntax",
                RepoError::Invalid { .. } => "invalid",
                RepoError::Merged { .. } => "merged",
                RepoError::Duplicate { .. } => "duplicate",
            })
            .collect();
        assert_eq!(
            kinds,
            vec!["invalid", "merged", "duplicate", "syntax"],
            "{errors}"
        );
    }

    #[test]
    fn a_synthetic_repository_loads_and_plans_whole() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let written = synthetic::write_repository(tmp.path(), 300, 11).expect("written");
        let repo = load(tmp.path()).unwrap_or_else(|e| panic!("loads: {e}"));
        let packages = repo.packages();
        assert_eq!(packages.len(), written.packages);
        let root = packages
            .find(&written.root_name, &written.root_version)
            .expect("root");
        let env = std::collections::BTreeMap::new();
        let plan = Plan::new(
            packages,
            root,
            &Target {
                image: None,
                env: &env,
            },
        )
        .unwrap_or_else(|e| panic!("plans: {e}"));
        assert_eq!(
            plan.len(),
            written.packages,
            "the root pulls in every package"
        );
        let edges: usize = plan.nodes().iter().map(|n| n.dependencies.len()).sum();
        assert_eq!(edges, written.edges);
        let p = packages.get(packages.find("p00013", "1.6.1").expect("p00013"));
        assert_eq!(p.meta.get("group").map(String::as_str), Some("g3"));
        assert_eq!(
            p.environment.get("LANG").map(String::as_str),
            Some("C.UTF-8")
        );
    }
}
