//! A fleet of endpoints and kilns: the real `kiln` binary (bench profile)
//! on real engines with the test image, recording into a fresh database on
//! the test server (`KILN_TEST_DATABASE_URL`). The targets:
//!
//! - `shared`: three kiln processes submitting 10 jobs each at once to one
//!   endpoint of `maxjobs = 2` get at least 0.9 times the engine's
//!   throughput of one submit of all 30 jobs (the slots they share through
//!   the database cost no more than that);
//!
//! - `failover`: a fan of 40 jobs on two engines (the machine's and a second
//!   `dockerd` started for the benchmark, 4 slots each), the second killed
//!   (SIGKILL) a third of the way in, takes at most 1.3 times the wall time
//!   of the same fan on the machine's engine alone, and every job succeeds.
//!
//! Every job sleeps [`JOB_SECONDS`] and writes one artifact.
//!
//! Run with `cargo bench --bench fleet`, or name sections to run only those:
//! `cargo bench --bench fleet -- shared`. The exit code is 1 if a target is
//! missed.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its numbers on standard output"
)]

use std::path::Path;
use std::time::{Duration, Instant};

mod support;
use support::{ensure_image, local_engine, package, setup, Bench, Package};

/// The integration tests' support, for its second engine.
#[path = "../tests/it/support/mod.rs"]
#[allow(unused_imports, unused_macros)]
mod it_support;
use it_support::engine::SecondEngine;

const JOB_SECONDS: &str = "1";
const SHARED_RATIO: f64 = 0.9;
const FAILOVER_RATIO: f64 = 1.3;
const FAILOVER_SLOTS: usize = 4;

fn main() {
    ensure_image();
    let runs = support::sections();
    let mut checks: Vec<(String, bool)> = Vec::new();
    if runs("shared") {
        shared(&mut checks);
    }
    if runs("failover") {
        failover(&mut checks);
    }
    support::report(&checks);
}

/// `roots`, each with `leaves` leaves of its own: `leaves + 1` jobs each.
fn fans(roots: &[&str], leaves: usize) -> Vec<Package> {
    let script = format!(
        "sleep {JOB_SECONDS}\nmkdir -p /outputs\necho \"{{{{this.name}}}}\" > \"/outputs/{{{{this.name}}}}.txt\"\n"
    );
    let mut packages = Vec::new();
    for root in roots {
        let names: Vec<String> = (0..leaves).map(|l| format!("{root}-leaf{l}")).collect();
        for name in &names {
            packages.push(package(name, &script, Vec::new()));
        }
        packages.push(package(root, &script, names));
    }
    packages
}

/// Runs `kiln submit ROOT` of each root at once; the wall time until the
/// last ended.
fn submit_at_once(bench: &Bench, repo: &Path, roots: &[&str]) -> Duration {
    let started = Instant::now();
    let handles: Vec<_> = roots
        .iter()
        .map(|root| {
            let mut cmd = bench.kiln();
            cmd.arg("--repo")
                .arg(repo)
                .args(["submit", root, "-I", "busybox", "--hide-bars"])
                .arg("--staging-dir")
                .arg(bench.staging());
            std::thread::spawn(move || support::timed(cmd))
        })
        .collect();
    for handle in handles {
        let (status, run) = handle.join().expect("a submit thread");
        assert!(status.success(), "kiln submit failed:\n{}", run.stdout);
    }
    started.elapsed()
}

fn shared(checks: &mut Vec<(String, bool)>) {
    let (_db, _work, bench) = setup("kiln-bench-fleet-shared-");
    let endpoint = format!(
        "[docker.endpoints.shared]\nuri = \"{}\"\nmaxjobs = 2\n",
        local_engine()
    );
    let mut packages = fans(&["all"], 29);
    packages.extend(fans(&["one", "two", "three"], 9));
    let repo = bench.repo_on("shared", &packages, "", &endpoint);
    let alone = submit_at_once(&bench, &repo, &["all"]);
    let together = submit_at_once(&bench, &repo, &["one", "two", "three"]);
    let ratio = alone.as_secs_f64() / together.as_secs_f64();
    println!(
        "shared: one submit of 30 jobs {:.2} s; three submits of 10 jobs at once {:.2} s; throughput ratio {ratio:.2}",
        alone.as_secs_f64(),
        together.as_secs_f64()
    );
    checks.push((
        format!("three concurrent submits keep {ratio:.2} of the engine's throughput (target ≥ {SHARED_RATIO})"),
        ratio >= SHARED_RATIO,
    ));
}

fn failover(checks: &mut Vec<(String, bool)>) {
    let (_db, _work, bench) = setup("kiln-bench-fleet-failover-");
    let second = SecondEngine::start().expect("a second engine for the benchmark");
    let first = format!(
        "[docker.endpoints.first]\nuri = \"{}\"\nmaxjobs = {FAILOVER_SLOTS}\n",
        local_engine()
    );
    let packages = fans(&["alone"], 39);
    let alone_repo = bench.repo_on("alone", &packages, "", &first);
    let alone = submit_at_once(&bench, &alone_repo, &["alone"]);

    let both = format!("{first}{}", second.endpoint_toml("second", FAILOVER_SLOTS));
    let packages = fans(&["both"], 39);
    let both_repo = bench.repo_on("both", &packages, "", &both);
    let started = Instant::now();
    let killer = std::thread::scope(|scope| {
        let run = scope.spawn(|| submit_at_once(&bench, &both_repo, &["both"]));
        std::thread::sleep(alone / 3);
        let killed_at = started.elapsed();
        second.kill();
        let _ = run.join().expect("the submit");
        killed_at
    });
    let with_kill = started.elapsed();
    let ratio = with_kill.as_secs_f64() / alone.as_secs_f64();
    println!(
        "failover: 40 jobs on one engine {:.2} s; on two, the second killed at {:.2} s, {:.2} s; ratio {ratio:.2}",
        alone.as_secs_f64(),
        killer.as_secs_f64(),
        with_kill.as_secs_f64()
    );
    checks.push((
        format!("a fan of 40 with one of two engines killed takes {ratio:.2} times one engine alone (target ≤ {FAILOVER_RATIO})"),
        ratio <= FAILOVER_RATIO,
    ));
}
