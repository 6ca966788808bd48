//! `kiln provenance SUBMIT|JOB|ARTIFACT`: finding what the user names, and
//! reading everything the provenance of its artifacts is made of (see
//! [`crate::provenance`]): the submit, each attested job with its
//! artifacts, and the build that made them with its inputs.
//!
//! Submits and jobs are found as `db submit` and `db job` find them
//! ([`submits::resolve`], [`jobs::resolve`]), and read as they read them
//! ([`submits::submit_detail`], [`jobs::job_detail`]). A reused job's build
//! is the job it reused ([`jobs::reused_source`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::artifacts::ArtifactItem;
use super::jobs::{self, EnvVar, JobDetail};
use super::submits::{self, SubmitDetail};
use super::{Conn, FilterError, JobStatus, SubmitStatus, UuidPrefix};
use crate::db::models::{ArtifactId, JobId, SubmitId};
use crate::db::schema::{artifacts, jobs as job_rows, submits as submit_rows};
use crate::input_error;
use crate::plan::build_key::BuildKeyInputs;

/// What `kiln provenance` was asked about, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Submit(SubmitId),
    Job(JobId),
    Artifact(ArtifactId),
}

/// Everything recorded that the provenance of the attested artifacts says.
#[derive(Debug, Clone)]
pub enum ProvenanceRecords {
    /// A whole submit: each of its jobs that succeeded or was reused, in
    /// the order they were planned.
    Submit {
        submit: Box<SubmitRecord>,
        jobs: Vec<AttestedJob>,
    },
    /// One job: all its artifacts, or the one asked about.
    Job(Box<AttestedJob>),
}

impl ProvenanceRecords {
    /// The attested jobs, in the order they were planned.
    pub fn jobs(&self) -> &[AttestedJob] {
        match self {
            ProvenanceRecords::Submit { jobs, .. } => jobs,
            ProvenanceRecords::Job(job) => std::slice::from_ref(job.as_ref()),
        }
    }
}

/// What a submit recorded of its request, its origin and its run.
#[derive(Debug, Clone)]
pub struct SubmitRecord {
    pub uuid: Uuid,
    pub status: SubmitStatus,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub package_name: String,
    pub package_version: String,
    pub image: String,
    /// The package repository's commit.
    pub commit: String,
    /// SHA-256 of the uncommitted changes, when the work tree had some.
    pub repo_diff_sha256: Option<String>,
    pub kiln_version: String,
    pub submitter_user: String,
    pub submitter_host: String,
    /// The variables given on the command line (secret values masked).
    pub env: Vec<EnvVar>,
}

/// A job whose artifacts are attested.
#[derive(Debug, Clone)]
pub struct AttestedJob {
    pub uuid: Uuid,
    pub package_name: String,
    pub package_version: String,
    pub status: JobStatus,
    /// The artifacts attested: all the job's, or the one asked about.
    pub artifacts: Vec<ArtifactDigest>,
    /// The build that made them: the job's own, or that of the job it reused.
    pub build: BuildRecord,
}

/// A job that ran a build, and what went into it.
#[derive(Debug, Clone)]
pub struct BuildRecord {
    pub job: Uuid,
    pub status: JobStatus,
    /// The submit the build ran in.
    pub submit: SubmitRecord,
    pub endpoint: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub image: String,
    /// The digest the image resolved to (`sha256:...`).
    pub image_digest: Option<String>,
    pub build_key: String,
    /// What the build key was computed from (sources and patches by
    /// SHA-256); `None` when the record cannot be read as such.
    pub inputs: Option<BuildKeyInputs>,
    /// The environment the container ran with (secret values masked).
    pub env: Vec<EnvVar>,
    /// The artifacts it took as inputs.
    pub input_artifacts: Vec<ArtifactDigest>,
}

/// An artifact by its path in its submit's staging directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactDigest {
    pub path: String,
    pub sha256: String,
}

/// How many artifacts sharing a path an error lists.
const SHOWN: i64 = 10;

/// Finds what `given` names: a submit or a job by its UUID or a unique
/// prefix of it (as `db submit` and `db job` find them), else an artifact
/// by its path alone when one artifact has it, or by its place under the
/// staging root (`SUBMIT-UUID/PATH`).
pub fn find_target(conn: &mut Conn, given: &str) -> anyhow::Result<Target> {
    if let Ok(prefix) = given.parse::<UuidPrefix>() {
        if let Some(found) = submit_or_job(conn, &prefix)? {
            return Ok(found);
        }
    }
    if let Some(id) = artifact_by_path(conn, given)? {
        return Ok(Target::Artifact(id));
    }
    Err(input_error!(
        "no submit, job or artifact is named `{given}`: give the UUID of a submit or job \
         (or a unique start of it), or the path of an artifact as `kiln db artifacts` \
         lists it, alone or as SUBMIT-UUID/PATH"
    ))
}

/// The submit or job whose UUID starts with `prefix`; an error when both
/// a submit and a job do, or several of either.
fn submit_or_job(conn: &mut Conn, prefix: &UuidPrefix) -> anyhow::Result<Option<Target>> {
    let submit = unless_not_found(submits::resolve(conn, prefix))?;
    let job = unless_not_found(jobs::resolve(conn, prefix))?;
    match (submit, job) {
        (Some((_, submit)), Some((_, job))) => Err(input_error!(
            "`{}` starts the UUIDs of submit {submit} and of job {job}: give more of it",
            prefix.as_str()
        )),
        (Some((id, _)), None) => Ok(Some(Target::Submit(id))),
        (None, Some((id, _))) => Ok(Some(Target::Job(id))),
        (None, None) => Ok(None),
    }
}

/// A resolved record, `None` when nothing had the UUID prefix.
fn unless_not_found<Id>(found: anyhow::Result<(Id, Uuid)>) -> anyhow::Result<Option<(Id, Uuid)>> {
    match found {
        Ok(found) => Ok(Some(found)),
        Err(e) if matches!(e.downcast_ref(), Some(FilterError::NotFound { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The one artifact whose path is `given`, else the artifact at
/// `SUBMIT/PATH` (`SUBMIT` a submit's UUID or a unique start of it); an
/// error when several artifacts have the path `given`.
fn artifact_by_path(conn: &mut Conn, given: &str) -> anyhow::Result<Option<ArtifactId>> {
    let found: Vec<(ArtifactId, Uuid)> = artifacts::table
        .inner_join(job_rows::table.inner_join(submit_rows::table))
        .filter(artifacts::path.eq(given))
        .order(artifacts::id.desc())
        .select((artifacts::id, submit_rows::uuid))
        .limit(SHOWN + 1)
        .load(conn)?;
    match found.as_slice() {
        [] => {}
        [(id, _)] => return Ok(Some(*id)),
        many => {
            return Err(input_error!(
                "several artifacts have the path `{given}`; name one by its submit:\n{}{}",
                many.iter()
                    .take(SHOWN as usize)
                    .map(|(_, submit)| format!("  {submit}/{given}\n"))
                    .collect::<String>(),
                if many.len() as i64 > SHOWN {
                    "  ...\n"
                } else {
                    ""
                }
            ))
        }
    }
    let Some((head, path)) = given.split_once('/') else {
        return Ok(None);
    };
    let Ok(prefix) = head.parse::<UuidPrefix>() else {
        return Ok(None);
    };
    let Some((submit, _)) = unless_not_found(submits::resolve(conn, &prefix))? else {
        return Ok(None);
    };
    Ok(artifacts::table
        .inner_join(job_rows::table)
        .filter(job_rows::submit_id.eq(submit))
        .filter(artifacts::path.eq(path))
        .order(artifacts::id)
        .select(artifacts::id)
        .first(conn)
        .optional()?)
}

/// Reads what the provenance of the target's artifacts is made of. An
/// input error when the target has no artifact to attest.
pub fn provenance_records(conn: &mut Conn, target: Target) -> anyhow::Result<ProvenanceRecords> {
    let mut submits = SubmitCache::default();
    match target {
        Target::Submit(id) => {
            let detail = submits::submit_detail(conn, id, None)?;
            let attested_ids: Vec<JobId> = detail
                .jobs
                .iter()
                .filter(|j| j.job.status.is_success())
                .map(|j| j.job.id)
                .collect();
            let submit = submits.insert(submit_record(detail));
            let mut jobs = Vec::with_capacity(attested_ids.len());
            for id in attested_ids {
                jobs.push(attested_job(conn, &mut submits, id, None)?);
            }
            if jobs.iter().all(|j| j.artifacts.is_empty()) {
                return Err(input_error!(
                    "submit {} ({}) has no artifacts: there is nothing to attest",
                    submit.uuid,
                    submit.status
                ));
            }
            Ok(ProvenanceRecords::Submit {
                submit: Box::new(submit),
                jobs,
            })
        }
        Target::Job(id) => job_records(conn, &mut submits, id, None),
        Target::Artifact(id) => {
            let job: JobId = artifacts::table
                .find(id)
                .select(artifacts::job_id)
                .first(conn)?;
            job_records(conn, &mut submits, job, Some(id))
        }
    }
}

/// The records of one job, with all its artifacts or only `artifact`.
fn job_records(
    conn: &mut Conn,
    submits: &mut SubmitCache,
    id: JobId,
    artifact: Option<ArtifactId>,
) -> anyhow::Result<ProvenanceRecords> {
    let job = attested_job(conn, submits, id, artifact)?;
    if job.artifacts.is_empty() {
        return Err(input_error!(
            "job {} ({} {}, {}) has no artifacts: there is nothing to attest",
            job.uuid,
            job.package_name,
            job.package_version,
            job.status
        ));
    }
    Ok(ProvenanceRecords::Job(Box::new(job)))
}

/// A job with its artifacts (or only `artifact`) and the build that made them.
fn attested_job(
    conn: &mut Conn,
    submits: &mut SubmitCache,
    id: JobId,
    artifact: Option<ArtifactId>,
) -> anyhow::Result<AttestedJob> {
    let detail = jobs::job_detail(conn, id)?;
    let artifacts = detail
        .outputs
        .iter()
        .filter(|a| artifact.is_none_or(|only| a.artifact.id == only))
        .map(digest)
        .collect();
    let (uuid, status) = (detail.job.uuid, detail.job.status);
    let (package_name, package_version) = (
        detail.job.package_name.clone(),
        detail.job.package_version.clone(),
    );
    let build = match jobs::reused_source(conn, id)? {
        Some((source, _)) => {
            let source = jobs::job_detail(conn, source)?;
            build_record(conn, submits, source)?
        }
        None => build_record(conn, submits, detail)?,
    };
    Ok(AttestedJob {
        uuid,
        package_name,
        package_version,
        status,
        artifacts,
        build,
    })
}

/// The build a job ran, with the submit it ran in.
fn build_record(
    conn: &mut Conn,
    submits: &mut SubmitCache,
    detail: JobDetail,
) -> anyhow::Result<BuildRecord> {
    let inputs: serde_json::Value = job_rows::table
        .find(detail.job.id)
        .select(job_rows::build_key_inputs)
        .first(conn)?;
    let submit = submits.load(conn, detail.job.submit_uuid)?;
    Ok(BuildRecord {
        job: detail.job.uuid,
        status: detail.job.status,
        submit,
        endpoint: detail.job.endpoint,
        started_at: detail.job.started_at,
        finished_at: detail.job.finished_at,
        image: detail.job.image,
        image_digest: detail.job.image_digest,
        build_key: detail.build_key,
        inputs: serde_json::from_value(inputs).ok(),
        env: detail.env,
        input_artifacts: detail.inputs.iter().map(digest).collect(),
    })
}

fn digest(item: &ArtifactItem) -> ArtifactDigest {
    ArtifactDigest {
        path: item.artifact.path.clone(),
        sha256: item.artifact.sha256.clone(),
    }
}

/// The submits read so far, by UUID: a build reused from another submit
/// reads that submit once.
#[derive(Default)]
struct SubmitCache {
    by_uuid: BTreeMap<Uuid, SubmitRecord>,
}

impl SubmitCache {
    fn insert(&mut self, submit: SubmitRecord) -> SubmitRecord {
        self.by_uuid.insert(submit.uuid, submit.clone());
        submit
    }

    fn load(&mut self, conn: &mut Conn, uuid: Uuid) -> QueryResult<SubmitRecord> {
        if let Some(submit) = self.by_uuid.get(&uuid) {
            return Ok(submit.clone());
        }
        let id = submits::find(conn, uuid)?;
        let detail = submits::submit_detail(conn, id, None)?;
        Ok(self.insert(submit_record(detail)))
    }
}

fn submit_record(detail: SubmitDetail) -> SubmitRecord {
    let s = detail.submit;
    SubmitRecord {
        uuid: s.uuid,
        status: s.status,
        started_at: s.started_at,
        ended_at: s.ended_at,
        package_name: s.package_name,
        package_version: s.package_version,
        image: s.image,
        commit: s.commit,
        repo_diff_sha256: detail.repo_diff_sha256,
        kiln_version: detail.kiln_version,
        submitter_user: s.submitter_user,
        submitter_host: s.submitter_host,
        env: detail.env,
    }
}
