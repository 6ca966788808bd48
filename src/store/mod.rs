//! Staging and release stores: where artifacts land on the host.
//!
//! A job's `/outputs` arrives as a tar stream and is unpacked into the
//! submit's staging directory, `<staging>/<submit-uuid>/`, by [`extract`]:
//! entries that could escape (absolute paths, `..`, links pointing outside,
//! devices, fifos) are refused and reported, and nothing is ever written
//! outside that directory. An archive lands whole or not at all, so that
//! staging holds only accepted outputs. Each file's size and SHA-256 are
//! computed while it is written. [`release`] copies artifacts into a release store atomically,
//! never replacing a different file. [`reuse`] takes an earlier job's
//! artifacts into a new submit's staging directory, checked. [`sources`] knows where the source
//! cache keeps each source and checks files against their hashes;
//! [`download`] fetches missing sources into it. [`paths`] is the one check
//! that every path built under a store's root stays under it.
//!
//! Architecture invariant: all file work here is blocking I/O and runs inside
//! `spawn_blocking`; the async functions are the only entry points for async
//! callers.

pub mod checksum;
pub mod download;
pub mod extract;
pub mod paths;
pub mod release;
pub mod reuse;
pub mod sources;

use std::fmt;
use std::path::{Path, PathBuf};

pub use checksum::{sha256_file, Sha256Digest};
pub use extract::{Artifact, Extraction, RefusalReason, Refused, StagingStore};
pub use paths::PathError;
pub use release::{AtPath, Copied, ReleaseStore};

/// A failure of the store itself (disk, archive), as opposed to an entry that
/// was refused, which is reported in [`Extraction::refused`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the outputs archive for {}", dest.display())]
    Archive {
        dest: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} already exists in release store `{store}` with different content (sha256 {existing}, releasing {new})", path.display())]
    ReleaseConflict {
        store: String,
        path: PathBuf,
        existing: Sha256Digest,
        new: Sha256Digest,
    },
    #[error(
        "{} has changed since it was built: its SHA-256 is {found}, the recorded one {recorded}",
        path.display()
    )]
    ArtifactChanged {
        path: PathBuf,
        recorded: Sha256Digest,
        found: Sha256Digest,
    },
    #[error("`{}` is not a relative path inside a store", crate::error::escape_controls(.0))]
    InvalidPath(String),
    #[error("a store task ended abnormally")]
    Task(#[from] tokio::task::JoinError),
}

impl StoreError {
    fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.to_owned();
        move |source| StoreError::Io { what, path, source }
    }
}

/// A path relative to a store: `/`-separated UTF-8 components, each one
/// plain component as [`paths::component_problem`] defines it (not empty,
/// `.` or `..`, no `\`, no control character), never absolute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Validates a relative path.
    pub fn new(path: &str) -> Result<Self, StoreError> {
        let ok = !path.is_empty()
            && path
                .split('/')
                .all(|c| paths::component_problem(c).is_none());
        if ok {
            Ok(Self(path.to_owned()))
        } else {
            Err(StoreError::InvalidPath(path.to_owned()))
        }
    }

    /// Joins validated components.
    fn from_components(components: &[&str]) -> Self {
        Self(components.join("/"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path below `root`.
    pub fn under(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("a/b.tar.gz", true),
            ("", false),
            ("/a", false),
            ("a//b", false),
            ("a/", false),
            ("./a", false),
            ("a/../b", false),
            ("..", false),
            ("..a/b..", true),
            ("a\\b", false),
            ("a/b\nc", false),
            ("a/\u{1b}", false),
        ];
        for (path, ok) in cases {
            assert_eq!(RelPath::new(path).is_ok(), *ok, "{path:?}");
        }
    }

    #[test]
    fn a_staged_artifact_path_stays_under_the_staging_directory() {
        let staging = Path::new("/srv/staging/3f2a");
        for path in ["x86_64/zlib-1.3.tar.gz", "..a/b..", "a.b/c"] {
            let rel = RelPath::new(path).expect("a relative path");
            assert!(rel.under(staging).starts_with(staging), "{path}");
        }
        for path in ["../../../tmp/x", "a/../../x", "/tmp/x", "a\\..\\..\\x"] {
            assert!(RelPath::new(path).is_err(), "{path}");
        }
    }
}
