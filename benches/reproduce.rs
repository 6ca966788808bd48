//! What reproduction costs: the real `kiln` binary (bench profile) on the
//! local engine with the test image, recording into a fresh database on
//! the test server (`KILN_TEST_DATABASE_URL`). The targets:
//!
//! - `checkout`: the temporary work tree of `kiln submit --commit` (the
//!   commit of a 10,000-package synthetic repository, written by git2)
//!   is ready in under 2 s;
//! - `examples`: `kiln reproduce` of the `examples/` tree takes at most
//!   1.2 times the wall time of its original build (built, not reused;
//!   best of 2 each), and proves every artifact identical.
//!
//! Run with `cargo bench --bench reproduce`, or name sections to run only
//! those: `cargo bench --bench reproduce -- checkout`. The exit code is 1
//! if a target is missed.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its numbers on standard output"
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln::repo::git::Checkout;

mod support;
use support::{ensure_image, setup, timed};

const CHECKOUT_LIMIT: Duration = Duration::from_secs(2);
const CHECKOUT_PACKAGES: usize = 10_000;
const REPRODUCE_RATIO: f64 = 1.2;

fn main() {
    let runs = support::sections();
    let mut checks: Vec<(String, bool)> = Vec::new();
    if runs("checkout") {
        checkout(&mut checks);
    }
    if runs("examples") {
        ensure_image();
        examples(&mut checks);
    }
    support::report(&checks);
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@kiln.invalid",
        ])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("running git");
    assert!(status.success(), "git {args:?}");
}

fn checkout(checks: &mut Vec<(String, bool)>) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let repo = work.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    let written = kiln::repo::synthetic::write_repository(&repo, CHECKOUT_PACKAGES, 7)
        .expect("writing the synthetic repository");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "packages"]);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let checkout = Checkout::new(&repo, "HEAD", None).expect("a checkout");
        best = best.min(start.elapsed());
        let loaded = kiln::repo::load(checkout.path()).expect("the checkout loads");
        assert_eq!(loaded.packages().len(), written.packages);
    }
    println!(
        "checkout: {} packages written into a temporary work tree in {:.3} s (best of 3)",
        written.packages,
        best.as_secs_f64()
    );
    checks.push((
        format!(
            "checkout: {:.3} s < {} s",
            best.as_secs_f64(),
            CHECKOUT_LIMIT.as_secs()
        ),
        best < CHECKOUT_LIMIT,
    ));
}

fn examples(checks: &mut Vec<(String, bool)>) {
    let (_db, _work, bench) = setup("kiln-bench-reproduce-examples-");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut original = Duration::MAX;
    let mut uuid = String::new();
    for _ in 0..2 {
        let run = bench.submit_with(&examples, "world", &["--no-reuse", "--output", "json"]);
        original = original.min(run.wall);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("submit JSON");
        uuid = doc["uuid"].as_str().expect("the submit's uuid").to_owned();
    }
    let mut rebuild = Duration::MAX;
    let mut last = String::new();
    for _ in 0..2 {
        let mut cmd = bench.kiln();
        cmd.arg("--repo")
            .arg(&examples)
            .args(["reproduce", &uuid, "--hide-bars", "--staging-dir"])
            .arg(bench.staging());
        let (status, run) = timed(cmd);
        assert!(
            status.success(),
            "kiln reproduce failed ({status}):\n{}",
            run.stdout
        );
        rebuild = rebuild.min(run.wall);
        last = run.stdout;
    }
    let ratio = rebuild.as_secs_f64() / original.as_secs_f64();
    println!(
        "examples: original build {:.2} s, reproduce {:.2} s (best of 2 each): {ratio:.2}x; {}",
        original.as_secs_f64(),
        rebuild.as_secs_f64(),
        last.lines().last().unwrap_or_default()
    );
    checks.push((
        format!("examples: reproduce / original = {ratio:.2} <= {REPRODUCE_RATIO}"),
        ratio <= REPRODUCE_RATIO,
    ));
}
