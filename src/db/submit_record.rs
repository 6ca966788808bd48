//! Recording a new submit: the one transaction that writes the submit, its
//! environment, every job (`queued`, or `reused` with the artifacts it
//! took and its input-artifact edges), the dependency edges and the jobs'
//! environments, and takes the lock and lease that say the submit's kiln
//! process is alive ([`super::models::liveness`]).
//!
//! The caller says what to record in plain values; the SQL is here.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use uuid::Uuid;

use super::models::artifacts::{Artifact, NewArtifact};
use super::models::env_vars::NewEnvVar;
use super::models::git_hashes::NewGitHash;
use super::models::image_digests::NewImageDigest;
use super::models::images::NewImage;
use super::models::job_dependencies::{DependencyKind, JobDependency};
use super::models::job_envs::JobEnv;
use super::models::job_input_artifacts::JobInputArtifact;
use super::models::jobs::{EarlierArtifact, JobStatus, NewJob};
use super::models::liveness::{self, Owner};
use super::models::packages::NewPackage;
use super::models::submit_changes::SubmitChanges;
use super::models::submit_envs::SubmitEnv;
use super::models::submits::NewSubmit;
use super::models::{EnvVarId, JobId, SubmitId};
use crate::db::schema::jobs;

/// A submit as it is recorded when it starts (owned, so that it can move
/// to the blocking task that writes it).
pub struct SubmitRecord {
    pub uuid: Uuid,
    /// The build image's name and the digest it resolved to.
    pub image: String,
    pub image_digest: String,
    /// The package asked for: name and version.
    pub package: (String, String),
    pub commit: String,
    /// The uncommitted changes, when the work tree had some.
    pub changes: Option<crate::repo::git::Changes>,
    /// The earlier submit this one reproduces.
    pub reproduces: Option<SubmitId>,
    /// Who submitted, and from which host.
    pub submitter: (String, String),
    pub kiln_version: String,
    pub tree: serde_json::Value,
    pub plan: serde_json::Value,
    /// The kiln process that runs it.
    pub owner: Option<Owner>,
    /// How long the first lease runs.
    pub lease: Duration,
    /// The `-E` variables, secrets masked.
    pub env: Vec<(String, String)>,
    /// In build order.
    pub jobs: Vec<JobRecord>,
}

/// A job of a [`SubmitRecord`].
pub struct JobRecord {
    pub uuid: Uuid,
    pub package: String,
    pub version: String,
    /// The script, secrets masked.
    pub script: String,
    pub build_key: String,
    pub build_key_inputs: serde_json::Value,
    /// Its environment, secrets masked.
    pub env: Vec<(String, String)>,
    /// The jobs (indices into [`SubmitRecord::jobs`]) it waits for.
    pub dependencies: Vec<(usize, DependencyKind)>,
    pub reused: Option<ReusedRecord>,
    /// Why it is built rather than reused (`None` when reused).
    pub build_reason: Option<String>,
}

/// A job that took an earlier job's artifacts instead of being built.
pub struct ReusedRecord {
    pub from: JobId,
    /// The artifacts it took (now in the new submit's staging directory).
    pub artifacts: Vec<EarlierArtifact>,
    /// Its inputs, as (dependency index, position in that job's
    /// `artifacts`): every dependency of a reused job is reused.
    pub inputs: Vec<(usize, usize)>,
}

/// What [`record_new_submit`] wrote.
#[derive(Debug)]
pub struct RecordedSubmit {
    pub id: SubmitId,
    /// The backend holding the submit's liveness lock.
    pub holder: i32,
    /// Each job's id, in the order given.
    pub jobs: Vec<JobId>,
    /// The artifacts recorded for each reused job.
    pub reused_artifacts: Vec<Option<Vec<Artifact>>>,
}

/// Records a new submit and all its jobs in one transaction, on the
/// connection that then keeps the submit's liveness lock.
pub fn record_new_submit(
    conn: &mut PgConnection,
    record: &SubmitRecord,
) -> QueryResult<RecordedSubmit> {
    conn.transaction(|conn| {
        let image = NewImage {
            name: &record.image,
        }
        .get_or_create(conn)?;
        NewImageDigest {
            image_id: image.id,
            digest: &record.image_digest,
        }
        .get_or_create(conn)?;
        let (name, version) = (&record.package.0, &record.package.1);
        let requested = NewPackage { name, version }.get_or_create(conn)?;
        let hash = NewGitHash {
            hash: &record.commit,
        }
        .get_or_create(conn)?;
        let submit = NewSubmit {
            uuid: record.uuid,
            requested_package_id: requested.id,
            requested_image_id: image.id,
            repo_hash_id: hash.id,
            repo_dirty: record.changes.is_some(),
            repo_diff_sha256: record.changes.as_ref().map(|c| c.sha256.as_str()),
            reproduces_submit_id: record.reproduces,
            submitter_user: &record.submitter.0,
            submitter_host: &record.submitter.1,
            kiln_version: &record.kiln_version,
            tree: &record.tree,
            plan: &record.plan,
            owner_machine: record.owner.as_ref().map(|o| o.machine.as_str()),
            owner_pid: record.owner.as_ref().map(|o| o.pid),
            owner_started: record.owner.as_ref().map(|o| o.started),
        }
        .insert(conn)?;
        // A new submit's lock is free: no other session knows its id yet.
        if !liveness::try_hold(conn, submit.id)? {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        liveness::renew(conn, submit.id, record.lease)?;
        if let Some(changes) = &record.changes {
            SubmitChanges::insert(conn, submit.id, &changes.patch)?;
        }
        let holder = liveness::backend_pid(conn)?;
        let mut env_ids = EnvIds::default();
        let links = record
            .env
            .iter()
            .map(|(name, value)| {
                Ok(SubmitEnv {
                    submit_id: submit.id,
                    env_id: env_ids.get(conn, name, value)?,
                })
            })
            .collect::<QueryResult<Vec<_>>>()?;
        SubmitEnv::insert_all(conn, &links)?;
        let ids = insert_jobs(
            conn,
            submit.id,
            image.id,
            &record.image_digest,
            &record.jobs,
        )?;
        insert_dependencies(conn, &record.jobs, &ids)?;
        let mut env_links = Vec::new();
        for (job, &id) in record.jobs.iter().zip(&ids) {
            for (name, value) in &job.env {
                env_links.push(JobEnv {
                    job_id: id,
                    env_id: env_ids.get(conn, name, value)?,
                });
            }
        }
        JobEnv::insert_all(conn, &env_links)?;
        let reused_artifacts = insert_reused(conn, &record.jobs, &ids)?;
        Ok(RecordedSubmit {
            id: submit.id,
            holder,
            jobs: ids,
            reused_artifacts,
        })
    })
}

fn insert_jobs(
    conn: &mut PgConnection,
    submit_id: SubmitId,
    image_id: super::models::ImageId,
    image_digest: &str,
    jobs: &[JobRecord],
) -> QueryResult<Vec<JobId>> {
    let packages: Vec<NewPackage> = jobs
        .iter()
        .map(|job| NewPackage {
            name: &job.package,
            version: &job.version,
        })
        .collect();
    let package_ids = NewPackage::get_or_create_all(conn, &packages)?;
    let new_jobs: Vec<NewJob> = jobs
        .iter()
        .zip(&package_ids)
        .map(|(job, &package_id)| NewJob {
            uuid: job.uuid,
            submit_id,
            package_id,
            image_id,
            status: match job.reused {
                Some(_) => JobStatus::Reused,
                None => JobStatus::Queued,
            },
            script: &job.script,
            build_key: &job.build_key,
            build_key_inputs: &job.build_key_inputs,
            reused_job_id: job.reused.as_ref().map(|r| r.from),
            build_reason: job.build_reason.as_deref(),
        })
        .collect();
    let ids: Vec<JobId> = NewJob::insert_all(conn, &new_jobs)?
        .into_iter()
        .map(|j| j.id)
        .collect();
    // A reused job ended when it was planned, on the image digest its
    // build key holds.
    let reused: Vec<JobId> = jobs
        .iter()
        .zip(&ids)
        .filter(|(job, _)| job.reused.is_some())
        .map(|(_, &id)| id)
        .collect();
    if !reused.is_empty() {
        diesel::update(jobs::table.filter(jobs::id.eq_any(&reused)))
            .set((
                jobs::finished_at.eq(jobs::queued_at.nullable()),
                jobs::image_digest.eq(image_digest),
            ))
            .execute(conn)?;
    }
    Ok(ids)
}

fn insert_dependencies(
    conn: &mut PgConnection,
    jobs: &[JobRecord],
    ids: &[JobId],
) -> QueryResult<()> {
    let mut rows: BTreeMap<(JobId, JobId), DependencyKind> = BTreeMap::new();
    for (job, &id) in jobs.iter().zip(ids) {
        for &(dep, kind) in &job.dependencies {
            rows.entry((id, ids[dep])).or_insert(kind);
        }
    }
    let rows: Vec<JobDependency> = rows
        .into_iter()
        .map(|((job_id, dependency_job_id), kind)| JobDependency {
            job_id,
            dependency_job_id,
            kind,
        })
        .collect();
    JobDependency::insert_all(conn, &rows).map(drop)
}

/// The artifacts of every reused job (one batched insert), then their
/// input edges (which point at artifacts of jobs before them).
fn insert_reused(
    conn: &mut PgConnection,
    jobs: &[JobRecord],
    ids: &[JobId],
) -> QueryResult<Vec<Option<Vec<Artifact>>>> {
    let new: Vec<NewArtifact> = jobs
        .iter()
        .zip(ids)
        .filter_map(|(job, &id)| job.reused.as_ref().map(|r| (r, id)))
        .flat_map(|(reused, job_id)| {
            reused.artifacts.iter().map(move |a| NewArtifact {
                job_id,
                path: &a.path,
                size: a.size,
                sha256: &a.sha256,
            })
        })
        .collect();
    let mut stored = NewArtifact::insert_all(conn, &new)?.into_iter();
    let out: Vec<Option<Vec<Artifact>>> = jobs
        .iter()
        .map(|job| {
            job.reused
                .as_ref()
                .map(|r| stored.by_ref().take(r.artifacts.len()).collect())
        })
        .collect();
    let mut edges = Vec::new();
    for ((job, &id), artifacts) in jobs.iter().zip(ids).zip(&out) {
        let (Some(reused), Some(_)) = (&job.reused, artifacts) else {
            continue;
        };
        for &(dep, position) in &reused.inputs {
            let artifact = out
                .get(dep)
                .and_then(Option::as_ref)
                .and_then(|artifacts| artifacts.get(position))
                .ok_or(diesel::result::Error::RollbackTransaction)?;
            edges.push(JobInputArtifact {
                job_id: id,
                artifact_id: artifact.id,
            });
        }
    }
    JobInputArtifact::insert_all(conn, &edges)?;
    Ok(out)
}

/// The ids of `env_vars` rows, each looked up or made once per transaction.
#[derive(Default)]
struct EnvIds(BTreeMap<(String, String), EnvVarId>);

impl EnvIds {
    fn get(&mut self, conn: &mut PgConnection, name: &str, value: &str) -> QueryResult<EnvVarId> {
        if let Some(id) = self.0.get(&(name.to_owned(), value.to_owned())) {
            return Ok(*id);
        }
        let id = NewEnvVar { name, value }.get_or_create(conn)?.id;
        self.0.insert((name.to_owned(), value.to_owned()), id);
        Ok(id)
    }
}
