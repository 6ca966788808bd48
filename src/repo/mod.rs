//! Loading the package repository: the `pkg.toml` hierarchy, its layers and
//! the files they name. The only reader of package files.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// The top of the package repository: `explicit` if given (it must be a
/// directory), else the git work tree around the current directory, else none.
pub fn find_root(explicit: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(dir) = explicit {
        if !dir.is_dir() {
            return Err(crate::input_error!("--repo {}: not a directory", dir.display()));
        }
        return Ok(Some(dir.to_owned()));
    }
    let cwd = std::env::current_dir()?;
    match git2::Repository::discover(&cwd) {
        Ok(repo) => Ok(repo.workdir().map(Path::to_owned)),
        Err(_) => Ok(None),
    }
}
