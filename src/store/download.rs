//! Downloading sources into the source cache over HTTP(S).
//!
//! Each file is written to a temporary file beside its final place, hashed
//! while it streams in, and renamed into place only when its hash is the one
//! the package names: the cache never holds a partial or wrong file under a
//! source's name. A file already present with the right hash is not fetched
//! again. Sources marked `download_manually` are refused unless the caller
//! allows them.
//!
//! Downloads run as tasks of a `JoinSet`, at most `jobs` at a time (a
//! semaphore). They report their progress as [`DownloadEvent`]s on a
//! channel; the caller's loop owns the display. Dropping the future of
//! [`download`] aborts every transfer and removes its temporary file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::sources::{check_file, SourceHasher, SourceStatus};
use crate::package::SourceHash;

/// One file to fetch.
#[derive(Debug, Clone)]
pub struct DownloadItem {
    /// How the display names it (e.g. `curl 8.4.0 src`).
    pub label: String,
    pub url: String,
    pub hash: SourceHash,
    /// Where it goes in the source cache.
    pub path: PathBuf,
    /// The package says the file must be fetched by hand.
    pub download_manually: bool,
}

/// What to do with sources marked `download_manually`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualSources {
    /// Refuse them (the default).
    Refuse,
    /// Fetch them like the others (`--force`).
    Download,
}

/// How downloads run.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// At most this many transfers at once (at least 1).
    pub jobs: usize,
    /// For connecting, and for each read of the body (a stalled transfer fails).
    pub timeout: Duration,
    pub manual: ManualSources,
}

/// How one item ended.
#[derive(Debug)]
pub enum DownloadOutcome {
    /// The file was there already, with the right hash.
    Present,
    /// The file was fetched, verified and put in place.
    Downloaded { bytes: u64 },
    /// The source is marked `download_manually`; nothing was fetched.
    RefusedManual,
    /// Nothing was put in place.
    Failed(DownloadError),
}

impl DownloadOutcome {
    /// Whether the file is in the cache with the right hash now.
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            DownloadOutcome::Present | DownloadOutcome::Downloaded { .. }
        )
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("`{url}` is not an http:// or https:// URL")]
    UnsupportedUrl { url: String },
    #[error("fetching {url}: {message}")]
    Request { url: String, message: String },
    #[error("{url} answered {status}")]
    Status {
        url: String,
        status: reqwest::StatusCode,
    },
    #[error("the file fetched from {url} has {kind} {actual}, not the expected {expected}; it was not kept")]
    Mismatch {
        url: String,
        kind: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the download task ended abnormally: {0}")]
    Task(String),
}

/// What a running download reports to the display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadEvent {
    /// The server answered; `length` is the body's size when it said so.
    Started { item: usize, length: Option<u64> },
    /// `bytes` of the body have arrived so far.
    Progress { item: usize, bytes: u64 },
    /// The item is done (its outcome is in the result of [`download`]).
    Finished { item: usize, ok: bool },
}

/// Fetches every item (see the module documentation) and returns one
/// outcome per item, in the order given. Errors of single items are
/// outcomes; this fails only when no HTTP client can be made.
pub async fn download(
    items: Vec<DownloadItem>,
    options: &DownloadOptions,
    events: mpsc::UnboundedSender<DownloadEvent>,
) -> Result<Vec<DownloadOutcome>, DownloadError> {
    let client = client(options.timeout)?;
    let permits = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut tasks = JoinSet::new();
    let count = items.len();
    for (index, item) in items.into_iter().enumerate() {
        let client = client.clone();
        let permits = permits.clone();
        let events = events.clone();
        let manual = options.manual;
        tasks.spawn(async move {
            // The semaphore is never closed, so acquiring fails only if it were.
            let _permit = permits.acquire_owned().await;
            let outcome = fetch_one(&client, index, &item, manual, &events).await;
            let _ = events.send(DownloadEvent::Finished {
                item: index,
                ok: outcome.is_ok(),
            });
            (index, outcome)
        });
    }
    drop(events);
    let mut outcomes: Vec<Option<DownloadOutcome>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, outcome)) => outcomes[index] = Some(outcome),
            Err(e) => tracing::error!("a download task ended abnormally: {e}"),
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                DownloadOutcome::Failed(DownloadError::Task("it panicked or was cancelled".into()))
            })
        })
        .collect())
}

fn client(timeout: Duration) -> Result<reqwest::Client, DownloadError> {
    // TLS uses ring; installing it fails only when a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DownloadError::Request {
            url: String::new(),
            message: format!("cannot set up the HTTP client: {}", crate::error::Chain(&e)),
        })
}

async fn fetch_one(
    client: &reqwest::Client,
    index: usize,
    item: &DownloadItem,
    manual: ManualSources,
    events: &mpsc::UnboundedSender<DownloadEvent>,
) -> DownloadOutcome {
    let path = item.path.clone();
    let hash = item.hash.clone();
    let present = tokio::task::spawn_blocking(move || check_file(&path, &hash)).await;
    match present {
        Ok(SourceStatus::Ok) => return DownloadOutcome::Present,
        Ok(status) => tracing::debug!(file = %item.path.display(), %status, "fetching"),
        Err(e) => return DownloadOutcome::Failed(DownloadError::Task(e.to_string())),
    }
    if item.download_manually && manual == ManualSources::Refuse {
        return DownloadOutcome::RefusedManual;
    }
    match fetch(client, index, item, events).await {
        Ok(bytes) => DownloadOutcome::Downloaded { bytes },
        Err(e) => DownloadOutcome::Failed(e),
    }
}

/// Fetches `item` into a temporary file, verifies it and renames it into place.
async fn fetch(
    client: &reqwest::Client,
    index: usize,
    item: &DownloadItem,
    events: &mpsc::UnboundedSender<DownloadEvent>,
) -> Result<u64, DownloadError> {
    let url = &item.url;
    let parsed =
        url::Url::parse(url).map_err(|_| DownloadError::UnsupportedUrl { url: url.clone() })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(DownloadError::UnsupportedUrl { url: url.clone() });
    }
    let request_error = |e: reqwest::Error| DownloadError::Request {
        url: url.clone(),
        message: crate::error::Chain(&e).to_string(),
    };
    let response = client.get(parsed).send().await.map_err(request_error)?;
    let status = response.status();
    if !status.is_success() {
        return Err(DownloadError::Status {
            url: url.clone(),
            status,
        });
    }
    let _ = events.send(DownloadEvent::Started {
        item: index,
        length: response.content_length(),
    });

    let (temp, file) = temp_file(&item.path).await?;
    let mut file = tokio::fs::File::from_std(file);
    let io = |what| {
        let path = temp.to_path_buf();
        move |source| DownloadError::Io { what, path, source }
    };
    let mut hasher = SourceHasher::new(item.hash.kind);
    let mut bytes = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(request_error)?;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io("writing"))?;
        bytes += chunk.len() as u64;
        let _ = events.send(DownloadEvent::Progress { item: index, bytes });
    }
    file.sync_all().await.map_err(io("writing"))?;
    drop(file);

    let actual = hasher.finish_hex();
    if actual != item.hash.hash {
        let removed = tokio::task::spawn_blocking(move || temp.close()).await;
        if let Ok(Err(e)) = removed {
            tracing::warn!("removing a rejected download: {e}");
        }
        return Err(DownloadError::Mismatch {
            url: url.clone(),
            kind: item.hash.kind.as_str(),
            expected: item.hash.hash.clone(),
            actual,
        });
    }
    let dest = item.path.clone();
    tokio::task::spawn_blocking(move || temp.persist(&dest))
        .await
        .map_err(|e| DownloadError::Task(e.to_string()))?
        .map_err(|e| DownloadError::Io {
            what: "renaming a download to",
            path: item.path.clone(),
            source: e.error,
        })?;
    Ok(bytes)
}

/// A temporary file in the directory of `dest` (created if needed), removed
/// when dropped unless it is persisted.
async fn temp_file(dest: &Path) -> Result<(tempfile::TempPath, std::fs::File), DownloadError> {
    let dest = dest.to_owned();
    let made = tokio::task::spawn_blocking(move || {
        let dir = dest.parent().unwrap_or(Path::new(".")).to_owned();
        std::fs::create_dir_all(&dir).map_err(|source| DownloadError::Io {
            what: "creating",
            path: dir.clone(),
            source,
        })?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Readable by all, like any file the user would have put there (the umask applies).
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(&dir)
            .map_err(|source| DownloadError::Io {
                what: "creating a temporary file in",
                path: dir.clone(),
                source,
            })?;
        Ok(temp.into_parts())
    })
    .await
    .map_err(|e| DownloadError::Task(e.to_string()))?;
    let (file, path) = made?;
    Ok((path, file))
}
