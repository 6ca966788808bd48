//! Release stores: directories under `releases_root` where artifacts are
//! copied for keeps. A release is atomic (a temporary file in the target
//! directory, synced, then moved into place without replacing anything) and
//! never overwrites a different file: releasing the same content twice is a
//! no-op, releasing different content to a taken path is an error.

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

/// What a release did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The file was copied into the store.
    Copied,
    /// The same content was already there.
    AlreadyPresent,
}

/// A released file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: Sha256Digest,
    pub outcome: ReleaseOutcome,
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

    /// Copies `artifact` (a file on disk, usually in the staging store) to
    /// `path` inside this store, in a blocking task.
    pub async fn release(
        &self,
        artifact: impl Into<PathBuf>,
        path: &RelPath,
    ) -> Result<Release, StoreError> {
        let store = self.clone();
        let artifact = artifact.into();
        let path = path.clone();
        tokio::task::spawn_blocking(move || store.release_blocking(&artifact, &path)).await?
    }

    fn release_blocking(&self, artifact: &Path, path: &RelPath) -> Result<Release, StoreError> {
        let dest = path.under(&self.root);
        if std::fs::symlink_metadata(&dest).is_ok() {
            let (size, sha256) = sha256_file_blocking(artifact)?;
            return self.compare_existing(&dest, size, sha256);
        }
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
        match tmp.persist_noclobber(&dest) {
            Ok(_) => Ok(Release {
                path: dest,
                size,
                sha256,
                outcome: ReleaseOutcome::Copied,
            }),
            // Someone released the same path meanwhile.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                self.compare_existing(&dest, size, sha256)
            }
            Err(e) => Err(StoreError::io("moving into place", &dest)(e.error)),
        }
    }

    fn compare_existing(
        &self,
        dest: &Path,
        size: u64,
        sha256: Sha256Digest,
    ) -> Result<Release, StoreError> {
        let (existing_size, existing) = sha256_file_blocking(dest)?;
        if existing_size == size && existing == sha256 {
            Ok(Release {
                path: dest.to_owned(),
                size,
                sha256,
                outcome: ReleaseOutcome::AlreadyPresent,
            })
        } else {
            Err(StoreError::ReleaseConflict {
                store: self.name.clone(),
                path: dest.to_owned(),
                existing,
                new: sha256,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn releases_copy_once_and_never_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let staged = dir.path().join("staged.pkg");
        std::fs::write(&staged, b"package bytes").expect("writing");
        let other = dir.path().join("other.pkg");
        std::fs::write(&other, b"different bytes").expect("writing");
        let store = ReleaseStore::new("stable", &dir.path().join("releases")).expect("a store");
        let rel = RelPath::new("x86_64/staged.pkg").expect("path");

        let first = store.release(&staged, &rel).await.expect("first release");
        assert_eq!(first.outcome, ReleaseOutcome::Copied);
        assert_eq!(
            first.path,
            dir.path().join("releases/stable/x86_64/staged.pkg")
        );
        assert_eq!(
            std::fs::read(&first.path).expect("reading"),
            b"package bytes"
        );
        assert_eq!(first.size, 13);

        let again = store.release(&staged, &rel).await.expect("second release");
        assert_eq!(again.outcome, ReleaseOutcome::AlreadyPresent);
        assert_eq!(again.sha256, first.sha256);

        let conflict = store.release(&other, &rel).await;
        assert!(
            matches!(conflict, Err(StoreError::ReleaseConflict { .. })),
            "{conflict:?}"
        );
        assert_eq!(
            std::fs::read(&first.path).expect("reading"),
            b"package bytes"
        );

        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("releases/stable/x86_64"))
            .expect("listing")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["staged.pkg"]);

        let missing = store
            .release(
                dir.path().join("missing"),
                &RelPath::new("m").expect("path"),
            )
            .await;
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
