//! What goes into a container before it starts, as one tar stream:
//! `/inputs/<name>` (sources and dependency artifacts), `/patches/<path>`,
//! and `/script` (mode 0755). The tar is written from the files on disk by a
//! blocking task into a bounded channel that feeds the upload request, so no
//! file is ever held whole in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

/// Bytes per message on the channel that feeds the upload.
const CHUNK: usize = 64 * 1024;
/// Messages in flight: memory use is about `CHUNK * (DEPTH + 1)`.
const DEPTH: usize = 4;

/// An upload that cannot be prepared or written.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("`{0}` is not a relative path without `..`")]
    InvalidPath(String),
    #[error("two different files for `/{path}`: {first} and {second}")]
    Collision {
        path: String,
        first: String,
        second: String,
    },
    #[error("reading {} for upload", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("writing the upload stream")]
    Write(#[source] std::io::Error),
    /// The receiving side went away (the upload request ended early).
    #[error("the upload stream was closed by the receiver")]
    Closed,
    #[error("the upload task ended abnormally")]
    Task(#[from] tokio::task::JoinError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    File(PathBuf),
    Bytes(Arc<[u8]>),
}

impl Content {
    fn describe(&self) -> String {
        match self {
            Content::File(p) => p.display().to_string(),
            Content::Bytes(b) => format!("{} bytes of text", b.len()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    content: Content,
    mode: u32,
}

/// The files to put into a container, by their path inside it.
#[derive(Debug, Clone, Default)]
pub struct UploadSet {
    entries: BTreeMap<String, Entry>,
}

impl UploadSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A file as `/inputs/<name>`; `name` may have directories.
    pub fn input(
        &mut self,
        name: &str,
        file: impl Into<PathBuf>,
    ) -> Result<&mut Self, UploadError> {
        self.add("inputs", name, Content::File(file.into()), 0o644)
    }

    /// A patch as `/patches/<path>`, the path relative to the repository.
    pub fn patch(
        &mut self,
        path: &str,
        file: impl Into<PathBuf>,
    ) -> Result<&mut Self, UploadError> {
        self.add("patches", path, Content::File(file.into()), 0o644)
    }

    /// The rendered script as `/script`, mode 0755.
    pub fn script(&mut self, text: impl Into<Vec<u8>>) -> Result<&mut Self, UploadError> {
        let text: Vec<u8> = text.into();
        self.insert("script".into(), Content::Bytes(text.into()), 0o755)
    }

    /// The paths inside the container, in upload order.
    pub fn paths(&self) -> impl Iterator<Item = String> + '_ {
        self.entries.keys().map(|k| format!("/{k}"))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn add(
        &mut self,
        top: &str,
        rel: &str,
        content: Content,
        mode: u32,
    ) -> Result<&mut Self, UploadError> {
        let valid = !rel.is_empty()
            && !rel.starts_with('/')
            && rel
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !valid {
            return Err(UploadError::InvalidPath(rel.to_owned()));
        }
        self.insert(format!("{top}/{rel}"), content, mode)
    }

    fn insert(
        &mut self,
        path: String,
        content: Content,
        mode: u32,
    ) -> Result<&mut Self, UploadError> {
        let entry = Entry { content, mode };
        match self.entries.get(&path) {
            Some(existing) if *existing == entry => {}
            Some(existing) => {
                return Err(UploadError::Collision {
                    first: existing.content.describe(),
                    second: entry.content.describe(),
                    path,
                })
            }
            None => {
                self.entries.insert(path, entry);
            }
        }
        Ok(self)
    }

    /// The directories the tar must hold before the files: the three
    /// top-level ones and every parent of a nested path.
    fn directories(&self) -> BTreeSet<String> {
        let mut dirs: BTreeSet<String> = ["inputs", "patches", "outputs"]
            .into_iter()
            .map(String::from)
            .collect();
        for path in self.entries.keys() {
            let mut prefix = String::new();
            let components: Vec<&str> = path.split('/').collect();
            for c in &components[..components.len() - 1] {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(c);
                dirs.insert(prefix.clone());
            }
        }
        dirs
    }

    /// Starts writing the tar in a blocking task. Returns the stream of its
    /// bytes (for the request body) and the task (its result tells whether
    /// the tar was complete).
    pub(crate) fn into_stream(
        self,
    ) -> (
        impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        tokio::task::JoinHandle<Result<(), UploadError>>,
    ) {
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(DEPTH);
        let task = tokio::task::spawn_blocking(move || {
            let result = self.write_tar(ChannelWriter::new(tx.clone()));
            if let Err(e) = &result {
                if !matches!(e, UploadError::Closed) {
                    // Make the request fail rather than send a short archive.
                    let _ = tx.blocking_send(Err(std::io::Error::other(
                        crate::error::Chain(e).to_string(),
                    )));
                }
            }
            result
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (stream, task)
    }

    fn write_tar<W: Write>(&self, writer: W) -> Result<(), UploadError> {
        let write_err = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                UploadError::Closed
            } else {
                UploadError::Write(e)
            }
        };
        let mtime = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_mtime(mtime);
            h.set_uid(0);
            h.set_gid(0);
            h
        };
        let mut builder = tar::Builder::new(writer);
        for dir in self.directories() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            builder
                .append_data(&mut h, &dir, std::io::empty())
                .map_err(write_err)?;
        }
        for (path, entry) in &self.entries {
            match &entry.content {
                Content::Bytes(bytes) => {
                    let mut h = header(tar::EntryType::Regular, entry.mode, bytes.len() as u64);
                    builder
                        .append_data(&mut h, path, &bytes[..])
                        .map_err(write_err)?;
                }
                Content::File(file) => {
                    let read_err = |source| UploadError::Read {
                        path: file.clone(),
                        source,
                    };
                    let f = std::fs::File::open(file).map_err(read_err)?;
                    let meta = f.metadata().map_err(read_err)?;
                    if !meta.is_file() {
                        return Err(UploadError::NotAFile(file.clone()));
                    }
                    let size = meta.len();
                    let mut h = header(tar::EntryType::Regular, entry.mode, size);
                    let mut reader = ExactReader {
                        inner: f.take(size),
                        left: size,
                        error: None,
                    };
                    builder
                        .append_data(&mut h, path, &mut reader)
                        .map_err(|e| {
                            if let Some(source) = reader.error.take() {
                                read_err(source)
                            } else {
                                write_err(e)
                            }
                        })?;
                }
            }
        }
        let mut writer = builder.into_inner().map_err(write_err)?;
        writer.flush().map_err(write_err)?;
        Ok(())
    }
}

/// Reads exactly `left` bytes: a file that shrank while being read is an
/// error, not a short archive entry. Keeps its own read error so that the
/// message can name the file rather than the stream.
struct ExactReader<R> {
    inner: R,
    left: u64,
    error: Option<std::io::Error>,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let failure = match self.inner.read(buf) {
            Ok(0) => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was read",
            ),
            Ok(n) => {
                self.left -= n as u64;
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(e),
            Err(e) => e,
        };
        let message = failure.to_string();
        self.error = Some(failure);
        Err(std::io::Error::other(message))
    }
}

/// A `Write` that sends full chunks to the upload stream, blocking when the
/// stream is behind (call only from a blocking task).
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn new(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) -> Self {
        Self {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload stream closed")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries of a tar: (path, kind, mode, content).
    fn read_tar(bytes: &[u8]) -> Vec<(String, tar::EntryType, u32, Vec<u8>)> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .expect("entries")
            .map(|e| {
                let mut e = e.expect("entry");
                let path = e.path().expect("path").display().to_string();
                let kind = e.header().entry_type();
                let mode = e.header().mode().expect("mode");
                let mut content = Vec::new();
                e.read_to_end(&mut content).expect("reading");
                (path, kind, mode, content)
            })
            .collect()
    }

    #[test]
    fn the_tar_holds_inputs_patches_and_script() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = dir.path().join("src.source");
        std::fs::write(&source, b"source bytes").expect("writing");
        let big = dir.path().join("big");
        let big_content: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i % 251) as u8).collect();
        std::fs::write(&big, &big_content).expect("writing");
        let mut set = UploadSet::new();
        set.input("src.source", &source).expect("input");
        set.input("dep-1.0.pkg", &big).expect("input");
        set.patch("libs/zlib/fix.patch", &source).expect("patch");
        set.script("#!/bin/sh\necho hi\n").expect("script");
        // The same file twice is fine.
        set.input("src.source", &source).expect("same input again");

        let mut out = Vec::new();
        set.write_tar(&mut out).expect("writing the tar");
        let entries = read_tar(&out);
        use tar::EntryType::{Directory as D, Regular as R};
        let shape: Vec<(&str, tar::EntryType, u32)> = entries
            .iter()
            .map(|(p, k, m, _)| (p.as_str(), *k, *m))
            .collect();
        assert_eq!(
            shape,
            [
                ("inputs", D, 0o755),
                ("outputs", D, 0o755),
                ("patches", D, 0o755),
                ("patches/libs", D, 0o755),
                ("patches/libs/zlib", D, 0o755),
                ("inputs/dep-1.0.pkg", R, 0o644),
                ("inputs/src.source", R, 0o644),
                ("patches/libs/zlib/fix.patch", R, 0o644),
                ("script", R, 0o755),
            ]
        );
        assert_eq!(entries[5].3, big_content);
        assert_eq!(entries[6].3, b"source bytes");
        assert_eq!(entries[8].3, b"#!/bin/sh\necho hi\n");
        assert_eq!(
            set.paths().collect::<Vec<_>>(),
            [
                "/inputs/dep-1.0.pkg",
                "/inputs/src.source",
                "/patches/libs/zlib/fix.patch",
                "/script"
            ]
        );
    }

    #[test]
    fn paths_are_checked() {
        let cases: &[(&str, bool)] = &[
            ("a.source", true),
            ("dir/a", true),
            ("", false),
            ("/etc/passwd", false),
            ("../x", false),
            ("a/../../x", false),
            ("a//b", false),
            ("./a", false),
        ];
        for (path, ok) in cases {
            let got = UploadSet::new().input(path, "/dev/null").map(|_| ());
            assert_eq!(got.is_ok(), *ok, "{path:?}: {got:?}");
            if !ok {
                assert!(matches!(got, Err(UploadError::InvalidPath(_))));
            }
        }
    }

    #[test]
    fn two_files_for_one_path_collide() {
        let mut set = UploadSet::new();
        set.input("a", "/one").expect("first");
        let got = set.input("a", "/two").map(|_| ());
        match got {
            Err(UploadError::Collision {
                path,
                first,
                second,
            }) => {
                assert_eq!(
                    (path.as_str(), first.as_str(), second.as_str()),
                    ("inputs/a", "/one", "/two")
                );
            }
            other => panic!("expected a collision, got {other:?}"),
        }
        set.script("a").expect("script");
        assert!(matches!(
            set.script("b"),
            Err(UploadError::Collision { .. })
        ));
    }

    #[test]
    fn a_missing_file_names_itself() {
        let mut set = UploadSet::new();
        set.input("gone", "/nonexistent/kiln-test-file")
            .expect("input");
        let got = set.write_tar(Vec::new());
        match got {
            Err(UploadError::Read { path, .. }) => {
                assert_eq!(path, PathBuf::from("/nonexistent/kiln-test-file"))
            }
            other => panic!("expected a read error, got {other:?}"),
        }
        let mut set = UploadSet::new();
        set.input("dir", "/").expect("input");
        assert!(matches!(
            set.write_tar(Vec::new()),
            Err(UploadError::NotAFile(_))
        ));
    }

    #[tokio::test]
    async fn the_stream_carries_the_whole_tar() {
        use futures::TryStreamExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        let content = vec![1u8; 5 * CHUNK + 3];
        std::fs::write(&file, &content).expect("writing");
        let mut set = UploadSet::new();
        set.input("f", &file).expect("input");
        let (stream, task) = set.into_stream();
        let chunks: Vec<Bytes> = stream.try_collect().await.expect("streaming");
        task.await.expect("joining").expect("writing");
        assert!(chunks.iter().all(|c| c.len() <= CHUNK));
        let tar: Vec<u8> = chunks.concat();
        let entries = read_tar(&tar);
        assert_eq!(entries.last().map(|e| e.3.len()), Some(content.len()));
    }

    #[tokio::test]
    async fn a_closed_receiver_stops_the_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, vec![1u8; 20 * CHUNK]).expect("writing");
        let mut set = UploadSet::new();
        set.input("f", &file).expect("input");
        let (stream, task) = set.into_stream();
        drop(stream);
        let got = task.await.expect("joining");
        assert!(matches!(got, Err(UploadError::Closed)), "{got:?}");
    }
}
