//! `kiln db setup|status|cli|stop`, the schema against docs/database.md, the
//! migrations, the models' concurrency guarantees, and the embedded server.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use diesel::{Connection, RunQueryDsl};
use diesel_migrations::MigrationHarness;
use kiln::db::models::endpoints::NewEndpoint;
use kiln::db::models::env_vars::NewEnvVar;
use kiln::db::models::git_hashes::NewGitHash;
use kiln::db::models::image_digests::NewImageDigest;
use kiln::db::models::images::NewImage;
use kiln::db::models::packages::NewPackage;
use kiln::db::models::release_stores::NewReleaseStore;

use crate::support::db::{live_columns, missing, schema_snapshot, TestDb};
use crate::support::{run, Sandbox};

const INITIAL: &str = "2026-11-22-000001_initial";

/// Every migration of the project, oldest first (the directories under
/// `migrations/`).
fn migrations() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("reading migrations/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("up.sql").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The tables of the migrations, plus the migration harness's own.
const TABLES: &[&str] = &[
    "__diesel_schema_migrations",
    "artifacts",
    "endpoints",
    "env_vars",
    "git_hashes",
    "hash_keys",
    "image_digests",
    "images",
    "job_attempts",
    "job_dependencies",
    "job_envs",
    "job_input_artifacts",
    "jobs",
    "log_chunks",
    "packages",
    "release_stores",
    "releases",
    "submit_changes",
    "submit_envs",
    "submits",
];

#[test]
fn setup_creates_the_schema_and_a_second_run_changes_nothing() {
    let Some(db) = TestDb::new() else { return };
    let sandbox = Sandbox::new();

    let (out, stdout, stderr) = run(db.kiln(&sandbox).args(["db", "setup"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("applied migration {INITIAL}")),
        "{stdout}"
    );

    let mut conn = db.connect();
    let before = schema_snapshot(&mut conn);
    let tables: BTreeSet<&str> = before.0.iter().map(|c| c.table_name.as_str()).collect();
    assert_eq!(tables, TABLES.iter().copied().collect::<BTreeSet<_>>());

    let (out, stdout, stderr) = run(db.kiln(&sandbox).args(["db", "setup"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("nothing to do"), "{stdout}");
    assert!(!stdout.contains("applied migration"), "{stdout}");
    assert_eq!(
        schema_snapshot(&mut conn),
        before,
        "a second `db setup` changed the schema"
    );
}

/// The schemas holding each of kiln's tables.
fn schemas_of_tables(conn: &mut diesel::PgConnection) -> BTreeSet<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        schema: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    diesel::sql_query(
        "SELECT table_schema::text AS schema, table_name::text AS name \
           FROM information_schema.tables \
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .load::<Row>(conn)
    .expect("listing tables")
    .into_iter()
    .map(|r| (r.schema, r.name))
    .collect()
}

/// A database set up by a kiln from before `database_schema` (its tables
/// in `public`) is moved into kiln's schema by `db setup`, rows and all;
/// another application's table in `public` is left alone.
#[test]
fn an_older_database_moves_into_kiln_s_schema() {
    use diesel::connection::SimpleConnection as _;
    use diesel::Connection as _;
    use diesel_migrations::MigrationHarness as _;
    let Some(db) = TestDb::new() else { return };
    let sandbox = Sandbox::new();
    let mut old = diesel::PgConnection::establish(&db.url).expect("connecting");
    let all =
        diesel::migration::MigrationSource::<diesel::pg::Pg>::migrations(&kiln::db::MIGRATIONS)
            .expect("migrations");
    // The migrations of the kilns before the schema, in `public`.
    let before_schema = all
        .iter()
        .position(|m| m.name().to_string().ends_with("_schema"))
        .expect("the schema migration");
    for _ in 0..before_schema {
        old.run_next_migration(kiln::db::MIGRATIONS)
            .expect("a migration of the old layout");
    }
    old.batch_execute(
        "INSERT INTO packages (name, version) VALUES ('zlib', '1.3'); \
         CREATE TABLE public.other_app (id int)",
    )
    .expect("rows of the old layout");
    assert!(schemas_of_tables(&mut old).contains(&("public".into(), "jobs".into())));

    let (out, stdout, stderr) = run(db.kiln(&sandbox).args(["db", "setup"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let tables = schemas_of_tables(&mut old);
    let in_public: BTreeSet<&str> = tables
        .iter()
        .filter(|(schema, _)| schema == "public")
        .map(|(_, name)| name.as_str())
        .collect();
    assert_eq!(in_public, BTreeSet::from(["other_app"]), "{tables:?}");
    let in_kiln: BTreeSet<&str> = tables
        .iter()
        .filter(|(schema, _)| schema == "kiln")
        .map(|(_, name)| name.as_str())
        .collect();
    assert_eq!(in_kiln, TABLES.iter().copied().collect::<BTreeSet<_>>());
    let (out, stdout, _) = run(db.kiln(&sandbox).args(["db", "status"]));
    assert!(out.status.success());
    assert!(stdout.contains(", 0 pending"), "{stdout}");
    let (out, stdout, stderr) = run(db.kiln(&sandbox).args(["db", "packages", "-o", "csv"]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("zlib"),
        "the rows moved with their tables: {stdout}"
    );
}

/// `database_schema` names the schema kiln's tables are made in.
#[test]
fn the_schema_is_configurable() {
    let Some(db) = TestDb::new() else { return };
    let sandbox = Sandbox::new();
    let (out, stdout, stderr) = run(db
        .kiln(&sandbox)
        .env("KILN_DATABASE_SCHEMA", "builds")
        .args(["db", "setup"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut conn = diesel::PgConnection::establish(&db.url).expect("connecting");
    let schemas: BTreeSet<String> = schemas_of_tables(&mut conn)
        .into_iter()
        .map(|(schema, _)| schema)
        .collect();
    assert_eq!(schemas, BTreeSet::from(["builds".to_owned()]));
    let (out, _, stderr) = run(db
        .kiln(&sandbox)
        .env("KILN_DATABASE_SCHEMA", "Bad-Name")
        .args(["db", "status"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("database_schema"), "{stderr}");
}

#[test]
fn two_setups_at_once_apply_the_migrations_once() {
    let Some(db) = TestDb::new() else { return };
    let sandbox = Sandbox::new();
    let children: Vec<_> = (0..2)
        .map(|_| {
            db.kiln(&sandbox)
                .args(["db", "setup"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning kiln")
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("waiting for kiln"))
        .collect();
    let mut applied = 0;
    for out in &outputs {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        applied += stdout.matches("applied migration").count();
    }
    assert_eq!(
        applied,
        migrations().len(),
        "the migrations were applied {applied} times"
    );
}

/// docs/database.md: for every table a `### \`name\`` heading followed by a
/// table whose rows start with `| \`column\` | \`type\` |`.
fn documented_columns() -> BTreeSet<(String, String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/database.md");
    let text = std::fs::read_to_string(&path).expect("reading docs/database.md");
    let mut out = BTreeSet::new();
    let mut table: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### `") {
            table = rest.strip_suffix('`').map(str::to_owned);
            continue;
        }
        if line.starts_with("## ") {
            table = None;
        }
        let Some(table) = &table else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let column = cells[1].trim_matches('`').to_owned();
        let ty = cells[2].trim_matches('`').to_owned();
        out.insert((table.clone(), column, ty));
    }
    out
}

/// The type names docs/database.md uses, as PostgreSQL's `udt_name`.
fn udt_of(documented: &str) -> String {
    let base = documented.split('(').next().unwrap_or(documented);
    match base {
        "integer" => "int4",
        "bigint" => "int8",
        "boolean" => "bool",
        other => other,
    }
    .to_owned()
}

#[test]
fn docs_describe_every_table_and_column() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let mut conn = db.connect();
    let live: BTreeSet<(String, String, String)> = live_columns(&mut conn)
        .into_iter()
        .map(|c| (c.table_name, c.column_name, c.udt_name))
        .collect();
    let documented: BTreeSet<(String, String, String)> = documented_columns()
        .into_iter()
        .map(|(t, c, ty)| (t, c, udt_of(&ty)))
        .collect();
    assert!(
        documented.len() > 80,
        "docs/database.md was not parsed: {documented:?}"
    );
    let missing: Vec<_> = live.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&live).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/database.md and the schema differ\n  in the database, not (or with another type) in the docs: {missing:?}\n  in the docs, not in the database: {extra:?}"
    );
}

#[test]
fn status_reports_applied_and_pending_migrations_and_masks_the_password() {
    let Some(db) = TestDb::new() else { return };
    let sandbox = Sandbox::new();
    // A test server reached by socket authenticates by peer and never checks
    // this password: it is there to be masked. A test server with a password
    // of its own keeps it, and that one must be masked.
    let parsed = url::Url::parse(&db.url).expect("a URL");
    let (url, password) = match parsed.password() {
        Some(p) => (db.url.clone(), p.to_owned()),
        None => {
            let sep = if db.url.contains('?') { '&' } else { '?' };
            (
                format!("{}{sep}password=hunter2", db.url),
                "hunter2".to_owned(),
            )
        }
    };

    let (out, stdout, stderr) = run(sandbox
        .kiln()
        .args(["db", "status", "--database-url", &url]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("reachable:  yes, PostgreSQL "), "{stdout}");
    let pending = format!("0 applied, {} pending", migrations().len());
    assert!(stdout.contains(&pending), "{stdout}");
    assert!(stdout.contains(&format!("pending   {INITIAL}")), "{stdout}");
    assert!(stdout.contains("********"), "{stdout}");
    assert!(
        !stdout.contains(&password) && !stderr.contains(&password),
        "{stdout}\n{stderr}"
    );
    // Status changes nothing: not even the migrations table exists yet.
    let mut conn = db.connect();
    assert!(
        live_columns(&mut conn).is_empty(),
        "db status created tables"
    );

    let (out, _, stderr) = run(sandbox.kiln().args(["db", "setup", "--database-url", &url]));
    assert!(out.status.success(), "{stderr}");
    let (out, stdout, stderr) = run(sandbox
        .kiln()
        .args(["db", "status", "--database-url", &url]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let applied = format!("{} applied, 0 pending", migrations().len());
    assert!(stdout.contains(&applied), "{stdout}");
    assert!(stdout.contains(&format!("applied   {INITIAL}")), "{stdout}");
}

#[test]
fn status_of_an_unreachable_database_fails() {
    let sandbox = Sandbox::new();
    let missing_dir = sandbox.path().join("no-server-here");
    let url = format!("postgres:///kiln?host={}", missing_dir.display());
    let (out, stdout, stderr) = run(sandbox
        .kiln()
        .args(["db", "status", "--database-url", &url]));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("reachable:  no"), "{stdout}");
    assert!(stdout.contains("no-server-here"), "{stdout}");
}

#[test]
fn the_migration_is_reversible() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let mut conn = db.connect();
    let up = schema_snapshot(&mut conn);

    conn.revert_all_migrations(kiln::db::MIGRATIONS)
        .expect("reverting every migration");
    let left: BTreeSet<String> = live_columns(&mut conn)
        .into_iter()
        .map(|c| c.table_name)
        .collect();
    assert_eq!(
        left,
        BTreeSet::from(["__diesel_schema_migrations".to_owned()]),
        "down.sql left tables behind"
    );

    let applied =
        kiln::db::run_pending_migrations(&mut conn, kiln::config::DEFAULT_DATABASE_SCHEMA)
            .expect("applying again");
    assert_eq!(applied, migrations());
    let (columns, objects) = schema_snapshot(&mut conn);
    let without_runs = |objects: &[crate::support::db::SchemaObject]| -> Vec<(String, String)> {
        objects
            .iter()
            .filter(|o| o.kind != "migration")
            .map(|o| (o.name.clone(), o.definition.clone()))
            .collect()
    };
    assert_eq!(columns, up.0);
    assert_eq!(without_runs(&objects), without_runs(&up.1));
}

#[test]
fn get_or_create_gives_two_racing_writers_the_same_rows() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    const ROWS: usize = 60;
    let barrier = Arc::new(Barrier::new(2));
    let url = db.url.clone();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = diesel::PgConnection::establish(&url).expect("connecting");
                kiln::db::prepare_session(&mut conn, kiln::config::DEFAULT_DATABASE_SCHEMA)
                    .expect("setting up the session");
                barrier.wait();
                let mut ids = Vec::new();
                for i in 0..ROWS {
                    let name = format!("pkg-{i}");
                    let value = format!("value-{i}");
                    let hash = format!("{i:040x}");
                    let store = format!("store-{i}");
                    let image_name = format!("debian:{i}");
                    let digest = format!("sha256:{i:064x}");
                    let endpoint = format!("ep-{i}");
                    let c = &mut conn;
                    let package = NewPackage {
                        name: &name,
                        version: "1.0",
                    }
                    .get_or_create(c)
                    .expect("package");
                    let env = NewEnvVar {
                        name: "VAR",
                        value: &value,
                    }
                    .get_or_create(c)
                    .expect("env var");
                    let git = NewGitHash { hash: &hash }
                        .get_or_create(c)
                        .expect("git hash");
                    let rs = NewReleaseStore { name: &store }
                        .get_or_create(c)
                        .expect("release store");
                    let image = NewImage { name: &image_name }
                        .get_or_create(c)
                        .expect("image");
                    let digest = NewImageDigest {
                        image_id: image.id,
                        digest: &digest,
                    }
                    .get_or_create(c)
                    .expect("image digest");
                    let ep = NewEndpoint {
                        name: &endpoint,
                        uri: "unix:///var/run/docker.sock",
                    }
                    .get_or_create(c)
                    .expect("endpoint");
                    ids.push((
                        package.id.0,
                        env.id.0,
                        git.id.0,
                        rs.id.0,
                        image.id.0,
                        digest.id.0,
                        ep.id.0,
                    ));
                }
                ids
            })
        })
        .collect();
    let results: Vec<_> = writers
        .into_iter()
        .map(|w| w.join().expect("writer thread"))
        .collect();
    assert_eq!(results[0], results[1], "the two writers got different rows");

    let mut conn = db.connect();
    for table in [
        "packages",
        "env_vars",
        "git_hashes",
        "release_stores",
        "images",
        "image_digests",
        "endpoints",
    ] {
        let n: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "(SELECT count(*) FROM {table})"
        )))
        .get_result(&mut conn)
        .expect("counting");
        assert_eq!(n, ROWS as i64, "{table} has duplicates");
    }
}

#[test]
fn models_record_a_submit_from_plan_to_release() {
    use kiln::db::models::artifacts::{Artifact, NewArtifact};
    use kiln::db::models::endpoints::{Endpoint, EndpointCheck};
    use kiln::db::models::job_dependencies::{DependencyKind, JobDependency};
    use kiln::db::models::job_envs::JobEnv;
    use kiln::db::models::job_input_artifacts::JobInputArtifact;
    use kiln::db::models::jobs::{FinalJobStatus, Job, JobEnd, JobStart, LogState, NewJob};
    use kiln::db::models::log_chunks;
    use kiln::db::models::releases::{NewRelease, Release, Removal, Removing};
    use kiln::db::models::submit_envs::SubmitEnv;
    use kiln::db::models::submits::{NewSubmit, Submit, SubmitEnd};
    use kiln::db::models::{JobStatus, SubmitStatus};
    use kiln::log::LogChunk;

    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let c = &mut db.connect();

    let pkg = NewPackage {
        name: "zlib",
        version: "1.3",
    }
    .get_or_create(c)
    .expect("package");
    let dep = NewPackage {
        name: "make",
        version: "4.4",
    }
    .get_or_create(c)
    .expect("package");
    let image = NewImage {
        name: "debian:bookworm",
    }
    .get_or_create(c)
    .expect("image");
    let git = NewGitHash {
        hash: &"a".repeat(40),
    }
    .get_or_create(c)
    .expect("hash");
    let env = NewEnvVar {
        name: "CFLAGS",
        value: "-O2",
    }
    .get_or_create(c)
    .expect("env");
    let tree = serde_json::json!({"zlib": ["make"]});
    let plan = serde_json::json!([["make"], ["zlib"]]);
    let submit = NewSubmit {
        uuid: uuid::Uuid::new_v4(),
        requested_package_id: pkg.id,
        requested_image_id: image.id,
        repo_hash_id: git.id,
        repo_dirty: false,
        repo_diff_sha256: None,
        submitter_user: "ann",
        submitter_host: "build-1",
        kiln_version: "0.1.0",
        tree: &tree,
        plan: &plan,
        owner_machine: None,
        owner_pid: None,
        owner_started: None,
        reproduces_submit_id: None,
    }
    .insert(c)
    .expect("submit");
    assert_eq!(submit.status, SubmitStatus::Running);
    assert_eq!(
        Submit::find_by_uuid(c, submit.uuid).expect("find"),
        Some(submit.clone())
    );
    SubmitEnv::insert_all(
        c,
        &[SubmitEnv {
            submit_id: submit.id,
            env_id: env.id,
        }],
    )
    .expect("submit env");
    assert_eq!(
        SubmitEnv::env_ids(c, submit.id).expect("env ids"),
        vec![env.id]
    );

    // A dirty work tree needs its diff hash: the database refuses the pair otherwise.
    let dirty_without_hash = NewSubmit {
        uuid: uuid::Uuid::new_v4(),
        repo_dirty: true,
        ..NewSubmit {
            uuid: submit.uuid,
            requested_package_id: pkg.id,
            requested_image_id: image.id,
            repo_hash_id: git.id,
            repo_dirty: false,
            repo_diff_sha256: None,
            submitter_user: "ann",
            submitter_host: "build-1",
            kiln_version: "0.1.0",
            tree: &tree,
            plan: &plan,
            owner_machine: None,
            owner_pid: None,
            owner_started: None,
            reproduces_submit_id: None,
        }
    };
    assert!(dirty_without_hash.insert(c).is_err());

    let key_a = "1".repeat(64);
    let key_b = "2".repeat(64);
    let inputs = serde_json::json!({"script": "..."});
    let jobs = NewJob::insert_all(
        c,
        &[
            NewJob {
                uuid: uuid::Uuid::new_v4(),
                submit_id: submit.id,
                package_id: dep.id,
                image_id: image.id,
                status: JobStatus::Queued,
                script: "make install",
                build_key: &key_a,
                build_key_inputs: &inputs,
                reused_job_id: None,
                build_reason: Some("no earlier build with the same build key"),
            },
            NewJob {
                uuid: uuid::Uuid::new_v4(),
                submit_id: submit.id,
                package_id: pkg.id,
                image_id: image.id,
                status: JobStatus::Queued,
                script: "./configure && make",
                build_key: &key_b,
                build_key_inputs: &inputs,
                reused_job_id: None,
                build_reason: Some("no earlier build with the same build key"),
            },
        ],
    )
    .expect("jobs");
    let (first, second) = (&jobs[0], &jobs[1]);
    assert_eq!(first.package_id, dep.id);
    JobDependency::insert_all(
        c,
        &[JobDependency {
            job_id: second.id,
            dependency_job_id: first.id,
            kind: DependencyKind::Build,
        }],
    )
    .expect("edge");
    assert_eq!(
        JobDependency::of_job(c, second.id).expect("edges")[0].kind,
        DependencyKind::Build
    );
    JobEnv::insert_all(
        c,
        &[JobEnv {
            job_id: first.id,
            env_id: env.id,
        }],
    )
    .expect("job env");

    let ep = NewEndpoint {
        name: "local",
        uri: "unix:///var/run/docker.sock",
    }
    .get_or_create(c)
    .expect("ep");
    let checked = Endpoint::record_check(
        c,
        ep.id,
        EndpointCheck::Healthy {
            engine_version: "20.10",
            api_version: "1.41",
        },
        std::time::Duration::from_secs(10),
    )
    .expect("check");
    assert_eq!(checked.healthy, Some(true));
    assert!(checked.last_seen_at.is_some());
    assert_eq!(checked.timeout_ms, Some(10_000));
    let down = Endpoint::record_check(
        c,
        ep.id,
        EndpointCheck::Unreachable { error: "refused" },
        std::time::Duration::from_millis(2_500),
    )
    .expect("check");
    assert_eq!(
        (down.healthy, down.last_error.as_deref(), down.timeout_ms),
        (Some(false), Some("refused"), Some(2_500))
    );
    assert_eq!(
        down.engine_version.as_deref(),
        Some("20.10"),
        "an unreachable check keeps the versions"
    );

    let start = JobStart {
        at: std::time::Instant::now(),
        endpoint_id: ep.id,
        container_id: "c0ffee",
        image_digest: Some("sha256:abc"),
    };
    let running = Job::start(c, first.id, start)
        .expect("start")
        .expect("was queued");
    assert_eq!(running.status, JobStatus::Running);
    // A later attempt moves the running job to its new container.
    let again = Job::start_attempt(
        c,
        first.id,
        2,
        JobStart {
            container_id: "beef",
            ..start
        },
    );
    again.expect("a second attempt");
    let moved = Job::find(c, first.id).expect("find");
    assert_eq!(moved.container_id.as_deref(), Some("beef"));
    let attempts =
        kiln::db::models::job_attempts::JobAttempt::of_job(c, first.id).expect("attempts");
    assert_eq!(attempts.len(), 1, "only the attempt written: {attempts:?}");
    assert_eq!((attempts[0].attempt, attempts[0].outcome), (2, None));

    let chunk = LogChunk {
        seq: 0,
        written_at: chrono::Utc::now(),
        first_line: 0,
        line_count: 2,
        raw_bytes: 12,
        data: b"\x28\xb5".to_vec(),
    };
    log_chunks::insert(c, first.id, &chunk).expect("chunk");
    log_chunks::insert(c, first.id, &chunk).expect("a chunk stored again is left");
    assert_eq!(log_chunks::next_seq(c, first.id).expect("next"), 1);
    let stored = log_chunks::find(c, first.id, 0)
        .expect("find")
        .expect("chunk");
    assert_eq!(
        (stored.line_count, stored.raw_bytes, &stored.data),
        (2, 12, &chunk.data)
    );
    assert!(log_chunks::find(c, first.id, 1).expect("find").is_none());
    assert_eq!(
        log_chunks::from_seq(c, first.id, 0).expect("chunks"),
        [stored]
    );
    Job::record_log_size(c, first.id, 12, LogState::Complete).expect("log size");

    let end = JobEnd {
        at: std::time::Instant::now(),
        status: FinalJobStatus::Succeeded,
        exit_status: Some(0),
        failed_phase: None,
        error_message: None,
    };
    let done = Job::finish(c, first.id, end)
        .expect("finish")
        .expect("was running");
    assert_eq!(
        (done.status, done.exit_status, done.log_bytes),
        (JobStatus::Succeeded, Some(0), 12)
    );
    assert!(
        Job::finish(c, first.id, end)
            .expect("finish again")
            .is_none(),
        "a finished job finished twice"
    );
    let candidates =
        Job::reuse_candidates(c, &[key_a.clone(), key_b.clone()], 3).expect("candidates");
    assert_eq!(
        candidates
            .iter()
            .map(|c| (c.job_id, c.build_key.as_str()))
            .collect::<Vec<_>>(),
        vec![(first.id, key_a.as_str())],
        "only the succeeded job is a candidate"
    );

    let artifact = NewArtifact {
        job_id: first.id,
        path: "make-4.4.tar.gz",
        size: 10,
        sha256: &"f".repeat(64),
    }
    .insert(c)
    .expect("artifact");
    assert!(
        NewArtifact {
            job_id: first.id,
            path: "../escape",
            size: 1,
            sha256: &"f".repeat(64)
        }
        .insert(c)
        .is_err(),
        "a path leaving the store was accepted"
    );
    assert_eq!(
        Artifact::find_by_job_and_path(c, first.id, "make-4.4.tar.gz").expect("find"),
        Some(artifact.clone())
    );
    JobInputArtifact::insert_all(
        c,
        &[JobInputArtifact {
            job_id: second.id,
            artifact_id: artifact.id,
        }],
    )
    .expect("input");
    assert_eq!(
        JobInputArtifact::artifact_ids(c, second.id).expect("inputs"),
        vec![artifact.id]
    );

    let failed = JobEnd {
        at: std::time::Instant::now(),
        status: FinalJobStatus::DepFailed,
        exit_status: None,
        failed_phase: None,
        error_message: Some("a dependency failed"),
    };
    let skipped = Job::finish(c, second.id, failed)
        .expect("finish queued")
        .expect("was queued");
    assert_eq!(skipped.status, JobStatus::DepFailed);

    let store = NewReleaseStore { name: "default" }
        .get_or_create(c)
        .expect("store");
    let release = NewRelease {
        artifact_id: artifact.id,
        release_store_id: store.id,
        package_id: pkg.id,
        path: &artifact.path,
        released_by: "ann",
        released_host: "build-1",
    };
    let first_release = release.insert(c).expect("release");
    assert_eq!(
        Release::current_at(c, store.id, &artifact.path).expect("current"),
        Some(first_release.clone())
    );
    release
        .insert(c)
        .expect_err("an artifact is current in a store once");
    let removing = Removing {
        by: "bob",
        host: "build-2",
        removal: Removal::Removed,
    };
    assert_eq!(
        Release::mark_removed(c, &[first_release.id], removing).expect("remove"),
        1
    );
    let removed = Release::find(c, first_release.id).expect("kept");
    assert_eq!(removed.removal, Some(Removal::Removed));
    assert_eq!(removed.removed_by.as_deref(), Some("bob"));
    assert!(Release::current_at(c, store.id, &artifact.path)
        .expect("current")
        .is_none());
    let again = release.insert(c).expect("released again after removal");
    assert_ne!(again.id, first_release.id);

    let ended = Submit::finish(c, submit.id, SubmitEnd::Failed, std::time::Instant::now())
        .expect("finish")
        .expect("was running");
    assert_eq!(ended.status, SubmitStatus::Failed);
    assert!(ended.ended_at.is_some());
    assert!(Submit::finish(
        c,
        submit.id,
        SubmitEnd::Succeeded,
        std::time::Instant::now()
    )
    .expect("again")
    .is_none());
}

/// Every `insert_all` takes more rows than one statement can bind
/// (PostgreSQL takes at most 65,535 parameters), returns them in order, and
/// writes all of them or none.
#[test]
fn insert_all_takes_more_rows_than_one_statement_holds() {
    use diesel::{ExpressionMethods, QueryDsl};
    use kiln::db::models::artifacts::NewArtifact;
    use kiln::db::models::job_dependencies::{DependencyKind, JobDependency};
    use kiln::db::models::job_envs::JobEnv;
    use kiln::db::models::job_input_artifacts::JobInputArtifact;
    use kiln::db::models::jobs::NewJob;
    use kiln::db::models::submit_envs::SubmitEnv;
    use kiln::db::models::submits::NewSubmit;
    use kiln::db::models::{BatchInsert, EnvVarId, JobStatus, MAX_BIND_PARAMETERS};
    use kiln::db::schema::{artifacts, env_vars, job_dependencies, job_envs, job_input_artifacts};

    /// More rows of `T` than one statement holds.
    fn over_one_statement<T: BatchInsert>() -> usize {
        let n = T::ROWS_PER_STATEMENT + T::ROWS_PER_STATEMENT / 2;
        assert!(n * T::COLUMNS > MAX_BIND_PARAMETERS);
        n
    }

    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let c = &mut db.connect();
    let pkg = NewPackage {
        name: "many",
        version: "1",
    }
    .get_or_create(c)
    .expect("package");
    let image = NewImage { name: "busybox" }
        .get_or_create(c)
        .expect("image");
    let git = NewGitHash {
        hash: &"a".repeat(40),
    }
    .get_or_create(c)
    .expect("hash");
    let json = serde_json::json!({});
    let submit = NewSubmit {
        uuid: uuid::Uuid::new_v4(),
        requested_package_id: pkg.id,
        requested_image_id: image.id,
        repo_hash_id: git.id,
        repo_dirty: false,
        repo_diff_sha256: None,
        submitter_user: "ann",
        submitter_host: "build-1",
        kiln_version: "0.1.0",
        tree: &json,
        plan: &json,
        owner_machine: None,
        owner_pid: None,
        owner_started: None,
        reproduces_submit_id: None,
    }
    .insert(c)
    .expect("submit");

    // jobs
    let n_jobs = over_one_statement::<NewJob>();
    let key = "1".repeat(64);
    let uuids: Vec<uuid::Uuid> = (0..n_jobs).map(|_| uuid::Uuid::new_v4()).collect();
    let new_jobs: Vec<NewJob> = uuids
        .iter()
        .map(|&uuid| NewJob {
            uuid,
            submit_id: submit.id,
            package_id: pkg.id,
            image_id: image.id,
            status: JobStatus::Queued,
            script: "true",
            build_key: &key,
            build_key_inputs: &json,
            reused_job_id: None,
            build_reason: None,
        })
        .collect();
    let jobs = NewJob::insert_all(c, &new_jobs).expect("jobs");
    assert_eq!(
        jobs.iter().map(|j| j.uuid).collect::<Vec<_>>(),
        uuids,
        "jobs come back in order"
    );
    let (first, second) = (jobs[0].id, jobs[1].id);

    // artifacts, and all or none of them; as many as a job's inputs below
    let n_artifacts = over_one_statement::<JobInputArtifact>();
    assert!(n_artifacts > over_one_statement::<NewArtifact>());
    let paths: Vec<String> = (0..n_artifacts).map(|i| format!("f{i}")).collect();
    let sha = "f".repeat(64);
    let mut new_artifacts: Vec<NewArtifact> = paths
        .iter()
        .map(|path| NewArtifact {
            job_id: first,
            path,
            size: 1,
            sha256: &sha,
        })
        .collect();
    new_artifacts.push(NewArtifact {
        job_id: first,
        path: "../leaves-the-store",
        size: 1,
        sha256: &sha,
    });
    assert!(
        NewArtifact::insert_all(c, &new_artifacts).is_err(),
        "a bad row in the last statement"
    );
    let count = |c: &mut diesel::PgConnection| -> i64 {
        artifacts::table
            .count()
            .get_result(c)
            .expect("counting artifacts")
    };
    assert_eq!(count(c), 0, "the statements before the bad row were kept");
    new_artifacts.pop();
    let recorded = NewArtifact::insert_all(c, &new_artifacts).expect("artifacts");
    assert_eq!(
        recorded.iter().map(|a| a.path.as_str()).collect::<Vec<_>>(),
        paths,
        "artifacts come back in order"
    );
    assert_eq!(count(c), n_artifacts as i64);

    // job_input_artifacts
    let n_links = recorded.len();
    let inputs: Vec<JobInputArtifact> = recorded
        .iter()
        .map(|a| JobInputArtifact {
            job_id: second,
            artifact_id: a.id,
        })
        .collect();
    assert!(n_links * 2 > MAX_BIND_PARAMETERS);
    assert_eq!(
        JobInputArtifact::insert_all(c, &inputs).expect("inputs"),
        n_links
    );
    let stored: i64 = job_input_artifacts::table
        .filter(job_input_artifacts::job_id.eq(second))
        .count()
        .get_result(c)
        .expect("counting inputs");
    assert_eq!(stored, n_links as i64);

    // job_dependencies: every job waits for the first three
    let mut edges: Vec<JobDependency> = Vec::new();
    for job in &jobs[3..] {
        for dep in [first, second, jobs[2].id] {
            edges.push(JobDependency {
                job_id: job.id,
                dependency_job_id: dep,
                kind: DependencyKind::Runtime,
            });
        }
    }
    assert!(edges.len() > JobDependency::ROWS_PER_STATEMENT);
    assert_eq!(
        JobDependency::insert_all(c, &edges).expect("edges"),
        edges.len()
    );
    let stored: i64 = job_dependencies::table
        .count()
        .get_result(c)
        .expect("counting edges");
    assert_eq!(stored, edges.len() as i64);

    // job_envs and submit_envs, over many variables
    let n_envs = over_one_statement::<JobEnv>();
    diesel::sql_query(format!(
        "INSERT INTO env_vars (name, value) SELECT 'V', g::text FROM generate_series(1, {n_envs}) g"
    ))
    .execute(c)
    .expect("inserting variables");
    let env_ids: Vec<EnvVarId> = env_vars::table
        .select(env_vars::id)
        .order(env_vars::id)
        .load(c)
        .expect("env ids");
    let job_links: Vec<JobEnv> = env_ids
        .iter()
        .map(|&env_id| JobEnv {
            job_id: first,
            env_id,
        })
        .collect();
    assert_eq!(JobEnv::insert_all(c, &job_links).expect("job envs"), n_envs);
    assert_eq!(
        JobEnv::insert_all(c, &job_links).expect("again"),
        0,
        "links that exist are kept"
    );
    let stored: i64 = job_envs::table
        .count()
        .get_result(c)
        .expect("counting job envs");
    assert_eq!(stored, n_envs as i64);
    let submit_links: Vec<SubmitEnv> = env_ids
        .iter()
        .map(|&env_id| SubmitEnv {
            submit_id: submit.id,
            env_id,
        })
        .collect();
    assert_eq!(
        SubmitEnv::insert_all(c, &submit_links).expect("submit envs"),
        n_envs
    );
    assert_eq!(
        SubmitEnv::env_ids(c, submit.id).expect("env ids").len(),
        n_envs
    );
}

#[test]
fn cli_runs_psql_without_the_password_on_its_command_line() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let role = format!("{}_role", db.name);
    let password = "pw-9f3c1e";
    let mut admin = db.connect();
    diesel::sql_query(format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'"))
        .execute(&mut admin)
        .expect("creating a role");
    let _drop_role = DropRole {
        role: role.clone(),
        admin_url: crate::support::db::admin_url(),
    };
    // Over TCP, so that the server asks for the password.
    let url = format!("postgres://{role}:{password}@127.0.0.1:5432/{}", db.name);
    if diesel::PgConnection::establish(&url).is_err() {
        let _: Option<()> = missing("PostgreSQL does not accept password logins on 127.0.0.1:5432");
        return;
    }
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.kiln();
    cmd.args(["db", "cli", "--database-url", &url])
        .env_remove("PGPASSWORD")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawning kiln db cli");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        // `\!` runs a shell whose parent is psql: it prints psql's command line.
        stdin
            .write_all(b"SELECT current_user AS who, count(*) AS packages FROM packages;\n\\! tr '\\0' ' ' < /proc/$PPID/cmdline; echo\n")
            .expect("writing to psql");
    }
    let out = child.wait_with_output().expect("waiting for psql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&role),
        "psql did not log in as the role: {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("psql"),
        "psql's command line was not printed: {stdout}"
    );
    assert!(
        !stdout.contains(password),
        "the password is on psql's command line: {stdout}"
    );
}

struct DropRole {
    role: String,
    admin_url: String,
}

impl Drop for DropRole {
    fn drop(&mut self) {
        if let Ok(mut admin) = diesel::PgConnection::establish(&self.admin_url) {
            let _ =
                diesel::sql_query(format!("DROP ROLE IF EXISTS {}", self.role)).execute(&mut admin);
        }
    }
}

// ---------------------------------------------------------------------------
// The embedded server
// ---------------------------------------------------------------------------

/// Whether the PostgreSQL server programs are installed (else: skip, or fail under CI).
fn server_programs_installed() -> bool {
    match kiln::db::embedded::ServerPrograms::find(None) {
        Ok(_) => true,
        Err(e) => missing::<()>(&format!("{e}")).is_some(),
    }
}

/// `kiln` in a sandbox with its data in `data_home`, run by the test's user
/// or by `user`; stops the embedded server when the test ends, however it ends.
struct EmbeddedKiln<'a> {
    sandbox: &'a Sandbox,
    data_home: PathBuf,
    user: Option<nix::unistd::User>,
}

impl EmbeddedKiln<'_> {
    fn cmd(&self) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = self.sandbox.kiln();
        cmd.env("XDG_DATA_HOME", &self.data_home);
        if let Some(user) = &self.user {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        cmd
    }
}

impl Drop for EmbeddedKiln<'_> {
    fn drop(&mut self) {
        let _ = self.cmd().args(["db", "stop"]).output();
    }
}

/// The sockets a process listens on over TCP (from /proc/net/tcp{,6}).
fn tcp_listening_inodes() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // st 0A is LISTEN; field 9 is the inode.
            if fields.len() > 9 && fields[3] == "0A" {
                out.insert(fields[9].to_owned());
            }
        }
    }
    out
}

fn socket_inodes_of(pid: u32) -> BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("reading the server's descriptors")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect()
}

fn uid_of(pid: u32) -> u32 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading the process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("a Uid line")
}

/// Whether process `pid` is gone (or a zombie) within a few seconds: `pg_ctl
/// stop -w` returns when the server removed its pid file, just before it exits.
fn process_ends(pid: u32) -> bool {
    for _ in 0..100 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().next());
                if state == Some("Z") {
                    return true;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// `db setup` (twice at once), `db status`, the server's user and sockets,
/// `db stop`, for the embedded server in `data_home/kiln/postgres`.
fn check_embedded_server(
    sandbox: &Sandbox,
    data_home: &Path,
    socket_in_dir: bool,
    user: Option<nix::unistd::User>,
) {
    let expected_uid = user.as_ref().map(|u| u.uid.as_raw());
    let embedded = EmbeddedKiln {
        sandbox,
        data_home: data_home.to_owned(),
        user,
    };
    let kiln = || embedded.cmd();
    let dir = data_home.join("kiln/postgres");

    // Two processes starting it at once: one creates and starts the server,
    // the other waits for it; the migration is applied once.
    let children: Vec<_> = (0..2)
        .map(|_| {
            kiln()
                .args(["db", "setup"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning kiln")
        })
        .collect();
    let mut applied = 0;
    for child in children {
        let out = child.wait_with_output().expect("waiting for kiln");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        applied += stdout.matches("applied migration").count();
    }
    assert_eq!(applied, migrations().len());

    let (out, stdout, stderr) = run(kiln().args(["db", "status"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("directory:  {}", dir.display())),
        "{stdout}"
    );
    let applied = format!("{} applied, 0 pending", migrations().len());
    assert!(stdout.contains(&applied), "{stdout}");
    let socket_line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("socket:     "))
        .expect("a socket line");
    let socket_dir = PathBuf::from(socket_line);
    if socket_in_dir {
        assert_eq!(socket_dir, dir);
    } else {
        assert!(socket_dir.starts_with("/tmp"), "{stdout}");
        assert!(socket_dir.join(".s.PGSQL.5432").as_os_str().len() <= 107);
    }
    assert!(
        socket_dir.join(".s.PGSQL.5432").exists(),
        "no socket in {}",
        socket_dir.display()
    );

    let pid_file =
        std::fs::read_to_string(dir.join("data/postmaster.pid")).expect("postmaster.pid");
    let pid: u32 = pid_file
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("a pid");
    assert!(stdout.contains(&format!("running (pid {pid})")), "{stdout}");

    // A unix socket only: no TCP port, neither by setting nor in fact.
    let conninfo = format!(
        "host={} port=5432 user=kiln dbname=kiln",
        socket_dir.display()
    );
    let mut conn =
        diesel::PgConnection::establish(&conninfo).expect("connecting through the socket");
    let listen: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "current_setting('listen_addresses')",
    ))
    .get_result(&mut conn)
    .expect("listen_addresses");
    assert_eq!(listen, "");
    let tcp = tcp_listening_inodes();
    let mine = socket_inodes_of(pid);
    assert!(!mine.is_empty(), "the server has no sockets at all");
    assert!(tcp.is_disjoint(&mine), "the server listens on TCP");
    drop(conn);

    if let Some(expected) = expected_uid {
        assert_eq!(
            uid_of(pid),
            expected,
            "the server does not run as kiln's user"
        );
    } else if nix::unistd::geteuid().is_root() {
        let uid = uid_of(pid);
        assert_ne!(uid, 0, "the server runs as root");
        let meta = std::fs::metadata(&dir).expect("the directory");
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            uid,
            "the server's user does not own its directory"
        );
    }

    let (out, stdout, stderr) = run(kiln().args(["db", "stop"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "Stopped kiln's embedded database server in {}",
            dir.display()
        )),
        "{stdout}"
    );
    assert!(process_ends(pid), "the server still runs");
    let (out, stdout, _) = run(kiln().args(["db", "stop"]));
    assert!(out.status.success());
    assert!(stdout.contains("was not running"), "{stdout}");
}

#[test]
fn embedded_server_starts_on_demand_on_a_socket_only() {
    if !server_programs_installed() {
        return;
    }
    let sandbox = Sandbox::new();
    let data_home = sandbox.path().join("data");
    check_embedded_server(&sandbox, &data_home, true, None);
}

#[test]
fn embedded_server_in_a_deep_directory_puts_its_socket_in_tmp() {
    if !server_programs_installed() {
        return;
    }
    let sandbox = Sandbox::new();
    let data_home = sandbox.path().join("d".repeat(60)).join("e".repeat(40));
    std::fs::create_dir_all(&data_home).expect("creating a deep data directory");
    check_embedded_server(&sandbox, &data_home, false, None);
}

/// Run by an ordinary user, the server runs as that user, with no switch.
/// (Needs root to become `nobody`; run as an ordinary user, the tests above
/// already cover it.)
#[test]
fn embedded_server_of_an_ordinary_user_runs_as_that_user() {
    if !nix::unistd::geteuid().is_root() || !server_programs_installed() {
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("looking up nobody")
        .expect("user nobody exists");
    let sandbox = Sandbox::new();
    for entry in walkdir::WalkDir::new(sandbox.path()) {
        let entry = entry.expect("walking the sandbox");
        nix::unistd::chown(entry.path(), Some(nobody.uid), Some(nobody.gid)).expect("chown");
    }
    let data_home = sandbox.path().join("data");
    check_embedded_server(&sandbox, &data_home, true, Some(nobody));
}

#[test]
fn run_moves_database_work_off_the_async_workers() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let location = kiln::db::Location::external(
        kiln::config::Secret::new(db.url.clone()),
        kiln::config::DEFAULT_DATABASE_SCHEMA,
    );
    let pool = location
        .pool(std::time::Duration::from_secs(5))
        .expect("a pool");
    assert_eq!(pool.max_size(), kiln::db::POOL_MAX_SIZE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let package = kiln::db::run(&pool, "recording package zlib 1.3", |conn| {
            Ok(NewPackage {
                name: "zlib",
                version: "1.3",
            }
            .get_or_create(conn)?)
        })
        .await
        .expect("recording a package");
        assert_eq!(package.name, "zlib");

        // A current-thread runtime has one worker: were the work run on it,
        // this timer could not fire while the database sleeps.
        let sleeper = kiln::db::run(&pool, "sleeping in the database", |conn| {
            diesel::sql_query("SELECT pg_sleep(0.5)").execute(conn)?;
            Ok(std::time::Instant::now())
        });
        let timer = async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            std::time::Instant::now()
        };
        let (slept, timer) = tokio::join!(sleeper, timer);
        assert!(
            timer < slept.expect("sleeping"),
            "the database work blocked the async worker"
        );

        let err = kiln::db::run(&pool, "recording package ../bad", |conn| {
            Ok(NewPackage {
                name: "../bad",
                version: "1",
            }
            .get_or_create(conn)?)
        })
        .await
        .expect_err("the name breaks a CHECK constraint");
        let text = format!("{err:#}");
        assert!(text.starts_with("recording package ../bad: "), "{text}");
        assert!(text.contains("packages_name_check"), "{text}");
    });
}

#[derive(diesel::QueryableByName)]
struct CheckDefinition {
    #[diesel(sql_type = diesel::sql_types::Text)]
    definition: String,
}

/// The values the live schema's CHECK constraint on `table.column` allows:
/// the one constraint on that column alone listing values, which
/// PostgreSQL keeps as `column = ANY (ARRAY['a'::text, ...])`.
fn allowed_values(conn: &mut diesel::PgConnection, table: &str, column: &str) -> Vec<String> {
    let checks: Vec<CheckDefinition> = diesel::sql_query(
        "SELECT pg_get_constraintdef(c.oid) AS definition \
           FROM pg_constraint c \
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND c.conkey = ARRAY[a.attnum] \
          WHERE c.contype = 'c' AND c.conrelid = to_regclass($1) AND a.attname = $2",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .bind::<diesel::sql_types::Text, _>(column)
    .load(conn)
    .expect("reading the constraints");
    let lists: Vec<&CheckDefinition> = checks
        .iter()
        .filter(|c| c.definition.contains("ANY (ARRAY["))
        .collect();
    let [list] = lists.as_slice() else {
        panic!(
            "{table}.{column}: expected one CHECK listing values, found {checks:?}",
            checks = checks.iter().map(|c| &c.definition).collect::<Vec<_>>()
        );
    };
    let mut values: Vec<String> = list
        .definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    values.sort();
    values
}

/// The sorted stored texts of an enum's values.
fn texts<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<String> {
    let mut texts: Vec<String> = all.iter().map(|v| as_str(*v).to_owned()).collect();
    texts.sort();
    texts
}

/// Adding a status is the enum and the migration: the constraints of the
/// migrated database allow exactly the values of the model enums (which the
/// CLI's filters, the listings and the progress display all use).
#[test]
fn check_constraints_allow_exactly_the_enum_values() {
    use kiln::db::models::job_attempts::AttemptOutcome;
    use kiln::db::models::job_dependencies::DependencyKind;
    use kiln::db::models::releases::Removal;
    use kiln::db::models::{JobStatus, SubmitStatus};

    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let mut conn = db.connect();
    let cases = [
        ("jobs", "status", texts(JobStatus::ALL, JobStatus::as_str)),
        (
            "submits",
            "status",
            texts(SubmitStatus::ALL, SubmitStatus::as_str),
        ),
        (
            "job_attempts",
            "outcome",
            texts(AttemptOutcome::ALL, AttemptOutcome::as_str),
        ),
        (
            "job_dependencies",
            "kind",
            texts(DependencyKind::ALL, DependencyKind::as_str),
        ),
        ("releases", "removal", texts(Removal::ALL, Removal::as_str)),
    ];
    for (table, column, enum_values) in cases {
        assert_eq!(
            allowed_values(&mut conn, table, column),
            enum_values,
            "{table}.{column}: the CHECK constraint and the enum differ"
        );
    }
}
