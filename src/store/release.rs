//! Release stores: directories under `releases_root` where artifacts are
//! copied for keeps. Releasing is two steps, so that a set of artifacts
//! goes into place together or not at all: each file is first copied to a
//! temporary file beside its place and checked against the SHA-256 it was
//! recorded with ([`ReleaseStore::copy_checked`]); once every copy is
//! checked, each is moved into place ([`Copied::place`]), never over a
//! different file unless asked to. Releasing the same content twice
//! changes nothing.

use std::path::{Path, PathBuf};

use super::checksum::{copy_hashing, sha256_file_blocking, CopyError, Sha256Digest};
use super::paths::{under_root, PathError};
use super::{RelPath, StoreError};

/// A named release store rooted at `<releases_root>/<name>`.
#[derive(Debug, Clone)]
pub struct ReleaseStore {
    name: String,
    root: PathBuf,
}

/// What is at a path of a store now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtPath {
    Nothing,
    /// A file with this content.
    File(Sha256Digest),
}

/// An artifact copied beside its place in a store and checked, not yet in
/// place. Dropped without [`Copied::place`], the copy is removed.
#[derive(Debug)]
pub struct Copied {
    store: String,
    temp: tempfile::TempPath,
    dest: PathBuf,
    pub size: u64,
    pub sha256: Sha256Digest,
}

impl ReleaseStore {
    /// The store `name` under `releases_root`; refused unless `name` is one
    /// plain directory name, so that the store stays under `releases_root`.
    pub fn new(name: impl Into<String>, releases_root: &Path) -> Result<Self, PathError> {
        let name = name.into();
        let root = under_root(releases_root, &[&name])?;
        Ok(Self { name, root })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What is at `path` in the store: nothing, or a file and its SHA-256
    /// (read in full). Blocking.
    pub fn at(&self, path: &RelPath) -> Result<AtPath, StoreError> {
        let dest = path.under(&self.root);
        match std::fs::symlink_metadata(&dest) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AtPath::Nothing),
            Err(e) => Err(StoreError::io("inspecting", &dest)(e)),
            Ok(_) => Ok(AtPath::File(sha256_file_blocking(&dest)?.1)),
        }
    }

    /// Copies `artifact` to a temporary file beside the place of `path`,
    /// and checks that the copy has the SHA-256 the artifact was recorded
    /// with. Blocking.
    pub fn copy_checked(
        &self,
        artifact: &Path,
        path: &RelPath,
        expected: &Sha256Digest,
    ) -> Result<Copied, StoreError> {
        let dest = path.under(&self.root);
        let parent = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent)
            .map_err(StoreError::io("creating release directory", parent))?;
        let mut source =
            std::fs::File::open(artifact).map_err(StoreError::io("opening artifact", artifact))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".kiln-release-")
            .tempfile_in(parent)
            .map_err(StoreError::io("creating a file in", parent))?;
        let (size, sha256) = copy_hashing(&mut source, tmp.as_file_mut()).map_err(|e| match e {
            CopyError::Read(source) => StoreError::Io {
                what: "reading artifact",
                path: artifact.to_owned(),
                source,
            },
            CopyError::Write(source) => StoreError::Io {
                what: "writing",
                path: tmp.path().to_owned(),
                source,
            },
        })?;
        if sha256 != *expected {
            return Err(StoreError::ArtifactChanged {
                path: artifact.to_owned(),
                recorded: *expected,
                found: sha256,
            });
        }
        let mode = source
            .metadata()
            .map(|m| m.permissions())
            .map_err(StoreError::io("inspecting artifact", artifact))?;
        tmp.as_file()
            .set_permissions(mode)
            .map_err(StoreError::io("setting permissions of", tmp.path()))?;
        tmp.as_file()
            .sync_all()
            .map_err(StoreError::io("syncing", tmp.path()))?;
        Ok(Copied {
            store: self.name.clone(),
            temp: tmp.into_temp_path(),
            dest,
            size,
            sha256,
        })
    }

    /// Removes the file at `path`; `false` when there was none. Blocking.
    pub fn remove(&self, path: &RelPath) -> Result<bool, StoreError> {
        let dest = path.under(&self.root);
        match std::fs::remove_file(&dest) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io("removing", &dest)(e)),
        }
    }
}

impl Copied {
    /// Where the file goes.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Moves the copy into place. A file already there with the same
    /// content is kept (`Ok(false)`); a different one is an error unless
    /// `replace`. Blocking.
    pub fn place(self, replace: bool) -> Result<bool, StoreError> {
        if replace {
            self.temp
                .persist(&self.dest)
                .map_err(|e| StoreError::io("moving into place", &self.dest)(e.error))?;
            return Ok(true);
        }
        match self.temp.persist_noclobber(&self.dest) {
            Ok(()) => Ok(true),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                let (_, existing) = sha256_file_blocking(&self.dest)?;
                if existing == self.sha256 {
                    Ok(false)
                } else {
                    Err(StoreError::ReleaseConflict {
                        store: self.store,
                        path: self.dest,
                        existing,
                        new: self.sha256,
                    })
                }
            }
            Err(e) => Err(StoreError::io("moving into place", &self.dest)(e.error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> Sha256Digest {
        use sha2::Digest as _;
        Sha256Digest::from_bytes(sha2::Sha256::digest(bytes).into())
    }

    #[test]
    fn releases_are_checked_placed_once_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staged = dir.path().join("staged.pkg");
        std::fs::write(&staged, b"package bytes").expect("writing");
        let other = dir.path().join("other.pkg");
        std::fs::write(&other, b"different bytes").expect("writing");
        let store = ReleaseStore::new("stable", &dir.path().join("releases")).expect("a store");
        let rel = RelPath::new("x86_64/staged.pkg").expect("path");
        assert_eq!(store.at(&rel).expect("at"), AtPath::Nothing);

        let copy = store
            .copy_checked(&staged, &rel, &sha(b"package bytes"))
            .expect("copied");
        assert_eq!(copy.size, 13);
        let dest = copy.dest().to_owned();
        assert_eq!(dest, dir.path().join("releases/stable/x86_64/staged.pkg"));
        assert!(!dest.exists(), "not in place before it is placed");
        assert!(copy.place(false).expect("placed"));
        assert_eq!(std::fs::read(&dest).expect("reading"), b"package bytes");
        assert_eq!(
            store.at(&rel).expect("at"),
            AtPath::File(sha(b"package bytes"))
        );

        let again = store
            .copy_checked(&staged, &rel, &sha(b"package bytes"))
            .expect("copied");
        assert!(!again.place(false).expect("the same content"), "a no-op");

        let conflict = store
            .copy_checked(&other, &rel, &sha(b"different bytes"))
            .expect("copied")
            .place(false);
        assert!(
            matches!(conflict, Err(StoreError::ReleaseConflict { .. })),
            "{conflict:?}"
        );
        assert_eq!(std::fs::read(&dest).expect("reading"), b"package bytes");
        let replaced = store
            .copy_checked(&other, &rel, &sha(b"different bytes"))
            .expect("copied")
            .place(true);
        assert!(replaced.expect("replaced"));
        assert_eq!(std::fs::read(&dest).expect("reading"), b"different bytes");

        // A staged file that changed since it was recorded is refused.
        let changed = store.copy_checked(&staged, &rel, &sha(b"what was built"));
        assert!(
            matches!(changed, Err(StoreError::ArtifactChanged { .. })),
            "{changed:?}"
        );
        assert_eq!(std::fs::read(&dest).expect("reading"), b"different bytes");

        // A copy dropped without being placed leaves nothing behind.
        drop(store.copy_checked(&staged, &rel, &sha(b"package bytes")));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("releases/stable/x86_64"))
            .expect("listing")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["staged.pkg"]);

        assert!(store.remove(&rel).expect("removed"));
        assert!(!store.remove(&rel).expect("nothing to remove"));
        let missing = store.copy_checked(&dir.path().join("missing"), &rel, &sha(b""));
        assert!(matches!(missing, Err(StoreError::Io { .. })), "{missing:?}");
    }

    #[test]
    fn a_release_store_stays_under_releases_root() {
        let root = Path::new("/srv/releases");
        let store = ReleaseStore::new("stable", root).expect("a store");
        assert_eq!(store.root(), Path::new("/srv/releases/stable"));
        let rel = RelPath::new("x86_64/zlib.tar.gz").expect("path");
        assert!(rel.under(store.root()).starts_with(root));
        for name in ["..", "../../tmp", "a/b", "", "a\\b", "x\u{1b}"] {
            let err = ReleaseStore::new(name, root).expect_err(name);
            assert_eq!(err.part, name);
        }
    }
}
