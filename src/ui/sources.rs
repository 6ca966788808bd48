//! What the `source` commands print: listings of sources (status, URL,
//! path), the progress of downloads (bars on a terminal, plain lines
//! otherwise), and the summary of a download or verification.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::listing::Listing;
use crate::package::{PackageId, PackageSet, Source};
use crate::store::download::{DownloadEvent, DownloadItem, DownloadOutcome};
use crate::store::sources::{SourceCheck, SourceStatus};

const BAR_TEMPLATE: &str =
    "{prefix:30!} {bar:30.cyan/blue} {bytes:>10}/{total_bytes:10} {binary_bytes_per_sec:>12}";
const SPINNER_TEMPLATE: &str = "{prefix:30!} {spinner} {bytes:>10} {binary_bytes_per_sec:>12}";

/// `NAME VERSION KEY`, how a source is named in messages.
pub fn source_label(packages: &PackageSet, id: PackageId, key: &str) -> String {
    let p = packages.get(id);
    format!("{} {} {key}", p.name, p.version)
}

/// The status of each source, with the detail of mismatches and read errors.
pub fn verify_listing(packages: &PackageSet, checks: &[SourceCheck]) -> Listing {
    let rows = checks
        .iter()
        .map(|c| {
            let p = packages.get(c.package);
            let detail = match &c.status {
                SourceStatus::Ok | SourceStatus::Missing => String::new(),
                SourceStatus::Mismatch { expected, actual } => {
                    format!("expected {expected}, found {actual}")
                }
                SourceStatus::Unreadable { error } => error.clone(),
            };
            vec![
                json!(p.name.as_str()),
                json!(p.version.as_str()),
                json!(c.key),
                json!(c.status.as_str()),
                json!(c.path.display().to_string()),
                json!(detail),
            ]
        })
        .collect();
    Listing {
        columns: vec!["package", "version", "source", "status", "path", "detail"],
        rows,
    }
}

/// `verify: N sources: A ok, B missing, C mismatched, D unreadable`.
pub fn verify_summary(checks: &[SourceCheck]) -> String {
    let count = |f: fn(&SourceStatus) -> bool| checks.iter().filter(|c| f(&c.status)).count();
    let ok = count(|s| matches!(s, SourceStatus::Ok));
    let missing = count(|s| matches!(s, SourceStatus::Missing));
    let mismatched = count(|s| matches!(s, SourceStatus::Mismatch { .. }));
    let unreadable = count(|s| matches!(s, SourceStatus::Unreadable { .. }));
    let mut text = format!(
        "verify: {} source{}: {ok} ok, {missing} missing, {mismatched} mismatched",
        checks.len(),
        if checks.len() == 1 { "" } else { "s" }
    );
    if unreadable > 0 {
        let _ = write!(text, ", {unreadable} unreadable");
    }
    text
}

/// Sources with their URL and where they are kept; `path` is given per row.
pub fn source_listing<'a>(
    packages: &PackageSet,
    sources: impl IntoIterator<Item = (PackageId, &'a str, &'a Source, String)>,
    url: bool,
    path: bool,
) -> Listing {
    let mut columns = vec!["package", "version", "source"];
    if url {
        columns.push("url");
    }
    if path {
        columns.push("path");
    }
    let rows = sources
        .into_iter()
        .map(|(id, key, source, file)| {
            let p = packages.get(id);
            let mut row = vec![
                json!(p.name.as_str()),
                json!(p.version.as_str()),
                json!(key),
            ];
            if url {
                row.push(json!(source.url));
            }
            if path {
                row.push(json!(file));
            }
            row
        })
        .collect();
    Listing { columns, rows }
}

/// How download progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadDisplayMode {
    /// A bar per running download, redrawn in place (stderr is a terminal).
    Bars,
    /// A line per finished download.
    Plain,
}

impl DownloadDisplayMode {
    pub fn detect() -> Self {
        if console::Term::stderr().is_term() {
            DownloadDisplayMode::Bars
        } else {
            DownloadDisplayMode::Plain
        }
    }
}

/// The progress display of `source download`; the command's loop feeds it
/// the events of the downloads.
pub struct DownloadDisplay {
    mode: DownloadDisplayMode,
    multi: MultiProgress,
    bars: HashMap<usize, ProgressBar>,
    labels: Vec<String>,
}

impl DownloadDisplay {
    pub fn new(mode: DownloadDisplayMode, labels: Vec<String>) -> Self {
        let target = match mode {
            DownloadDisplayMode::Bars => ProgressDrawTarget::stderr(),
            DownloadDisplayMode::Plain => ProgressDrawTarget::hidden(),
        };
        Self {
            mode,
            multi: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            labels,
        }
    }

    fn label(&self, item: usize) -> &str {
        self.labels.get(item).map(String::as_str).unwrap_or("?")
    }

    pub fn handle(&mut self, event: DownloadEvent) {
        match event {
            DownloadEvent::Started { item, length } => {
                if self.mode == DownloadDisplayMode::Plain {
                    return;
                }
                let (bar, template) = match length {
                    Some(len) => (ProgressBar::new(len), BAR_TEMPLATE),
                    None => (ProgressBar::no_length(), SPINNER_TEMPLATE),
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                let bar = self.multi.add(bar);
                bar.set_prefix(self.label(item).to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
                self.bars.insert(item, bar);
            }
            DownloadEvent::Progress { item, bytes } => {
                if let Some(bar) = self.bars.get(&item) {
                    bar.set_position(bytes);
                }
            }
            DownloadEvent::Finished { item, ok } => {
                let word = if ok { "done" } else { "failed" };
                let line = format!("{word:<8}{}", self.label(item));
                match self.bars.remove(&item) {
                    Some(bar) => {
                        bar.finish_and_clear();
                        let _ = self.multi.println(line);
                    }
                    None => eprintln!("{line}"),
                }
            }
        }
    }

    /// Clears what is left of the bars.
    pub fn finish(self) {
        for (_, bar) in self.bars {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// The outcome of every download that did not end well, then a summary
/// line. Returns the text and whether everything is in place.
pub fn download_report(items: &[DownloadItem], outcomes: &[DownloadOutcome]) -> (String, bool) {
    let mut text = String::new();
    let (mut downloaded, mut present, mut refused, mut failed) = (0, 0, 0, 0);
    let mut bytes = 0u64;
    for (item, outcome) in items.iter().zip(outcomes) {
        match outcome {
            DownloadOutcome::Present => present += 1,
            DownloadOutcome::Downloaded { bytes: n } => {
                downloaded += 1;
                bytes += n;
            }
            DownloadOutcome::RefusedManual => {
                refused += 1;
                let _ = writeln!(
                    text,
                    "refused: {}: the source is marked download_manually; fetch {} by hand into {} (or give --force)",
                    item.label,
                    item.url,
                    item.path.display()
                );
            }
            DownloadOutcome::Failed(e) => {
                failed += 1;
                let _ = writeln!(text, "failed: {}: {}", item.label, crate::error::Chain(e));
            }
        }
    }
    let _ = writeln!(
        text,
        "download: {} source{}: {downloaded} downloaded ({}), {present} already present, {refused} refused, {failed} failed",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        indicatif::HumanBytes(bytes)
    );
    (text, refused == 0 && failed == 0)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::package::{HashKind, SourceHash};
    use crate::store::download::DownloadError;

    fn item(label: &str) -> DownloadItem {
        DownloadItem {
            label: label.into(),
            url: format!("http://127.0.0.1/{label}"),
            hash: SourceHash {
                kind: HashKind::Sha256,
                hash: "0".repeat(64),
            },
            path: PathBuf::from(format!("/cache/{label}.source")),
            download_manually: false,
        }
    }

    #[test]
    fn verify_summaries() {
        let (set, _) = PackageSet::new(vec![crate::package::testing::package("a", "1", &[], &[])]);
        let id = set.versions("a")[0];
        let check = |status| SourceCheck {
            package: id,
            key: "src".into(),
            path: PathBuf::from("/cache/a-1/src.source"),
            status,
        };
        let mismatch = SourceStatus::Mismatch {
            expected: "00".into(),
            actual: "11".into(),
        };
        let checks = [
            check(SourceStatus::Ok),
            check(SourceStatus::Missing),
            check(mismatch),
        ];
        assert_eq!(
            verify_summary(&checks),
            "verify: 3 sources: 1 ok, 1 missing, 1 mismatched"
        );
        assert_eq!(
            verify_summary(&checks[..1]),
            "verify: 1 source: 1 ok, 0 missing, 0 mismatched"
        );
        let unreadable = [check(SourceStatus::Unreadable {
            error: "denied".into(),
        })];
        assert_eq!(
            verify_summary(&unreadable),
            "verify: 1 source: 0 ok, 0 missing, 0 mismatched, 1 unreadable"
        );
        let listing = verify_listing(&set, &checks);
        assert_eq!(listing.rows[2][3], json!("mismatch"));
        assert_eq!(listing.rows[2][5], json!("expected 00, found 11"));
        assert_eq!(listing.rows[1][5], json!(""));
    }

    #[test]
    fn download_reports() {
        let items = [item("a"), item("b"), item("c"), item("d")];
        let outcomes = [
            DownloadOutcome::Downloaded { bytes: 2048 },
            DownloadOutcome::Present,
            DownloadOutcome::RefusedManual,
            DownloadOutcome::Failed(DownloadError::UnsupportedUrl {
                url: "ftp://x".into(),
            }),
        ];
        let (text, ok) = download_report(&items, &outcomes);
        assert!(!ok);
        assert_eq!(
            text,
            "refused: c: the source is marked download_manually; fetch http://127.0.0.1/c by hand into /cache/c.source (or give --force)\n\
             failed: d: `ftp://x` is not an http:// or https:// URL\n\
             download: 4 sources: 1 downloaded (2.00 KiB), 1 already present, 1 refused, 1 failed\n"
        );
        let (text, ok) = download_report(&items[..2], &outcomes[..2]);
        assert!(ok, "{text}");
    }
}
