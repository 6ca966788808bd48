//! The provenance of artifacts, as an in-toto Statement (v1) whose predicate
//! is a SLSA Provenance (v1): which files a build made (the subjects, by
//! SHA-256), from what (the repository's commit, the image's digest, each
//! source, patch and input artifact by digest), with which parameters
//! (package, version, image, environment) and when, where and by which kiln
//! it ran. The document is made from the database's records alone
//! ([`crate::db::listings::provenance`]); the user guide ("Provenance")
//! describes every field.
//!
//! Pure: no I/O, no clock. Secret values never reach the document: the
//! records hold them masked, and a masked variable is named without a value.
//!
//! A reused job did not build its artifacts: the job it reused did. Its
//! part of the document (parameters, dependencies, times) is that build's,
//! and `kiln_jobs` in the run metadata names both jobs.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::listings::jobs::EnvVar;
use crate::db::listings::provenance::{AttestedJob, ProvenanceRecords, SubmitRecord};
use crate::db::models::JobStatus;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of a SLSA Provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// `buildDefinition.buildType` of a kiln build: the user guide says how
/// its parameters and dependencies are to be read.
pub const BUILD_TYPE: &str = "https://kiln.dev/build/v1";
/// `runDetails.builder.id` without the version of kiln that ran the build.
pub const BUILDER: &str = "https://kiln.dev/builder";

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub type_: &'static str,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: &'static str,
    pub predicate: Provenance,
}

/// An in-toto DigestSet: algorithm (`sha256`, `gitCommit`) → lower-case hex.
pub type DigestSet = BTreeMap<&'static str, String>;

/// An in-toto ResourceDescriptor v1, as kiln fills it: a name and digests,
/// with annotations where something more is worth saying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceDescriptor {
    pub name: String,
    pub digest: DigestSet,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<&'static str, String>,
}

/// The SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: &'static str,
    pub external_parameters: ExternalParameters,
    pub internal_parameters: InternalParameters,
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// What was asked for: the `kiln submit` command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalParameters {
    pub package: String,
    pub version: String,
    pub image: String,
    #[serde(flatten)]
    pub environment: Environment,
}

/// Variables and their values; a secret one by its name alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    pub environment: BTreeMap<String, String>,
    /// Variables whose recorded value was masked (a secret variable, or a
    /// value holding a secret's value): named, never valued.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret_environment: Vec<String>,
}

/// What kiln derived for each package it built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InternalParameters {
    pub jobs: Vec<JobParameters>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobParameters {
    pub package: String,
    pub version: String,
    pub build_key: String,
    /// The environment the job's container ran with.
    #[serde(flatten)]
    pub environment: Environment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunDetails {
    pub builder: Builder,
    pub metadata: BuildMetadata,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Builder {
    pub id: String,
    pub version: BTreeMap<&'static str, String>,
}

/// The run: its id and times, and kiln's extension fields (`kiln_*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    pub invocation_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
    /// The status of the submit or job the invocation is.
    #[serde(rename = "kiln_status")]
    pub status: &'static str,
    /// `user@host` of whoever ran `kiln submit`.
    #[serde(rename = "kiln_submittedBy")]
    pub submitted_by: String,
    #[serde(rename = "kiln_jobs")]
    pub jobs: Vec<JobRun>,
}

/// How one attested job came by its artifacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRun {
    pub job: Uuid,
    pub package: String,
    pub version: String,
    pub status: JobStatus,
    /// The job that ran the build: `job` itself, or the job it reused.
    pub built_by: Uuid,
    /// The submit of `built_by`.
    pub submit: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
    /// The version of kiln that ran `built_by`.
    pub kiln_version: String,
}

/// The Statement for the recorded artifacts. `kiln_version` is the version
/// of the kiln writing it ([`crate::VERSION`]).
pub fn statement(records: &ProvenanceRecords, kiln_version: &str) -> Statement {
    let jobs = records.jobs();
    let invocation = Invocation::of(records);
    Statement {
        type_: STATEMENT_TYPE,
        subject: jobs.iter().flat_map(subjects).collect(),
        predicate_type: PREDICATE_TYPE,
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE,
                external_parameters: ExternalParameters {
                    package: invocation.submit.package_name.clone(),
                    version: invocation.submit.package_version.clone(),
                    image: invocation.submit.image.clone(),
                    environment: Environment::of(&invocation.submit.env),
                },
                internal_parameters: InternalParameters {
                    jobs: jobs.iter().map(job_parameters).collect(),
                },
                resolved_dependencies: jobs.iter().flat_map(resolved_dependencies).collect(),
            },
            run_details: RunDetails {
                builder: Builder {
                    id: builder_id(&invocation.submit.kiln_version),
                    version: BTreeMap::from([
                        ("kiln", invocation.submit.kiln_version.clone()),
                        ("kiln-provenance", kiln_version.to_owned()),
                    ]),
                },
                metadata: BuildMetadata {
                    invocation_id: invocation.id,
                    started_on: invocation.started.map(timestamp),
                    finished_on: invocation.finished.map(timestamp),
                    status: invocation.status,
                    submitted_by: format!(
                        "{}@{}",
                        invocation.submit.submitter_user, invocation.submit.submitter_host
                    ),
                    jobs: jobs.iter().map(job_run).collect(),
                },
                byproducts: jobs.iter().filter_map(script).collect(),
            },
        },
    }
}

/// The run a document describes: the submit asked about, or the build of
/// the job asked about (for a reused job, the build it reused).
struct Invocation<'a> {
    id: Uuid,
    submit: &'a SubmitRecord,
    status: &'static str,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
}

impl<'a> Invocation<'a> {
    fn of(records: &'a ProvenanceRecords) -> Self {
        match records {
            ProvenanceRecords::Submit { submit, .. } => Invocation {
                id: submit.uuid,
                submit,
                status: submit.status.as_str(),
                started: Some(submit.started_at),
                finished: submit.ended_at,
            },
            ProvenanceRecords::Job(job) => {
                let build = &job.build;
                Invocation {
                    id: build.job,
                    submit: &build.submit,
                    status: build.status.as_str(),
                    started: build.started_at,
                    finished: build.finished_at,
                }
            }
        }
    }
}

/// Each artifact of a job, by its path in the submit's staging directory.
fn subjects(job: &AttestedJob) -> impl Iterator<Item = ResourceDescriptor> + '_ {
    job.artifacts
        .iter()
        .filter_map(|a| descriptor(a.path.clone(), sha256(&a.sha256)))
}

fn job_parameters(job: &AttestedJob) -> JobParameters {
    JobParameters {
        package: job.package_name.clone(),
        version: job.package_version.clone(),
        build_key: job.build.build_key.clone(),
        environment: Environment::of(&job.build.env),
    }
}

/// What the build of one job took in, each named `NAME@VERSION/KIND[/KEY]`
/// after the job's package: the repository's commit (and its uncommitted
/// changes), the image, every source and patch, every input artifact. A
/// value that is not a digest (a source that was missing) is left out.
fn resolved_dependencies(job: &AttestedJob) -> Vec<ResourceDescriptor> {
    let build = &job.build;
    let name = |what: &str| format!("{}@{}/{what}", job.package_name, job.package_version);
    let image_digest = build
        .image_digest
        .as_deref()
        .or(build.inputs.as_ref().map(|i| i.image_digest.as_str()))
        .and_then(prefixed_sha256);
    let mut out: Vec<ResourceDescriptor> = [
        descriptor(name("repository"), git_commit(&build.submit.commit)),
        descriptor(
            name("uncommitted-changes"),
            build.submit.repo_diff_sha256.as_deref().and_then(sha256),
        ),
        descriptor(name("image"), image_digest).map(|mut image| {
            image.annotations.insert("kiln_image", build.image.clone());
            image
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(inputs) = &build.inputs {
        for (key, hash) in &inputs.sources {
            out.extend(descriptor(name(&format!("source/{key}")), sha256(hash)));
        }
        for (path, hash) in &inputs.patches {
            out.extend(descriptor(name(&format!("patch/{path}")), sha256(hash)));
        }
    }
    for input in &build.input_artifacts {
        out.extend(descriptor(
            name(&format!("input/{}", input.path)),
            sha256(&input.sha256),
        ));
    }
    out
}

/// A descriptor of a name and its digests, if there are any.
fn descriptor(name: String, digest: Option<DigestSet>) -> Option<ResourceDescriptor> {
    Some(ResourceDescriptor {
        name,
        digest: digest?,
        annotations: BTreeMap::new(),
    })
}

fn job_run(job: &AttestedJob) -> JobRun {
    let build = &job.build;
    JobRun {
        job: job.uuid,
        package: job.package_name.clone(),
        version: job.package_version.clone(),
        status: job.status,
        built_by: build.job,
        submit: build.submit.uuid,
        endpoint: build.endpoint.clone(),
        started_on: build.started_at.map(timestamp),
        finished_on: build.finished_at.map(timestamp),
        kiln_version: build.submit.kiln_version.clone(),
    }
}

/// The digest of the rendered script the build ran (the fully evaluated
/// build configuration), unless it held a secret (then only its keyed hash
/// was recorded).
fn script(job: &AttestedJob) -> Option<ResourceDescriptor> {
    let inputs = job.build.inputs.as_ref()?;
    Some(ResourceDescriptor {
        name: format!("{}@{}/script", job.package_name, job.package_version),
        digest: sha256(&inputs.script_sha256)?,
        annotations: BTreeMap::new(),
    })
}

impl Environment {
    /// Recorded variables: a masked one by its name alone.
    fn of(vars: &[EnvVar]) -> Self {
        let mut env = Environment::default();
        for var in vars {
            if is_masked(&var.value) {
                env.secret_environment.push(var.name.clone());
            } else {
                env.environment.insert(var.name.clone(), var.value.clone());
            }
        }
        env.secret_environment.sort();
        env.secret_environment.dedup();
        env
    }
}

/// Whether a recorded value was masked: a secret variable's value
/// ([`crate::secrets::MASKED`]), or a value that held a secret's
/// ([`crate::log::scrub::MASK`] where the secret was).
fn is_masked(value: &str) -> bool {
    let mask = crate::log::scrub::MASK;
    value.as_bytes().windows(mask.len()).any(|w| w == mask)
}

/// `https://kiln.dev/builder@0.1.0` for the recorded `0.1.0 (commit ...)`.
fn builder_id(kiln_version: &str) -> String {
    let release = kiln_version.split_whitespace().next().unwrap_or("unknown");
    let mut id = format!("{BUILDER}@");
    for byte in release.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~+".contains(&byte) {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("%{byte:02X}"));
        }
    }
    id
}

/// RFC 3339 in UTC, with `Z`, as in-toto's Timestamp requires.
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `{"sha256": hex}` for a recorded SHA-256; `None` for anything else (a
/// keyed hash, a source that was missing).
fn sha256(hex: &str) -> Option<DigestSet> {
    lower_hex(hex, &[64]).map(|h| BTreeMap::from([("sha256", h)]))
}

/// `{"sha256": hex}` for an image digest recorded as `sha256:hex`.
fn prefixed_sha256(digest: &str) -> Option<DigestSet> {
    sha256(digest.strip_prefix("sha256:")?)
}

/// `{"gitCommit": hex}` for a SHA-1 or SHA-256 commit hash.
fn git_commit(hex: &str) -> Option<DigestSet> {
    lower_hex(hex, &[40, 64]).map(|h| BTreeMap::from([("gitCommit", h)]))
}

fn lower_hex(hex: &str, lengths: &[usize]) -> Option<String> {
    (lengths.contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::listings::provenance::{ArtifactDigest, BuildRecord};
    use crate::db::models::SubmitStatus;
    use crate::plan::build_key::BuildKeyInputs;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const OLD_COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

    fn hex(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("a valid time")
    }

    fn uuid(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: value.into(),
        }
    }

    fn submit(n: u128, commit: &str, kiln: &str) -> SubmitRecord {
        SubmitRecord {
            uuid: uuid(n),
            status: SubmitStatus::Succeeded,
            started_at: at(1_000),
            ended_at: Some(at(2_000)),
            package_name: "b".into(),
            package_version: "1".into(),
            image: "busybox:1".into(),
            commit: commit.into(),
            repo_diff_sha256: None,
            kiln_version: kiln.into(),
            submitter_user: "ana".into(),
            submitter_host: "build-host".into(),
            env: vec![var("X", "1"), var("TOKEN", crate::secrets::MASKED)],
        }
    }

    fn inputs(package: &str, script_sha256: &str) -> BuildKeyInputs {
        BuildKeyInputs {
            package: package.into(),
            version: "1".into(),
            script_sha256: script_sha256.into(),
            image_digest: format!("sha256:{}", hex('d')),
            environment: Default::default(),
            sources: [
                ("src".to_owned(), hex('5')),
                ("gone".to_owned(), "missing".to_owned()),
            ]
            .into(),
            patches: [("a/fix.patch".to_owned(), hex('6'))].into(),
            dependencies: Default::default(),
        }
    }

    fn artifact(path: &str, c: char) -> ArtifactDigest {
        ArtifactDigest {
            path: path.into(),
            sha256: hex(c),
        }
    }

    /// `a` built in submit 1; `b` reused job 20 of submit 9, which ran
    /// from an older commit with an older kiln, with `a.txt` as input.
    fn records() -> ProvenanceRecords {
        let this = submit(1, COMMIT, "0.2.0 (commit 222222222222)");
        let earlier = submit(9, OLD_COMMIT, "0.1.0 (commit 111111111111)");
        let a = AttestedJob {
            uuid: uuid(10),
            package_name: "a".into(),
            package_version: "1".into(),
            status: JobStatus::Succeeded,
            artifacts: vec![artifact("a.txt", 'a')],
            build: BuildRecord {
                job: uuid(10),
                status: JobStatus::Succeeded,
                submit: this.clone(),
                endpoint: Some("local".into()),
                started_at: Some(at(1_100)),
                finished_at: Some(at(1_200)),
                image: "busybox:1".into(),
                image_digest: Some(format!("sha256:{}", hex('d'))),
                build_key: hex('k'),
                inputs: Some(inputs("a", &hex('7'))),
                env: vec![
                    var("X", "1"),
                    var("TOKEN", crate::secrets::MASKED),
                    var("URL", "https://u:****@example.invalid"),
                ],
                input_artifacts: vec![],
            },
        };
        let b = AttestedJob {
            uuid: uuid(11),
            package_name: "b".into(),
            package_version: "1".into(),
            status: JobStatus::Reused,
            artifacts: vec![artifact("b.txt", 'b'), artifact("doc/b.1", 'c')],
            build: BuildRecord {
                job: uuid(20),
                status: JobStatus::Succeeded,
                submit: earlier,
                endpoint: Some("other".into()),
                started_at: Some(at(500)),
                finished_at: Some(at(600)),
                image: "busybox:1".into(),
                image_digest: None,
                build_key: hex('e'),
                inputs: Some(inputs("b", "hmac-sha256:00")),
                env: vec![var("X", "1")],
                input_artifacts: vec![artifact("a.txt", 'a')],
            },
        };
        ProvenanceRecords::Submit {
            submit: Box::new(this),
            jobs: vec![a, b],
        }
    }

    fn document(records: &ProvenanceRecords) -> serde_json::Value {
        serde_json::to_value(statement(records, "9.9.9 (commit 999999999999)"))
            .expect("a statement serializes")
    }

    /// `(JSON pointer, expected value)` pairs, checked in `doc`.
    fn check(doc: &serde_json::Value, cases: &[(&str, serde_json::Value)]) {
        for (pointer, expected) in cases {
            assert_eq!(doc.pointer(pointer), Some(expected), "{pointer} in {doc:#}");
        }
    }

    #[test]
    fn a_submit_attests_every_artifact_of_its_jobs() {
        use serde_json::json;
        let doc = document(&records());
        let sha = |c| json!({ "sha256": hex(c) });
        check(
            &doc,
            &[
                ("/_type", json!(STATEMENT_TYPE)),
                ("/predicateType", json!(PREDICATE_TYPE)),
                (
                    "/subject",
                    json!([
                        { "name": "a.txt", "digest": sha('a') },
                        { "name": "b.txt", "digest": sha('b') },
                        { "name": "doc/b.1", "digest": sha('c') },
                    ]),
                ),
                ("/predicate/buildDefinition/buildType", json!(BUILD_TYPE)),
                (
                    "/predicate/buildDefinition/externalParameters",
                    json!({
                        "package": "b", "version": "1", "image": "busybox:1",
                        "environment": { "X": "1" },
                        "secretEnvironment": ["TOKEN"],
                    }),
                ),
                (
                    "/predicate/buildDefinition/internalParameters/jobs/0",
                    json!({
                        "package": "a", "version": "1", "buildKey": hex('k'),
                        "environment": { "X": "1" },
                        "secretEnvironment": ["TOKEN", "URL"],
                    }),
                ),
                (
                    "/predicate/buildDefinition/resolvedDependencies",
                    json!([
                        { "name": "a@1/repository", "digest": { "gitCommit": COMMIT } },
                        {
                            "name": "a@1/image", "digest": sha('d'),
                            "annotations": { "kiln_image": "busybox:1" },
                        },
                        { "name": "a@1/source/src", "digest": sha('5') },
                        { "name": "a@1/patch/a/fix.patch", "digest": sha('6') },
                        // b's build ran in submit 9, from its commit; its
                        // image digest comes from its build key inputs.
                        { "name": "b@1/repository", "digest": { "gitCommit": OLD_COMMIT } },
                        {
                            "name": "b@1/image", "digest": sha('d'),
                            "annotations": { "kiln_image": "busybox:1" },
                        },
                        { "name": "b@1/source/src", "digest": sha('5') },
                        { "name": "b@1/patch/a/fix.patch", "digest": sha('6') },
                        { "name": "b@1/input/a.txt", "digest": sha('a') },
                    ]),
                ),
                (
                    "/predicate/runDetails/builder",
                    json!({
                        "id": "https://kiln.dev/builder@0.2.0",
                        "version": {
                            "kiln": "0.2.0 (commit 222222222222)",
                            "kiln-provenance": "9.9.9 (commit 999999999999)",
                        },
                    }),
                ),
                (
                    "/predicate/runDetails/metadata/invocationId",
                    json!(uuid(1)),
                ),
                (
                    "/predicate/runDetails/metadata/startedOn",
                    json!("1970-01-01T00:16:40Z"),
                ),
                (
                    "/predicate/runDetails/metadata/finishedOn",
                    json!("1970-01-01T00:33:20Z"),
                ),
                (
                    "/predicate/runDetails/metadata/kiln_submittedBy",
                    json!("ana@build-host"),
                ),
                (
                    "/predicate/runDetails/metadata/kiln_jobs/1",
                    json!({
                        "job": uuid(11), "package": "b", "version": "1",
                        "status": "reused", "builtBy": uuid(20), "submit": uuid(9),
                        "endpoint": "other",
                        "startedOn": "1970-01-01T00:08:20Z",
                        "finishedOn": "1970-01-01T00:10:00Z",
                        "kilnVersion": "0.1.0 (commit 111111111111)",
                    }),
                ),
                // b's script held a secret: only a's digest is known.
                (
                    "/predicate/runDetails/byproducts",
                    json!([{ "name": "a@1/script", "digest": sha('7') }]),
                ),
            ],
        );
        let text = doc.to_string();
        assert!(!text.contains("****"), "a masked value in {text}");
        assert!(!text.contains("missing"), "a missing source in {text}");
    }

    #[test]
    fn a_reused_job_is_attested_by_the_build_it_reused() {
        use serde_json::json;
        let only_b = ProvenanceRecords::Job(Box::new(records().jobs()[1].clone()));
        let doc = document(&only_b);
        check(
            &doc,
            &[
                ("/subject/0/name", json!("b.txt")),
                ("/subject/1/name", json!("doc/b.1")),
                (
                    "/predicate/runDetails/metadata/invocationId",
                    json!(uuid(20)),
                ),
                (
                    "/predicate/runDetails/metadata/startedOn",
                    json!("1970-01-01T00:08:20Z"),
                ),
                (
                    "/predicate/runDetails/builder/id",
                    json!("https://kiln.dev/builder@0.1.0"),
                ),
                (
                    "/predicate/runDetails/metadata/kiln_jobs/0/builtBy",
                    json!(uuid(20)),
                ),
                (
                    "/predicate/runDetails/metadata/kiln_jobs/0/job",
                    json!(uuid(11)),
                ),
            ],
        );
        let deps = doc["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .expect("resolvedDependencies");
        assert!(deps
            .iter()
            .all(|d| d["name"].as_str().is_some_and(|n| n.starts_with("b@1/"))));
    }

    /// Why the JSON Schemas of `tests/schemas/` (the in-toto Statement and
    /// the SLSA Provenance, with formats checked) refuse `doc`.
    fn schema_errors(doc: &serde_json::Value) -> Vec<String> {
        let schemas = [
            (
                "in-toto-resource-descriptor-v1.schema.json",
                include_str!("../tests/schemas/in-toto-resource-descriptor-v1.schema.json"),
            ),
            (
                "in-toto-statement-v1.schema.json",
                include_str!("../tests/schemas/in-toto-statement-v1.schema.json"),
            ),
            (
                "slsa-provenance-v1.schema.json",
                include_str!("../tests/schemas/slsa-provenance-v1.schema.json"),
            ),
        ]
        .map(|(name, text)| {
            let schema: serde_json::Value = serde_json::from_str(text).expect("a schema is JSON");
            (format!("https://kiln.dev/schemas/{name}"), schema)
        });
        let registry = jsonschema::Registry::new()
            .extend(schemas.clone())
            .and_then(|r| r.prepare())
            .expect("the schemas form a registry");
        let mut errors = Vec::new();
        for (uri, schema) in schemas.iter().skip(1) {
            let validator = jsonschema::options()
                .with_registry(&registry)
                .should_validate_formats(true)
                .build(schema)
                .expect("a valid schema");
            errors.extend(
                validator
                    .iter_errors(doc)
                    .map(|e| format!("{uri}: {}: {e}", e.instance_path())),
            );
        }
        errors
    }

    #[test]
    fn documents_follow_the_schemas() {
        use serde_json::json;
        let all = records();
        let one = ProvenanceRecords::Job(Box::new(all.jobs()[0].clone()));
        for doc in [document(&all), document(&one)] {
            let errors = schema_errors(&doc);
            assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
        }
        // The schemas refuse what the specifications do.
        let broken: [(&str, serde_json::Value); 6] = [
            ("/subject/0/digest/sha256", json!(hex('A'))),
            ("/subject/0/digest", json!({})),
            (
                "/predicate/runDetails/metadata/startedOn",
                json!("1970-01-01T00:16:40+00:00"),
            ),
            ("/predicate/runDetails/builder/id", json!("kiln builder")),
            ("/predicate/buildDefinition/buildType", json!(7)),
            ("/_type", json!("https://in-toto.io/Statement/v0.1")),
        ];
        for (pointer, value) in broken {
            let mut doc = document(&all);
            *doc.pointer_mut(pointer).expect("a field of the document") = value;
            assert!(!schema_errors(&doc).is_empty(), "{pointer} broken");
        }
        let mut doc = document(&all);
        doc["predicate"]["runDetails"]["metadata"]["jobs"] = json!([]);
        assert!(
            !schema_errors(&doc).is_empty(),
            "an extension field without a vendor prefix"
        );
    }

    #[test]
    fn builder_ids_name_the_release() {
        for (recorded, id) in [
            (
                "0.1.0 (commit 4d986320e8c6)",
                "https://kiln.dev/builder@0.1.0",
            ),
            ("0.1.0", "https://kiln.dev/builder@0.1.0"),
            (
                "1.0.0-rc.1+build.5",
                "https://kiln.dev/builder@1.0.0-rc.1+build.5",
            ),
            ("1/2?#", "https://kiln.dev/builder@1%2F2%3F%23"),
            ("", "https://kiln.dev/builder@unknown"),
        ] {
            assert_eq!(builder_id(recorded), id, "{recorded:?}");
        }
    }

    #[test]
    fn digests_are_lower_case_hex_of_their_length() {
        let upper: String = hex('A');
        for (given, expected) in [
            (hex('a'), Some(hex('a'))),
            (upper, Some(hex('a'))),
            ("missing".to_owned(), None),
            ("hmac-sha256:00".to_owned(), None),
            (hex('g'), None),
            (hex('a')[..63].to_owned(), None),
        ] {
            assert_eq!(
                sha256(&given).map(|d| d["sha256"].clone()),
                expected,
                "{given}"
            );
        }
        assert!(prefixed_sha256(&format!("sha256:{}", hex('a'))).is_some());
        assert!(prefixed_sha256(&hex('a')).is_none());
        assert!(git_commit(COMMIT).is_some());
        assert!(git_commit(&hex('a')).is_some());
        assert!(git_commit(&COMMIT[..39]).is_none());
    }
}
