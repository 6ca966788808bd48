//! How much `kiln submit` costs on top of Docker, and how it holds up under
//! a large log and a large artifact. Runs the real `kiln` binary (built with
//! the bench profile) on the local engine with the test image, recording
//! into a fresh database on the test server (`KILN_TEST_DATABASE_URL`, default
//! the local server's socket). The targets:
//!
//! - orchestration overhead: 50 trivial jobs with `maxjobs = 2`, as a wide
//!   fan (49 leaves under one root) and as a chain, take at most 1.3 times
//!   the wall time of 50 bare `docker run --rm IMAGE true` at the same
//!   concurrency, measured in the same run. A chain can only run one job at
//!   a time, so its baseline is the 50 runs one after another; the fan's is
//!   the 50 runs two at a time. Each figure is the best of three runs, so that
//!   a burst of load from elsewhere on the machine does not decide it;
//! - a job printing 1 GiB of log (all of it stored: `log_limit` is raised):
//!   kiln's peak RSS under 100 MiB; the rate into the database is printed;
//! - a job producing a 1 GiB artifact: kiln's peak RSS under 100 MiB; the
//!   rate from the container into the staging directory is printed;
//! - a job producing 100,000 files (100 directories of 1,000) and a job
//!   taking them all as inputs: every file recorded, kiln's peak RSS under
//!   160 MiB (memory grows with the number of files: each artifact's record
//!   is kept, about 1 KiB of it, for the jobs that take it as input); the
//!   times are printed;
//! - a script printing 100 MB without a newline, and one printing 1 GB, with
//!   the default `log_limit`: kiln's peak RSS under 100 MiB for both, and flat:
//!   the 1 GB run's peak at most 16 MiB above the 100 MB run's.
//!
//! Peak RSS is the process's `VmHWM`, read from `/proc/<pid>/status` while
//! it runs. Run with `cargo bench --bench submit`, or name sections to run
//! only those: `cargo bench --bench submit -- files long-line` (sections:
//! `overhead`, `log`, `artifact`, `files`, `long-line`); the exit code is 1
//! if a target is missed.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its numbers on standard output"
)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use kiln::db::models::artifacts::Artifact;
use kiln::db::models::jobs::Job;
use kiln::db::schema::{artifacts, jobs, log_chunks, submits};
use sha2::Digest;

mod support;
use support::{ensure_image, package, setup, Bench, BenchDb, Package, Run, IMAGE};

const JOBS: usize = 50;
const RUNS: usize = 3;
const GIB: u64 = 1 << 30;
const RSS_LIMIT_KIB: u64 = 100 * 1024;
const OVERHEAD_LIMIT: f64 = 1.3;

fn main() {
    ensure_image();
    let (db, _work, bench) = setup("kiln-bench-submit-");

    // `cargo bench --bench submit -- files long-line` runs only those
    // sections; cargo's own `--bench` flag is ignored.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let section = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let mut conn = db.connect();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("kiln submit benchmark: {JOBS} trivial jobs, maxjobs 2, best of {RUNS}; {cpus} CPUs");
    let mut checks = Vec::new();

    // --- Orchestration overhead -------------------------------------------
    if section("overhead") {
        let fan = bench.repo("fan", &fan_packages(), "");
        let chain = bench.repo("chain", &chain_packages(), "");
        let mut docker2 = Vec::new();
        let mut docker1 = Vec::new();
        let mut kiln_fan = Vec::new();
        let mut kiln_chain = Vec::new();
        for _ in 0..RUNS {
            docker2.push(docker_runs(JOBS, 2));
            kiln_fan.push(bench.submit(&fan, "root"));
            docker1.push(docker_runs(JOBS, 1));
            kiln_chain.push(bench.submit(&chain, &format!("p{:02}", JOBS - 1)));
        }
        let best = |v: &[Duration]| *v.iter().min().expect("measured");
        let best_run = |v: &[Run]| v.iter().map(|r| r.wall).min().expect("measured");
        let max_rss = |v: &[Run]| v.iter().map(|r| r.peak_rss_kib).max().expect("measured");
        println!();
        let header: String = (1..=RUNS)
            .map(|i| format!(" {:>9}", format!("run {i}")))
            .collect();
        println!("{:<44}{header} {:>9}", "wall time (s)", "best");
        let row = |what: &str, times: Vec<Duration>| {
            let cells: Vec<String> = times
                .iter()
                .map(|t| format!("{:>9.2}", t.as_secs_f64()))
                .collect();
            let best = times.iter().min().expect("measured").as_secs_f64();
            println!("{what:<44} {} {best:>9.2}", cells.join(" "));
        };
        row("docker run --rm ... true x50, 2 at a time", docker2.clone());
        row(
            "kiln submit, fan of 50 (49 leaves + root)",
            kiln_fan.iter().map(|r| r.wall).collect(),
        );
        row("docker run --rm ... true x50, 1 at a time", docker1.clone());
        row(
            "kiln submit, chain of 50",
            kiln_chain.iter().map(|r| r.wall).collect(),
        );
        let fan_ratio = best_run(&kiln_fan).as_secs_f64() / best(&docker2).as_secs_f64();
        let chain_ratio = best_run(&kiln_chain).as_secs_f64() / best(&docker1).as_secs_f64();
        let chain_vs_2 = best_run(&kiln_chain).as_secs_f64() / best(&docker2).as_secs_f64();
        println!(
            "per job: docker run {:.0} ms (2 at a time), kiln fan {:.0} ms; docker run {:.0} ms (serial), kiln chain {:.0} ms",
            ms_per_job(best(&docker2)),
            ms_per_job(best_run(&kiln_fan)),
            ms_per_job(best(&docker1)),
            ms_per_job(best_run(&kiln_chain)),
        );
        println!(
            "peak RSS of kiln: fan {} MiB, chain {} MiB; chain against 2 at a time: {chain_vs_2:.2}x (a chain cannot run 2 at a time)",
            max_rss(&kiln_fan) / 1024,
            max_rss(&kiln_chain) / 1024
        );
        checks.push((
            format!(
                "fan of 50: kiln / docker run (2 at a time) = {fan_ratio:.2} <= {OVERHEAD_LIMIT}"
            ),
            fan_ratio <= OVERHEAD_LIMIT,
        ));
        checks.push((
            format!(
                "chain of 50: kiln / docker run (1 at a time) = {chain_ratio:.2} <= {OVERHEAD_LIMIT}"
            ),
            chain_ratio <= OVERHEAD_LIMIT,
        ));
    }

    // --- 1 GiB of log -----------------------------------------------------
    if section("log") {
        // Lines of 127 characters and a newline: 2^23 lines make 1 GiB exactly.
        let line = format!("{}0123456", "0123456789".repeat(12));
        let log_script = format!("yes \"{line}\" | head -c {GIB}\n");
        let log_repo = bench.repo(
            "log",
            &[package("loud", &log_script, Vec::new())],
            "log_limit = 2147483648\n",
        );
        let docker_log = docker_log_baseline(&log_script);
        let run = bench.submit(&log_repo, "loud");
        let job = last_job(&mut conn);
        let (chunks, raw, stored) = chunk_totals(&mut conn, &job);
        let seconds = job_seconds(&job);
        println!();
        println!(
            "1 GiB of log: kiln wall {:.2} s, job {seconds:.2} s, peak RSS {} MiB",
            run.wall.as_secs_f64(),
            run.peak_rss_kib / 1024
        );
        println!(
            "  stored {} bytes of log ({} recorded, truncated: {}) in {chunks} chunks, {:.1} MiB compressed",
            raw,
            job.log_bytes,
            job.log_truncated,
            stored as f64 / (1 << 20) as f64
        );
        println!(
            "  into the database: {:.0} MB/s (the same log through `docker run` to /dev/null: {:.0} MB/s)",
            GIB as f64 / 1e6 / seconds,
            GIB as f64 / 1e6 / docker_log.as_secs_f64()
        );
        assert_eq!(job.log_bytes as u64, GIB, "the log's size is recorded");
        assert_eq!(raw as u64, GIB, "the whole log is stored");
        checks.push((
            format!(
                "1 GiB of log: peak RSS {} MiB < 100 MiB",
                run.peak_rss_kib / 1024
            ),
            run.peak_rss_kib < RSS_LIMIT_KIB,
        ));
    }

    // --- A 1 GiB artifact -------------------------------------------------
    if section("artifact") {
        let big_script = format!("head -c {GIB} /dev/urandom > /outputs/big\necho written\n");
        let big_repo = bench.repo("big", &[package("big", &big_script, Vec::new())], "");
        let run = bench.submit(&big_repo, "big");
        let job = last_job(&mut conn);
        let artifact: Artifact = artifacts::table
            .filter(artifacts::job_id.eq(job.id))
            .select(Artifact::as_select())
            .first(&mut conn)
            .expect("the artifact is recorded");
        let submit_uuid: uuid::Uuid = submits::table
            .find(job.submit_id)
            .select(submits::uuid)
            .first(&mut conn)
            .expect("the submit");
        let staged = bench
            .staging()
            .join(submit_uuid.to_string())
            .join(&artifact.path);
        assert_eq!(artifact.size as u64, GIB);
        assert_eq!(
            artifact.sha256,
            sha256_file(&staged),
            "the staged file is the recorded one"
        );
        // The script's log ends when it exits: from there on the time is
        // kiln's (wait, download, extract, checksum, record).
        let script_end: chrono::DateTime<chrono::Utc> = log_chunks::table
            .filter(log_chunks::job_id.eq(job.id))
            .select(diesel::dsl::max(log_chunks::written_at))
            .first::<Option<_>>(&mut conn)
            .expect("reading chunks")
            .expect("the job printed");
        let finished = job.finished_at.expect("finished");
        let collect = (finished - script_end)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        println!();
        println!(
            "1 GiB artifact: kiln wall {:.2} s, job {:.2} s, peak RSS {} MiB",
            run.wall.as_secs_f64(),
            job_seconds(&job),
            run.peak_rss_kib / 1024
        );
        println!(
            "  container to staging (download, extract, SHA-256, record): {collect:.2} s, {:.0} MB/s",
            GIB as f64 / 1e6 / collect
        );
        let _ = std::fs::remove_file(&staged);
        checks.push((
            format!(
                "1 GiB artifact: peak RSS {} MiB < 100 MiB",
                run.peak_rss_kib / 1024
            ),
            run.peak_rss_kib < RSS_LIMIT_KIB,
        ));
    }

    // --- 100,000 files in one job ----------------------------------------
    if section("files") {
        many_files(&bench, &db, &mut checks);
    }

    // --- 100 MB and 1 GB without a newline --------------------------------
    if section("long-line") {
        long_lines(&bench, &mut checks);
    }

    println!();
    let mut missed = false;
    for (what, met) in &checks {
        println!("{} {what}", if *met { "met:   " } else { "MISSED:" });
        missed |= !met;
    }
    drop(conn);
    drop(db);
    if missed {
        std::process::exit(1);
    }
}

/// Files the `files` section's job writes.
const MANY_FILES: i64 = 100_000;
/// kiln's peak RSS for them: what the artifacts' records take, and the base.
const FILES_RSS_LIMIT_KIB: u64 = 160 * 1024;
/// Flatness of memory under long lines: the 1 GB run's peak over the 100 MB run's.
const LONG_LINE_GROWTH_KIB: u64 = 16 * 1024;

/// 100,000 files in one job, and a dependent taking all of them as inputs.
fn many_files(bench: &Bench, db: &BenchDb, checks: &mut Vec<(String, bool)>) {
    let writer = "awk 'BEGIN { for (d = 0; d < 100; d++) { system(\"mkdir -p /outputs/d\" d); \
                  for (i = 0; i < 1000; i++) { f = \"/outputs/d\" d \"/f\" i; print d * 1000 + i > f; close(f) } } }'\n";
    let reader = format!(
        "n=$(find /inputs -type f | wc -l)\n[ \"$n\" -eq {MANY_FILES} ] || {{ echo \"$n inputs\"; exit 1; }}\n"
    );
    let repo = bench.repo(
        "files",
        &[
            package("many", writer, Vec::new()),
            package("user", &reader, vec!["many".into()]),
        ],
        "",
    );
    let run = bench.submit(&repo, "user");
    let mut conn = db.connect();
    let user = last_job(&mut conn);
    let many: Job = jobs::table
        .filter(jobs::submit_id.eq(user.submit_id))
        .filter(jobs::id.ne(user.id))
        .select(Job::as_select())
        .first(&mut conn)
        .expect("the job of many");
    let recorded: i64 = artifacts::table
        .filter(artifacts::job_id.eq(many.id))
        .count()
        .get_result(&mut conn)
        .expect("counting artifacts");
    println!();
    println!(
        "100,000 files: kiln wall {:.2} s, peak RSS {} MiB",
        run.wall.as_secs_f64(),
        run.peak_rss_kib / 1024
    );
    println!(
        "  the job writing them {:.2} s (script, download, extract, SHA-256, record), \
         the job taking them as inputs {:.2} s (upload, script)",
        job_seconds(&many),
        job_seconds(&user)
    );
    assert_eq!(recorded, MANY_FILES, "every file is recorded");
    checks.push((
        format!(
            "100,000 files: peak RSS {} MiB < {} MiB",
            run.peak_rss_kib / 1024,
            FILES_RSS_LIMIT_KIB / 1024
        ),
        run.peak_rss_kib < FILES_RSS_LIMIT_KIB,
    ));
}

/// A script printing 100 MB without a newline, then 1 GB.
fn long_lines(bench: &Bench, checks: &mut Vec<(String, bool)>) {
    let mut peaks = Vec::new();
    for (what, bytes) in [("100 MB", 100_000_000u64), ("1 GB", 1_000_000_000)] {
        let script = format!("head -c {bytes} /dev/zero | tr '\\0' x\n");
        let name = format!("line{bytes}");
        let repo = bench.repo(&name, &[package("line", &script, Vec::new())], "");
        let run = bench.submit(&repo, "line");
        println!();
        println!(
            "{what} without a newline: kiln wall {:.2} s, peak RSS {} MiB",
            run.wall.as_secs_f64(),
            run.peak_rss_kib / 1024
        );
        checks.push((
            format!(
                "{what} without a newline: peak RSS {} MiB < 100 MiB",
                run.peak_rss_kib / 1024
            ),
            run.peak_rss_kib < RSS_LIMIT_KIB,
        ));
        peaks.push(run.peak_rss_kib);
    }
    let growth = peaks[1].saturating_sub(peaks[0]);
    checks.push((
        format!(
            "long lines: 1 GB's peak RSS is {} MiB above 100 MB's <= {} MiB",
            growth / 1024,
            LONG_LINE_GROWTH_KIB / 1024
        ),
        growth <= LONG_LINE_GROWTH_KIB,
    ));
}

/// 49 leaves under one root.
fn fan_packages() -> Vec<Package> {
    let leaves: Vec<String> = (0..JOBS - 1).map(|i| format!("l{i:02}")).collect();
    let mut packages: Vec<Package> = leaves
        .iter()
        .map(|l| package(l, "true\n", Vec::new()))
        .collect();
    packages.push(package("root", "true\n", leaves));
    packages
}

/// p00 <- p01 <- ... <- p49.
fn chain_packages() -> Vec<Package> {
    (0..JOBS)
        .map(|i| {
            let deps = if i == 0 {
                Vec::new()
            } else {
                vec![format!("p{:02}", i - 1)]
            };
            package(&format!("p{i:02}"), "true\n", deps)
        })
        .collect()
}

/// `n` times `docker run --rm IMAGE true`, `parallel` at a time.
fn docker_runs(n: usize, parallel: usize) -> Duration {
    let start = Instant::now();
    let workers: Vec<_> = (0..parallel)
        .map(|w| {
            let count = (n + parallel - 1 - w) / parallel;
            std::thread::spawn(move || {
                for _ in 0..count {
                    let status = Command::new("docker")
                        .args(["run", "--rm", IMAGE, "true"])
                        .stdout(Stdio::null())
                        .status()
                        .expect("running docker");
                    assert!(status.success(), "docker run failed");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a docker worker");
    }
    start.elapsed()
}

/// The log script through plain `docker run`, its output thrown away.
fn docker_log_baseline(script: &str) -> Duration {
    let start = Instant::now();
    let status = Command::new("docker")
        .args(["run", "--rm", IMAGE, "sh", "-c", script])
        .stdout(Stdio::null())
        .status()
        .expect("running docker");
    assert!(status.success());
    start.elapsed()
}

fn ms_per_job(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0 / JOBS as f64
}

fn sha256_file(path: &Path) -> String {
    let mut file = std::fs::File::open(path).expect("opening the staged artifact");
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("reading the staged artifact");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex::encode(hasher.finalize())
}

fn last_job(conn: &mut PgConnection) -> Job {
    jobs::table
        .order(jobs::id.desc())
        .select(Job::as_select())
        .first(conn)
        .expect("a job")
}

fn job_seconds(job: &Job) -> f64 {
    match (job.started_at, job.finished_at) {
        (Some(s), Some(f)) => (f - s).to_std().unwrap_or_default().as_secs_f64(),
        _ => panic!("job {} did not run: {job:?}", job.uuid),
    }
}

/// Chunks, bytes of log they hold, bytes stored (compressed).
fn chunk_totals(conn: &mut PgConnection, job: &Job) -> (i64, i64, i64) {
    let rows: Vec<(i32, Vec<u8>)> = log_chunks::table
        .filter(log_chunks::job_id.eq(job.id))
        .select((log_chunks::raw_bytes, log_chunks::data))
        .load(conn)
        .expect("reading chunks");
    let raw = rows.iter().map(|(r, _)| i64::from(*r)).sum();
    let stored = rows.iter().map(|(_, d)| d.len() as i64).sum();
    (rows.len() as i64, raw, stored)
}
