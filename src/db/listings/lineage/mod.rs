//! `db lineage`: what went into an artifact or a job (`inputs`: walked
//! from its job through the input artifacts to the jobs that made them),
//! and what was built from it (`built_from`: walked the other way, to
//! the jobs that took it as input and the jobs that reused those, and to
//! the current releases of any of that).
//!
//! The edges are the records themselves: `job_input_artifacts` (a job took
//! an artifact), `artifacts.job_id` (a job made it) and `jobs.reused_job_id`
//! (a reused job's artifacts are copies, path for path, of its source's).
//! Each walk is one recursive query whose `UNION` drops the rows it has
//! already seen, so that it ends even if the records held a cycle.
//!
//! This file names the start: a job, an artifact by its path, or every
//! build of a package.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::jobs;
use super::{lookups, ArtifactCandidate, Conn, FilterError, HexPrefix, PackageSpec, UuidPrefix};
use crate::db::models::{ArtifactId, JobId, JobStatus};
use crate::db::schema::{artifacts, git_hashes, images, jobs as jobs_t, packages, submits};

mod built_from;
mod chain;
mod inputs;

pub use built_from::{
    descendant_edges, descendants, releases_reaching, DescendantArtifact, DescendantJob,
    Descendants, FoundRelease, Placement,
};
pub use chain::ChainStep;
pub use inputs::{lineage, JobLineage, Lineage};

/// Where a lineage starts, as the user named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A job, by id.
    Job(JobId),
    /// An artifact, by id.
    Artifact(ArtifactId),
}

/// What a walk forward starts from: the artifacts of some jobs, or some
/// artifacts of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartSet {
    pub jobs: Vec<JobId>,
    /// Only these artifacts of `jobs`; empty for all of their artifacts.
    pub artifacts: Vec<ArtifactId>,
}

impl StartSet {
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

/// An artifact as the lineage shows it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = artifacts, check_for_backend(diesel::pg::Pg))]
pub struct ArtifactFacts {
    #[serde(skip)]
    pub id: ArtifactId,
    /// The job that made it.
    #[serde(skip)]
    pub job_id: JobId,
    pub path: String,
    pub size: i64,
    pub sha256: String,
}

/// A job as the lineage shows it.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = jobs_t, check_for_backend(diesel::pg::Pg))]
pub struct JobFacts {
    #[serde(skip)]
    pub id: JobId,
    pub uuid: Uuid,
    #[diesel(select_expression = packages::name)]
    pub package_name: String,
    #[diesel(select_expression = packages::version)]
    pub package_version: String,
    pub status: JobStatus,
    #[diesel(select_expression = submits::uuid)]
    pub submit_uuid: Uuid,
    /// The package repository's commit of its submit.
    #[diesel(select_expression = git_hashes::hash)]
    pub commit: String,
    /// Whether that work tree had uncommitted changes.
    #[diesel(select_expression = submits::repo_dirty)]
    pub repo_dirty: bool,
    #[diesel(select_expression = images::name)]
    pub image: String,
    pub image_digest: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub reused_job_id: Option<JobId>,
}

/// The job whose artifacts a reused job took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReusedFrom {
    pub uuid: Uuid,
    pub submit_uuid: Uuid,
    pub commit: String,
}

/// How many candidates an ambiguous artifact path lists.
const CANDIDATES: usize = 10;

/// The job or artifact `given` names: a job's UUID prefix names the job
/// (unless `job` or `sha256` says it is an artifact's path); otherwise it
/// is an artifact's path, narrowed by the job that made it and a prefix of
/// its SHA-256. A path that names several artifacts is an error listing
/// them.
pub fn resolve(
    conn: &mut Conn,
    given: &str,
    job: Option<&UuidPrefix>,
    sha256: Option<&HexPrefix>,
) -> anyhow::Result<Target> {
    let as_job = given.parse::<UuidPrefix>().ok();
    if let (Some(prefix), None, None) = (&as_job, job, sha256) {
        match jobs::resolve(conn, prefix) {
            Ok((id, _)) => return Ok(Target::Job(id)),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let job = job.map(|p| jobs::resolve(conn, p)).transpose()?;
    let found = artifacts_at(conn, given, job.map(|(id, _)| id), sha256)?;
    match found.as_slice() {
        [] => Err(FilterError::NoArtifact {
            path: given.to_owned(),
            job: job.map(|(_, uuid)| uuid),
            sha256: sha256.map(|p| p.as_str().to_owned()),
            job_prefix: as_job.is_some() && job.is_none() && sha256.is_none(),
        }
        .into()),
        [(id, _)] => Ok(Target::Artifact(*id)),
        many => Err(FilterError::AmbiguousArtifact {
            path: given.to_owned(),
            candidates: many
                .iter()
                .take(CANDIDATES)
                .map(|(_, c)| c.clone())
                .collect(),
            truncated: many.len() > CANDIDATES,
        }
        .into()),
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<FilterError>(),
        Some(FilterError::NotFound { .. })
    )
}

/// The artifacts at `path` (served by `artifacts_path`), at most one more
/// than [`CANDIDATES`], oldest first.
fn artifacts_at(
    conn: &mut Conn,
    path: &str,
    job: Option<JobId>,
    sha256: Option<&HexPrefix>,
) -> QueryResult<Vec<(ArtifactId, ArtifactCandidate)>> {
    let mut q = artifacts::table
        .inner_join(jobs_t::table.inner_join(packages::table))
        .filter(artifacts::path.eq(path))
        .select((
            artifacts::id,
            jobs_t::uuid,
            packages::name,
            packages::version,
            artifacts::sha256,
        ))
        .order(artifacts::id)
        .limit(CANDIDATES as i64 + 1)
        .into_boxed();
    if let Some(job) = job {
        q = q.filter(artifacts::job_id.eq(job));
    }
    if let Some(prefix) = sha256 {
        q = q.filter(artifacts::sha256.like(prefix.like_pattern()));
    }
    let rows: Vec<(ArtifactId, Uuid, String, String, String)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, job, package, version, sha256)| {
            let candidate = ArtifactCandidate {
                job,
                package,
                version,
                sha256,
            };
            (id, candidate)
        })
        .collect())
}

/// The start of a walk forward from a job (all its artifacts) or an artifact.
pub fn start_of(conn: &mut Conn, target: Target) -> QueryResult<StartSet> {
    Ok(match target {
        Target::Job(id) => StartSet {
            jobs: vec![id],
            artifacts: Vec::new(),
        },
        Target::Artifact(id) => StartSet {
            jobs: vec![artifact(conn, id)?.job_id],
            artifacts: vec![id],
        },
    })
}

/// Every succeeded or reused job of a package (all its versions, or one),
/// of submits made from a commit whose hash starts with `commit` when
/// given (served by `jobs_package_done`).
pub fn start_of_package(
    conn: &mut Conn,
    package: &PackageSpec,
    commit: Option<&HexPrefix>,
) -> QueryResult<StartSet> {
    let packages = lookups::package_ids(conn, package)?;
    let commits = commit.map(|c| lookups::git_hash_ids(conn, c)).transpose()?;
    let mut q = jobs_t::table
        .filter(jobs_t::package_id.eq_any(packages))
        .filter(jobs_t::status.eq_any([JobStatus::Succeeded, JobStatus::Reused]))
        .select(jobs_t::id)
        .order(jobs_t::id)
        .into_boxed();
    if let Some(commits) = commits {
        q = q.filter(
            jobs_t::submit_id.eq_any(
                submits::table
                    .filter(submits::repo_hash_id.eq_any(commits))
                    .select(submits::id),
            ),
        );
    }
    Ok(StartSet {
        jobs: q.load(conn)?,
        artifacts: Vec::new(),
    })
}

fn artifact(conn: &mut Conn, id: ArtifactId) -> QueryResult<ArtifactFacts> {
    artifacts::table
        .find(id)
        .select(ArtifactFacts::as_select())
        .first(conn)
}

/// The id of a row a walk reached: a job's or a release's.
#[derive(QueryableByName)]
struct Reached<Id> {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: Id,
}

/// The facts of the given jobs, by id.
fn job_facts(conn: &mut Conn, ids: &[JobId]) -> QueryResult<Vec<JobFacts>> {
    jobs_t::table
        .inner_join(packages::table)
        .inner_join(images::table)
        .inner_join(submits::table.inner_join(git_hashes::table))
        .filter(jobs_t::id.eq_any(ids))
        .order(jobs_t::id)
        .select(JobFacts::as_select())
        .load(conn)
}

/// The source of each reused job among `jobs`, by the source's id.
fn reused_sources(conn: &mut Conn, jobs: &[JobFacts]) -> QueryResult<HashMap<JobId, ReusedFrom>> {
    let ids: BTreeSet<JobId> = jobs.iter().filter_map(|j| j.reused_job_id).collect();
    let rows: Vec<(JobId, Uuid, Uuid, String)> = jobs_t::table
        .inner_join(submits::table.inner_join(git_hashes::table))
        .filter(jobs_t::id.eq_any(ids))
        .select((jobs_t::id, jobs_t::uuid, submits::uuid, git_hashes::hash))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, uuid, submit_uuid, commit)| {
            let from = ReusedFrom {
                uuid,
                submit_uuid,
                commit,
            };
            (id, from)
        })
        .collect())
}

/// Runs `f` in a read-only transaction without JIT compilation: the
/// planner's estimates for a recursive walk over a large history are far
/// above `jit_above_cost`, and compiling the plan then takes longer than
/// running it (some 150 ms on a history of 1,000,000 jobs).
fn read_without_jit<T>(
    conn: &mut Conn,
    f: impl FnOnce(&mut Conn) -> QueryResult<T>,
) -> QueryResult<T> {
    conn.build_transaction().read_only().run(|conn| {
        diesel::sql_query("SET LOCAL jit = off").execute(conn)?;
        f(conn)
    })
}
