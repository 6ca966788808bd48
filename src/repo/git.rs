//! The package repository's git state, recorded with every submit: the
//! commit hash, its author, and whether (and how) the work tree differs
//! from it.

use std::path::Path;

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};

/// What a submit records of the repository it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// The full hash of the checked-out commit (`HEAD`).
    pub commit: String,
    /// The commit's author, as `Name <email>`.
    pub author: String,
    /// SHA-256 of the diff between `HEAD` and the work tree (untracked files
    /// included) when there are uncommitted changes, else `None`.
    pub diff_sha256: Option<String>,
}

impl GitState {
    pub fn is_dirty(&self) -> bool {
        self.diff_sha256.is_some()
    }
}

/// Reads the git state of the work tree that contains `dir`.
pub fn state_of(dir: &Path) -> Result<GitState> {
    let repo = git2::Repository::discover(dir)
        .with_context(|| format!("{} is not inside a git work tree", dir.display()))?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .with_context(|| {
            format!(
                "reading the HEAD commit of the repository at {}",
                dir.display()
            )
        })?;
    let author = head.author();
    let author = format!(
        "{} <{}>",
        author.name().unwrap_or("unknown"),
        author.email().unwrap_or("unknown")
    );
    let tree = head.tree().context("reading the HEAD tree")?;
    let mut options = git2::DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
        .context("comparing the work tree with HEAD")?;
    let mut hasher = Sha256::new();
    let mut changed = false;
    diff.print(git2::DiffFormat::Patch, |_delta, _hunk, line| {
        changed = true;
        hasher.update([line.origin() as u8]);
        hasher.update(line.content());
        true
    })
    .context("reading the work tree's changes")?;
    Ok(GitState {
        commit: head.id().to_string(),
        author,
        diff_sha256: changed.then(|| hex::encode(hasher.finalize())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_all(repo: &git2::Repository, message: &str) {
        let mut index = repo.index().expect("index");
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        index.write().expect("write index");
        let tree_id = index.write_tree().expect("tree");
        let tree = repo.find_tree(tree_id).expect("find tree");
        let sig = git2::Signature::now("Ada", "ada@example.org").expect("signature");
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .expect("commit");
    }

    #[test]
    fn clean_then_dirty_then_untracked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        std::fs::write(dir.path().join("a"), "one\n").expect("write");
        commit_all(&repo, "first");

        let clean = state_of(dir.path()).expect("state");
        assert_eq!(clean.commit.len(), 40);
        assert_eq!(clean.author, "Ada <ada@example.org>");
        assert!(!clean.is_dirty());

        std::fs::write(dir.path().join("a"), "two\n").expect("write");
        let modified = state_of(dir.path()).expect("state");
        assert_eq!(modified.commit, clean.commit);
        let first_diff = modified.diff_sha256.clone().expect("dirty");

        std::fs::write(dir.path().join("b"), "new\n").expect("write");
        let untracked = state_of(dir.path()).expect("state");
        assert_ne!(
            untracked.diff_sha256.expect("dirty"),
            first_diff,
            "untracked files count"
        );
    }
}
