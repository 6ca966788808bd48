//! SHA-256 digests of artifacts, computed while streaming (constant memory).

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::StoreError;

const BUF_SIZE: usize = 64 * 1024;

/// A SHA-256 digest; shown as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex_digits: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

/// Copies `reader` into `writer`, returning the bytes copied and their digest.
/// Read errors and write errors are told apart, so that messages name the
/// right side.
pub(crate) fn copy_hashing<R: Read, W: Write>(
    reader: &mut R,
    writer: &mut W,
) -> Result<(u64, Sha256Digest), CopyError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
    Ok((total, Sha256Digest(hasher.finalize().into())))
}

/// Which side of a copy failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Size and digest of a file on disk, blocking.
pub(crate) fn sha256_file_blocking(path: &Path) -> Result<(u64, Sha256Digest), StoreError> {
    let mut file = std::fs::File::open(path).map_err(StoreError::io("opening", path))?;
    copy_hashing(&mut file, &mut std::io::sink()).map_err(|e| match e {
        CopyError::Read(source) | CopyError::Write(source) => StoreError::Io {
            what: "reading",
            path: path.to_owned(),
            source,
        },
    })
}

/// Size and SHA-256 of a file, read in a blocking task.
pub async fn sha256_file(path: impl Into<PathBuf>) -> Result<(u64, Sha256Digest), StoreError> {
    let path = path.into();
    tokio::task::spawn_blocking(move || sha256_file_blocking(&path)).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (input, expected) in cases {
            let mut out = Vec::new();
            let (size, digest) = copy_hashing(&mut &input[..], &mut out).expect("copying");
            assert_eq!(size, input.len() as u64);
            assert_eq!(digest.to_hex(), *expected);
            assert_eq!(out, *input);
            assert_eq!(Sha256Digest::from_hex(expected), Some(digest));
        }
        assert_eq!(Sha256Digest::from_hex("xyz"), None);
    }

    #[test]
    fn large_input_streams() {
        let data = vec![7u8; 3 * BUF_SIZE + 17];
        let (size, digest) = copy_hashing(&mut &data[..], &mut std::io::sink()).expect("copying");
        assert_eq!(size, data.len() as u64);
        assert_eq!(digest.0, <[u8; 32]>::from(Sha256::digest(&data)));
    }
}
