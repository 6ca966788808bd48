//! Loading the package repository: the `pkg.toml` hierarchy, its layers and
//! the files they name. The only reader of package files.
//!
//! [`load`] finds every layer (`walk`), parses each layer file once
//! (`layer`), merges the layers of every leaf into a package (`merge`),
//! and indexes the packages; all three steps run in parallel. Every problem
//! of a load is collected and reported together in one [`LoadErrors`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use rayon::prelude::*;

mod error;
mod layer;
mod merge;
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
