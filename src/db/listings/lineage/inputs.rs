//! What went into an artifact or a job: the jobs whose artifacts it took,
//! directly or not, found by one recursive walk back from its job, then
//! each with its facts, input artifacts, environment and the sources and
//! patches of its build key inputs.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use diesel::sql_types::Integer;
use serde::Serialize;

use super::{
    artifact, job_facts, read_without_jit, reused_sources, ArtifactFacts, JobFacts, Reached,
    ReusedFrom, Target,
};
use crate::db::listings::jobs::EnvVar;
use crate::db::listings::Conn;
use crate::db::models::JobId;
use crate::db::schema::{artifacts, env_vars, job_envs, job_input_artifacts, jobs as jobs_t};
use crate::plan::build_key::BuildKeyInputs;

/// One job of a lineage, with everything that went into it.
#[derive(Debug, Clone, Serialize)]
pub struct JobLineage {
    #[serde(flatten)]
    pub job: JobFacts,
    pub reused_from: Option<ReusedFrom>,
    /// SHA-256 of each source, by source key (from its build key inputs).
    pub sources: BTreeMap<String, String>,
    /// SHA-256 of each patch, by path.
    pub patches: BTreeMap<String, String>,
    /// The environment it ran with, as recorded (secrets masked).
    pub env: Vec<EnvVar>,
    /// The artifacts it took as inputs, by path; each names the job that made it.
    #[serde(skip)]
    pub inputs: Vec<ArtifactFacts>,
}

/// What went into an artifact or a job.
#[derive(Debug, Clone)]
pub struct Lineage {
    /// The artifact asked about, when one was.
    pub artifact: Option<ArtifactFacts>,
    /// The job the lineage starts at.
    pub root: JobId,
    /// Every job of the lineage, by id.
    pub jobs: BTreeMap<JobId, JobLineage>,
}

/// The jobs whose artifacts went into job `root`, directly or not, and
/// `root` itself.
const WALK_BACK: &str = "\
WITH RECURSIVE walk(job_id) AS (
    SELECT $1
  UNION
    SELECT a.job_id
      FROM walk w
      JOIN job_input_artifacts i ON i.job_id = w.job_id
      JOIN artifacts a ON a.id = i.artifact_id
)
SELECT job_id AS id FROM walk";

/// Everything that went into an artifact or a job.
pub fn lineage(conn: &mut Conn, target: Target) -> QueryResult<Lineage> {
    read_without_jit(conn, |conn| lineage_of(conn, target))
}

fn lineage_of(conn: &mut Conn, target: Target) -> QueryResult<Lineage> {
    let (artifact, root) = match target {
        Target::Job(id) => (None, id),
        Target::Artifact(id) => {
            let a = artifact(conn, id)?;
            let job = a.job_id;
            (Some(a), job)
        }
    };
    let walked: Vec<JobId> = diesel::sql_query(WALK_BACK)
        .bind::<Integer, _>(root)
        .load::<Reached<JobId>>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let facts = job_facts(conn, &walked)?;
    let mut reused = reused_sources(conn, &facts)?;
    let mut inputs = inputs_of(conn, &walked)?;
    let mut env = env_of(conn, &walked)?;
    let mut key_inputs = key_inputs_of(conn, &walked)?;
    let jobs = facts
        .into_iter()
        .map(|job| {
            let id = job.id;
            let (sources, patches) = key_inputs
                .remove(&id)
                .map(|k| (k.sources, k.patches))
                .unwrap_or_default();
            let node = JobLineage {
                reused_from: job.reused_job_id.and_then(|r| reused.remove(&r)),
                job,
                sources,
                patches,
                env: env.remove(&id).unwrap_or_default(),
                inputs: inputs.remove(&id).unwrap_or_default(),
            };
            (id, node)
        })
        .collect();
    Ok(Lineage {
        artifact,
        root,
        jobs,
    })
}

/// The input artifacts of each of the given jobs, by path.
fn inputs_of(conn: &mut Conn, ids: &[JobId]) -> QueryResult<HashMap<JobId, Vec<ArtifactFacts>>> {
    let rows: Vec<(JobId, ArtifactFacts)> = job_input_artifacts::table
        .inner_join(artifacts::table)
        .filter(job_input_artifacts::job_id.eq_any(ids))
        .order((job_input_artifacts::job_id, artifacts::path, artifacts::id))
        .select((job_input_artifacts::job_id, ArtifactFacts::as_select()))
        .load(conn)?;
    let mut by_job: HashMap<JobId, Vec<ArtifactFacts>> = HashMap::new();
    for (job, artifact) in rows {
        by_job.entry(job).or_default().push(artifact);
    }
    Ok(by_job)
}

/// The recorded environment of each of the given jobs, by name.
fn env_of(conn: &mut Conn, ids: &[JobId]) -> QueryResult<HashMap<JobId, Vec<EnvVar>>> {
    let rows: Vec<(JobId, EnvVar)> = job_envs::table
        .inner_join(env_vars::table)
        .filter(job_envs::job_id.eq_any(ids))
        .order((job_envs::job_id, env_vars::name, env_vars::value))
        .select((job_envs::job_id, EnvVar::as_select()))
        .load(conn)?;
    let mut by_job: HashMap<JobId, Vec<EnvVar>> = HashMap::new();
    for (job, var) in rows {
        by_job.entry(job).or_default().push(var);
    }
    Ok(by_job)
}

/// The build key inputs of each of the given jobs that has readable ones.
fn key_inputs_of(conn: &mut Conn, ids: &[JobId]) -> QueryResult<HashMap<JobId, BuildKeyInputs>> {
    let rows: Vec<(JobId, serde_json::Value)> = jobs_t::table
        .filter(jobs_t::id.eq_any(ids))
        .select((jobs_t::id, jobs_t::build_key_inputs))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, json)| Some((id, serde_json::from_value(json).ok()?)))
        .collect())
}
