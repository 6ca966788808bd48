//! What was built from a start: every job that took one of its artifacts
//! as input, directly or not, and every job that reused one of those, by
//! one recursive walk forward; and the current releases that hold any of
//! it.
//!
//! Which current releases hold anything built from a start is answered
//! from the releases' side ([`releases_reaching`]): the lineage of each
//! current release is walked back, and the release is kept when it
//! reaches the start. That costs in proportion to the number of current
//! releases and the size of their build trees, not to the history, nor to
//! how many jobs used the start: a walk forward from a package that
//! 100,000 jobs used visits each of them (on `benches/lineage.rs`'s
//! history, 3 s against 61 ms for 750 current releases).

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Nullable};
use serde::Serialize;
use uuid::Uuid;

use super::chain::{chains_to, ChainStep};
use super::{
    job_facts, read_without_jit, reused_sources, ArtifactFacts, JobFacts, Reached, ReusedFrom,
    StartSet,
};
use crate::db::listings::Conn;
use crate::db::models::{ArtifactId, JobId, ReleaseId};
use crate::db::schema::{
    artifacts, job_input_artifacts, jobs as jobs_t, packages, release_stores, releases,
};

/// A current release of an artifact in the lineage.
#[derive(Debug, Clone, Serialize)]
pub struct FoundRelease {
    #[serde(skip)]
    pub artifact_id: ArtifactId,
    #[serde(skip)]
    pub job_id: JobId,
    pub store: String,
    /// Its path in the store.
    pub path: String,
    pub package_name: String,
    pub package_version: String,
    pub sha256: String,
    pub released_at: DateTime<Utc>,
    pub released_by: String,
    /// The job that made the artifact.
    pub job_uuid: Uuid,
    /// The chain of jobs from the start to that job, each the dependency
    /// (or the source, for a reused job) of the next; empty when none was
    /// found.
    pub via: Vec<ChainStep>,
}

/// Where an artifact of the lineage is currently released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub store: String,
    pub path: String,
}

/// An artifact of [`Descendants`], with its current releases.
#[derive(Debug, Clone, Serialize)]
pub struct DescendantArtifact {
    #[serde(flatten)]
    pub artifact: ArtifactFacts,
    pub releases: Vec<Placement>,
}

/// A job of [`Descendants`], with its artifacts in the lineage.
#[derive(Debug, Clone, Serialize)]
pub struct DescendantJob {
    #[serde(flatten)]
    pub job: JobFacts,
    pub reused_from: Option<ReusedFrom>,
    /// Whether the lineage starts at this job.
    pub start: bool,
    pub artifacts: Vec<DescendantArtifact>,
}

/// What was built from a start.
#[derive(Debug, Clone)]
pub struct Descendants {
    /// The start's jobs first, then every job built from it (or reusing
    /// it), oldest first.
    pub jobs: Vec<DescendantJob>,
    /// The current releases of any of their artifacts, newest first.
    pub releases: Vec<FoundRelease>,
}

/// A row of [`WALK_FORWARD`]: a start artifact (or a copy of one), or a
/// job built from (or reusing) the start; the other column is null.
#[derive(QueryableByName)]
struct ForwardRow {
    #[diesel(sql_type = Nullable<Integer>)]
    artifact_id: Option<ArtifactId>,
    #[diesel(sql_type = Nullable<Integer>)]
    job_id: Option<JobId>,
}

/// From the start artifacts (`$1` jobs, `$2` only these of their
/// artifacts, or all when empty): `seed`, the start and the copies that
/// reused jobs made of it; `walk`, every job that took a seed artifact as
/// input, or an artifact of a job already walked, or reused a job already
/// walked.
const WALK_FORWARD: &str = "\
WITH RECURSIVE
start AS (
    SELECT a.id, a.job_id, a.path FROM artifacts a
     WHERE a.job_id = ANY($1) AND (cardinality($2) = 0 OR a.id = ANY($2))
),
seed(artifact_id) AS (
    SELECT id FROM start
  UNION
    SELECT c.id
      FROM start s
      JOIN jobs r ON r.reused_job_id = s.job_id
      JOIN artifacts c ON c.job_id = r.id AND c.path = s.path
),
walk(job_id) AS (
    SELECT i.job_id FROM seed s JOIN job_input_artifacts i ON i.artifact_id = s.artifact_id
  UNION
    SELECT n.job_id
      FROM walk w
      CROSS JOIN LATERAL (
          SELECT i.job_id
            FROM artifacts a JOIN job_input_artifacts i ON i.artifact_id = a.id
           WHERE a.job_id = w.job_id
          UNION ALL
          SELECT r.id FROM jobs r WHERE r.reused_job_id = w.job_id
      ) AS n(job_id)
)
SELECT artifact_id, NULL::integer AS job_id FROM seed
UNION ALL
SELECT NULL, job_id FROM walk";

/// Everything built from the start, with the current releases of it.
/// Its time grows with what it finds (every job is listed).
pub fn descendants(conn: &mut Conn, start: &StartSet) -> QueryResult<Descendants> {
    if start.is_empty() {
        return Ok(Descendants {
            jobs: Vec::new(),
            releases: Vec::new(),
        });
    }
    read_without_jit(conn, |conn| {
        let rows: Vec<ForwardRow> = diesel::sql_query(WALK_FORWARD)
            .bind::<Array<Integer>, _>(&start.jobs)
            .bind::<Array<Integer>, _>(&start.artifacts)
            .load(conn)?;
        let walked: Vec<JobId> = rows.iter().filter_map(|r| r.job_id).collect();
        let seed: Vec<ArtifactId> = rows.iter().filter_map(|r| r.artifact_id).collect();
        let mut found = artifacts_by_id(conn, &seed)?;
        found.extend(artifacts_of_jobs(conn, &walked)?);
        found.sort_by_key(|a| (a.job_id, a.id));
        found.dedup_by_key(|a| a.id);
        let artifact_ids: Vec<ArtifactId> = found.iter().map(|a| a.id).collect();
        let releases = current_releases_of(conn, &artifact_ids, start)?;
        let jobs = descendant_jobs(conn, start, found, &releases)?;
        Ok(Descendants { jobs, releases })
    })
}

fn artifacts_by_id(conn: &mut Conn, ids: &[ArtifactId]) -> QueryResult<Vec<ArtifactFacts>> {
    artifacts::table
        .filter(artifacts::id.eq_any(ids))
        .select(ArtifactFacts::as_select())
        .load(conn)
}

fn artifacts_of_jobs(conn: &mut Conn, jobs: &[JobId]) -> QueryResult<Vec<ArtifactFacts>> {
    artifacts::table
        .filter(artifacts::job_id.eq_any(jobs))
        .select(ArtifactFacts::as_select())
        .load(conn)
}

/// The jobs of the found artifacts with those artifacts, the start's jobs first.
fn descendant_jobs(
    conn: &mut Conn,
    start: &StartSet,
    found: Vec<ArtifactFacts>,
    releases: &[FoundRelease],
) -> QueryResult<Vec<DescendantJob>> {
    let ids: BTreeSet<JobId> = found.iter().map(|a| a.job_id).collect();
    let facts = job_facts(conn, &ids.into_iter().collect::<Vec<_>>())?;
    let reused = reused_sources(conn, &facts)?;
    let mut by_job = artifacts_by_job(found, releases);
    let starts: HashSet<JobId> = start.jobs.iter().copied().collect();
    let mut jobs: Vec<DescendantJob> = facts
        .into_iter()
        .map(|job| DescendantJob {
            reused_from: job.reused_job_id.and_then(|r| reused.get(&r).cloned()),
            start: starts.contains(&job.id),
            artifacts: by_job.remove(&job.id).unwrap_or_default(),
            job,
        })
        .collect();
    jobs.sort_by_key(|j| (!j.start, j.job.id));
    Ok(jobs)
}

/// The artifacts of each job, each with where it is currently released.
fn artifacts_by_job(
    found: Vec<ArtifactFacts>,
    releases: &[FoundRelease],
) -> HashMap<JobId, Vec<DescendantArtifact>> {
    let mut placements: HashMap<ArtifactId, Vec<Placement>> = HashMap::new();
    for r in releases {
        let place = Placement {
            store: r.store.clone(),
            path: r.path.clone(),
        };
        placements.entry(r.artifact_id).or_default().push(place);
    }
    let mut by_job: HashMap<JobId, Vec<DescendantArtifact>> = HashMap::new();
    for artifact in found {
        let releases = placements.remove(&artifact.id).unwrap_or_default();
        by_job
            .entry(artifact.job_id)
            .or_default()
            .push(DescendantArtifact { artifact, releases });
    }
    by_job
}

/// The input edges (job id, artifact id) among the jobs and artifacts of
/// a reverse lineage, for drawing it.
pub fn descendant_edges(conn: &mut Conn, d: &Descendants) -> QueryResult<Vec<(JobId, ArtifactId)>> {
    let jobs: Vec<JobId> = d.jobs.iter().map(|j| j.job.id).collect();
    let artifacts: Vec<ArtifactId> = d
        .jobs
        .iter()
        .flat_map(|j| j.artifacts.iter().map(|a| a.artifact.id))
        .collect();
    job_input_artifacts::table
        .filter(job_input_artifacts::job_id.eq_any(jobs))
        .filter(job_input_artifacts::artifact_id.eq_any(artifacts))
        .order((
            job_input_artifacts::job_id,
            job_input_artifacts::artifact_id,
        ))
        .select((
            job_input_artifacts::job_id,
            job_input_artifacts::artifact_id,
        ))
        .load(conn)
}

/// The ids of the current releases that hold anything built from the
/// start (`$1` jobs, `$2` only these of their artifacts, or all when
/// empty): each current release's lineage is walked back, through the
/// input artifacts of each artifact's job and from a reused job's copy to
/// its source's artifact of the same path; `hit` marks an artifact of the
/// start, and a release whose lineage has one is kept.
const RELEASES_REACHING: &str = "\
WITH RECURSIVE lineage(root, artifact_id, hit) AS (
    SELECT DISTINCT r.artifact_id, r.artifact_id, false
      FROM releases r
     WHERE r.removed_at IS NULL
  UNION
    SELECT l.root, n.artifact_id, n.hit
      FROM lineage l
      JOIN artifacts x ON x.id = l.artifact_id
      CROSS JOIN LATERAL (
          SELECT x.id, true
           WHERE x.job_id = ANY($1) AND (cardinality($2) = 0 OR x.id = ANY($2))
          UNION ALL
          SELECT i.artifact_id, false FROM job_input_artifacts i WHERE i.job_id = x.job_id
          UNION ALL
          SELECT s.id, false
            FROM jobs rj JOIN artifacts s ON s.job_id = rj.reused_job_id AND s.path = x.path
           WHERE rj.id = x.job_id
      ) AS n(artifact_id, hit)
     WHERE NOT l.hit
)
SELECT r.id
  FROM releases r
 WHERE r.removed_at IS NULL
   AND r.artifact_id IN (SELECT root FROM lineage WHERE hit)";

/// The current releases that hold anything built from the start, newest
/// first, each with the chain of jobs that led to it. Its time grows with
/// the number of current releases, not with the history.
pub fn releases_reaching(conn: &mut Conn, start: &StartSet) -> QueryResult<Vec<FoundRelease>> {
    if start.is_empty() {
        return Ok(Vec::new());
    }
    read_without_jit(conn, |conn| {
        let ids: Vec<ReleaseId> = diesel::sql_query(RELEASES_REACHING)
            .bind::<Array<Integer>, _>(&start.jobs)
            .bind::<Array<Integer>, _>(&start.artifacts)
            .load::<Reached<ReleaseId>>(conn)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        releases_with_chains(conn, &ids, start)
    })
}

/// The current releases of the given artifacts, with their chains.
fn current_releases_of(
    conn: &mut Conn,
    artifact_ids: &[ArtifactId],
    start: &StartSet,
) -> QueryResult<Vec<FoundRelease>> {
    let ids: Vec<ReleaseId> = releases::table
        .filter(releases::artifact_id.eq_any(artifact_ids))
        .filter(releases::removed_at.is_null())
        .select(releases::id)
        .load(conn)?;
    releases_with_chains(conn, &ids, start)
}

/// A release as [`releases_with_chains`] reads it.
type ReleaseRow = (
    ArtifactId,
    JobId,
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    String,
    Uuid,
);

/// The given releases, newest first, each with its chain.
fn releases_with_chains(
    conn: &mut Conn,
    ids: &[ReleaseId],
    start: &StartSet,
) -> QueryResult<Vec<FoundRelease>> {
    let rows: Vec<ReleaseRow> = releases::table
        .inner_join(release_stores::table)
        .inner_join(packages::table)
        .inner_join(artifacts::table.inner_join(jobs_t::table))
        .filter(releases::id.eq_any(ids))
        .order((releases::released_at.desc(), releases::id.desc()))
        .select((
            artifacts::id,
            jobs_t::id,
            release_stores::name,
            releases::path,
            packages::name,
            packages::version,
            artifacts::sha256,
            releases::released_at,
            releases::released_by,
            jobs_t::uuid,
        ))
        .load(conn)?;
    let ends: Vec<JobId> = rows.iter().map(|r| r.1).collect();
    let chains = chains_to(conn, &ends, start)?;
    Ok(rows
        .into_iter()
        .map(
            |(artifact_id, job_id, store, path, name, version, sha256, at, by, job_uuid)| {
                FoundRelease {
                    via: chains.get(&job_id).cloned().unwrap_or_default(),
                    artifact_id,
                    job_id,
                    store,
                    path,
                    package_name: name,
                    package_version: version,
                    sha256,
                    released_at: at,
                    released_by: by,
                    job_uuid,
                }
            },
        )
        .collect())
}
