//! Taking an earlier job's artifact into a new submit's staging directory:
//! the first of its known locations (the earlier submit's staging
//! directory, the release stores it was released into) whose content still
//! has the recorded SHA-256 is hard-linked (on the same file system) or
//! copied there, and what lands there is checked against that SHA-256. A
//! symbolic link artifact is made again as the same link, once the file it
//! points to is checked.
//!
//! Blocking: callers run it inside `spawn_blocking`.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::checksum::{copy_hashing, sha256_file_blocking, Sha256Digest};
use super::StoreError;

/// Why an earlier artifact cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactProblem {
    /// No file at any of its locations.
    Missing,
    /// A file is there, but its content is not what was recorded.
    Changed { found: Sha256Digest },
    /// It could not be read or placed (permissions, a full disk).
    Unusable(String),
}

impl fmt::Display for ArtifactProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactProblem::Missing => f.write_str("is missing"),
            ArtifactProblem::Changed { found } => {
                write!(f, "has changed (its SHA-256 is now {found})")
            }
            ArtifactProblem::Unusable(why) => write!(f, "cannot be used: {why}"),
        }
    }
}

/// Finds the first of `locations` whose content has SHA-256 `expected`
/// and, with `dest`, places it there (a hard link, else a copy), checked.
/// Without `dest`, only checks. The problem of the first location that
/// has a file wins over "missing".
pub fn take(
    locations: &[PathBuf],
    expected: &Sha256Digest,
    dest: Option<&Path>,
) -> Result<(), ArtifactProblem> {
    let mut problem = ArtifactProblem::Missing;
    for location in locations {
        let result = match dest {
            None => check(location, expected),
            Some(dest) => place(location, expected, dest),
        };
        match result {
            Ok(()) => return Ok(()),
            Err(ArtifactProblem::Missing) => {}
            Err(other) => {
                if problem == ArtifactProblem::Missing {
                    problem = other;
                }
            }
        }
    }
    Err(problem)
}

fn check(location: &Path, expected: &Sha256Digest) -> Result<(), ArtifactProblem> {
    match sha256_file_blocking(location) {
        Ok((_, found)) if found == *expected => Ok(()),
        Ok((_, found)) => Err(ArtifactProblem::Changed { found }),
        Err(err) => Err(problem_of(err)),
    }
}

fn place(location: &Path, expected: &Sha256Digest, dest: &Path) -> Result<(), ArtifactProblem> {
    let meta = match std::fs::symlink_metadata(location) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ArtifactProblem::Missing),
        Err(e) => return Err(unusable("reading", location, &e)),
    };
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| unusable("creating", parent, &e))?;
    }
    if meta.file_type().is_symlink() {
        check(location, expected)?;
        let target = std::fs::read_link(location).map_err(|e| unusable("reading", location, &e))?;
        return std::os::unix::fs::symlink(&target, dest)
            .map_err(|e| unusable("creating the link", dest, &e));
    }
    match std::fs::hard_link(location, dest) {
        Ok(()) => check(dest, expected).inspect_err(|_| remove(dest)),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(ArtifactProblem::Missing),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            Err(unusable("placing (a file is already there)", dest, &e))
        }
        // Another file system, or links not allowed: a copy.
        Err(_) => copy_checked(location, expected, dest),
    }
}

/// Copies `from` to a temporary file beside `dest`, hashing it on the way,
/// and moves it into place only when its SHA-256 is `expected`.
fn copy_checked(from: &Path, expected: &Sha256Digest, dest: &Path) -> Result<(), ArtifactProblem> {
    let mut source = match std::fs::File::open(from) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ArtifactProblem::Missing),
        Err(e) => return Err(unusable("opening", from, &e)),
    };
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| unusable("creating a file in", dir, &e))?;
    let (_, found) = copy_hashing(&mut source, temp.as_file_mut()).map_err(|e| match e {
        super::checksum::CopyError::Read(e) => unusable("reading", from, &e),
        super::checksum::CopyError::Write(e) => unusable("writing", dest, &e),
    })?;
    if found != *expected {
        return Err(ArtifactProblem::Changed { found });
    }
    temp.persist_noclobber(dest)
        .map(drop)
        .map_err(|e| unusable("placing", dest, &e.error))
}

/// Removes a file placed for a job that will not be reused after all;
/// one already gone is fine.
pub fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != ErrorKind::NotFound {
            tracing::warn!("removing {}: {e}", path.display());
        }
    }
}

fn problem_of(err: StoreError) -> ArtifactProblem {
    match err {
        StoreError::Io { source, .. } if source.kind() == ErrorKind::NotFound => {
            ArtifactProblem::Missing
        }
        other => ArtifactProblem::Unusable(crate::error::Chain(&other).to_string()),
    }
}

fn unusable(what: &str, path: &Path, err: &std::io::Error) -> ArtifactProblem {
    ArtifactProblem::Unusable(format!("{what} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn digest(bytes: &[u8]) -> Sha256Digest {
        Sha256Digest::from_bytes(Sha256::digest(bytes).into())
    }

    #[test]
    fn takes_the_first_location_with_the_recorded_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (gone, changed, good) = (
            dir.path().join("gone"),
            dir.path().join("changed"),
            dir.path().join("good"),
        );
        std::fs::write(&changed, b"other").expect("write");
        std::fs::write(&good, b"content").expect("write");
        let expected = digest(b"content");
        let dest = dir.path().join("new/sub/file");
        let locations = [gone.clone(), changed.clone(), good];
        assert_eq!(take(&locations, &expected, None), Ok(()));
        assert_eq!(take(&locations, &expected, Some(&dest)), Ok(()));
        assert_eq!(std::fs::read(&dest).expect("placed"), b"content");
        // Placed twice: refused, not overwritten.
        assert!(matches!(
            take(&locations, &expected, Some(&dest)),
            Err(ArtifactProblem::Unusable(_))
        ));
        let cases: &[(&[PathBuf], ArtifactProblem)] = &[
            (std::slice::from_ref(&gone), ArtifactProblem::Missing),
            (&[], ArtifactProblem::Missing),
            (
                &[gone.clone(), changed.clone()],
                ArtifactProblem::Changed {
                    found: digest(b"other"),
                },
            ),
        ];
        for (locations, problem) in cases {
            let other = dir.path().join("other");
            assert_eq!(take(locations, &expected, None).as_ref(), Err(problem));
            assert_eq!(
                take(locations, &expected, Some(&other)).as_ref(),
                Err(problem)
            );
            assert!(!other.exists(), "{locations:?} left a file");
        }
    }

    #[test]
    fn a_link_is_made_again_as_the_same_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("old");
        std::fs::create_dir_all(&old).expect("mkdir");
        std::fs::write(old.join("lib.so.1"), b"lib").expect("write");
        std::os::unix::fs::symlink("lib.so.1", old.join("lib.so")).expect("symlink");
        let dest = dir.path().join("new/lib.so");
        assert_eq!(
            take(&[old.join("lib.so")], &digest(b"lib"), Some(&dest)),
            Ok(())
        );
        assert_eq!(
            std::fs::read_link(&dest).expect("a link"),
            Path::new("lib.so.1")
        );
    }
}
