//! What reuse saves: the real `kiln` binary (bench profile) on the local
//! engine with the test image, recording into a fresh database on the test
//! server (`KILN_TEST_DATABASE_URL`). The targets:
//!
//! - `examples`: an unchanged resubmit of the `examples/` tree takes under
//!   1 s of wall time and creates no container (counted on the engine's
//!   event stream);
//! - `history`: an unchanged resubmit of a 2,000-package synthetic tree,
//!   with 1,000,000 jobs of history in the database, takes under 3 s of
//!   wall time, and the reuse lookup (the one query for the whole tree)
//!   under 200 ms. The earlier build it reuses is recorded through SQL with
//!   the keys `kiln submit --dry-run --output json` prints, and its files
//!   are written into its staging directory: building 2,000 containers
//!   first would take minutes and measure nothing of reuse;
//! - `chain`: a 50-job chain rebuilds all 50 jobs when its leaf changes,
//!   and 1 (reusing 49) when its root changes.
//!
//! Run with `cargo bench --bench reuse`, or name sections to run only
//! those: `cargo bench --bench reuse -- chain`. The exit code is 1 if a
//! target is missed.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its numbers on standard output"
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use kiln::db::models::jobs::Job;
use sha2::Digest;

mod support;
use support::{ensure_image, package, setup, write, Bench, Package, Run};

const EXAMPLES_LIMIT: Duration = Duration::from_secs(1);
const HISTORY_LIMIT: Duration = Duration::from_secs(3);
const LOOKUP_LIMIT: Duration = Duration::from_millis(200);
const HISTORY_PACKAGES: usize = 2000;
const HISTORY_JOBS: usize = 1_000_000;
const CHAIN: usize = 50;

fn main() {
    ensure_image();
    let runs = support::sections();
    let mut checks: Vec<(String, bool)> = Vec::new();
    if runs("examples") {
        examples(&mut checks);
    }
    if runs("chain") {
        chain(&mut checks);
    }
    if runs("history") {
        history(&mut checks);
    }
    support::report(&checks);
}

fn examples(checks: &mut Vec<(String, bool)>) {
    let (_db, _work, bench) = setup("kiln-bench-reuse-examples-");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let first = bench.submit(&examples, "world");
    let mut best = Duration::MAX;
    let mut containers = 0;
    for _ in 0..3 {
        let (run, made) = counting_containers(|| bench.submit(&examples, "world"));
        best = best.min(run.wall);
        containers += made;
        assert!(run.stdout.contains("23 jobs: 23 reused"), "{}", run.stdout);
    }
    println!(
        "examples: first build {:.2} s; unchanged resubmit {:.3} s (best of 3), {containers} containers",
        first.wall.as_secs_f64(),
        best.as_secs_f64()
    );
    checks.push((
        format!(
            "examples: unchanged resubmit {:.3} s < {} s",
            best.as_secs_f64(),
            EXAMPLES_LIMIT.as_secs()
        ),
        best < EXAMPLES_LIMIT,
    ));
    checks.push((
        format!("examples: {containers} containers created == 0"),
        containers == 0,
    ));
}

fn chain(checks: &mut Vec<(String, bool)>) {
    let (_db, _work, bench) = setup("kiln-bench-reuse-chain-");
    let script = |i: usize, mark: &str| {
        format!("mkdir -p /outputs\necho p{i:02}{mark} > /outputs/p{i:02}.txt\n")
    };
    let packages = |leaf: &str, root: &str| -> Vec<Package> {
        (0..CHAIN)
            .map(|i| {
                let deps = if i == 0 {
                    Vec::new()
                } else {
                    vec![format!("p{:02}", i - 1)]
                };
                let mark = match i {
                    0 => leaf,
                    i if i == CHAIN - 1 => root,
                    _ => "",
                };
                package(&format!("p{i:02}"), &script(i, mark), deps)
            })
            .collect()
    };
    let root = format!("p{:02}", CHAIN - 1);
    let repo = bench.repo("chain", &packages("", ""), "");
    let rewrite = |leaf: &str, top: &str| {
        for (name, script, deps) in packages(leaf, top) {
            let deps: Vec<String> = deps.iter().map(|d| format!("\"{d} =1\"")).collect();
            write(
                &repo.join(&name).join("pkg.toml"),
                &format!(
                    "name = \"{name}\"\nversion = \"1\"\n[dependencies]\nruntime = [{}]\n[phases.build]\nscript = '''\n{script}'''\n",
                    deps.join(", ")
                ),
            );
        }
    };
    let first = bench.submit(&repo, &root);
    rewrite("-changed", "");
    let leaf = bench.submit(&repo, &root);
    rewrite("-changed", "-changed");
    let top = bench.submit(&repo, &root);
    let counts = |run: &Run| run.stdout.lines().last().unwrap_or_default().to_owned();
    println!(
        "chain of {CHAIN}: first {:.1} s ({}); leaf changed {:.1} s ({}); root changed {:.1} s ({})",
        first.wall.as_secs_f64(),
        counts(&first),
        leaf.wall.as_secs_f64(),
        counts(&leaf),
        top.wall.as_secs_f64(),
        counts(&top)
    );
    let leaf_expected = format!("{CHAIN} jobs: {CHAIN} built");
    let top_expected = format!("{CHAIN} jobs: 1 built, {} reused", CHAIN - 1);
    checks.push((
        format!(
            "chain: leaf changed: `{}` is `{leaf_expected}`",
            counts(&leaf)
        ),
        counts(&leaf) == leaf_expected,
    ));
    checks.push((
        format!(
            "chain: root changed: `{}` is `{top_expected}`",
            counts(&top)
        ),
        counts(&top) == top_expected,
    ));
}

fn history(checks: &mut Vec<(String, bool)>) {
    let (db, _work, bench) = setup("kiln-bench-reuse-history-");
    let start = Instant::now();
    let mut conn = db.connect();
    fill_history(&mut conn);
    println!(
        "history: {HISTORY_JOBS} jobs written in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    // p0000 is the root; p(i) depends on p(2i+1) and p(2i+2).
    let packages: Vec<Package> = (0..HISTORY_PACKAGES)
        .map(|i| {
            let deps = [2 * i + 1, 2 * i + 2]
                .into_iter()
                .filter(|&d| d < HISTORY_PACKAGES)
                .map(|d| format!("p{d:04}"))
                .collect();
            package(
                &format!("p{i:04}"),
                &format!("mkdir -p /outputs\necho p{i:04} > /outputs/p{i:04}.txt\n"),
                deps,
            )
        })
        .collect();
    let repo = bench.repo("history", &packages, "");
    let planned = bench.submit_with(&repo, "p0000", &["--dry-run", "--output", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&planned.stdout).expect("dry-run JSON");
    assert_eq!(rows.len(), HISTORY_PACKAGES);
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["package"].as_str().expect("package").to_owned(),
                r["build key"].as_str().expect("build key").to_owned(),
            )
        })
        .collect();
    record_earlier_build(&mut conn, &bench, &keys);

    let mut best_lookup = Duration::MAX;
    let key_list: Vec<String> = keys.iter().map(|(_, k)| k.clone()).collect();
    for _ in 0..5 {
        let t = Instant::now();
        let found = Job::reuse_candidates(&mut conn, &key_list, 3).expect("the lookup");
        best_lookup = best_lookup.min(t.elapsed());
        assert_eq!(found.len(), HISTORY_PACKAGES);
    }
    let mut best = Duration::MAX;
    let mut containers = 0;
    for _ in 0..3 {
        let (run, made) = counting_containers(|| bench.submit(&repo, "p0000"));
        let expected = format!("{HISTORY_PACKAGES} jobs: {HISTORY_PACKAGES} reused");
        assert!(
            run.stdout.contains(&expected),
            "{}",
            run.stdout.lines().last().unwrap_or_default()
        );
        best = best.min(run.wall);
        containers += made;
    }
    println!(
        "history: unchanged resubmit of {HISTORY_PACKAGES} packages over {HISTORY_JOBS} jobs: {:.3} s (best of 3), lookup {:.1} ms (best of 5), {containers} containers",
        best.as_secs_f64(),
        best_lookup.as_secs_f64() * 1000.0
    );
    checks.push((
        format!(
            "history: unchanged resubmit {:.3} s < {} s",
            best.as_secs_f64(),
            HISTORY_LIMIT.as_secs()
        ),
        best < HISTORY_LIMIT,
    ));
    checks.push((
        format!(
            "history: reuse lookup {:.1} ms < {} ms",
            best_lookup.as_secs_f64() * 1000.0,
            LOOKUP_LIMIT.as_millis()
        ),
        best_lookup < LOOKUP_LIMIT,
    ));
    checks.push((
        format!("history: {containers} containers created == 0"),
        containers == 0,
    ));
}

/// 1,000,000 succeeded jobs of other builds, 10 per submit, each with an
/// artifact.
fn fill_history(conn: &mut PgConnection) {
    let submits = HISTORY_JOBS / 10;
    for sql in [
        "SET synchronous_commit = off".to_owned(),
        "INSERT INTO packages (name, version) SELECT 'hist' || n, '1' FROM generate_series(0, 9999) AS n".to_owned(),
        "INSERT INTO images (name) VALUES ('kiln-busybox:latest') ON CONFLICT DO NOTHING".to_owned(),
        "INSERT INTO git_hashes (hash) VALUES (repeat('a', 40))".to_owned(),
        format!(
            "INSERT INTO submits (uuid, started_at, ended_at, status, requested_package_id, requested_image_id, \
             repo_hash_id, repo_dirty, submitter_user, submitter_host, kiln_version, tree, plan) \
             SELECT md5('submit' || s)::uuid, now() - interval '1 year', now() - interval '1 year', 'succeeded', \
                    1, 1, 1, false, 'bench', 'bench', '0', '{{}}', '{{}}' FROM generate_series(1, {submits}) AS s"
        ),
        format!(
            "INSERT INTO jobs (uuid, submit_id, package_id, image_id, status, queued_at, started_at, finished_at, \
             exit_status, script, build_key, build_key_inputs) \
             SELECT md5('job' || j)::uuid, (j - 1) / 10 + 1, (j % 10000) + 1, 1, 'succeeded', \
                    now() - interval '1 year', now() - interval '1 year', now() - interval '1 year', 0, 'true', \
                    md5('key' || (j % 300000)) || md5('k2' || (j % 300000)), '{{}}' \
               FROM generate_series(1, {HISTORY_JOBS}) AS j"
        ),
        format!(
            "INSERT INTO artifacts (job_id, path, size, sha256) \
             SELECT j, 'hist-' || j || '.txt', 10, md5('a' || j) || md5('b' || j) FROM generate_series(1, {HISTORY_JOBS}) AS j"
        ),
        "VACUUM ANALYZE".to_owned(),
    ] {
        diesel::sql_query(sql).execute(conn).expect("writing the history");
    }
}

/// One earlier submit that built every package with `keys`, its artifacts
/// written into its staging directory.
fn record_earlier_build(conn: &mut PgConnection, bench: &Bench, keys: &[(String, String)]) {
    let submit = uuid::Uuid::new_v4();
    let dir = bench.staging().join(submit.to_string());
    std::fs::create_dir_all(&dir).expect("a staging directory");
    let mut names = Vec::new();
    let mut build_keys = Vec::new();
    let mut sums = Vec::new();
    for (name, key) in keys {
        let content = format!("{name}\n");
        std::fs::write(dir.join(format!("{name}.txt")), &content).expect("an artifact");
        names.push(name.clone());
        build_keys.push(key.clone());
        sums.push(hex::encode(sha2::Sha256::digest(content.as_bytes())));
    }
    use diesel::sql_types::{Array, Text};
    diesel::sql_query(
        "INSERT INTO submits (uuid, started_at, ended_at, status, requested_package_id, requested_image_id, \
         repo_hash_id, repo_dirty, submitter_user, submitter_host, kiln_version, tree, plan) \
         VALUES ($1, now(), now(), 'succeeded', 1, 1, 1, false, 'bench', 'bench', '0', '{}', '{}')",
    )
    .bind::<diesel::sql_types::Uuid, _>(submit)
    .execute(conn)
    .expect("the earlier submit");
    diesel::sql_query("INSERT INTO packages (name, version) SELECT unnest($1::text[]), '1' ON CONFLICT DO NOTHING")
        .bind::<Array<Text>, _>(&names)
        .execute(conn)
        .expect("packages");
    diesel::sql_query(
        "INSERT INTO jobs (uuid, submit_id, package_id, image_id, status, queued_at, started_at, finished_at, \
         exit_status, script, build_key, build_key_inputs) \
         SELECT gen_random_uuid(), s.id, p.id, 1, 'succeeded', now(), now(), now(), 0, 'true', k.key, '{}' \
           FROM unnest($1::text[], $2::text[]) AS k(name, key) \
           JOIN packages p ON p.name = k.name AND p.version = '1' \
           CROSS JOIN (SELECT id FROM submits WHERE uuid = $3) s",
    )
    .bind::<Array<Text>, _>(&names)
    .bind::<Array<Text>, _>(&build_keys)
    .bind::<diesel::sql_types::Uuid, _>(submit)
    .execute(conn)
    .expect("the earlier jobs");
    diesel::sql_query(
        "INSERT INTO artifacts (job_id, path, size, sha256) \
         SELECT j.id, k.name || '.txt', length(k.name) + 1, k.sum \
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(name, key, sum) \
           JOIN jobs j ON j.build_key = k.key AND j.status = 'succeeded' \
           JOIN submits s ON s.id = j.submit_id AND s.uuid = $4",
    )
    .bind::<Array<Text>, _>(&names)
    .bind::<Array<Text>, _>(&build_keys)
    .bind::<Array<Text>, _>(&sums)
    .bind::<diesel::sql_types::Uuid, _>(submit)
    .execute(conn)
    .expect("the earlier artifacts");
    diesel::sql_query("ANALYZE").execute(conn).expect("analyze");
}

/// Runs a submit and counts the containers the engine made for it.
fn counting_containers(submit: impl FnOnce() -> Run) -> (Run, usize) {
    let since = chrono::Utc::now().timestamp() - 1;
    let run = submit();
    let until = chrono::Utc::now().timestamp() + 1;
    let uuid = run
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("submit "))
        .expect("the summary names the submit")
        .to_owned();
    let out = Command::new("docker")
        .args([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
        ])
        .args(["--filter", "type=container", "--filter", "event=create"])
        .arg("--filter")
        .arg(format!("label=org.kiln.submit={uuid}"))
        .args(["--format", "{{.Actor.ID}}"])
        .output()
        .expect("docker events");
    assert!(out.status.success(), "docker events failed");
    let made = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .count();
    (run, made)
}
