//! Safe extraction of a job's outputs into the staging store.
//!
//! The archive is the tar stream of a container's `/outputs`, whose entries
//! are named `outputs/...`. Each entry lands at the same relative path under
//! `<staging>/<submit-uuid>/`, or is refused with a reason. Refused: absolute
//! names, names with `..`, names outside `outputs/`, names too long for the
//! file system, links pointing outside or to a directory, hard links to
//! anything but a file extracted before, devices, fifos, and paths that
//! would pass through an existing link or file. Never followed: existing
//! symbolic links (files are created with `O_EXCL` in directories checked
//! component by component; symbolic links from the archive are created last
//! and checked where they really point). Never replaced: an existing
//! different file.
//!
//! An extraction lands whole or not at all: when an entry is refused, or the
//! extraction fails (a broken archive, a full disk), every file, link and
//! directory it made is removed again, so that the staging directory holds
//! only the artifacts of jobs whose outputs were accepted. A symbolic link
//! to a file is an artifact of its own, with that file's size and SHA-256.
//!
//! Each file is written through a temporary file in its directory while its
//! size and SHA-256 are computed, then moved into place without replacing
//! anything. Blocks of zeros are left as holes, so that a sparse output stays
//! sparse where the file system allows. Memory use does not depend on the
//! size of the files.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, Permissions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncRead;
use tokio_util::io::SyncIoBridge;
use uuid::Uuid;

use super::checksum::{copy_hashing, sha256_file_blocking, CopyError, Sha256Digest};
use super::{RelPath, StoreError};

/// The top directory of the archive of `/outputs`.
const OUTPUTS: &str = "outputs";

/// The size of the blocks of zeros that are left as holes.
const HOLE_BLOCK: usize = 4096;

/// The staging store: one directory per submit under a root.
#[derive(Debug, Clone)]
pub struct StagingStore {
    root: PathBuf,
    /// Held while an archive is extracted: extractions into one store run
    /// one at a time, so that undoing one never removes a file another has
    /// just found in place and accepted as its own.
    extracting: Arc<Mutex<()>>,
}

/// A file extracted from a job's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Relative to the submit's staging directory.
    pub path: RelPath,
    pub size: u64,
    pub sha256: Sha256Digest,
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
    NameTooLong,
    LinkOutside { target: String },
    DanglingLink { target: String },
    LinkToDirectory { target: String },
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
            NameTooLong => write!(f, "name too long for the file system"),
            LinkOutside { target } => write!(
                f,
                "link pointing outside the staging directory (to `{target}`)"
            ),
            DanglingLink { target } => write!(f, "link to `{target}`, which does not exist"),
            LinkToDirectory { target } => write!(
                f,
                "link to `{target}`, which is a directory (only links to files are artifacts)"
            ),
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

/// The result of extracting one archive. When anything was refused, nothing
/// was kept: `artifacts` is empty and `refused` says why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// The submit's staging directory the paths are relative to.
    pub dir: PathBuf,
    /// The files, then the symbolic links to files, in archive order.
    pub artifacts: Vec<Artifact>,
    pub refused: Vec<Refused>,
}

impl StagingStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            extracting: Arc::default(),
        }
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
        let extracting = Arc::clone(&self.extracting);
        tokio::task::spawn_blocking(move || {
            // A panicked extraction undid nothing it had not finished; the
            // lock itself guards no data.
            let _one_at_a_time = extracting.lock().unwrap_or_else(|e| e.into_inner());
            extract_into(reader, &dest)
        })
        .await?
    }
}

/// Extracts an outputs archive into `dest` (created if missing), whole or
/// not at all. Blocking.
pub fn extract_into<R: Read>(reader: R, dest: &Path) -> Result<Extraction, StoreError> {
    std::fs::create_dir_all(dest).map_err(StoreError::io("creating staging directory", dest))?;
    let canonical =
        std::fs::canonicalize(dest).map_err(StoreError::io("resolving staging directory", dest))?;
    let mut extractor = Extractor {
        dest: canonical,
        extraction: Extraction {
            dir: dest.to_owned(),
            ..Extraction::default()
        },
        files: HashMap::new(),
        pending_links: Vec::new(),
        made: Vec::new(),
    };
    match extractor.extract_all(reader) {
        Ok(()) if extractor.extraction.refused.is_empty() => Ok(extractor.extraction),
        Ok(()) => {
            extractor.undo();
            extractor.extraction.artifacts.clear();
            Ok(extractor.extraction)
        }
        Err(e) => {
            extractor.undo();
            Err(e)
        }
    }
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

/// A failed file system call: a refusal when the name is too long for the
/// file system (the archive's fault), else a failure of the store.
fn fs_error(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EntryError {
    let path = path.to_owned();
    move |source| {
        if source.raw_os_error() == Some(nix::errno::Errno::ENAMETOOLONG as i32) {
            RefusalReason::NameTooLong.into()
        } else {
            StoreError::Io { what, path, source }.into()
        }
    }
}

struct PendingLink {
    entry: String,
    path: RelPath,
    target: String,
}

/// Something an extraction made, to be removed again if it is undone.
enum Made {
    Dir(PathBuf),
    /// A file, hard link or symbolic link.
    File(PathBuf),
}

struct Extractor {
    /// The canonical staging directory.
    dest: PathBuf,
    extraction: Extraction,
    /// Files extracted so far, for hard links and repeated entries.
    files: HashMap<RelPath, (u64, Sha256Digest)>,
    pending_links: Vec<PendingLink>,
    /// What this extraction made, in order.
    made: Vec<Made>,
}

impl Extractor {
    /// Extracts every entry, then creates the links; a refused entry is
    /// recorded and the next one taken.
    fn extract_all<R: Read>(&mut self, reader: R) -> Result<(), StoreError> {
        let archive_error = |source| StoreError::Archive {
            dest: self.extraction.dir.clone(),
            source,
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(archive_error)? {
            let mut entry = entry.map_err(|source| StoreError::Archive {
                dest: self.extraction.dir.clone(),
                source,
            })?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            match self.entry(&mut entry) {
                Ok(()) => {}
                Err(EntryError::Refused(reason)) => self.refuse(name, reason),
                Err(EntryError::Store(e)) => return Err(e),
            }
        }
        self.create_links()
    }

    fn refuse(&mut self, entry: String, reason: RefusalReason) {
        tracing::warn!(entry = %entry, %reason, "refused an outputs entry");
        self.extraction.refused.push(Refused { entry, reason });
    }

    /// Removes what this extraction made, newest first.
    fn undo(&mut self) {
        for made in std::mem::take(&mut self.made).into_iter().rev() {
            let (removed, path) = match &made {
                Made::File(path) => (std::fs::remove_file(path), path),
                Made::Dir(path) => (std::fs::remove_dir(path), path),
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!("removing {} of refused outputs: {e}", path.display()),
            }
        }
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
    fn ensure_dirs(&mut self, components: &[&str]) -> Result<(), EntryError> {
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
                        Ok(()) => self.made.push(Made::Dir(path.clone())),
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            let meta = std::fs::symlink_metadata(&path)
                                .map_err(fs_error("inspecting", &path))?;
                            if !meta.is_dir() {
                                return Err(not_a_dir().into());
                            }
                        }
                        Err(e) => return Err(fs_error("creating directory", &path)(e)),
                    }
                }
                Err(e) => return Err(fs_error("inspecting", &path)(e)),
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
        let path = parent.join(name);
        // The final name is checked first: the temporary file's is shorter.
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(fs_error("inspecting", &path)(e))
            }
            _ => {}
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".kiln-part-")
            .tempfile_in(&parent)
            .map_err(fs_error("creating a file in", &parent))?;
        let (size, sha256) = write_sparse(entry, tmp.as_file_mut()).map_err(|e| match e {
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
        let rel = RelPath::from_components(components);
        match tmp.persist_noclobber(&path) {
            Ok(_) => self.made.push(Made::File(path)),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                self.same_file_exists(&path, size, sha256)?;
            }
            Err(e) => return Err(fs_error("moving into place", &path)(e.error)),
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
        let meta = std::fs::symlink_metadata(path).map_err(fs_error("inspecting", path))?;
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
            Ok(()) => self.made.push(Made::File(path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                self.same_file_exists(&path, size, sha256)?
            }
            Err(e) => return Err(fs_error("creating hard link", &path)(e)),
        }
        self.record_file(rel, size, sha256);
        Ok(())
    }

    /// Creates the symbolic links, last, all of them before any is checked
    /// (a link may point through one that comes later in the archive); then
    /// keeps as artifacts those that really point to a file inside the
    /// staging directory.
    fn create_links(&mut self) -> Result<(), StoreError> {
        let mut created = Vec::new();
        for link in std::mem::take(&mut self.pending_links) {
            match self.create_link(&link) {
                Ok(()) => created.push(link),
                Err(EntryError::Refused(reason)) => self.refuse(link.entry, reason),
                Err(EntryError::Store(e)) => return Err(e),
            }
        }
        for link in created {
            match self.link_artifact(&link) {
                Ok((size, sha256)) => self.record_file(link.path, size, sha256),
                Err(EntryError::Refused(reason)) => self.refuse(link.entry, reason),
                Err(EntryError::Store(e)) => return Err(e),
            }
        }
        Ok(())
    }

    fn create_link(&mut self, link: &PendingLink) -> Result<(), EntryError> {
        let components: Vec<&str> = link.path.as_str().split('/').collect();
        let (_, parents) = components.split_last().ok_or(RefusalReason::EmptyName)?;
        self.ensure_dirs(parents)?;
        let path = link.path.under(&self.dest);
        match std::os::unix::fs::symlink(&link.target, &path) {
            Ok(()) => {
                self.made.push(Made::File(path));
                Ok(())
            }
            // The same link from an earlier extraction is fine.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match std::fs::read_link(&path) {
                    Ok(existing) if existing == Path::new(&link.target) => Ok(()),
                    _ => Err(RefusalReason::Collision.into()),
                }
            }
            Err(e) => Err(fs_error("creating symbolic link", &path)(e)),
        }
    }

    /// The size and SHA-256 of the file a created link points to; a refusal
    /// when it points outside, nowhere, or to a directory.
    fn link_artifact(&self, link: &PendingLink) -> Result<(u64, Sha256Digest), EntryError> {
        let path = link.path.under(&self.dest);
        let target = || link.target.clone();
        let real = match std::fs::canonicalize(&path) {
            Ok(real) if real.starts_with(&self.dest) => real,
            Ok(_) => return Err(RefusalReason::LinkOutside { target: target() }.into()),
            Err(_) => return Err(RefusalReason::DanglingLink { target: target() }.into()),
        };
        let meta = std::fs::metadata(&real).map_err(fs_error("inspecting", &real))?;
        if !meta.is_file() {
            return Err(RefusalReason::LinkToDirectory { target: target() }.into());
        }
        let extracted = real
            .strip_prefix(&self.dest)
            .ok()
            .and_then(Path::to_str)
            .and_then(|rel| RelPath::new(rel).ok())
            .and_then(|rel| self.files.get(&rel).copied());
        match extracted {
            Some(known) => Ok(known),
            None => Ok(sha256_file_blocking(&real)?),
        }
    }
}

/// Copies an entry's content into `file`, leaving each block of zeros (at a
/// block boundary) as a hole; returns its size and SHA-256.
fn write_sparse<R: Read>(entry: &mut R, file: &mut File) -> Result<(u64, Sha256Digest), CopyError> {
    let mut sparse = SparseWriter {
        file,
        block: Vec::with_capacity(HOLE_BLOCK),
        pos: 0,
        ends_in_hole: false,
    };
    let copied = copy_hashing(entry, &mut sparse)?;
    sparse.finish().map_err(CopyError::Write)?;
    Ok(copied)
}

/// A `Write` into a new file that seeks over whole blocks of zeros instead
/// of writing them. Reads come in pieces of any size: a piece short of a
/// block waits in `block` until the block is whole.
struct SparseWriter<'a> {
    file: &'a mut File,
    block: Vec<u8>,
    /// Where the file is, after the whole blocks handed on (a multiple of
    /// the block size until [`SparseWriter::finish`]).
    pos: u64,
    ends_in_hole: bool,
}

impl SparseWriter<'_> {
    /// Writes whole blocks, runs of zero blocks as holes and runs of the
    /// others as data.
    fn blocks(&mut self, mut blocks: &[u8]) -> std::io::Result<()> {
        let is_hole = |block: &[u8]| block.iter().all(|&b| b == 0);
        while !blocks.is_empty() {
            let hole = is_hole(&blocks[..HOLE_BLOCK]);
            let mut run = HOLE_BLOCK;
            while run < blocks.len() && is_hole(&blocks[run..run + HOLE_BLOCK]) == hole {
                run += HOLE_BLOCK;
            }
            if hole {
                self.file.seek(SeekFrom::Current(run as i64))?;
            } else {
                self.file.write_all(&blocks[..run])?;
            }
            self.ends_in_hole = hole;
            self.pos += run as u64;
            blocks = &blocks[run..];
        }
        Ok(())
    }

    /// Writes the last piece, and gives the file its full length when it
    /// ends in a hole.
    fn finish(mut self) -> std::io::Result<()> {
        if !self.block.is_empty() {
            self.file.write_all(&self.block)?;
            self.pos += self.block.len() as u64;
            self.ends_in_hole = false;
        }
        if self.ends_in_hole {
            self.file.set_len(self.pos)?;
        }
        Ok(())
    }
}

impl Write for SparseWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        if !self.block.is_empty() {
            let take = rest.len().min(HOLE_BLOCK - self.block.len());
            self.block.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.block.len() < HOLE_BLOCK {
                return Ok(buf.len());
            }
            let block = std::mem::take(&mut self.block);
            self.blocks(&block)?;
            self.block = block;
            self.block.clear();
        }
        let whole = rest.len() - rest.len() % HOLE_BLOCK;
        self.blocks(&rest[..whole])?;
        self.block.extend_from_slice(&rest[whole..]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
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
    // `..` anywhere is refused before anything else: it is the more telling reason.
    let mut components = Vec::new();
    for component in raw.split(|&b| b == b'/') {
        match component {
            b"" | b"." => continue,
            b".." => return Err(RefusalReason::ParentComponent),
            c => components.push(c),
        }
    }
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
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn entry_names() {
        use RefusalReason::*;
        type Case<'a> = (&'a [u8], Result<Option<&'a [&'a str]>, RefusalReason>);
        let cases: &[Case] = &[
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

    /// An archive entry, named with raw bytes so that hostile names can be made.
    #[derive(Debug, Clone)]
    pub(crate) enum Crafted<'a> {
        File(&'a [u8], &'a [u8], u32),
        Dir(&'a [u8]),
        Symlink(&'a [u8], &'a str),
        HardLink(&'a [u8], &'a str),
        NamedPipe(&'a [u8]),
        CharDevice(&'a [u8]),
    }

    /// A tar archive of the entries, headers written as given; a name
    /// longer than a header holds goes into a GNU long-name entry before it.
    pub(crate) fn craft(entries: &[Crafted]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut h = tar::Header::new_gnu();
            let (name, kind, data, mode): (&[u8], tar::EntryType, &[u8], u32) = match entry {
                Crafted::File(n, d, m) => (n, tar::EntryType::Regular, d, *m),
                Crafted::Dir(n) => (n, tar::EntryType::Directory, b"", 0o755),
                Crafted::Symlink(n, t) => {
                    h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                    (n, tar::EntryType::Symlink, b"", 0o777)
                }
                Crafted::HardLink(n, t) => {
                    h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                    (n, tar::EntryType::Link, b"", 0o644)
                }
                Crafted::NamedPipe(n) => (n, tar::EntryType::Fifo, b"", 0o644),
                Crafted::CharDevice(n) => (n, tar::EntryType::Char, b"", 0o644),
            };
            let slot_len = h.as_old().name.len();
            if name.len() > slot_len {
                let mut long = tar::Header::new_gnu();
                let slot = &mut long.as_old_mut().name;
                slot[..13].copy_from_slice(b"././@LongLink");
                long.set_entry_type(tar::EntryType::GNULongName);
                long.set_size(name.len() as u64 + 1);
                long.set_mode(0o644);
                long.set_cksum();
                let mut data = name.to_vec();
                data.push(0);
                builder.append(&long, &data[..]).expect("appending");
            }
            let slot = &mut h.as_old_mut().name;
            slot.fill(0);
            let shown = name.len().min(slot_len);
            slot[..shown].copy_from_slice(&name[..shown]);
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_mtime(0);
            h.set_cksum();
            builder.append(&h, data).expect("appending");
        }
        builder.into_inner().expect("finishing")
    }

    /// Every path below `root`, relative, sorted; links not followed.
    fn tree(root: &Path) -> Vec<String> {
        let mut paths: Vec<String> = walkdir::WalkDir::new(root)
            .min_depth(1)
            .follow_links(false)
            .into_iter()
            .map(|e| {
                let e = e.expect("walking");
                e.path()
                    .strip_prefix(root)
                    .expect("below root")
                    .display()
                    .to_string()
            })
            .collect();
        paths.sort();
        paths
    }

    /// The paths below `root` that are not directories, relative, sorted.
    fn non_dirs(root: &Path) -> Vec<String> {
        tree(root)
            .into_iter()
            .filter(|p| {
                !std::fs::symlink_metadata(root.join(p))
                    .expect("inspecting")
                    .is_dir()
            })
            .collect()
    }

    /// Extracts the crafted archive into `<base>/staging/submit` (after
    /// `prepare` ran on that directory) and checks the artifacts (path and
    /// content), the refused entries (name and reason), that the staging
    /// directory holds exactly what was there and the artifacts (nothing at
    /// all was kept when something was refused), and that nothing changed
    /// outside the staging directory.
    fn check(
        prepare: impl Fn(&Path, &Path),
        entries: &[Crafted],
        artifacts: &[(&str, &[u8])],
        refused: &[(&str, RefusalReason)],
    ) {
        let base = tempfile::tempdir().expect("tempdir");
        std::fs::write(base.path().join("victim"), b"untouched").expect("writing");
        std::fs::create_dir(base.path().join("outside")).expect("mkdir");
        let dest = base.path().join("staging/submit");
        std::fs::create_dir_all(&dest).expect("mkdir");
        prepare(base.path(), &dest);
        let outside_before: Vec<String> = tree(base.path())
            .into_iter()
            .filter(|p| !p.starts_with("staging"))
            .collect();
        let staged_before = tree(&dest);

        let extraction = extract_into(&craft(entries)[..], &dest).expect("extracting");

        let got: Vec<(String, Vec<u8>)> = extraction
            .artifacts
            .iter()
            .map(|a| {
                let bytes = std::fs::read(a.path.under(&dest)).expect("reading an artifact");
                assert_eq!(a.size, bytes.len() as u64, "{}", a.path);
                let (_, sha) =
                    copy_hashing(&mut &bytes[..], &mut std::io::sink()).expect("hashing");
                assert_eq!(a.sha256, sha, "{}", a.path);
                (a.path.to_string(), bytes)
            })
            .collect();
        let expected: Vec<(String, Vec<u8>)> = artifacts
            .iter()
            .map(|(p, b)| (p.to_string(), b.to_vec()))
            .collect();
        assert_eq!(got, expected, "artifacts");
        let got_refused: Vec<(String, RefusalReason)> = extraction
            .refused
            .iter()
            .map(|r| (r.entry.clone(), r.reason.clone()))
            .collect();
        let expected_refused: Vec<(String, RefusalReason)> = refused
            .iter()
            .map(|(e, r)| (e.to_string(), r.clone()))
            .collect();
        assert_eq!(got_refused, expected_refused, "refused");

        if refused.is_empty() {
            let mut expected_staged: Vec<String> = staged_before
                .iter()
                .filter(|p| {
                    !std::fs::symlink_metadata(dest.join(p))
                        .expect("inspecting")
                        .is_dir()
                })
                .cloned()
                .chain(artifacts.iter().map(|(p, _)| p.to_string()))
                .collect();
            expected_staged.sort();
            expected_staged.dedup();
            assert_eq!(non_dirs(&dest), expected_staged, "staged files");
        } else {
            assert_eq!(tree(&dest), staged_before, "refused outputs leave nothing");
        }
        let outside_after: Vec<String> = tree(base.path())
            .into_iter()
            .filter(|p| !p.starts_with("staging"))
            .collect();
        assert_eq!(
            outside_after, outside_before,
            "nothing may appear outside the staging directory"
        );
        assert_eq!(
            std::fs::read(base.path().join("victim")).expect("reading"),
            b"untouched"
        );
        assert!(tree(&base.path().join("outside")).is_empty());
        // No temporary files are left.
        assert!(
            tree(&dest).iter().all(|p| !p.contains(".kiln-part-")),
            "{:?}",
            tree(&dest)
        );
    }

    fn nothing(_: &Path, _: &Path) {}

    #[test]
    fn extraction_keeps_paths_and_checksums() {
        use Crafted::*;
        check(
            nothing,
            &[
                Dir(b"outputs/"),
                File(b"outputs/pkg-1.0.tar.gz", b"package", 0o644),
                Dir(b"outputs/sub/"),
                File(b"outputs/sub/deep/nested.txt", b"nested", 0o755),
                File(b"./outputs/dot.txt", b"dot", 0o644),
                HardLink(b"outputs/sub/again.tar.gz", "outputs/pkg-1.0.tar.gz"),
                File(b"outputs/empty", b"", 0o644),
                File(b"outputs/new\nline\x1b[31m", b"odd name", 0o644),
            ],
            &[
                ("pkg-1.0.tar.gz", b"package"),
                ("sub/deep/nested.txt", b"nested"),
                ("dot.txt", b"dot"),
                ("sub/again.tar.gz", b"package"),
                ("empty", b""),
                ("new\nline\x1b[31m", b"odd name"),
            ],
            &[],
        );
    }

    #[test]
    fn hostile_entries_are_refused() {
        use Crafted::*;
        use RefusalReason::*;
        let long_name = format!("outputs/{}", "n".repeat(300));
        let deep_name = format!("outputs/{}f", "nested-directory-20/".repeat(210));
        type Case<'a> = (Vec<Crafted<'a>>, Vec<(&'a str, RefusalReason)>);
        let cases: Vec<Case> = vec![
            (
                vec![File(b"/etc/kiln-test", b"x", 0o644)],
                vec![("/etc/kiln-test", AbsolutePath)],
            ),
            (
                vec![File(b"outputs/../../victim", b"x", 0o644)],
                vec![("outputs/../../victim", ParentComponent)],
            ),
            (
                vec![File(b"../outside/x", b"x", 0o644)],
                vec![("../outside/x", ParentComponent)],
            ),
            (
                vec![File(b"elsewhere/x", b"x", 0o644)],
                vec![("elsewhere/x", NotUnderOutputs)],
            ),
            (
                vec![File(b"outputs", b"x", 0o644)],
                vec![("outputs", NotUnderOutputs)],
            ),
            (
                vec![File(b"outputs/\xff", b"x", 0o644)],
                vec![("outputs/\u{fffd}", NotUtf8)],
            ),
            (
                vec![File(long_name.as_bytes(), b"x", 0o644)],
                vec![(long_name.as_str(), NameTooLong)],
            ),
            (
                vec![File(deep_name.as_bytes(), b"x", 0o644)],
                vec![(deep_name.as_str(), NameTooLong)],
            ),
            (
                vec![Symlink(b"outputs/passwd", "/etc/passwd")],
                vec![(
                    "outputs/passwd",
                    LinkOutside {
                        target: "/etc/passwd".into(),
                    },
                )],
            ),
            (
                vec![Symlink(b"outputs/up", "../../victim")],
                vec![(
                    "outputs/up",
                    LinkOutside {
                        target: "../../victim".into(),
                    },
                )],
            ),
            (
                vec![Symlink(b"outputs/dangling", "missing")],
                vec![(
                    "outputs/dangling",
                    DanglingLink {
                        target: "missing".into(),
                    },
                )],
            ),
            (
                vec![Dir(b"outputs/d"), Symlink(b"outputs/to-dir", "d")],
                vec![("outputs/to-dir", LinkToDirectory { target: "d".into() })],
            ),
            // A link that looks inside but really resolves outside through another link.
            (
                vec![
                    Symlink(b"outputs/a/b/s", ".."),
                    Symlink(b"outputs/t", "a/b/s/../.."),
                ],
                vec![
                    (
                        "outputs/a/b/s",
                        LinkToDirectory {
                            target: "..".into(),
                        },
                    ),
                    (
                        "outputs/t",
                        LinkOutside {
                            target: "a/b/s/../..".into(),
                        },
                    ),
                ],
            ),
            (
                vec![HardLink(b"outputs/h", "victim")],
                vec![(
                    "outputs/h",
                    HardLinkTarget {
                        target: "victim".into(),
                    },
                )],
            ),
            (
                vec![HardLink(b"outputs/h", "outputs/../victim")],
                vec![(
                    "outputs/h",
                    HardLinkTarget {
                        target: "outputs/../victim".into(),
                    },
                )],
            ),
            (
                vec![NamedPipe(b"outputs/fifo")],
                vec![("outputs/fifo", Fifo)],
            ),
            (
                vec![CharDevice(b"outputs/null")],
                vec![("outputs/null", Device)],
            ),
            // Through a symbolic link from the archive: links are created last,
            // so the file makes a real directory and the link then collides.
            (
                vec![
                    Symlink(b"outputs/dir", "."),
                    File(b"outputs/dir/f", b"x", 0o644),
                ],
                vec![("outputs/dir", Collision)],
            ),
        ];
        for (entries, refused) in cases {
            check(nothing, &entries, &[], &refused);
        }
    }

    #[test]
    fn a_refused_entry_undoes_what_came_before_it() {
        use Crafted::*;
        // Files, a hard link, a link and new directories before the refused
        // entry; a file from an earlier job with the same content stays.
        let earlier = |_: &Path, dest: &Path| {
            std::fs::create_dir(dest.join("old")).expect("mkdir");
            std::fs::write(dest.join("old/same"), b"same").expect("writing");
        };
        check(
            earlier,
            &[
                File(b"outputs/a", b"a", 0o644),
                File(b"outputs/new/deeper/b", b"b", 0o644),
                File(b"outputs/old/same", b"same", 0o644),
                File(b"outputs/old/mine", b"mine", 0o644),
                HardLink(b"outputs/new/c", "outputs/a"),
                Symlink(b"outputs/new/link", "c"),
                Dir(b"outputs/empty/dir"),
                NamedPipe(b"outputs/fifo"),
                File(b"outputs/z", b"after", 0o644),
            ],
            &[],
            &[("outputs/fifo", RefusalReason::Fifo)],
        );
    }

    #[test]
    fn a_broken_archive_undoes_what_came_before_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tar = craft(&[
            Crafted::File(b"outputs/sub/first", b"first", 0o644),
            Crafted::File(b"outputs/big", &[7u8; 4096], 0o644),
        ]);
        tar.truncate(tar.len() - 1024 - 2048);
        let got = extract_into(&tar[..], dir.path());
        assert!(matches!(got, Err(StoreError::Archive { .. })), "{got:?}");
        assert_eq!(tree(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn existing_links_are_never_followed() {
        use Crafted::*;
        // A link already in the staging directory (from an earlier job) to a
        // directory outside: writing through it is refused.
        let plant = |base: &Path, dest: &Path| {
            std::os::unix::fs::symlink(base.join("outside"), dest.join("evil")).expect("symlink");
            std::os::unix::fs::symlink(base.join("victim"), dest.join("file-link"))
                .expect("symlink");
        };
        check(
            plant,
            &[
                File(b"outputs/evil/payload", b"x", 0o644),
                Dir(b"outputs/evil/sub"),
                File(b"outputs/file-link", b"overwrite", 0o644),
                File(b"outputs/fine", b"ok", 0o644),
            ],
            &[],
            &[
                (
                    "outputs/evil/payload",
                    RefusalReason::NotADirectory {
                        path: "evil".into(),
                    },
                ),
                (
                    "outputs/evil/sub",
                    RefusalReason::NotADirectory {
                        path: "evil".into(),
                    },
                ),
                ("outputs/file-link", RefusalReason::Collision),
            ],
        );
    }

    #[test]
    fn repeated_entries_and_collisions() {
        use Crafted::*;
        let earlier = |_: &Path, dest: &Path| {
            std::fs::write(dest.join("same"), b"same").expect("writing");
            std::fs::write(dest.join("taken"), b"old").expect("writing");
        };
        check(
            earlier,
            &[
                File(b"outputs/same", b"same", 0o644),
                File(b"outputs/twice", b"one", 0o644),
                File(b"outputs/twice", b"one", 0o644),
            ],
            &[("same", b"same"), ("twice", b"one")],
            &[],
        );
        check(
            earlier,
            &[
                File(b"outputs/same", b"same", 0o644),
                File(b"outputs/taken", b"new", 0o644),
                File(b"outputs/twice", b"one", 0o644),
                File(b"outputs/twice", b"two", 0o644),
            ],
            &[],
            &[
                ("outputs/taken", RefusalReason::Collision),
                ("outputs/twice", RefusalReason::Collision),
            ],
        );
    }

    #[test]
    fn links_to_files_are_artifacts() {
        use Crafted::*;
        // In any order: a link may point through one that comes later.
        check(
            nothing,
            &[
                Symlink(b"outputs/top", "lib/libfoo.so"),
                File(b"outputs/lib/libfoo.so.1", b"elf", 0o755),
                Symlink(b"outputs/lib/libfoo.so", "libfoo.so.1"),
            ],
            &[
                ("lib/libfoo.so.1", b"elf"),
                ("top", b"elf"),
                ("lib/libfoo.so", b"elf"),
            ],
            &[],
        );
        // To a file of an earlier job.
        let earlier = |_: &Path, dest: &Path| {
            std::fs::write(dest.join("old.txt"), b"earlier").expect("writing");
        };
        check(
            earlier,
            &[Symlink(b"outputs/new.txt", "old.txt")],
            &[("new.txt", b"earlier")],
            &[],
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let tar = craft(&[Crafted::File(b"outputs/tool", b"#!", 0o755)]);
        extract_into(&tar[..], dir.path()).expect("extracting");
        let mode = std::fs::metadata(dir.path().join("tool"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    /// Whether the file system under `dir` keeps holes.
    fn keeps_holes(dir: &Path) -> bool {
        let probe = dir.join("probe");
        let file = File::create(&probe).expect("creating a probe");
        file.set_len(1 << 20).expect("extending the probe");
        let sparse = file.metadata().expect("meta").blocks() * 512 < 1 << 20;
        std::fs::remove_file(&probe).expect("removing the probe");
        sparse
    }

    /// A reader that hands out at most 1,000 bytes at a time.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1000).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn sparse_files_stay_sparse() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut holey = vec![0u8; 1 << 20];
        holey[100] = 1;
        holey[700_000..700_010].copy_from_slice(b"0123456789");
        let ends_in_hole = vec![0u8; 3 * HOLE_BLOCK + 5];
        let mut dense = vec![1u8; 2 * HOLE_BLOCK];
        dense[HOLE_BLOCK..HOLE_BLOCK + 10].fill(0);
        let tar = craft(&[
            Crafted::File(b"outputs/holey", &holey, 0o644),
            Crafted::File(b"outputs/tail", &ends_in_hole, 0o644),
            Crafted::File(b"outputs/dense", &dense, 0o644),
        ]);
        // The archive arrives in pieces that match no block.
        let extraction = extract_into(Trickle(&tar[..]), dir.path()).expect("extracting");
        assert!(extraction.refused.is_empty());
        for (name, content) in [
            ("holey", &holey),
            ("tail", &ends_in_hole),
            ("dense", &dense),
        ] {
            let path = dir.path().join(name);
            assert_eq!(&std::fs::read(&path).expect("reading"), content, "{name}");
            let artifact = extraction
                .artifacts
                .iter()
                .find(|a| a.path.as_str() == name)
                .expect("an artifact");
            let (_, sha) = copy_hashing(&mut &content[..], &mut std::io::sink()).expect("hashing");
            assert_eq!(
                (artifact.size, artifact.sha256),
                (content.len() as u64, sha)
            );
        }
        if keeps_holes(dir.path()) {
            let allocated = std::fs::metadata(dir.path().join("holey"))
                .expect("meta")
                .blocks()
                * 512;
            assert!(
                allocated <= 4 * HOLE_BLOCK as u64,
                "{allocated} bytes allocated"
            );
        } else {
            eprintln!(
                "note: the file system of {} keeps no holes",
                dir.path().display()
            );
        }
    }

    #[test]
    fn a_broken_archive_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tar = craft(&[Crafted::File(b"outputs/big", &[7u8; 4096], 0o644)]);
        tar.truncate(1024);
        let got = extract_into(&tar[..], dir.path());
        assert!(matches!(got, Err(StoreError::Archive { .. })), "{got:?}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Name bytes that make trouble: separators, dots, a newline, an
        /// escape, bytes that are not UTF-8.
        fn name_part() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(
                prop::sample::select(vec![b'a', b'b', b'/', b'.', b'\n', 0x1b, 0xff, b' ']),
                0..6,
            )
        }

        /// A name: mostly below `outputs/`, sometimes anything, sometimes
        /// with a component too long for the file system.
        fn name() -> impl Strategy<Value = Vec<u8>> {
            (name_part(), any::<u8>(), 0usize..3).prop_map(|(part, dice, depth)| {
                let mut name = match dice % 8 {
                    0 => Vec::new(),
                    1 => b"/".to_vec(),
                    2 => b"../".to_vec(),
                    _ => b"outputs/".to_vec(),
                };
                for _ in 0..depth {
                    name.extend_from_slice(b"d/");
                }
                if dice >= 240 {
                    name.extend_from_slice(&[b'n'; 300]);
                }
                name.extend_from_slice(&part);
                name
            })
        }

        fn target() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "a",
                "b",
                "d",
                "d/a",
                "..",
                "../a",
                "/etc/passwd",
                "",
                ".",
                "missing",
                "outputs/a",
                "outputs/d/a",
            ])
            .prop_map(str::to_owned)
        }

        #[derive(Debug, Clone)]
        enum Kind {
            File(Vec<u8>),
            Dir,
            Symlink(String),
            HardLink(String),
            Fifo,
            Device,
        }

        fn kind() -> impl Strategy<Value = Kind> {
            prop_oneof![
                4 => prop::collection::vec(prop::sample::select(vec![0u8, 1]), 0..64)
                    .prop_map(Kind::File),
                2 => Just(Kind::Dir),
                2 => target().prop_map(Kind::Symlink),
                1 => target().prop_map(Kind::HardLink),
                1 => Just(Kind::Fifo),
                1 => Just(Kind::Device),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            /// Whatever the archive holds: no panic and no failure of the
            /// store, every refusal names an entry of the archive and says
            /// why, and the staging directory holds exactly the artifacts
            /// (nothing when something was refused).
            #[test]
            fn any_archive_lands_whole_or_not_at_all(
                entries in prop::collection::vec((name(), kind()), 0..12)
            ) {
                let crafted: Vec<Crafted> = entries
                    .iter()
                    .map(|(name, kind)| match kind {
                        Kind::File(data) => Crafted::File(name, data, 0o644),
                        Kind::Dir => Crafted::Dir(name),
                        Kind::Symlink(t) => Crafted::Symlink(name, t),
                        Kind::HardLink(t) => Crafted::HardLink(name, t),
                        Kind::Fifo => Crafted::NamedPipe(name),
                        Kind::Device => Crafted::CharDevice(name),
                    })
                    .collect();
                let base = tempfile::tempdir().expect("tempdir");
                let dest = base.path().join("staging");
                let extraction = extract_into(&craft(&crafted)[..], &dest)
                    .map_err(|e| TestCaseError::fail(format!("the store failed: {e}")))?;
                let names: Vec<String> = entries
                    .iter()
                    .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
                    .collect();
                for refused in &extraction.refused {
                    prop_assert!(names.contains(&refused.entry), "{refused}: not an entry");
                    let shown = refused.to_string();
                    let named = format!("`{}`: ", refused.entry);
                    prop_assert!(shown.starts_with(&named), "{}: does not name the entry", shown);
                    prop_assert!(shown.len() > refused.entry.len() + 4, "{shown}: no reason");
                }
                let mut artifacts: Vec<String> =
                    extraction.artifacts.iter().map(|a| a.path.to_string()).collect();
                artifacts.sort();
                prop_assert_eq!(non_dirs(&dest), artifacts);
                if !extraction.refused.is_empty() {
                    prop_assert_eq!(tree(&dest), Vec::<String>::new());
                }
                for a in &extraction.artifacts {
                    let bytes = std::fs::read(a.path.under(&dest)).expect("reading");
                    prop_assert_eq!(a.size, bytes.len() as u64);
                }
                let outside: Vec<String> = tree(base.path())
                    .into_iter()
                    .filter(|p| !p.starts_with("staging"))
                    .collect();
                prop_assert_eq!(outside, Vec::<String>::new());
            }
        }
    }
}
