//! What releasing costs: the real `kiln` binary (bench profile) releases a
//! submit of 1,000 artifacts totalling 1 GiB (built for real on the local
//! engine with the test image; random content, so nothing compresses or
//! deduplicates) into a release store on the same file system, recording
//! into a fresh database on the test server (`KILN_TEST_DATABASE_URL`).
//! Every file is copied, checked by SHA-256, synced and moved into place.
//! The targets: at least 200 MB/s, and a peak resident memory under
//! 100 MiB.
//!
//! Run with `cargo bench --bench release`. The exit code is 1 if a target
//! is missed.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its numbers on standard output"
)]

mod support;
use support::{ensure_image, package, setup, timed};

const FILES: usize = 1000;
const FILE_BYTES: usize = 1 << 20;
const MIN_MB_PER_S: f64 = 200.0;
const MAX_RSS_KIB: u64 = 100 * 1024;

fn main() {
    ensure_image();
    let (_db, work, bench) = setup("kiln-bench-release-");
    let extra = format!(
        "releases_root = \"{}\"\nrelease_stores = [\"stable\"]",
        work.path().join("releases").display()
    );
    let script = format!(
        "mkdir -p /outputs/blobs\ni=0\nwhile [ $i -lt {FILES} ]; do head -c {FILE_BYTES} /dev/urandom > /outputs/blobs/blob-$i.bin; i=$((i + 1)); done\n"
    );
    let repo = bench.repo("release", &[package("blobs", &script, Vec::new())], &extra);
    let built = bench.submit_with(&repo, "blobs", &["--output", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&built.stdout).expect("submit JSON");
    let uuid = doc["uuid"].as_str().expect("the submit's uuid").to_owned();

    let mut cmd = bench.kiln();
    cmd.arg("--repo")
        .arg(&repo)
        .args([
            "release",
            "new",
            &uuid,
            "--to",
            "stable",
            "--non-interactive",
            "-q",
        ])
        .arg("--staging-dir")
        .arg(bench.staging());
    let (status, run) = timed(cmd);
    assert!(status.success(), "kiln release new failed: {}", run.stdout);
    let released = support::files_and_bytes(&work.path().join("releases/stable"));
    assert_eq!(released, (FILES, (FILES * FILE_BYTES) as u64));
    let mb_per_s = (FILES * FILE_BYTES) as f64 / 1e6 / run.wall.as_secs_f64();
    println!(
        "release: {FILES} artifacts, {} MiB in {:.2} s: {mb_per_s:.0} MB/s, peak RSS {} KiB",
        (FILES * FILE_BYTES) >> 20,
        run.wall.as_secs_f64(),
        run.peak_rss_kib
    );
    let checks = [
        (
            format!("release: {mb_per_s:.0} MB/s >= {MIN_MB_PER_S}"),
            mb_per_s >= MIN_MB_PER_S,
        ),
        (
            format!(
                "release: peak RSS {} KiB < {MAX_RSS_KIB} KiB",
                run.peak_rss_kib
            ),
            run.peak_rss_kib < MAX_RSS_KIB,
        ),
    ];
    support::report(&checks);
}
