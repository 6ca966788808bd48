//! What `kiln db lineage` costs on a large history: 1,000,000 jobs in
//! 100,000 submits of 10, recorded into a fresh database on the test
//! server (`KILN_TEST_DATABASE_URL`) through SQL, as kiln records them:
//! two artifacts per job, each job's input artifacts those of every job it
//! depends on (directly or not), its direct dependencies, and reused jobs
//! with copies of their source's artifacts.
//!
//! In every tenth submit the bottom of the tree is `openssl 3.1.4` (in
//! every twentieth reused from the one ten submits before), so that its
//! artifacts feed 10% of all jobs. The root of every 97th submit is
//! released (one store of two), and a quarter of those releases were
//! since removed, or replaced by a newer one at the same path: some 750 current releases, about a tenth of
//! them built from openssl.
//!
//! The target: `db lineage --package openssl 3.1.4 --reverse --released`
//! (finding the start, the releases, and the chain of jobs to each) under
//! 200 ms of query time, best of 5, timed in-process on the library calls
//! the command makes. It also prints the command's wall time, and for
//! information the time of the full `--reverse` listing (which lists all
//! 100,000 jobs, so it grows with what it finds).
//!
//! Run with `cargo bench --bench lineage`. The exit code is 1 if the
//! target is missed or the releases found are not those the history holds.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its numbers on standard output"
)]

use std::time::{Duration, Instant};

use diesel::prelude::*;
use kiln::db::listings::lineage;
use kiln::db::listings::PackageSpec;
use kiln::db::models::JobStatus;

mod support;
use support::{setup, timed};

const JOBS: usize = 1_000_000;
const PER_SUBMIT: usize = 10;
const RELEASE_EVERY: usize = 97;
const QUERY_LIMIT: Duration = Duration::from_millis(200);

fn main() {
    let (db, _work, bench) = setup("kiln-bench-lineage-");
    let mut conn = db.connect();
    let start = Instant::now();
    fill_history(&mut conn);
    println!(
        "history: {JOBS} jobs written in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let expected = expected_releases(&mut conn);
    let current = current_releases(&mut conn);

    let package: PackageSpec = "openssl@3.1.4".parse().expect("a package spec");
    let mut best = Duration::MAX;
    let mut found = Vec::new();
    let mut start_jobs = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let start = lineage::start_of_package(&mut conn, &package, None).expect("the start");
        found = lineage::releases_reaching(&mut conn, &start).expect("the releases");
        best = best.min(t.elapsed());
        start_jobs = start.jobs.len();
    }
    let found_ids: Vec<String> = found.iter().map(|r| r.job_uuid.to_string()).collect();
    let chained = found.iter().filter(|r| r.via.len() >= 2).count();
    let reused = found
        .iter()
        .filter(|r| r.via.first().is_some_and(|s| s.status == JobStatus::Reused))
        .count();
    println!(
        "lineage --reverse --released: {:.1} ms (best of 5) over {current} current releases, \
         {start_jobs} start jobs; {} releases found of {} expected, {chained} with a chain \
         ({reused} from a reused openssl)",
        best.as_secs_f64() * 1000.0,
        found.len(),
        expected.len()
    );

    let mut cmd = bench.kiln();
    cmd.args([
        "db",
        "lineage",
        "--package",
        "openssl",
        "3.1.4",
        "--reverse",
        "--released",
    ]);
    let (status, run) = timed(cmd);
    assert!(status.success(), "kiln db lineage failed:\n{}", run.stdout);
    println!(
        "kiln db lineage --package openssl 3.1.4 --reverse --released: {:.3} s wall, {} lines; the first:",
        run.wall.as_secs_f64(),
        run.stdout.lines().count()
    );
    for line in run.stdout.lines().take(4) {
        println!("  {line}");
    }

    let t = Instant::now();
    let start = lineage::start_of_package(&mut conn, &package, None).expect("the start");
    let all = lineage::descendants(&mut conn, &start).expect("the reverse lineage");
    println!(
        "lineage --reverse (for information): {:.2} s, {} jobs, {} current releases",
        t.elapsed().as_secs_f64(),
        all.jobs.len(),
        all.releases.len()
    );

    let mut checks = vec![
        (
            format!(
                "lineage --reverse --released: {:.1} ms < {} ms",
                best.as_secs_f64() * 1000.0,
                QUERY_LIMIT.as_millis()
            ),
            best < QUERY_LIMIT,
        ),
        (
            format!(
                "the {} releases found are the {} current releases of submits with openssl",
                found.len(),
                expected.len()
            ),
            sorted(found_ids) == expected,
        ),
        (
            format!(
                "the full --reverse finds the same {} releases",
                all.releases.len()
            ),
            all.releases.len() == expected.len(),
        ),
    ];
    checks.push((
        format!(
            "{chained} of {} releases have a chain from openssl, {reused} through a reused one",
            found.len()
        ),
        chained == found.len() && !found.is_empty() && reused > 0,
    ));
    println!();
    let mut missed = false;
    for (what, ok) in &checks {
        println!("{} {what}", if *ok { "ok  " } else { "MISS" });
        missed |= !ok;
    }
    if missed {
        std::process::exit(1);
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The history. Job `j` is at position `(j - 1) % 10` of submit
/// `(j - 1) / 10 + 1`; position `p >= 1` depends directly on position
/// `p / 2` (or 0 when `p = 1`), so its inputs are the artifacts of
/// positions `p / 2, p / 4, ..., 1` and 0. Position 9 is the root.
fn fill_history(conn: &mut PgConnection) {
    let submits = JOBS / PER_SUBMIT;
    let artifacts = 2 * JOBS;
    let statements = [
        "SET synchronous_commit = off".to_owned(),
        "INSERT INTO packages (id, name, version) \
         SELECT n + 1, 'hist' || n, '1' FROM generate_series(0, 9999) AS n"
            .to_owned(),
        "INSERT INTO packages (id, name, version) VALUES (10001, 'openssl', '3.1.4')".to_owned(),
        "SELECT setval('packages_id_seq', 10001)".to_owned(),
        "INSERT INTO images (name) VALUES ('kiln-busybox:latest')".to_owned(),
        "INSERT INTO git_hashes (hash) \
         SELECT md5('c' || n) || substr(md5('d' || n), 1, 8) FROM generate_series(1, 100) AS n"
            .to_owned(),
        "INSERT INTO release_stores (name) VALUES ('stable'), ('testing')".to_owned(),
        format!(
            "INSERT INTO submits (id, uuid, started_at, ended_at, status, requested_package_id, \
             requested_image_id, repo_hash_id, repo_dirty, submitter_user, submitter_host, \
             kiln_version, tree, plan) \
             SELECT s, md5('submit' || s)::uuid, now() - interval '1 year', now() - interval '1 year', \
                    'succeeded', 1, 1, (s % 100) + 1, false, 'bench', 'bench', '0', '{{}}', '{{}}' \
               FROM generate_series(1, {submits}) AS s"
        ),
        format!("SELECT setval('submits_id_seq', {submits})"),
        // Position 0 is openssl in every 10th submit, reused from the one
        // 10 submits before in every 20th.
        format!(
            "INSERT INTO jobs (id, uuid, submit_id, package_id, image_id, image_digest, status, \
             queued_at, started_at, finished_at, exit_status, script, build_key, build_key_inputs, \
             reused_job_id) \
             SELECT j, md5('job' || j)::uuid, x.s, \
                    CASE WHEN x.p = 0 AND x.s % 10 = 0 THEN 10001 \
                         ELSE ((j::bigint * 7919) % 10000)::int + 1 END, \
                    1, 'sha256:' || md5('image') || md5('digest'), \
                    CASE WHEN x.p = 0 AND x.s % 20 = 0 THEN 'reused' ELSE 'succeeded' END, \
                    now() - interval '1 year', now() - interval '1 year', now() - interval '1 year', \
                    0, 'true', md5('key' || j) || md5('k2' || j), '{{}}', \
                    CASE WHEN x.p = 0 AND x.s % 20 = 0 THEN j - 10 * {PER_SUBMIT} END \
               FROM generate_series(1, {JOBS}) AS j, \
                    LATERAL (SELECT (j - 1) / {PER_SUBMIT} + 1 AS s, (j - 1) % {PER_SUBMIT} AS p) AS x"
        ),
        format!("SELECT setval('jobs_id_seq', {JOBS})"),
        // Artifacts 2j - 1 and 2j of job j, named after its package; a
        // reused job's are copies (same SHA-256) of its source's.
        format!(
            "INSERT INTO artifacts (id, job_id, path, size, sha256) \
             SELECT a.n, j.id, p.name || '-' || p.version || CASE WHEN a.n % 2 = 0 THEN '-dev' ELSE '' END || '.tar.gz', \
                    1000 + a.n % 1000, \
                    md5('a' || (a.n - 2 * (j.id - coalesce(j.reused_job_id, j.id)))) \
                      || md5('b' || (a.n - 2 * (j.id - coalesce(j.reused_job_id, j.id)))) \
               FROM generate_series(1, {artifacts}) AS a(n) \
               JOIN jobs j ON j.id = (a.n + 1) / 2 \
               JOIN packages p ON p.id = j.package_id"
        ),
        format!("SELECT setval('artifacts_id_seq', {artifacts})"),
        format!(
            "INSERT INTO job_input_artifacts (job_id, artifact_id) \
             SELECT j, 2 * d.job - k \
               FROM generate_series(1, {JOBS}) AS j, \
                    LATERAL (SELECT (j - 1) % {PER_SUBMIT} AS p, j - (j - 1) % {PER_SUBMIT} AS base) AS x, \
                    LATERAL (SELECT x.base AS job WHERE x.p >= 1 \
                             UNION ALL \
                             SELECT x.base + (x.p >> s) FROM generate_series(1, 3) AS s \
                              WHERE (x.p >> s) >= 1) AS d, \
                    (VALUES (0), (1)) AS kk(k)"
        ),
        format!(
            "INSERT INTO job_dependencies (job_id, dependency_job_id, kind) \
             SELECT j, CASE WHEN x.p >= 2 THEN x.base + (x.p >> 1) ELSE x.base END, 'runtime' \
               FROM generate_series(1, {JOBS}) AS j, \
                    LATERAL (SELECT (j - 1) % {PER_SUBMIT} AS p, j - (j - 1) % {PER_SUBMIT} AS base) AS x \
              WHERE x.p >= 1"
        ),
        // The root's first artifact of every 97th submit, into one of two
        // stores; at each path the newest is current, and a quarter of
        // the rest were removed.
        format!(
            "INSERT INTO releases (artifact_id, release_store_id, released_at, released_by, \
                                   package_id, path, released_host, removed_at, removed_by, \
                                   removed_host, removal) \
             SELECT id, store, at, 'bench', package_id, path, 'bench', \
                    CASE WHEN gone THEN at + interval '1 hour' END, CASE WHEN gone THEN 'bench' END, \
                    CASE WHEN gone THEN 'bench' END, CASE WHEN gone THEN 'replaced' END \
               FROM (SELECT a.id, 1 + (s % 2) AS store, \
                            now() - interval '1 year' + s * interval '1 second' AS at, \
                            j.package_id, a.path, \
                            (s % 4 = 3 OR row_number() OVER \
                                (PARTITION BY 1 + (s % 2), a.path ORDER BY s DESC) > 1) AS gone \
                       FROM generate_series({RELEASE_EVERY}, {submits}, {RELEASE_EVERY}) AS s \
                       JOIN jobs j ON j.id = s * {PER_SUBMIT} \
                       JOIN artifacts a ON a.id = 2 * j.id - 1) AS r"
        ),
        "VACUUM ANALYZE".to_owned(),
    ];
    for sql in statements {
        diesel::sql_query(&sql)
            .execute(conn)
            .unwrap_or_else(|e| panic!("writing the history: {e}\n{sql}"));
    }
}

/// The jobs of the current releases that openssl went into, by how the
/// history was made (every job of a submit with openssl at its bottom
/// depends on it), sorted: independent of the lineage queries.
fn expected_releases(conn: &mut PgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        uuid: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT j.uuid::text AS uuid \
           FROM releases r \
           JOIN artifacts a ON a.id = r.artifact_id \
           JOIN jobs j ON j.id = a.job_id \
          WHERE r.removed_at IS NULL \
            AND EXISTS (SELECT 1 FROM jobs o \
                         WHERE o.submit_id = j.submit_id AND o.package_id = 10001) \
          ORDER BY 1",
    )
    .load(conn)
    .expect("the expected releases");
    rows.into_iter().map(|r| r.uuid).collect()
}

/// How many releases are current.
fn current_releases(conn: &mut PgConnection) -> i64 {
    use kiln::db::schema::releases;
    releases::table
        .filter(releases::removed_at.is_null())
        .count()
        .get_result(conn)
        .expect("counting the current releases")
}
