//! `kiln db` listings, details, logs and statistics, run as the real binary
//! against a fresh PostgreSQL database filled with a small known history.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::db::TestDb;
use crate::support::snapshot::{assert_snapshot, session};
use crate::support::{run, Sandbox};

// Submits: two share the prefix `11111111`, one is alone under `2222`.
pub(crate) const S1: &str = "11111111-0000-4000-8000-000000000001";
pub(crate) const S2: &str = "11111111-0000-4000-8000-000000000002";
pub(crate) const S3: &str = "22222222-0000-4000-8000-000000000003";
// Jobs: J1..J4 share the prefix `aaaaaaaa`; J5 and J6 are alone.
pub(crate) const J1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub(crate) const J2: &str = "aaaaaaaa-0000-4000-8000-000000000002";
pub(crate) const J3: &str = "aaaaaaaa-0000-4000-8000-000000000003";
pub(crate) const J4: &str = "aaaaaaaa-0000-4000-8000-000000000004";
pub(crate) const J5: &str = "bbbbbbbb-0000-4000-8000-000000000005";
pub(crate) const J6: &str = "cccccccc-0000-4000-8000-000000000006";

const HASH1: &str = "abc1230000000000000000000000000000000001";
const HASH2: &str = "def4560000000000000000000000000000000002";

/// A stored log chunk (as kiln writes them) of the lines of `text`, as a
/// SQL bytea literal.
fn chunk(text: &str) -> String {
    let mut encoder = kiln::log::ChunkEncoder::default();
    let mut data = None;
    for line in text.lines() {
        let stored = kiln::log::StoredLine::new(kiln::log::Source::Stdout, line.as_bytes());
        assert!(
            encoder.push(&stored).expect("encoding").is_none(),
            "one chunk"
        );
    }
    if let Some(chunk) = encoder.flush().expect("encoding") {
        data = Some(chunk.data);
    }
    format!("decode('{}', 'hex')", hex::encode(data.expect("a chunk")))
}

fn sha(n: u32) -> String {
    format!("{n:064x}")
}

/// The known history: 3 submits, 6 jobs, 5 artifacts, 2 releases, logs.
fn seed(db: &TestDb) {
    let key = sha(0xbeef);
    let a1 = format!("a1{}", &sha(1)[2..]);
    let a2 = format!("a2{}", &sha(2)[2..]);
    let sql = format!(
        r#"
        INSERT INTO packages (id, name, version) VALUES
            (1, 'openssl', '3.0.1'), (2, 'openssl', '3.0.2'), (3, 'zlib', '1.3'), (4, 'curl', '8.0');
        INSERT INTO images (id, name) VALUES (1, 'debian:bookworm'), (2, 'alpine:3');
        INSERT INTO image_digests (image_id, digest) VALUES
            (1, 'sha256:d1'), (1, 'sha256:d2'), (2, 'sha256:a1');
        INSERT INTO git_hashes (id, hash) VALUES (1, '{HASH1}'), (2, '{HASH2}');
        INSERT INTO endpoints (id, name, uri, engine_version, api_version, last_checked_at, last_seen_at, healthy, last_error)
        VALUES (1, 'build-1', 'unix:///var/run/docker.sock', '20.10.24', '1.41', now(), now(), true, NULL),
               (2, 'build-2', 'http://10.0.0.2:2375', NULL, NULL, now(), now() - interval '1 day', false, 'connection refused');
        INSERT INTO env_vars (id, name, value) VALUES (1, 'CC', 'gcc'), (2, 'OPT', '-O2'), (3, 'CC', 'clang');
        INSERT INTO submits (id, uuid, started_at, ended_at, status, requested_package_id, requested_image_id,
                             repo_hash_id, repo_dirty, repo_diff_sha256, submitter_user, submitter_host,
                             kiln_version, tree, plan, alive_until)
        VALUES
            (1, '{S1}', now() - interval '3 days', now() - interval '3 days' + interval '1 hour', 'succeeded',
             1, 1, 1, false, NULL, 'alice', 'host-a', '0.1.0', '{{"openssl": ["zlib"]}}', '{{"steps": 2}}', NULL),
            (2, '{S2}', now() - interval '2 hours', now() - interval '90 minutes', 'failed',
             4, 2, 2, true, '{dirty}', 'bob', 'host-b', '0.1.0', '{{}}', '{{}}', NULL),
            -- Running, its kiln's lease current: listings leave it running.
            (3, '{S3}', now() - interval '10 minutes', NULL, 'running',
             3, 1, 1, false, NULL, 'alice', 'host-a', '0.1.0', '{{}}', '{{}}', now() + interval '1 day');
        INSERT INTO submit_envs (submit_id, env_id) VALUES (1, 1);
        INSERT INTO jobs (id, uuid, submit_id, package_id, image_id, image_digest, endpoint_id, container_id, status,
                          queued_at, started_at, finished_at, exit_status, failed_phase, error_message,
                          script, build_key, build_key_inputs, log_bytes)
        VALUES
            (1, '{J1}', 1, 3, 1, 'sha256:d1', 1, 'c1', 'succeeded', now() - interval '3 days',
             now() - interval '3 days', now() - interval '3 days' + interval '100 seconds', 0, NULL, NULL,
             E'#!/bin/bash\necho build zlib\n', '{key}', '{{}}', 20),
            (2, '{J2}', 1, 1, 1, 'sha256:d1', 1, 'c2', 'succeeded', now() - interval '3 days',
             now() - interval '3 days' + interval '200 seconds', now() - interval '3 days' + interval '400 seconds',
             0, NULL, NULL, 'echo openssl', '{key}', '{{}}', 0),
            (3, '{J3}', 2, 3, 2, 'sha256:a1', 2, 'c3', 'succeeded', now() - interval '2 hours',
             now() - interval '2 hours', now() - interval '2 hours' + interval '300 seconds', 0, NULL, NULL,
             'echo zlib', '{key}', '{{}}', 0),
            (4, '{J4}', 2, 4, 2, 'sha256:a1', 2, 'c4', 'failed', now() - interval '2 hours',
             now() - interval '100 minutes', now() - interval '100 minutes' + interval '50 seconds', 2, 'build',
             'make: *** [all] Error 2', 'echo curl', '{key}', '{{}}', 0),
            (5, '{J5}', 3, 3, 1, 'sha256:d2', 1, 'c5', 'running', now() - interval '10 minutes',
             now() - interval '5 minutes', NULL, NULL, NULL, NULL, 'echo zlib', '{key}', '{{}}', 21),
            (6, '{J6}', 3, 2, 1, NULL, NULL, NULL, 'queued', now() - interval '10 minutes',
             NULL, NULL, NULL, NULL, NULL, 'echo openssl', '{key}', '{{}}', 0);
        INSERT INTO job_dependencies (job_id, dependency_job_id, kind) VALUES (2, 1, 'build');
        INSERT INTO job_envs (job_id, env_id) VALUES (1, 1), (1, 2), (2, 1), (3, 3), (4, 3);
        INSERT INTO artifacts (id, job_id, path, size, sha256) VALUES
            (1, 1, 'zlib-1.3.tar.gz', 123456, '{a1}'),
            (2, 1, 'zlib-dev-1.3.tar.gz', 2048, '{a2}'),
            (3, 1, 'zlib-1.3.sig', 100, '{a3}'),
            (4, 2, 'openssl-3.0.1.tar.gz', 9999999, '{a4}'),
            (5, 3, 'zlib-1.3-alpine.tar.gz', 100000, '{a5}');
        INSERT INTO job_input_artifacts (job_id, artifact_id) VALUES (2, 1), (2, 2);
        INSERT INTO release_stores (id, name) VALUES (1, 'default'), (2, 'stable');
        INSERT INTO releases (artifact_id, release_store_id, released_at, released_by,
                              package_id, path, released_host)
        SELECT v.artifact, v.store, v.at, v.by, j.package_id, a.path, 'build-1'
          FROM (VALUES
            (1, 1, now() - interval '2 days', 'alice'),
            (1, 2, now() - interval '1 day', 'alice'),
            (4, 1, now() - interval '1 hour', 'bob')) AS v (artifact, store, at, by)
          JOIN artifacts a ON a.id = v.artifact JOIN jobs j ON j.id = a.job_id;
        INSERT INTO log_chunks (job_id, seq, first_line, line_count, raw_bytes, data) VALUES
            (1, 0, 0, 1, 11, {c10}),
            (1, 1, 1, 1, 9, {c11}),
            (5, 0, 0, 2, 14, {c50}),
            (5, 1, 2, 1, 7, {c51});
        "#,
        dirty = sha(0xd1),
        a3 = sha(3),
        a4 = sha(4),
        a5 = sha(5),
        c10 = chunk("zlib start\n"),
        c11 = chunk("zlib end\n"),
        c50 = chunk("line 1\nline 2\n"),
        c51 = chunk("line 3\n"),
    );
    db.execute(&sql);
}

/// A sandbox, a repository whose config.toml names image short names and a
/// default limit of 4, and a seeded database.
pub(crate) struct Env {
    pub(crate) sandbox: Sandbox,
    pub(crate) db: TestDb,
}

impl Env {
    pub(crate) fn new() -> Option<Env> {
        let db = TestDb::new()?;
        let sandbox = Sandbox::new();
        let repo = sandbox.path().join("repo");
        std::fs::create_dir_all(&repo).expect("creating the repository");
        std::fs::write(
            repo.join("config.toml"),
            "database_default_query_limit = 4\n\
             available_phases = [\"build\"]\n\
             [docker]\n\
             images = [ { name = \"debian:bookworm\", short_name = \"deb12\" }, { name = \"alpine:3\" } ]\n",
        )
        .expect("writing config.toml");
        let env = Env { sandbox, db };
        let (out, stdout, stderr) = env.kiln(&["db", "setup"]);
        assert!(out.status.success(), "db setup failed:\n{stdout}\n{stderr}");
        seed(&env.db);
        Some(env)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.sandbox.kiln();
        cmd.arg("--repo")
            .arg(self.sandbox.path().join("repo"))
            .arg("--database-url")
            .arg(&self.db.url)
            .args(args);
        cmd
    }

    pub(crate) fn kiln(&self, args: &[&str]) -> (Output, String, String) {
        run(&mut self.command(args))
    }

    /// Runs kiln, expects success, returns stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let (out, stdout, stderr) = self.kiln(args);
        assert!(
            out.status.success(),
            "kiln {args:?} failed ({:?}):\n{stdout}\n{stderr}",
            out.status
        );
        stdout
    }

    /// Runs kiln with `--output json`, expects an array, returns it.
    pub(crate) fn json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let stdout = self.ok(&all);
        match serde_json::from_str(&stdout) {
            Ok(serde_json::Value::Array(rows)) => rows,
            other => panic!("kiln {all:?} printed no JSON array: {other:?}\n{stdout}"),
        }
    }

    /// The values of one field of a JSON listing, as strings.
    pub(crate) fn field(&self, args: &[&str], name: &str) -> Vec<String> {
        self.json(args)
            .iter()
            .map(|row| match &row[name] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }
}

/// CSV output: the header and the records.
pub(crate) fn csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|r| {
            r.expect("a valid record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    (header, records)
}

#[test]
fn submits_listing_and_filters() {
    let Some(env) = Env::new() else { return };
    let all = ["db", "submits", "--limit", "0"];
    assert_eq!(env.field(&all, "uuid"), [S3, S2, S1], "newest first");
    let cases: &[(&[&str], &[&str])] = &[
        (&["--package", "openssl"], &[S1]),
        (&["--package", "openssl@3.0.2"], &[]),
        (&["--package", "nosuch"], &[]),
        (&["--with-package", "zlib"], &[S3, S2, S1]),
        (&["--with-package", "openssl"], &[S3, S1]),
        (&["--with-package", "openssl@3.0.2"], &[S3]),
        (&["--with-package", "curl"], &[S2]),
        (&["--image", "deb12"], &[S3, S1]),
        (&["--image", "alpine:3"], &[S2]),
        (&["--commit", "ABC1"], &[S3, S1]),
        (&["--commit", "def"], &[S2]),
        (&["--status", "failed"], &[S2]),
        (&["--status", "running"], &[S3]),
        (&["--newer-than", "1 day"], &[S3, S2]),
        (&["--older-than", "1h"], &[S2, S1]),
        (&["--older-than", "1h", "--newer-than", "1day"], &[S2]),
        (&["--with-package", "zlib", "--status", "succeeded"], &[S1]),
    ];
    for (filter, expected) in cases {
        let mut args = all.to_vec();
        args.extend_from_slice(filter);
        assert_eq!(env.field(&args, "uuid"), *expected, "db submits {filter:?}");
    }
    let rows = env.json(&["db", "submits", "--package", "curl"]);
    let row = &rows[0];
    let expected_fields = [
        "uuid",
        "started_at",
        "ended_at",
        "duration_seconds",
        "status",
        "package_name",
        "package_version",
        "image",
        "commit",
        "repo_dirty",
        "submitter_user",
        "submitter_host",
        "jobs",
        "jobs_failed",
    ];
    let mut keys: Vec<&str> = row
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected_sorted = expected_fields.to_vec();
    expected_sorted.sort_unstable();
    assert_eq!(keys, expected_sorted);
    assert_eq!(row["jobs"], 2);
    assert_eq!(row["jobs_failed"], 1);
    assert_eq!(row["duration_seconds"], 1800.0);
    assert_eq!(row["repo_dirty"], true);
    assert_eq!(row["commit"], HASH2);
    let started = row["started_at"].as_str().expect("a string");
    assert!(
        started.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(started).is_ok(),
        "{started}"
    );

    let (header, records) = csv(&env.ok(&["db", "submits", "--output", "csv"]));
    assert_eq!(header, expected_fields);
    assert_eq!(records.len(), 3);
    assert_eq!(records[0][0], S3);
}

#[test]
fn jobs_listing_filters_and_appears_once() {
    let Some(env) = Env::new() else { return };
    let all = ["db", "jobs", "--limit", "0"];
    // J1 has three artifacts and two variables, yet appears once.
    assert_eq!(env.field(&all, "uuid"), [J6, J5, J4, J3, J2, J1]);
    let cases: &[(&[&str], &[&str])] = &[
        (&["--submit", "2222"], &[J6, J5]),
        (&["--submit", S1], &[J2, J1]),
        (&["--package", "openssl"], &[J6, J2]),
        (&["--package", "openssl@3.0.1"], &[J2]),
        (&["--package", "zlib"], &[J5, J3, J1]),
        (&["--image", "deb12"], &[J6, J5, J2, J1]),
        (&["--endpoint", "build-2"], &[J4, J3]),
        (&["--endpoint", "nosuch"], &[]),
        (&["--status", "failed"], &[J4]),
        (&["--status", "dep_failed"], &[]),
        (&["--env", "CC=gcc"], &[J2, J1]),
        (&["--env", "CC=gcc", "--env", "OPT=-O2"], &[J1]),
        (&["--env", "CC=clang", "--env", "OPT=-O2"], &[]),
        (&["--env", "CC=icc"], &[]),
        (&["--newer-than", "1 day"], &[J6, J5, J4, J3]),
        (&["--older-than", "1 day"], &[J2, J1]),
        (
            &[
                "--package",
                "zlib",
                "--endpoint",
                "build-1",
                "--newer-than",
                "1 day",
            ],
            &[J5],
        ),
    ];
    for (filter, expected) in cases {
        let mut args = all.to_vec();
        args.extend_from_slice(filter);
        assert_eq!(env.field(&args, "uuid"), *expected, "db jobs {filter:?}");
    }
    let rows = env.json(&["db", "jobs", "--status", "failed"]);
    let row = &rows[0];
    for (field, value) in [
        ("submit_uuid", serde_json::json!(S2)),
        ("endpoint", serde_json::json!("build-2")),
        ("package_name", serde_json::json!("curl")),
        ("package_version", serde_json::json!("8.0")),
        ("image", serde_json::json!("alpine:3")),
        ("exit_status", serde_json::json!(2)),
        ("duration_seconds", serde_json::json!(50.0)),
    ] {
        assert_eq!(row[field], value, "field {field}");
    }
    // The default limit comes from config.toml (4), --limit overrides it.
    assert_eq!(env.json(&["db", "jobs"]).len(), 4);
    assert_eq!(env.json(&["db", "jobs", "--limit", "2"]).len(), 2);

    // The table shows the short image name and short UUIDs, once per job.
    let table = env.ok(&["db", "jobs", "--limit", "0"]);
    assert_eq!(table.matches("aaaaaaaa").count(), 4, "{table}");
    assert_snapshot!("db_jobs", table);
    let (header, records) = csv(&env.ok(&["db", "jobs", "--limit", "0", "--output", "csv"]));
    assert_eq!(header[..3], ["submit_uuid", "uuid", "queued_at"]);
    assert_eq!(records.len(), 6);
}

/// The listings as people read them: tables of the known history (without
/// `$COLUMNS`, at the width they need).
#[test]
fn listings_as_tables() {
    let Some(env) = Env::new() else { return };
    for listing in ["submits", "artifacts", "releases", "envvars", "packages"] {
        let table = env.ok(&["db", listing, "--limit", "0"]);
        assert_snapshot!(format!("db_{listing}"), table);
    }
}

#[test]
fn tables_fit_the_terminal_width() {
    let Some(env) = Env::new() else { return };
    for width in [60usize, 100] {
        for listing in ["jobs", "submits", "artifacts", "releases", "endpoints"] {
            let (out, stdout, stderr) = run(env
                .command(&["db", listing, "--limit", "0"])
                .env("COLUMNS", width.to_string()));
            assert!(out.status.success(), "{stderr}");
            for line in stdout.lines() {
                assert!(
                    line.chars().count() <= width,
                    "db {listing} at {width} columns:\n{stdout}"
                );
            }
            assert!(stdout.lines().count() >= 3, "db {listing}:\n{stdout}");
        }
    }
}

#[test]
fn empty_results_say_so_and_succeed() {
    let Some(env) = Env::new() else { return };
    for format in ["table", "csv", "json"] {
        let (out, stdout, stderr) =
            env.kiln(&["db", "jobs", "--status", "lost", "--output", format]);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("no jobs found"), "{format}: {stderr}");
        match format {
            "table" => assert_eq!(stdout, ""),
            "csv" => assert_eq!(stdout.lines().count(), 1, "only the header: {stdout}"),
            _ => assert_eq!(stdout.trim(), "[]"),
        }
    }
}

#[test]
fn uuid_prefixes_unique_ambiguous_and_unknown() {
    let Some(env) = Env::new() else { return };
    let out = env.ok(&["db", "job", "bbbb"]);
    assert!(out.contains(J5), "{out}");
    let out = env.ok(&["db", "submit", "22222222-0000"]);
    assert!(out.contains(S3), "{out}");
    let mut transcript = String::new();
    for args in [
        &["db", "job", "aaaa"][..],
        &["db", "jobs", "--submit", "1111"],
        &["db", "log-of", "ffff"],
        &["db", "job", "not-hex"],
    ] {
        let (out, stdout, stderr) = env.kiln(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        transcript += &session(args, 2, &stdout, &stderr);
    }
    assert_snapshot!("uuid_prefix_errors", transcript);
}

#[test]
fn artifacts_and_releases() {
    let Some(env) = Env::new() else { return };
    let all = ["db", "artifacts", "--limit", "0"];
    assert_eq!(
        env.field(&all, "path"),
        [
            "zlib-1.3-alpine.tar.gz",
            "openssl-3.0.1.tar.gz",
            "zlib-1.3.sig",
            "zlib-dev-1.3.tar.gz",
            "zlib-1.3.tar.gz"
        ]
    );
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--job", "aaaaaaaa-0000-4000-8000-000000000002"],
            &["openssl-3.0.1.tar.gz"],
        ),
        (&["--submit", S2], &["zlib-1.3-alpine.tar.gz"]),
        (
            &["--package", "zlib"],
            &[
                "zlib-1.3-alpine.tar.gz",
                "zlib-1.3.sig",
                "zlib-dev-1.3.tar.gz",
                "zlib-1.3.tar.gz",
            ],
        ),
        (
            &["--released"],
            &["openssl-3.0.1.tar.gz", "zlib-1.3.tar.gz"],
        ),
        (
            &["--unreleased", "--package", "zlib@1.3"],
            &[
                "zlib-1.3-alpine.tar.gz",
                "zlib-1.3.sig",
                "zlib-dev-1.3.tar.gz",
            ],
        ),
        (&["--sha256", "A2"], &["zlib-dev-1.3.tar.gz"]),
        (
            &["--sha256", "a"],
            &["zlib-dev-1.3.tar.gz", "zlib-1.3.tar.gz"],
        ),
    ];
    for (filter, expected) in cases {
        let mut args = all.to_vec();
        args.extend_from_slice(filter);
        assert_eq!(
            env.field(&args, "path"),
            *expected,
            "db artifacts {filter:?}"
        );
    }
    let rows = env.json(&["db", "artifacts", "--sha256", "a1"]);
    assert_eq!(
        rows[0]["released_to"],
        serde_json::json!(["default", "stable"])
    );
    assert_eq!(rows[0]["size"], 123456);
    assert_eq!(rows[0]["job_uuid"], J1);
    let (header, records) = csv(&env.ok(&["db", "artifacts", "--sha256", "a1", "--output", "csv"]));
    assert_eq!(header.last().map(String::as_str), Some("released_to"));
    assert_eq!(
        records[0].last().map(String::as_str),
        Some("default stable")
    );

    let all = ["db", "releases", "--limit", "0"];
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[],
            &["openssl-3.0.1.tar.gz", "zlib-1.3.tar.gz", "zlib-1.3.tar.gz"],
        ),
        (&["--store", "stable"], &["zlib-1.3.tar.gz"]),
        (&["--store", "nosuch"], &[]),
        (&["--package", "openssl"], &["openssl-3.0.1.tar.gz"]),
        (
            &["--newer-than", "36h"],
            &["openssl-3.0.1.tar.gz", "zlib-1.3.tar.gz"],
        ),
        (&["--older-than", "36h"], &["zlib-1.3.tar.gz"]),
    ];
    for (filter, expected) in cases {
        let mut args = all.to_vec();
        args.extend_from_slice(filter);
        assert_eq!(
            env.field(&args, "path"),
            *expected,
            "db releases {filter:?}"
        );
    }
    assert_eq!(
        env.field(&["db", "releases", "--store", "stable"], "released_by"),
        ["alice"]
    );
}

#[test]
fn lookup_listings() {
    let Some(env) = Env::new() else { return };
    let rows = env.json(&["db", "envvars", "--limit", "0"]);
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").into(),
                r["value"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("CC".into(), "clang".into()),
            ("OPT".into(), "-O2".into()),
            ("CC".into(), "gcc".into())
        ]
    );
    assert!(
        rows.iter().all(|r| r["last_used_at"].is_string()),
        "{rows:?}"
    );
    assert_eq!(
        env.field(&["db", "envvars", "--name", "CC"], "value"),
        ["clang", "gcc"]
    );

    let images = env.json(&["db", "images"]);
    assert_eq!(images.len(), 2);
    assert_eq!(images[1]["name"], "debian:bookworm");
    assert_eq!(images[1]["digests"].as_array().map(Vec::len), Some(2));
    assert_snapshot!("db_images", env.ok(&["db", "images"]));

    let endpoints = env.json(&["db", "endpoints"]);
    assert_eq!(endpoints[0]["name"], "build-1");
    assert_eq!(endpoints[0]["healthy"], true);
    assert_eq!(endpoints[1]["healthy"], false);
    assert_eq!(endpoints[1]["last_error"], "connection refused");
    assert_snapshot!("db_endpoints", env.ok(&["db", "endpoints"]));

    let packages = env.json(&["db", "packages", "--name", "openssl"]);
    assert_eq!(packages.len(), 2);
    assert_eq!(packages[0]["version"], "3.0.2");
    assert_eq!(packages[0]["last_job_status"], "queued");
    assert_eq!(packages[1]["last_job_status"], "succeeded");
    assert_eq!(env.json(&["db", "packages", "--limit", "0"]).len(), 4);
}

#[test]
fn submit_and_job_details() {
    let Some(env) = Env::new() else { return };
    let text = env.ok(&["db", "submit", S1, "--tree"]);
    assert!(text.contains(HASH1), "the whole commit: {text}");
    assert_snapshot!("db_submit_tree", text);
    let detail: serde_json::Value =
        serde_json::from_str(&env.ok(&["db", "submit", S2, "--output", "json"])).expect("JSON");
    assert_eq!(
        detail["job_counts"],
        serde_json::json!({"failed": 1, "succeeded": 1})
    );
    assert_eq!(detail["jobs"].as_array().map(Vec::len), Some(2));
    assert_eq!(detail["repo_diff_sha256"], sha(0xd1));

    let text = env.ok(&["db", "job", J2, "--script", "--env"]);
    assert_snapshot!("db_job_script_env", text);
    let detail: serde_json::Value =
        serde_json::from_str(&env.ok(&["db", "job", J2, "--output", "json"])).expect("JSON");
    assert_eq!(detail["inputs"].as_array().map(Vec::len), Some(2));
    assert_eq!(detail["outputs"][0]["path"], "openssl-3.0.1.tar.gz");
    assert_eq!(detail["dependencies"][0]["uuid"], J1);
    assert_snapshot!("db_job_failed", env.ok(&["db", "job", J4]));

    let with_log = env.ok(&["db", "job", J1, "--log"]);
    assert!(
        with_log.ends_with("log:\nzlib start\nzlib end\n"),
        "{with_log}"
    );
    let detail: serde_json::Value =
        serde_json::from_str(&env.ok(&["db", "job", J1, "--log", "-o", "json"])).expect("JSON");
    assert_eq!(detail["log"], "zlib start\nzlib end\n");

    let (out, _, stderr) = env.kiln(&["db", "job", J1, "--output", "csv"]);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
}

#[test]
fn log_of_prints_and_follows() {
    let Some(env) = Env::new() else { return };
    assert_eq!(
        env.ok(&["db", "log-of", "aaaaaaaa-0000-4000-8000-000000000001"]),
        "zlib start\nzlib end\n"
    );
    assert_eq!(
        env.ok(&["db", "log-of", J3]),
        "",
        "a job without a log prints nothing"
    );

    // J5 is running: --follow prints new chunks until the job ends.
    let child = env
        .command(&["db", "log-of", "bbbbbbbb", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kiln");
    std::thread::sleep(Duration::from_millis(700));
    env.db.execute(&format!(
        "INSERT INTO log_chunks (job_id, seq, first_line, line_count, raw_bytes, data) VALUES (5, 2, 3, 1, 7, {});",
        chunk("line 4\n")
    ));
    std::thread::sleep(Duration::from_millis(700));
    env.db.execute(&format!(
        "INSERT INTO log_chunks (job_id, seq, first_line, line_count, raw_bytes, data) VALUES (5, 3, 4, 1, 7, {});
         UPDATE jobs SET status = 'succeeded', finished_at = now(), exit_status = 0 WHERE id = 5;",
        chunk("line 5\n")
    ));
    let started = Instant::now();
    let out = child.wait_with_output().expect("waiting for kiln");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "--follow did not stop when the job ended"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "line 1\nline 2\nline 3\nline 4\nline 5\n"
    );
}

#[test]
fn stats_per_package_and_endpoint() {
    let Some(env) = Env::new() else { return };
    let rows = env.json(&["db", "stats"]);
    let by_name = |rows: &[serde_json::Value], name: &str| -> serde_json::Value {
        rows.iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
    };
    let zlib = by_name(&rows, "zlib");
    assert_eq!(zlib["jobs"], 3);
    assert_eq!(zlib["succeeded"], 2);
    assert_eq!(zlib["failed"], 0);
    assert_eq!(zlib["success_rate"], 1.0);
    assert_eq!(zlib["median_seconds"], 200.0);
    let p95 = zlib["p95_seconds"].as_f64().expect("a number");
    assert!((p95 - 290.0).abs() < 1e-6, "{p95}");
    let curl = by_name(&rows, "curl");
    assert_eq!(curl["success_rate"], 0.0);
    assert_eq!(curl["median_seconds"], serde_json::Value::Null);
    assert_eq!(rows[0]["name"], "zlib", "most jobs first");

    let recent = env.json(&["db", "stats", "--since", "1 day"]);
    assert_eq!(by_name(&recent, "zlib")["jobs"], 2);
    assert!(
        recent
            .iter()
            .all(|r| r["name"] != "openssl" || r["jobs"] == 1),
        "{recent:?}"
    );

    let endpoints = env.json(&["db", "stats", "--by", "endpoint"]);
    assert_eq!(by_name(&endpoints, "build-1")["jobs"], 3);
    assert_eq!(by_name(&endpoints, "build-2")["jobs"], 2);
    assert_eq!(by_name(&endpoints, "build-2")["success_rate"], 0.5);
    assert_snapshot!("db_stats", env.ok(&["db", "stats"]));
    assert_snapshot!(
        "db_stats_by_endpoint",
        env.ok(&["db", "stats", "--by", "endpoint"])
    );
}

#[test]
fn with_package_walks_many_submits() {
    let Some(env) = Env::new() else { return };
    // 300 more submits, each building zlib; one in 100 failed. Finding the
    // failed ones walks past several batches of candidate submits.
    env.db.execute(&format!(
        "INSERT INTO submits (id, uuid, started_at, ended_at, status, requested_package_id, requested_image_id,
                              repo_hash_id, repo_dirty, submitter_user, submitter_host, kiln_version, tree, plan)
         SELECT 100 + n, md5('s' || n)::uuid, now() - interval '1 day' + n * interval '1 second',
                now(), CASE WHEN n % 100 = 7 THEN 'failed' ELSE 'succeeded' END,
                4, 1, 1, false, 'carol', 'host-c', '0.1.0', '{{}}', '{{}}'
           FROM generate_series(1, 300) AS n;
         INSERT INTO jobs (id, uuid, submit_id, package_id, image_id, status, queued_at, script, build_key,
                           build_key_inputs)
         SELECT 100 + n, md5('j' || n)::uuid, 100 + n, 3, 1, 'queued', now(), 'echo', '{}', '{{}}'
           FROM generate_series(1, 300) AS n;",
        sha(7)
    ));
    let failed_uuid = |n: u32| -> String {
        let mut conn = env.db.connect();
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct U {
            #[diesel(sql_type = diesel::sql_types::Text)]
            u: String,
        }
        let rows: Vec<U> = diesel::sql_query(format!("SELECT md5('s{n}')::uuid::text AS u"))
            .load(&mut conn)
            .expect("query");
        rows[0].u.clone()
    };
    let expected = [
        failed_uuid(207),
        failed_uuid(107),
        failed_uuid(7),
        S2.to_owned(),
    ];
    let args = [
        "db",
        "submits",
        "--with-package",
        "zlib",
        "--status",
        "failed",
    ];
    let mut all = args.to_vec();
    all.extend(["--limit", "0"]);
    assert_eq!(env.field(&all, "uuid"), expected);
    let mut two = args.to_vec();
    two.extend(["--limit", "2"]);
    assert_eq!(env.field(&two, "uuid"), expected[..2]);
    let newest = env.field(
        &["db", "submits", "--with-package", "zlib", "--limit", "3"],
        "uuid",
    );
    assert_eq!(
        newest,
        [failed_uuid(300), failed_uuid(299), failed_uuid(298)]
    );
}

/// Times and limits out of range are usage errors that name the flag (exit
/// code 2), refused before any database is asked (the URL given leads
/// nowhere: reaching it would be exit code 1).
#[test]
fn out_of_range_times_and_limits_name_the_flag() {
    let sandbox = Sandbox::new();
    let mut transcript = String::new();
    for (args, flag) in [
        (
            &["jobs", "--older-than", "99999999999999d"][..],
            "--older-than <WHEN>",
        ),
        (
            &["jobs", "--newer-than", "9999999999999s"],
            "--newer-than <WHEN>",
        ),
        (
            &["submits", "--older-than=-5000-01-01"],
            "--older-than <WHEN>",
        ),
        (
            &["releases", "--newer-than", "1001 years"],
            "--newer-than <WHEN>",
        ),
        (&["stats", "--since", "99999999999999d"], "--since <WHEN>"),
        (&["jobs", "--limit", "-1"], "--limit <N>"),
        (&["artifacts", "-l", "-1"], "--limit <N>"),
        (&["envvars", "--limit", "99999999999"], "--limit <N>"),
        (&["stats", "--limit", "-5"], "--limit <N>"),
        (&["jobs", "--env", "1X=a"], "--env <NAME=VALUE>"),
    ] {
        let mut cmd = sandbox.kiln();
        cmd.args(["--database-url", "postgres://kiln@127.0.0.1:1/none", "db"])
            .args(args);
        let (out, _, stderr) = run(&mut cmd);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("for '{flag}'")),
            "{args:?}: {stderr}"
        );
        transcript += &session(&[&["db"], args].concat(), 2, "", &stderr);
    }
    assert_snapshot!("out_of_range_flags", transcript);
}

/// Values with control characters (a newline, an escape, a tab, a carriage
/// return, a direction override) in every kind of record: every table shows
/// them escaped, each row on one line.
#[test]
fn control_characters_are_escaped_in_every_table() {
    let Some(env) = Env::new() else { return };
    env.db.execute(
        r#"
        UPDATE packages SET version = E'3.0\n.1' WHERE id = 1;
        UPDATE images SET name = E'debian:\x1b[31mbookworm' WHERE id = 1;
        UPDATE image_digests SET digest = E'sha256:\td1' WHERE digest = 'sha256:d1';
        UPDATE endpoints SET name = E'build\r1', last_error = E'refused\nagain' WHERE id = 2;
        UPDATE env_vars SET value = E'-O2\n-g' WHERE id = 2;
        UPDATE submits SET submitter_user = E'ali\nce', submitter_host = E'host\x07a' WHERE id = 1;
        UPDATE jobs SET failed_phase = E'bu\nild', error_message = E'make:\n\x1b[2JError 2' WHERE id = 4;
        UPDATE artifacts SET path = E'zlib\n1.3.tar.gz' WHERE id = 1;
        UPDATE release_stores SET name = E'sta\u202eble' WHERE id = 2;
        UPDATE releases SET released_by = E'bo\tb' WHERE artifact_id = 4;
        "#,
    );
    let clean = |args: &[&str]| -> String {
        let (out, stdout, stderr) = run(env.command(args).env("COLUMNS", "400"));
        assert!(out.status.success(), "kiln {args:?}: {stderr}");
        assert!(
            !stdout.chars().any(|c| c.is_control() && c != '\n'),
            "kiln {args:?} printed a control character:\n{stdout:?}"
        );
        stdout
    };
    for listing in [
        "submits",
        "jobs",
        "artifacts",
        "releases",
        "envvars",
        "images",
        "endpoints",
        "packages",
    ] {
        let text = clean(&["db", listing, "--limit", "0"]);
        let rows = env.json(&["db", listing, "--limit", "0"]).len();
        assert_eq!(
            text.lines().count(),
            rows + 2,
            "db {listing}: a header, its line, one line per row:\n{text}"
        );
    }
    clean(&["db", "stats"]);
    let submit = clean(&["db", "submit", S1]);
    assert!(submit.contains("ali\\nce@host\\u{7}a"), "{submit}");
    let job = clean(&["db", "job", J2]);
    assert!(job.contains("zlib\\n1.3.tar.gz"), "{job}");
    assert!(job.contains("sta\\u{202e}ble"), "{job}");
    let job = clean(&["db", "job", J1, "--env"]);
    assert!(job.contains("OPT=-O2\\n-g"), "{job}");
    let failed = clean(&["db", "job", J4]);
    assert!(failed.contains("make:\\n\\u{1b}[2JError 2"), "{failed}");
    assert!(failed.contains("bu\\nild"), "{failed}");
    // CSV keeps the value as it is.
    let csv_text = env.ok(&["db", "artifacts", "--limit", "0", "--output", "csv"]);
    let (_, records) = csv(&csv_text);
    assert!(
        records
            .iter()
            .flatten()
            .any(|cell| cell == "zlib\n1.3.tar.gz"),
        "{csv_text}"
    );
}
