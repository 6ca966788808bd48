//! `kiln provenance`: the real binary, after real submits on the local
//! Docker engine, prints in-toto Statements that the JSON Schemas of
//! `tests/schemas/` (written from the in-toto Attestation Framework v1 and
//! SLSA Provenance v1 specifications) accept, and whose values are the
//! database's: subjects and input artifacts by their recorded SHA-256, the
//! commit, the image digest, and sources and patches by the SHA-256 of the
//! files the test wrote. A reused job is attested by the build it reused;
//! names that match nothing, or several artifacts, are input errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use diesel::prelude::*;
use kiln::db::models::jobs::Job;
use kiln::db::models::submits::Submit;
use kiln::db::models::JobStatus;
use serde_json::Value;
use sha2::Digest;

use crate::submit::{config_toml, git_repo, Fixture};
use crate::support::db::TestDb;
use crate::support::records;
use crate::support::{run, Sandbox};

const SOURCE: &[u8] = b"the source of a\n";
const PATCH: &str = "the patch of a\n";
const SECRET: &str = "hunter2-provenance";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `a` (a source and a patch) <- `b` (a build dependency, the root), with
/// `TOKEN` a secret variable; `c` fails.
fn repository(fx: &Fixture) -> PathBuf {
    let cache = fx.sandbox.path().join("sources");
    std::fs::create_dir_all(cache.join("a-1")).expect("mkdir");
    std::fs::write(cache.join("a-1/src.source"), SOURCE).expect("writing the source");
    let config = format!(
        "source_cache = \"{}\"\nsecret_env = [\"TOKEN\"]\n{}",
        cache.display(),
        config_toml(&fx.image, "")
    );
    let a = format!(
        "name = \"a\"\nversion = \"1\"\npatches = [\"fix.patch\"]\n\
         [sources.src]\nurl = \"https://example.invalid/a.tar\"\n\
         hash = {{ type = \"sha256\", hash = \"{}\" }}\n\
         [phases.build]\nscript = '''\n{{{{phase \"build\"}}}}\nmkdir -p /outputs\n\
         cat /inputs/src.source /patches/a/fix.patch > /outputs/a.txt\n'''\n",
        sha256_hex(SOURCE)
    );
    let b = "name = \"b\"\nversion = \"1\"\n[dependencies]\nbuild = [\"a =1\"]\n\
             [phases.build]\nscript = '''\n{{phase \"build\"}}\nmkdir -p /outputs/doc\n\
             cat /inputs/a.txt > /outputs/b.txt\necho \"$X\" > /outputs/doc/b.1\n'''\n";
    let c = "name = \"c\"\nversion = \"1\"\n\
             [phases.build]\nscript = '''\n{{phase \"build\"}}\nexit 3\n'''\n";
    git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("a/pkg.toml", &a),
            ("a/fix.patch", PATCH),
            ("b/pkg.toml", b),
            ("c/pkg.toml", c),
        ],
    )
}

/// Submits `b` with `X=1` and the secret; returns the submit and its jobs by name.
fn submit(fx: &Fixture, repo: &std::path::Path) -> (Submit, BTreeMap<String, Job>) {
    let token = format!("TOKEN={SECRET}");
    let (code, stdout, stderr) =
        fx.submit(repo, &["b", "-I", "busybox", "-E", "X=1", "-E", &token]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let mut conn = fx.db.connect();
    let submit = records::submits(&mut conn)
        .pop()
        .expect("the submit is recorded");
    let jobs = records::jobs_of(&mut conn, &submit)
        .into_iter()
        .map(|j| (j.name.clone(), j.job))
        .collect();
    (submit, jobs)
}

/// `kiln provenance TARGET`: exit code, stdout, stderr.
fn provenance(db: &TestDb, sandbox: &Sandbox, target: &str) -> (i32, String, String) {
    let (out, stdout, stderr) = run(db.kiln(sandbox).args(["provenance", target]));
    assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
    (out.status.code().expect("kiln exited"), stdout, stderr)
}

/// The document `kiln provenance TARGET` prints, after checking that both
/// schemas accept it and that no secret is in it.
fn document(fx: &Fixture, target: &str) -> Value {
    let (code, stdout, stderr) = provenance(&fx.db, &fx.sandbox, target);
    assert_eq!(code, 0, "kiln provenance {target}: {stderr}");
    assert!(!stdout.contains(SECRET), "the secret's value in {stdout}");
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    for schema in [STATEMENT_SCHEMA, PROVENANCE_SCHEMA] {
        let errors = schema_errors(schema, &doc);
        assert!(
            errors.is_empty(),
            "kiln provenance {target} breaks {schema}:\n{}\n{doc:#}",
            errors.join("\n")
        );
    }
    doc
}

const STATEMENT_SCHEMA: &str = "in-toto-statement-v1.schema.json";
const PROVENANCE_SCHEMA: &str = "slsa-provenance-v1.schema.json";
const DESCRIPTOR_SCHEMA: &str = "in-toto-resource-descriptor-v1.schema.json";
const SCHEMA_BASE: &str = "https://kiln.dev/schemas/";

fn schema_file(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schemas")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("reading a schema");
    serde_json::from_str(&text).expect("a schema is JSON")
}

/// Why `schema` (a file of `tests/schemas/`, formats checked) refuses `doc`.
fn schema_errors(schema: &str, doc: &Value) -> Vec<String> {
    let registry = [STATEMENT_SCHEMA, PROVENANCE_SCHEMA, DESCRIPTOR_SCHEMA]
        .into_iter()
        .try_fold(jsonschema::Registry::new(), |registry, name| {
            registry.add(format!("{SCHEMA_BASE}{name}"), schema_file(name))
        })
        .and_then(|registry| registry.prepare())
        .expect("the schemas form a registry");
    let validator = jsonschema::options()
        .with_registry(&registry)
        .should_validate_formats(true)
        .build(&schema_file(schema))
        .expect("a valid schema");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The subjects: name → SHA-256.
fn subjects(doc: &Value) -> BTreeMap<String, String> {
    doc["subject"]
        .as_array()
        .expect("subject")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name").to_owned(),
                s["digest"]["sha256"].as_str().expect("sha256").to_owned(),
            )
        })
        .collect()
}

/// The resolved dependencies: name → digest set.
fn dependencies(doc: &Value) -> BTreeMap<String, Value> {
    doc["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .expect("resolvedDependencies")
        .iter()
        .map(|d| {
            (
                d["name"].as_str().expect("name").to_owned(),
                d["digest"].clone(),
            )
        })
        .collect()
}

/// What the database holds of a job's artifacts: path → SHA-256.
fn artifacts(conn: &mut PgConnection, job: &Job) -> BTreeMap<String, String> {
    records::artifacts_of(conn, job)
        .into_iter()
        .map(|a| (a.path, a.sha256))
        .collect()
}

/// The artifacts a job took as inputs: path → SHA-256.
fn inputs(conn: &mut PgConnection, job: &Job) -> BTreeMap<String, String> {
    use kiln::db::schema::artifacts;
    let ids = records::input_artifacts_of(conn, job);
    artifacts::table
        .filter(artifacts::id.eq_any(ids))
        .select((artifacts::path, artifacts::sha256))
        .load::<(String, String)>(conn)
        .expect("reading input artifacts")
        .into_iter()
        .collect()
}

/// The recorded image digest as a DigestSet.
fn image_digest(job: &Job) -> Value {
    let digest = job.image_digest.as_deref().expect("the image digest");
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    serde_json::json!({ "sha256": hex })
}

fn sha(hex: &str) -> Value {
    serde_json::json!({ "sha256": hex })
}

#[test]
fn documents_follow_the_specifications_and_the_records() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repository(&fx);
    let (submit, jobs) = submit(&fx, &repo);
    let (a, b) = (&jobs["a"], &jobs["b"]);
    let mut conn = fx.db.connect();
    let commit = records::submit_commit(&mut conn, &submit);
    let (a_out, b_out) = (artifacts(&mut conn, a), artifacts(&mut conn, b));
    assert_eq!(
        a_out.keys().collect::<Vec<_>>(),
        ["a.txt"],
        "the test's tree"
    );
    let b_in = inputs(&mut conn, b);
    assert_eq!(b_in, a_out, "b took a's artifact");

    // The submit: every artifact, every job's inputs.
    let doc = document(&fx, &submit.uuid.to_string());
    let mut all = a_out.clone();
    all.extend(b_out.clone());
    assert_eq!(subjects(&doc), all);
    let deps = dependencies(&doc);
    let mut expected: BTreeMap<String, Value> = BTreeMap::new();
    for (name, job) in [("a", a), ("b", b)] {
        expected.insert(
            format!("{name}@1/repository"),
            serde_json::json!({ "gitCommit": commit }),
        );
        expected.insert(format!("{name}@1/image"), image_digest(job));
    }
    expected.insert("a@1/source/src".into(), sha(&sha256_hex(SOURCE)));
    expected.insert(
        "a@1/patch/a/fix.patch".into(),
        sha(&sha256_hex(PATCH.as_bytes())),
    );
    for (path, hash) in &b_in {
        expected.insert(format!("b@1/input/{path}"), sha(hash));
    }
    assert_eq!(deps, expected);
    let predicate = &doc["predicate"];
    let external = &predicate["buildDefinition"]["externalParameters"];
    assert_eq!(external["package"], "b");
    assert_eq!(external["version"], "1");
    assert_eq!(external["image"], fx.image);
    assert_eq!(external["environment"], serde_json::json!({ "X": "1" }));
    assert_eq!(external["secretEnvironment"], serde_json::json!(["TOKEN"]));
    let internal = &predicate["buildDefinition"]["internalParameters"]["jobs"];
    assert_eq!(internal[0]["buildKey"], a.build_key);
    assert_eq!(internal[1]["buildKey"], b.build_key);
    assert_eq!(internal[1]["environment"]["X"], "1");
    assert_eq!(
        internal[1]["secretEnvironment"],
        serde_json::json!(["TOKEN"])
    );
    let run_details = &predicate["runDetails"];
    assert_eq!(
        run_details["builder"]["version"]["kiln"],
        submit.kiln_version
    );
    let metadata = &run_details["metadata"];
    assert_eq!(metadata["invocationId"], submit.uuid.to_string());
    let started = metadata["startedOn"].as_str().expect("startedOn");
    let started = chrono::DateTime::parse_from_rfc3339(started).expect("RFC 3339");
    assert_eq!(started, submit.started_at);
    for (i, job) in [a, b].into_iter().enumerate() {
        let run = &metadata["kiln_jobs"][i];
        assert_eq!(run["job"], job.uuid.to_string());
        assert_eq!(run["builtBy"], job.uuid.to_string());
        assert_eq!(run["status"], "succeeded");
    }

    // One job, by a prefix of its UUID.
    let prefix = &b.uuid.to_string()[..13];
    let doc = document(&fx, prefix);
    assert_eq!(subjects(&doc), b_out);
    let deps = dependencies(&doc);
    assert!(deps.keys().all(|name| name.starts_with("b@1/")), "{deps:?}");
    assert_eq!(deps["b@1/image"], image_digest(b));
    assert_eq!(
        doc["predicate"]["runDetails"]["metadata"]["invocationId"],
        b.uuid.to_string()
    );

    // A submit and a job that made nothing have nothing to attest.
    let (code, _, _) = fx.submit(&repo, &["c", "-I", "busybox"]);
    assert_eq!(code, 1, "c fails");
    let failed = records::submits(&mut conn).pop().expect("c's submit");
    let c = records::jobs_of(&mut conn, &failed).remove(0).job;
    for target in [failed.uuid.to_string(), c.uuid.to_string()] {
        let (code, stdout, stderr) = provenance(&fx.db, &fx.sandbox, &target);
        assert_eq!(code, 2, "{target}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains("has no artifacts"), "{stderr}");
    }

    // One artifact, by its path and by its place under the staging root.
    for (target, path) in [
        ("a.txt".to_owned(), "a.txt"),
        (format!("{}/doc/b.1", submit.uuid), "doc/b.1"),
    ] {
        let doc = document(&fx, &target);
        let expected = BTreeMap::from([(path.to_owned(), all[path].clone())]);
        assert_eq!(subjects(&doc), expected, "{target}");
    }
}

#[test]
fn a_reused_job_is_attested_by_the_build_it_reused() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repository(&fx);
    let (first, built) = submit(&fx, &repo);
    let (second, reused) = submit(&fx, &repo);
    assert!(
        reused.values().all(|j| j.status == JobStatus::Reused),
        "{reused:#?}"
    );
    let mut conn = fx.db.connect();

    let doc = document(&fx, &second.uuid.to_string());
    let mut all = BTreeMap::new();
    for job in reused.values() {
        all.extend(artifacts(&mut conn, job));
    }
    assert_eq!(subjects(&doc), all);
    let metadata = &doc["predicate"]["runDetails"]["metadata"];
    assert_eq!(metadata["invocationId"], second.uuid.to_string());
    for (i, name) in ["a", "b"].into_iter().enumerate() {
        let run = &metadata["kiln_jobs"][i];
        assert_eq!(run["job"], reused[name].uuid.to_string());
        assert_eq!(run["status"], "reused");
        assert_eq!(run["builtBy"], built[name].uuid.to_string());
        assert_eq!(run["submit"], first.uuid.to_string());
    }

    // The reused job alone: the build it reused, with that build's inputs.
    let doc = document(&fx, &reused["b"].uuid.to_string());
    assert_eq!(subjects(&doc), artifacts(&mut conn, &reused["b"]));
    assert_eq!(
        doc["predicate"]["runDetails"]["metadata"]["invocationId"],
        built["b"].uuid.to_string()
    );
    let deps = dependencies(&doc);
    let source_inputs = inputs(&mut conn, &built["b"]);
    let listed: BTreeSet<String> = deps
        .keys()
        .filter_map(|n| n.strip_prefix("b@1/input/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, source_inputs.keys().cloned().collect());
    for (path, hash) in &source_inputs {
        assert_eq!(deps[&format!("b@1/input/{path}")], sha(hash));
    }

    // Both submits staged `b.txt`: the path alone is ambiguous, the path
    // under the staging root is not.
    let (code, _, stderr) = provenance(&fx.db, &fx.sandbox, "b.txt");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("several artifacts"), "{stderr}");
    for submit in [&first, &second] {
        assert!(
            stderr.contains(&format!("{}/b.txt", submit.uuid)),
            "{stderr}"
        );
    }
    let doc = document(&fx, &format!("{}/b.txt", second.uuid));
    assert_eq!(subjects(&doc).keys().collect::<Vec<_>>(), ["b.txt"]);
}

#[test]
fn names_that_match_nothing_are_input_errors() {
    let Some(db) = TestDb::new() else { return };
    let sandbox = Sandbox::new();
    let (out, _, stderr) = run(db.kiln(&sandbox).args(["db", "setup"]));
    assert!(out.status.success(), "kiln db setup failed: {stderr}");
    for target in [
        "3f2a",
        "0000-no/such.txt",
        "no-such-artifact.tar.gz",
        "a\u{1b}b",
    ] {
        let (code, stdout, stderr) = provenance(&db, &sandbox, target);
        assert_eq!(code, 2, "{target}: {stderr}");
        assert!(stdout.is_empty(), "{target}: {stdout}");
        assert!(
            stderr.contains("no submit, job or artifact is named"),
            "{target}: {stderr}"
        );
        assert!(!stderr.contains('\u{1b}'), "escaped: {stderr}");
    }
}
