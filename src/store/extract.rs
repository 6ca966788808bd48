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
    pub(crate) enum Crafted<'a> {
        File(&'a [u8], &'a [u8], u32),
        Dir(&'a [u8]),
        Symlink(&'a [u8], &'a str),
        HardLink(&'a [u8], &'a str),
        NamedPipe(&'a [u8]),
        CharDevice(&'a [u8]),
    }

    /// A tar archive of the entries, headers written as given.
    pub(crate) fn craft(entries: &[Crafted]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut h = tar::Header::new_gnu();
            let (name, kind, data, mode): (&[u8], tar::EntryType, &[u8], u32) = match entry {
                Crafted::File(n, d, m) => (n, tar::EntryType::Regular, d, *m),
                Crafted::Dir(n) => (n, tar::EntryType::Directory, b"", 0o755),
                Crafted::Symlink(n, t) => {
                    h.set_link_name(t).expect("link name");
                    (n, tar::EntryType::Symlink, b"", 0o777)
                }
                Crafted::HardLink(n, t) => {
                    h.set_link_name(t).expect("link name");
                    (n, tar::EntryType::Link, b"", 0o644)
                }
                Crafted::NamedPipe(n) => (n, tar::EntryType::Fifo, b"", 0o644),
                Crafted::CharDevice(n) => (n, tar::EntryType::Char, b"", 0o644),
            };
            let slot = &mut h.as_old_mut().name;
            slot.fill(0);
            slot[..name.len()].copy_from_slice(name);
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

    /// Extracts the crafted archive into `<base>/staging/submit` (after
    /// `prepare` ran on that directory) and checks the artifacts (path and
    /// content), the refused entries (name and reason), and that nothing
    /// changed outside the staging directory.
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
            ],
            &[
                ("pkg-1.0.tar.gz", b"package"),
                ("sub/deep/nested.txt", b"nested"),
                ("dot.txt", b"dot"),
                ("sub/again.tar.gz", b"package"),
                ("empty", b""),
            ],
            &[],
        );
    }

    #[test]
    fn hostile_entries_are_refused() {
        use Crafted::*;
        use RefusalReason::*;
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
            // A link that looks inside but really resolves outside through another link.
            (
                vec![
                    Symlink(b"outputs/a/b/s", ".."),
                    Symlink(b"outputs/t", "a/b/s/../.."),
                ],
                vec![(
                    "outputs/t",
                    LinkOutside {
                        target: "a/b/s/../..".into(),
                    },
                )],
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
            let artifacts: Vec<(&str, &[u8])> = match entries.last() {
                Some(File(b"outputs/dir/f", ..)) => vec![("dir/f", b"x")],
                _ => vec![],
            };
            check(nothing, &entries, &artifacts, &refused);
        }
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
            &[("fine", b"ok")],
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
                File(b"outputs/taken", b"new", 0o644),
                File(b"outputs/twice", b"one", 0o644),
                File(b"outputs/twice", b"two", 0o644),
                File(b"outputs/twice", b"one", 0o644),
            ],
            &[("same", b"same"), ("twice", b"one")],
            &[
                ("outputs/taken", RefusalReason::Collision),
                ("outputs/twice", RefusalReason::Collision),
            ],
        );
    }

    #[test]
    fn links_inside_are_kept() {
        let base = tempfile::tempdir().expect("tempdir");
        let dest = base.path().join("s");
        let tar = craft(&[
            Crafted::File(b"outputs/lib/libfoo.so.1", b"elf", 0o755),
            Crafted::Symlink(b"outputs/lib/libfoo.so", "libfoo.so.1"),
            Crafted::Symlink(b"outputs/top", "lib/libfoo.so"),
        ]);
        let extraction = extract_into(&tar[..], &dest).expect("extracting");
        assert!(extraction.refused.is_empty(), "{:?}", extraction.refused);
        let links: Vec<(&str, &str)> = extraction
            .links
            .iter()
            .map(|l| (l.path.as_str(), l.target.as_str()))
            .collect();
        assert_eq!(
            links,
            [("lib/libfoo.so", "libfoo.so.1"), ("top", "lib/libfoo.so")]
        );
        assert_eq!(
            std::fs::read(dest.join("top")).expect("reading through the link"),
            b"elf"
        );
        let mode = std::fs::metadata(dest.join("lib/libfoo.so.1"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn a_broken_archive_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tar = craft(&[Crafted::File(b"outputs/big", &[7u8; 4096], 0o644)]);
        tar.truncate(1024);
        let got = extract_into(&tar[..], dir.path());
        assert!(matches!(got, Err(StoreError::Archive { .. })), "{got:?}");
    }
}
