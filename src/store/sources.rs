//! The source cache: where each source of a package is kept
//! (`<source_cache>/<name>-<version>/<key>.source`), and whether the file
//! there is the one the package's `hash` names.
//!
//! Hashing streams the file through a fixed buffer (constant memory, any
//! size). Everything here is blocking file work: async callers (`kiln
//! submit` checks the sources of a tree before it builds) run [`verify`]
//! inside `spawn_blocking`.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::paths::{under_root, PathError};
use crate::config::Config;
use crate::package::{HashKind, Package, PackageId, PackageSet, Source, SourceHash};

const BUF_SIZE: usize = 64 * 1024;

/// Where the source `key` of `package` is kept:
/// `<source_cache>/<name>-<version>/<key>.source`, checked to stay under
/// the source cache.
pub fn source_path(config: &Config, package: &Package, key: &str) -> Result<PathBuf, PathError> {
    source_path_under(&config.source_cache, package, key)
}

fn source_path_under(cache: &Path, package: &Package, key: &str) -> Result<PathBuf, PathError> {
    let dir = format!("{}-{}", package.name, package.version);
    under_root(cache, &[&dir, &format!("{key}.source")])
}

/// A hash being computed over a stream of bytes, of one of the kinds a
/// source's `hash.type` may name.
#[derive(Clone)]
pub enum SourceHasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl SourceHasher {
    pub fn new(kind: HashKind) -> Self {
        match kind {
            HashKind::Sha1 => SourceHasher::Sha1(Sha1::new()),
            HashKind::Sha256 => SourceHasher::Sha256(Sha256::new()),
            HashKind::Sha512 => SourceHasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            SourceHasher::Sha1(h) => h.update(bytes),
            SourceHasher::Sha256(h) => h.update(bytes),
            SourceHasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest as lower-case hex (the form `hash.hash` is written in).
    pub fn finish_hex(self) -> String {
        match self {
            SourceHasher::Sha1(h) => hex::encode(h.finalize()),
            SourceHasher::Sha256(h) => hex::encode(h.finalize()),
            SourceHasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// The hash of everything `reader` yields, as lower-case hex, read in
/// fixed-size pieces.
pub fn hash_reader<R: Read>(reader: &mut R, kind: HashKind) -> std::io::Result<String> {
    let mut hasher = SourceHasher::new(kind);
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finish_hex())
}

/// The hash of a file, as lower-case hex.
pub fn hash_file(path: &Path, kind: HashKind) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    hash_reader(&mut file, kind)
}

/// What was found in the source cache for one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// The file is there and has the expected hash.
    Ok,
    /// There is no file.
    Missing,
    /// The file is there with another hash.
    Mismatch { expected: String, actual: String },
    /// The file could not be read (permissions, a directory in its place, ...).
    Unreadable { error: String },
}

impl SourceStatus {
    pub fn is_ok(&self) -> bool {
        matches!(self, SourceStatus::Ok)
    }

    /// A one-word name: `ok`, `missing`, `mismatch`, `unreadable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceStatus::Ok => "ok",
            SourceStatus::Missing => "missing",
            SourceStatus::Mismatch { .. } => "mismatch",
            SourceStatus::Unreadable { .. } => "unreadable",
        }
    }
}

impl fmt::Display for SourceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceStatus::Ok => f.write_str("ok"),
            SourceStatus::Missing => f.write_str("missing"),
            SourceStatus::Mismatch { expected, actual } => {
                write!(f, "hash mismatch: expected {expected}, found {actual}")
            }
            SourceStatus::Unreadable { error } => write!(f, "unreadable: {error}"),
        }
    }
}

/// The state of one source of one package in the source cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCheck {
    pub package: PackageId,
    /// The source's key (`src` of `[sources.src]`).
    pub key: String,
    pub path: PathBuf,
    pub status: SourceStatus,
}

/// Compares the file at `path` with the expected hash.
pub fn check_file(path: &Path, expected: &SourceHash) -> SourceStatus {
    match hash_file(path, expected.kind) {
        Ok(actual) if actual == expected.hash => SourceStatus::Ok,
        Ok(actual) => SourceStatus::Mismatch {
            expected: expected.hash.clone(),
            actual,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SourceStatus::Missing,
        Err(e) => SourceStatus::Unreadable {
            error: e.to_string(),
        },
    }
}

/// Every source of the packages `which`, in the order given and then by key.
pub fn sources_of<'a>(
    packages: &'a PackageSet,
    which: &[PackageId],
) -> Vec<(PackageId, &'a str, &'a Source)> {
    which
        .iter()
        .flat_map(|&id| {
            packages
                .get(id)
                .sources
                .iter()
                .map(move |(key, source)| (id, key.as_str(), source))
        })
        .collect()
}

/// Checks every source of the packages `which` against its hash, hashing
/// files in parallel. The result is in the order of [`sources_of`]; a
/// source whose path would leave the source cache is an error, before any
/// file is read.
///
/// Blocking: async callers run it inside `spawn_blocking`.
pub fn verify(
    config: &Config,
    packages: &PackageSet,
    which: &[PackageId],
) -> Result<Vec<SourceCheck>, PathError> {
    let located = sources_of(packages, which)
        .into_iter()
        .map(|(id, key, source)| {
            let path = source_path(config, packages.get(id), key)?;
            Ok((id, key, source, path))
        })
        .collect::<Result<Vec<_>, PathError>>()?;
    Ok(located
        .into_par_iter()
        .map(|(id, key, source, path)| {
            let status = check_file(&path, &source.hash);
            SourceCheck {
                package: id,
                key: key.to_owned(),
                path,
                status,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_hash(kind: HashKind, input: &[u8], expected: &str) {
        let got = hash_reader(&mut &input[..], kind).expect("hashing a slice");
        assert_eq!(got, expected, "{kind:?} of {input:?}");
        assert_eq!(got.len(), kind.hex_len());
    }

    #[test]
    fn hashes() {
        for (kind, input, expected) in [
            (
                HashKind::Sha1,
                &b"abc"[..],
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                HashKind::Sha1,
                &b""[..],
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            ),
            (
                HashKind::Sha256,
                &b"abc"[..],
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                HashKind::Sha512,
                &b"abc"[..],
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ] {
            check_hash(kind, input, expected);
        }
    }

    #[test]
    fn source_paths_stay_under_the_source_cache() {
        let cache = Path::new("/var/cache/kiln");
        let zlib = crate::package::testing::package("zlib", "1.3", &[], &[]);
        assert_eq!(
            source_path_under(cache, &zlib, "src"),
            Ok(PathBuf::from("/var/cache/kiln/zlib-1.3/src.source"))
        );
        for key in ["../../../../tmp/x", "a/b", "a\\b", "a\0b"] {
            let err = source_path_under(cache, &zlib, key).expect_err(key);
            assert_eq!(err.root, cache, "{key}");
        }
    }

    #[test]
    fn large_inputs_hash_in_pieces() {
        let data: Vec<u8> = (0..(3 * BUF_SIZE + 11)).map(|i| (i % 251) as u8).collect();
        let streamed = hash_reader(&mut &data[..], HashKind::Sha256).expect("hashing");
        assert_eq!(streamed, hex::encode(Sha256::digest(&data)));
    }

    #[test]
    fn file_states() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("a.source");
        std::fs::write(&file, b"abc").expect("writing");
        let good = SourceHash {
            kind: HashKind::Sha1,
            hash: "a9993e364706816aba3e25717850c26c9cd0d89d".into(),
        };
        let bad = SourceHash {
            kind: HashKind::Sha1,
            hash: "0".repeat(40),
        };
        assert_eq!(check_file(&file, &good), SourceStatus::Ok);
        assert_eq!(
            check_file(&file, &bad),
            SourceStatus::Mismatch {
                expected: "0".repeat(40),
                actual: good.hash.clone()
            }
        );
        assert_eq!(
            check_file(&dir.path().join("none.source"), &good),
            SourceStatus::Missing
        );
        assert!(matches!(
            check_file(dir.path(), &good),
            SourceStatus::Unreadable { .. }
        ));
    }
}
