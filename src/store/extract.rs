//! Safe extraction of a job's outputs into the staging store.
//!
//! The archive is the tar stream of a container's `/outputs`, whose entries
//! are named `outputs/...`. Each entry lands at the same relative path under
//! `<staging>/<submit-uuid>/`, or is refused with a reason. Refused: absolute
//! names, names with `..`, names outside `outputs/`, links pointing outside,
//! hard links to anything but a file extracted before, devices, fifos, and
//! paths that would pass through an existing link or file. Never followed:
//! existing symbolic links (files are created with `O_EXCL` in directories
//! checked component by component; symbolic links from the archive are created
//! last and checked where they really point). Never replaced: an existing
//! different file.
//!
//! Each file is written through a temporary file in its directory while its
//! size and SHA-256 are computed, then moved into place without replacing
//! anything. Memory use does not depend on the size of the files.

use std::collections::HashMap;
use std::fmt;
use std::fs::Permissions;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;
use uuid::Uuid;

use super::checksum::{copy_hashing, sha256_file_blocking, CopyError, Sha256Digest};
use super::{RelPath, StoreError};

/// The top directory of the archive of `/outputs`.
const OUTPUTS: &str = "outputs";

/// The staging store: one directory per submit under a root.
#[derive(Debug, Clone)]
pub struct StagingStore {
    root: PathBuf,
}

/// A file extracted from a job's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Relative to the submit's staging directory.
    pub path: RelPath,
    pub size: u64,
    pub sha256: Sha256Digest,
}

/// A symbolic link extracted from a job's outputs; it points inside the
/// submit's staging directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub path: RelPath,
    pub target: String,
}

/// An archive entry that was not extracted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The entry's name in the archive (invalid UTF-8 replaced).
    pub entry: String,
    pub reason: RefusalReason,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.entry, self.reason)
    }
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    AbsolutePath,
    ParentComponent,
    NotUnderOutputs,
    NotUtf8,
    EmptyName,
    LinkOutside { target: String },
    DanglingLink { target: String },
    HardLinkTarget { target: String },
    NotADirectory { path: String },
    Device,
    Fifo,
    Unsupported { kind: String },
    Collision,
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RefusalReason::*;
        match self {
            AbsolutePath => write!(f, "absolute path"),
            ParentComponent => write!(f, "path contains `..`"),
            NotUnderOutputs => write!(f, "not under `{OUTPUTS}/`"),
            NotUtf8 => write!(f, "name is not valid UTF-8"),
            EmptyName => write!(f, "empty name"),
            LinkOutside { target } => write!(
                f,
                "link pointing outside the staging directory (to `{target}`)"
            ),
            DanglingLink { target } => write!(f, "link to `{target}`, which does not exist"),
            HardLinkTarget { target } => write!(
                f,
                "hard link to `{target}`, which is not a file extracted before it"
            ),
            NotADirectory { path } => write!(f, "`{path}` is a link or a file, not a directory"),
            Device => write!(f, "device file"),
            Fifo => write!(f, "fifo"),
            Unsupported { kind } => write!(f, "unsupported entry type {kind}"),
            Collision => write!(f, "a different file already exists at that path"),
        }
    }
}

/// The result of extracting one archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// The submit's staging directory the paths are relative to.
    pub dir: PathBuf,
    pub artifacts: Vec<Artifact>,
    pub links: Vec<Link>,
    pub refused: Vec<Refused>,
}

impl StagingStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<staging>/<submit-uuid>/`.
    pub fn submit_dir(&self, submit: Uuid) -> PathBuf {
        self.root.join(submit.to_string())
    }

    /// Extracts an outputs archive (as downloaded from a container's
    /// `/outputs`) into the submit's staging directory, in a blocking task.
    pub async fn extract_outputs<R>(&self, submit: Uuid, tar: R) -> Result<Extraction, StoreError>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let dest = self.submit_dir(submit);
        let reader = SyncIoBridge::new(tar);
        tokio::task::spawn_blocking(move || extract_into(reader, &dest)).await?
    }
}

/// Extracts an outputs archive into `dest` (created if missing). Blocking.
pub fn extract_into<R: Read>(reader: R, dest: &Path) -> Result<Extraction, StoreError> {
    std::fs::create_dir_all(dest).map_err(StoreError::io("creating staging directory", dest))?;
    let canonical =
        std::fs::canonicalize(dest).map_err(StoreError::io("resolving staging directory", dest))?;
    let mut extractor = Extractor {
        dest: canonical.clone(),
        extraction: Extraction {
            dir: dest.to_owned(),
            ..Extraction::default()
        },
        files: HashMap::new(),
        pending_links: Vec::new(),
    };
    let archive_error = |source| StoreError::Archive {
        dest: dest.to_owned(),
        source,
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(archive_error)? {
        let mut entry = entry.map_err(archive_error)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        match extractor.entry(&mut entry) {
            Ok(()) => {}
            Err(EntryError::Refused(reason)) => extractor.refuse(name, reason),
            Err(EntryError::Store(e)) => return Err(e),
        }
    }
    extractor.create_links()?;
    Ok(extractor.extraction)
}

/// An entry that was refused, or a failure that ends the extraction.
enum EntryError {
    Refused(RefusalReason),
    Store(StoreError),
}

impl From<StoreError> for EntryError {
    fn from(e: StoreError) -> Self {
        EntryError::Store(e)
    }
}

impl From<RefusalReason> for EntryError {
    fn from(r: RefusalReason) -> Self {
        EntryError::Refused(r)
    }
}

struct PendingLink {
    entry: String,
    path: RelPath,
    target: String,
}

struct Extractor {
    /// The canonical staging directory.
    dest: PathBuf,
    extraction: Extraction,
    /// Files extracted so far, for hard links and repeated entries.
    files: HashMap<RelPath, (u64, Sha256Digest)>,
    pending_links: Vec<PendingLink>,
}

impl Extractor {
    fn refuse(&mut self, entry: String, reason: RefusalReason) {
        tracing::warn!(entry = %entry, %reason, "refused an outputs entry");
        self.extraction.refused.push(Refused { entry, reason });
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), EntryError> {
        use tar::EntryType;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let components = match entry_components(&entry.path_bytes())? {
            Some(components) => components,
            // The `outputs/` directory itself.
            None if kind == EntryType::Directory => return Ok(()),
            None => return Err(RefusalReason::NotUnderOutputs.into()),
        };
        let components: Vec<&str> = components.iter().map(String::as_str).collect();
        match kind {
            EntryType::Directory => self.ensure_dirs(&components),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mode = entry.header().mode().unwrap_or(0o644);
                self.write_file(&components, mode, entry)
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.hard_link(&components, &target)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target = String::from_utf8(target).map_err(|_| RefusalReason::NotUtf8)?;
                check_link_target(&components, &target)?;
                self.pending_links.push(PendingLink {
                    entry: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                    path: RelPath::from_components(&components),
                    target,
                });
                Ok(())
            }
            EntryType::Char | EntryType::Block => Err(RefusalReason::Device.into()),
            EntryType::Fifo => Err(RefusalReason::Fifo.into()),
            other => Err(RefusalReason::Unsupported {
                kind: format!("{other:?}"),
            }
            .into()),
        }
    }

    /// Creates the directories `components` below the staging directory,
    /// refusing to pass through anything that is not a real directory.
    fn ensure_dirs(&self, components: &[&str]) -> Result<(), EntryError> {
        let mut path = self.dest.clone();
        for (i, component) in components.iter().enumerate() {
            path.push(component);
            let not_a_dir = || RefusalReason::NotADirectory {
                path: components[..=i].join("/"),
            };
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => return Err(not_a_dir().into()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    match std::fs::create_dir(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            let meta = std::fs::symlink_metadata(&path)
                                .map_err(StoreError::io("inspecting", &path))?;
                            if !meta.is_dir() {
                                return Err(not_a_dir().into());
                            }
                        }
                        Err(e) => return Err(StoreError::io("creating directory", &path)(e).into()),
                    }
                }
                Err(e) => return Err(StoreError::io("inspecting", &path)(e).into()),
            }
        }
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        components: &[&str],
        mode: u32,
        entry: &mut R,
    ) -> Result<(), EntryError> {
        let (name, parents) = components.split_last().ok_or(RefusalReason::EmptyName)?;
        self.ensure_dirs(parents)?;
        let parent = parents.iter().fold(self.dest.clone(), |p, c| p.join(c));
        let mut tmp = tempfile::Builder::new()
            .prefix(".kiln-part-")
            .tempfile_in(&parent)
            .map_err(StoreError::io("creating a file in", &parent))?;
        let (size, sha256) = copy_hashing(entry, tmp.as_file_mut()).map_err(|e| match e {
            CopyError::Read(source) => StoreError::Archive {
                dest: self.extraction.dir.clone(),
                source,
            },
            CopyError::Write(source) => StoreError::Io {
                what: "writing",
                path: tmp.path().to_owned(),
                source,
            },
        })?;
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        tmp.as_file()
            .set_permissions(Permissions::from_mode(mode))
            .map_err(StoreError::io("setting permissions of", tmp.path()))?;
        let path = parent.join(name);
        let rel = RelPath::from_components(components);
        match tmp.persist_noclobber(&path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                self.same_file_exists(&path, size, sha256)?;
            }
            Err(e) => return Err(StoreError::io("moving into place", &path)(e.error).into()),
        }
        self.record_file(rel, size, sha256);
        Ok(())
    }

    /// Accepts an existing file at `path` only when it has the same content.
    fn same_file_exists(
        &self,
        path: &Path,
        size: u64,
        sha256: Sha256Digest,
    ) -> Result<(), EntryError> {
        let meta = std::fs::symlink_metadata(path).map_err(StoreError::io("inspecting", path))?;
        if !meta.is_file() || meta.len() != size {
            return Err(RefusalReason::Collision.into());
        }
        let (_, existing) = sha256_file_blocking(path)?;
        if existing != sha256 {
            return Err(RefusalReason::Collision.into());
        }
        Ok(())
    }

    fn record_file(&mut self, path: RelPath, size: u64, sha256: Sha256Digest) {
        if self.files.insert(path.clone(), (size, sha256)).is_none() {
            self.extraction
                .artifacts
                .push(Artifact { path, size, sha256 });
        }
    }

    fn hard_link(&mut self, components: &[&str], target: &[u8]) -> Result<(), EntryError> {
        let shown = String::from_utf8_lossy(target).into_owned();
        let refused = || RefusalReason::HardLinkTarget {
            target: shown.clone(),
        };
        let target = match entry_components(target) {
            Ok(Some(t)) => {
                RelPath::from_components(&t.iter().map(String::as_str).collect::<Vec<_>>())
            }
            _ => return Err(refused().into()),
        };
        let &(size, sha256) = self.files.get(&target).ok_or_else(refused)?;
        let (_, parents) = components.split_last().ok_or(RefusalReason::EmptyName)?;
        self.ensure_dirs(parents)?;
        let rel = RelPath::from_components(components);
        let path = rel.under(&self.dest);
        match std::fs::hard_link(target.under(&self.dest), &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.same_file_exists(&path, size, sha256)?
            }
            Err(e) => return Err(StoreError::io("creating hard link", &path)(e).into()),
        }
        self.record_file(rel, size, sha256);
        Ok(())
    }

    /// Creates the symbolic links, last, and keeps only those that really
    /// point inside the staging directory.
    fn create_links(&mut self) -> Result<(), StoreError> {
        for link in std::mem::take(&mut self.pending_links) {
            match self.create_link(&link) {
                Ok(()) => self.extraction.links.push(Link {
                    path: link.path,
                    target: link.target,
                }),
                Err(EntryError::Refused(reason)) => self.refuse(link.entry, reason),
                Err(EntryError::Store(e)) => return Err(e),
            }
        }
        Ok(())
    }

    fn create_link(&self, link: &PendingLink) -> Result<(), EntryError> {
        let components: Vec<&str> = link.path.as_str().split('/').collect();
        let (_, parents) = components.split_last().ok_or(RefusalReason::EmptyName)?;
        self.ensure_dirs(parents)?;
        let path = link.path.under(&self.dest);
        match std::os::unix::fs::symlink(&link.target, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // The same link from an earlier extraction is fine.
                return match std::fs::read_link(&path) {
                    Ok(existing) if existing == Path::new(&link.target) => Ok(()),
                    _ => Err(RefusalReason::Collision.into()),
                };
            }
            Err(e) => return Err(StoreError::io("creating symbolic link", &path)(e).into()),
        }
        let verdict = match std::fs::canonicalize(&path) {
            Ok(real) if real.starts_with(&self.dest) => return Ok(()),
            Ok(_) => RefusalReason::LinkOutside {
                target: link.target.clone(),
            },
            Err(_) => RefusalReason::DanglingLink {
                target: link.target.clone(),
            },
        };
        std::fs::remove_file(&path).map_err(StoreError::io("removing refused link", &path))?;
        Err(verdict.into())
    }
}

/// The components of an entry's name below `outputs/`: `None` for the
/// `outputs` directory itself; a refusal for any name that could escape.
fn entry_components(raw: &[u8]) -> Result<Option<Vec<String>>, RefusalReason> {
    if raw.is_empty() {
        return Err(RefusalReason::EmptyName);
    }
    if raw.starts_with(b"/") {
        return Err(RefusalReason::AbsolutePath);
    }
    let mut components = Vec::new();
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => continue,
            b".." => return Err(RefusalReason::ParentComponent),
            c => components.push(c),
        }
    }
    // Refuse `..` before looking at anything else: it is the more telling reason.
    let (first, rest) = components.split_first().ok_or(RefusalReason::EmptyName)?;
    if *first != OUTPUTS.as_bytes() {
        return Err(RefusalReason::NotUnderOutputs);
    }
    if rest.is_empty() {
        return Ok(None);
    }
    rest.iter()
        .map(|c| {
            std::str::from_utf8(c)
                .map(str::to_owned)
                .map_err(|_| RefusalReason::NotUtf8)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Refuses a symbolic link whose target, read as a path from the link's
/// directory, is absolute or leaves the staging directory.
fn check_link_target(link: &[&str], target: &str) -> Result<(), RefusalReason> {
    let outside = || RefusalReason::LinkOutside {
        target: target.to_owned(),
    };
    if target.is_empty() {
        return Err(RefusalReason::DanglingLink {
            target: String::new(),
        });
    }
    if target.starts_with('/') {
        return Err(outside());
    }
    let mut depth = link.len().saturating_sub(1);
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => depth = depth.checked_sub(1).ok_or_else(outside)?,
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        use RefusalReason::*;
        let cases: &[(&[u8], Result<Option<&[&str]>, RefusalReason>)] = &[
            (b"outputs", Ok(None)),
            (b"outputs/", Ok(None)),
            (b"./outputs/", Ok(None)),
            (b"outputs/a.tar.gz", Ok(Some(&["a.tar.gz"]))),
            (b"outputs/sub/dir/file", Ok(Some(&["sub", "dir", "file"]))),
            (b"outputs//sub/./file", Ok(Some(&["sub", "file"]))),
            (b"/etc/passwd", Err(AbsolutePath)),
            (b"/outputs/x", Err(AbsolutePath)),
            (b"outputs/../x", Err(ParentComponent)),
            (b"outputs/a/../../x", Err(ParentComponent)),
            (b"..", Err(ParentComponent)),
            (b"other/x", Err(NotUnderOutputs)),
            (b"outputsx/y", Err(NotUnderOutputs)),
            (b"outputs/\xff", Err(NotUtf8)),
            (b"", Err(EmptyName)),
            (b"./", Err(EmptyName)),
        ];
        for (raw, expected) in cases {
            let got = entry_components(raw);
            let expected = expected
                .clone()
                .map(|o| o.map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
            assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn link_targets() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["lib.so"], "lib.so.1", true),
            (&["sub", "lib.so"], "../lib.so.1", true),
            (&["sub", "lib.so"], "./x/../y", true),
            (&["lib.so"], "../lib.so.1", false),
            (&["sub", "lib.so"], "../../x", false),
            (&["sub", "lib.so"], "x/../../../y", false),
            (&["a"], "/etc/passwd", false),
            (&["a"], "/outputs/b", false),
        ];
        for (link, target, ok) in cases {
            assert_eq!(
                check_link_target(link, target).is_ok(),
                *ok,
                "{link:?} -> {target}"
            );
        }
    }
}
