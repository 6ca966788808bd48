//! The package repository's git state, recorded with every submit: the
//! commit hash, its author, and whether (and how) the work tree differs
//! from it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// What a submit records of the repository it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// The full hash of the checked-out commit (`HEAD`).
    pub commit: String,
    /// The commit's author, as `Name <email>`.
    pub author: String,
    /// The uncommitted changes, when the work tree has some.
    pub changes: Option<Changes>,
}

/// A work tree's uncommitted changes (untracked files included) as a patch
/// against its commit: git's binary-safe format (`GIT binary patch` for
/// files that are not text), so that the tree can be rebuilt exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The patch, as `git apply` takes it.
    pub patch: Vec<u8>,
    /// SHA-256 (hex) of `patch`: `submits.repo_diff_sha256`.
    pub sha256: String,
}

impl Changes {
    pub fn new(patch: Vec<u8>) -> Self {
        let sha256 = hex::encode(Sha256::digest(&patch));
        Self { patch, sha256 }
    }
}

impl GitState {
    pub fn is_dirty(&self) -> bool {
        self.changes.is_some()
    }

    /// SHA-256 of the uncommitted changes, when there are some.
    pub fn diff_sha256(&self) -> Option<&str> {
        self.changes.as_ref().map(|c| c.sha256.as_str())
    }
}

/// Reads the git state of the work tree that contains `dir`.
pub fn state_of(dir: &Path) -> Result<GitState> {
    let repo = discover(dir)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .with_context(|| {
            format!(
                "reading the HEAD commit of the repository at {}",
                dir.display()
            )
        })?;
    let changes = work_tree_changes(&repo, &head)?;
    Ok(GitState {
        commit: head.id().to_string(),
        author: author_of(&head),
        changes,
    })
}

fn discover(dir: &Path) -> Result<git2::Repository> {
    git2::Repository::discover(dir)
        .with_context(|| format!("{} is not inside a git work tree", dir.display()))
}

fn author_of(commit: &git2::Commit<'_>) -> String {
    let author = commit.author();
    format!(
        "{} <{}>",
        author.name().unwrap_or("unknown"),
        author.email().unwrap_or("unknown")
    )
}

/// The work tree's changes against `head` (index and untracked files
/// included, ignored files not), or `None` when it is clean.
fn work_tree_changes(repo: &git2::Repository, head: &git2::Commit<'_>) -> Result<Option<Changes>> {
    let tree = head.tree().context("reading the HEAD tree")?;
    let mut options = git2::DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .show_binary(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
        .context("comparing the work tree with HEAD")?;
    let mut patch = Vec::new();
    diff.print(git2::DiffFormat::Patch, |_delta, _hunk, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            patch.push(line.origin() as u8);
        }
        patch.extend_from_slice(line.content());
        true
    })
    .context("reading the work tree's changes")?;
    Ok((!patch.is_empty()).then(|| Changes::new(patch)))
}

/// A commit of a repository written out into a temporary directory (with
/// recorded uncommitted changes applied), leaving the repository's own work
/// tree and index alone. The files are written from the commit's tree as
/// git stores them (no checkout filters: line endings and `ident` are not
/// converted). The directory is removed when this is dropped.
#[derive(Debug)]
pub struct Checkout {
    /// Held for its removal on drop.
    _dir: tempfile::TempDir,
    /// Where the directory asked for is in the checkout (the package
    /// repository may be a subdirectory of the git work tree).
    root: PathBuf,
    /// The state a submit from this tree records: the commit, and the
    /// changes when some were applied.
    pub state: GitState,
}

/// Why a checkout could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(
        "`{rev}` is not a commit of the repository at {repo}: fetch it first (`git fetch`), or check the name"
    )]
    UnknownRevision { rev: String, repo: PathBuf },
    #[error("the recorded changes do not apply to commit {commit}")]
    ChangesDoNotApply {
        commit: String,
        #[source]
        source: git2::Error,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Checkout {
    /// The directory the checkout was asked for (`repo_dir` of
    /// [`Checkout::new`]), in the temporary work tree.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Writes `rev` of the repository containing `repo_dir` (and `changes`,
    /// a patch as [`Changes::patch`], applied to it) into a new temporary
    /// directory.
    pub fn new(repo_dir: &Path, rev: &str, changes: Option<&[u8]>) -> Result<Self, CheckoutError> {
        let repo = discover(repo_dir)?;
        let commit = repo
            .revparse_single(rev)
            .and_then(|object| object.peel_to_commit())
            .map_err(|_| CheckoutError::UnknownRevision {
                rev: rev.to_owned(),
                repo: repo.workdir().unwrap_or(repo.path()).to_owned(),
            })?;
        let tree = commit.tree().context("reading the commit's tree")?;
        let index = match changes {
            Some(patch) => apply_changes(&repo, &commit, &tree, patch)?,
            None => {
                let mut index = git2::Index::new().context("making an index in memory")?;
                index
                    .read_tree(&tree)
                    .context("reading the commit's tree")?;
                index
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("kiln-checkout-")
            .tempdir()
            .context("making a temporary directory for the checkout")?;
        write_files(&repo, &index, dir.path()).with_context(|| {
            format!(
                "writing commit {} into {}",
                commit.id(),
                dir.path().display()
            )
        })?;
        let state = GitState {
            commit: commit.id().to_string(),
            author: author_of(&commit),
            changes: changes.map(|patch| Changes::new(patch.to_vec())),
        };
        let root = dir.path().join(within_work_tree(&repo, repo_dir)?);
        Ok(Self {
            _dir: dir,
            root,
            state,
        })
    }
}

/// Writes every file of `index` under `dir` (which is empty): regular
/// files with their executable bit, symbolic links, and an empty directory
/// for a submodule; in parallel, each thread reading blobs through a
/// repository handle of its own.
fn write_files(repo: &git2::Repository, index: &git2::Index, dir: &Path) -> Result<()> {
    let entries: Vec<(PathBuf, u32, git2::Oid)> = index
        .iter()
        .map(|e| Ok((entry_path(&e.path)?, e.mode, e.id)))
        .collect::<Result<_>>()?;
    // Every directory once, each after its parent (a parent sorts first).
    let parents: std::collections::BTreeSet<&Path> = entries
        .iter()
        .flat_map(|(p, _, _)| p.ancestors().skip(1))
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    for parent in parents {
        let path = dir.join(parent);
        match std::fs::create_dir(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(e).with_context(|| format!("creating {}", path.display()));
            }
            _ => {}
        }
    }
    let git_dir = repo.path().to_owned();
    entries.par_iter().try_for_each_init(
        || git2::Repository::open(&git_dir),
        |opened, (path, mode, oid)| -> Result<()> {
            let repo = opened
                .as_ref()
                .map_err(|e| anyhow::anyhow!("opening the repository: {e}"))?;
            write_entry(repo, &dir.join(path), *mode, *oid)
                .with_context(|| format!("writing {}", path.display()))
        },
    )
}

/// A path of the index as a relative path of plain components.
fn entry_path(bytes: &[u8]) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = Path::new(std::ffi::OsStr::from_bytes(bytes));
    let plain = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    anyhow::ensure!(
        plain && !bytes.is_empty(),
        "the commit holds a path that is not a plain relative path: {}",
        String::from_utf8_lossy(bytes)
    );
    Ok(path.to_owned())
}

fn write_entry(repo: &git2::Repository, dest: &Path, mode: u32, oid: git2::Oid) -> Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    const KIND: u32 = 0o170000;
    match mode & KIND {
        0o160000 => Ok(std::fs::create_dir_all(dest)?),
        0o120000 => {
            let blob = repo.find_blob(oid)?;
            let target = Path::new(std::ffi::OsStr::from_bytes(blob.content()));
            Ok(std::os::unix::fs::symlink(target, dest)?)
        }
        _ => {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let blob = repo.find_blob(oid)?;
            let perms = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(perms)
                .open(dest)?;
            Ok(file.write_all(blob.content())?)
        }
    }
}

/// Where `dir` is in the repository's work tree (empty at its top).
fn within_work_tree(repo: &git2::Repository, dir: &Path) -> Result<PathBuf> {
    let workdir = repo
        .workdir()
        .with_context(|| format!("the repository at {} has no work tree", dir.display()))?;
    let canonical =
        |p: &Path| std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()));
    let (dir, workdir) = (canonical(dir)?, canonical(workdir)?);
    Ok(dir
        .strip_prefix(&workdir)
        .map(Path::to_owned)
        .unwrap_or_default())
}

/// The index of `tree` with `patch` applied (its new files are written to
/// the repository's object database, nothing else).
fn apply_changes(
    repo: &git2::Repository,
    commit: &git2::Commit<'_>,
    tree: &git2::Tree<'_>,
    patch: &[u8],
) -> Result<git2::Index, CheckoutError> {
    let not_applied = |source| CheckoutError::ChangesDoNotApply {
        commit: commit.id().to_string(),
        source,
    };
    let diff = git2::Diff::from_buffer(patch).map_err(not_applied)?;
    repo.apply_to_tree(tree, &diff, None).map_err(not_applied)
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
        let first_diff = modified.diff_sha256().expect("dirty").to_owned();

        std::fs::write(dir.path().join("b"), "new\n").expect("write");
        let untracked = state_of(dir.path()).expect("state");
        assert_ne!(
            untracked.diff_sha256().expect("dirty"),
            first_diff,
            "untracked files count"
        );
    }

    /// Every file under `dir` but `.git`, with its content.
    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.file_name() == Some(".git".as_ref()) {
                    continue;
                }
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(dir).expect("under dir").to_owned();
                    out.push((rel, std::fs::read(&path).expect("read")));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn an_older_commit_is_written_out_and_the_work_tree_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        std::fs::create_dir(dir.path().join("d")).expect("mkdir");
        std::fs::write(dir.path().join("d/a"), "one\n").expect("write");
        commit_all(&repo, "first");
        let first = state_of(dir.path()).expect("state").commit;
        std::fs::write(dir.path().join("d/a"), "two\n").expect("write");
        commit_all(&repo, "second");
        std::fs::write(dir.path().join("d/a"), "uncommitted\n").expect("write");
        let before = (
            files(dir.path()),
            std::fs::read(dir.path().join(".git/index")).expect("index"),
        );

        let checkout = Checkout::new(dir.path(), &first[..10], None).expect("checkout");
        assert_eq!(
            files(checkout.path()),
            [(PathBuf::from("d/a"), b"one\n".to_vec())]
        );
        assert_eq!(checkout.state.commit, first);
        assert!(!checkout.state.is_dirty());
        let after = (
            files(dir.path()),
            std::fs::read(dir.path().join(".git/index")).expect("index"),
        );
        assert_eq!(before, after, "the work tree and the index are untouched");

        let kept = checkout.path().to_owned();
        drop(checkout);
        assert!(!kept.exists(), "the checkout is removed");
    }

    #[test]
    fn a_subdirectory_of_the_work_tree_is_found_in_the_checkout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        std::fs::create_dir_all(dir.path().join("packages/a")).expect("mkdir");
        std::fs::write(dir.path().join("packages/a/pkg.toml"), "x\n").expect("write");
        commit_all(&repo, "first");
        let checkout = Checkout::new(&dir.path().join("packages"), "HEAD", None).expect("checkout");
        assert!(checkout.path().ends_with("packages"));
        assert_eq!(
            files(checkout.path()),
            [(PathBuf::from("a/pkg.toml"), b"x\n".to_vec())]
        );
    }

    #[test]
    fn links_and_executable_files_are_written_as_committed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        std::fs::create_dir(dir.path().join("bin")).expect("mkdir");
        std::fs::write(dir.path().join("bin/run"), "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(
            dir.path().join("bin/run"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        std::os::unix::fs::symlink("bin/run", dir.path().join("run")).expect("symlink");
        commit_all(&repo, "first");
        let checkout = Checkout::new(dir.path(), "HEAD", None).expect("checkout");
        let run = checkout.path().join("bin/run");
        assert_eq!(
            std::fs::metadata(&run).expect("stat").permissions().mode() & 0o111,
            0o111
        );
        assert_eq!(
            std::fs::read_link(checkout.path().join("run")).expect("a link"),
            PathBuf::from("bin/run")
        );
    }

    #[test]
    fn an_unknown_revision_says_to_fetch_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        std::fs::write(dir.path().join("a"), "one\n").expect("write");
        commit_all(&repo, "first");
        for rev in ["0123456789abcdef0123456789abcdef01234567", "no-such-branch"] {
            let err = Checkout::new(dir.path(), rev, None).expect_err("unknown");
            assert!(
                matches!(err, CheckoutError::UnknownRevision { .. }),
                "{err}"
            );
            assert!(err.to_string().contains("fetch"), "{err}");
            assert!(err.to_string().contains(rev), "{err}");
        }
    }

    #[test]
    fn uncommitted_changes_are_rebuilt_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        std::fs::write(dir.path().join("text"), "one\ntwo\n").expect("write");
        std::fs::write(dir.path().join("gone"), "bye\n").expect("write");
        std::fs::write(dir.path().join("bin"), [0u8, 1, 2, 255, 0, 10]).expect("write");
        commit_all(&repo, "first");
        std::fs::write(dir.path().join("text"), "one\nthree\n").expect("write");
        std::fs::remove_file(dir.path().join("gone")).expect("rm");
        std::fs::write(dir.path().join("bin"), [9u8, 0, 0, 254, 13, 10, 0]).expect("write");
        std::fs::create_dir(dir.path().join("new")).expect("mkdir");
        std::fs::write(
            dir.path().join("new/untracked.bin"),
            (0..=255u8).collect::<Vec<_>>(),
        )
        .expect("write");
        std::fs::write(dir.path().join("no-newline"), "last").expect("write");

        let state = state_of(dir.path()).expect("state");
        let changes = state.changes.clone().expect("dirty");
        let checkout =
            Checkout::new(dir.path(), &state.commit, Some(&changes.patch)).expect("checkout");
        assert_eq!(files(checkout.path()), files(dir.path()));
        assert_eq!(
            checkout.state,
            GitState {
                author: state.author.clone(),
                ..state
            }
        );
    }

    #[test]
    fn changes_that_do_not_apply_are_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git2::Repository::init(dir.path()).expect("init");
        std::fs::write(dir.path().join("a"), "one\n").expect("write");
        commit_all(&repo, "first");
        let head = state_of(dir.path()).expect("state").commit;
        let patch = b"diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-other\n+two\n";
        let err = Checkout::new(dir.path(), &head, Some(patch)).expect_err("conflict");
        assert!(
            matches!(err, CheckoutError::ChangesDoNotApply { .. }),
            "{err}"
        );
    }
}
