//! Reading what a submit recorded, straight from the test database through
//! kiln's schema: submits, jobs with their packages, artifacts, input edges,
//! environments, dependencies and log lines. Tests compare these with what
//! they know independently (files on disk, the tree kiln printed).

use std::collections::{BTreeMap, BTreeSet};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use kiln::db::models::artifacts::Artifact;
use kiln::db::models::jobs::Job;
use kiln::db::models::log_chunks;
use kiln::db::models::submits::Submit;
use kiln::db::schema::{
    artifacts, env_vars, git_hashes, job_dependencies, job_envs, job_input_artifacts, jobs,
    packages, submit_envs, submits,
};
use kiln::log::LogChunk;
use kiln::log::StoredLine;

/// A job row with its package's name and version.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job: Job,
    pub name: String,
    pub version: String,
}

impl JobRecord {
    pub fn package(&self) -> (String, String) {
        (self.name.clone(), self.version.clone())
    }
}

/// Every submit, oldest first.
pub fn submits(conn: &mut PgConnection) -> Vec<Submit> {
    submits::table
        .order(submits::id)
        .select(Submit::as_select())
        .load(conn)
        .expect("reading submits")
}

/// The only submit; panics when there is not exactly one.
pub fn only_submit(conn: &mut PgConnection) -> Submit {
    let mut all = submits(conn);
    assert_eq!(all.len(), 1, "expected exactly one submit: {all:?}");
    all.remove(0)
}

/// The commit hash the submit recorded.
pub fn submit_commit(conn: &mut PgConnection, submit: &Submit) -> String {
    git_hashes::table
        .find(submit.repo_hash_id)
        .select(git_hashes::hash)
        .first(conn)
        .expect("reading the submit's git hash")
}

/// Every job of the submit, by id.
pub fn jobs_of(conn: &mut PgConnection, submit: &Submit) -> Vec<JobRecord> {
    jobs::table
        .inner_join(packages::table)
        .filter(jobs::submit_id.eq(submit.id))
        .order(jobs::id)
        .select((Job::as_select(), packages::name, packages::version))
        .load::<(Job, String, String)>(conn)
        .expect("reading jobs")
        .into_iter()
        .map(|(job, name, version)| JobRecord { job, name, version })
        .collect()
}

/// The job of package `name`; panics when there is not exactly one.
pub fn job_named<'a>(jobs: &'a [JobRecord], name: &str) -> &'a JobRecord {
    let found: Vec<&JobRecord> = jobs.iter().filter(|j| j.name == name).collect();
    assert_eq!(found.len(), 1, "expected one job of {name}: {jobs:#?}");
    found[0]
}

/// Every artifact of the given job.
pub fn artifacts_of(conn: &mut PgConnection, job: &Job) -> Vec<Artifact> {
    artifacts::table
        .filter(artifacts::job_id.eq(job.id))
        .order(artifacts::id)
        .select(Artifact::as_select())
        .load(conn)
        .expect("reading artifacts")
}

/// The ids of the artifacts the job took as inputs.
pub fn input_artifacts_of(conn: &mut PgConnection, job: &Job) -> BTreeSet<i32> {
    job_input_artifacts::table
        .filter(job_input_artifacts::job_id.eq(job.id))
        .select(job_input_artifacts::artifact_id)
        .load::<i32>(conn)
        .expect("reading input artifacts")
        .into_iter()
        .collect()
}

/// The ids of the jobs the job depends on directly, with the kind.
pub fn dependencies_of(conn: &mut PgConnection, job: &Job) -> BTreeSet<(i32, String)> {
    job_dependencies::table
        .filter(job_dependencies::job_id.eq(job.id))
        .select((job_dependencies::dependency_job_id, job_dependencies::kind))
        .load::<(i32, String)>(conn)
        .expect("reading job dependencies")
        .into_iter()
        .collect()
}

/// The environment recorded for the job.
pub fn env_of_job(conn: &mut PgConnection, job: &Job) -> BTreeMap<String, String> {
    job_envs::table
        .inner_join(env_vars::table)
        .filter(job_envs::job_id.eq(job.id))
        .select((env_vars::name, env_vars::value))
        .load::<(String, String)>(conn)
        .expect("reading job environments")
        .into_iter()
        .collect()
}

/// The command-line environment recorded for the submit.
pub fn env_of_submit(conn: &mut PgConnection, submit: &Submit) -> BTreeMap<String, String> {
    submit_envs::table
        .inner_join(env_vars::table)
        .filter(submit_envs::submit_id.eq(submit.id))
        .select((env_vars::name, env_vars::value))
        .load::<(String, String)>(conn)
        .expect("reading submit environments")
        .into_iter()
        .collect()
}

/// The job's stored log chunks, in order.
pub fn chunks_of(conn: &mut PgConnection, job: &Job) -> Vec<LogChunk> {
    log_chunks::from_seq(conn, job.id, 0).expect("reading log chunks")
}

/// The job's stored log, decoded, after checking that the chunks are
/// numbered 0, 1, 2, … and that their line numbers follow each other.
pub fn log_of(conn: &mut PgConnection, job: &Job) -> Vec<StoredLine> {
    let mut lines = Vec::new();
    for (i, chunk) in chunks_of(conn, job).iter().enumerate() {
        assert_eq!(chunk.seq as usize, i, "chunk numbers of job {}", job.uuid);
        assert_eq!(
            chunk.first_line as usize,
            lines.len(),
            "first line of chunk {i} of job {}",
            job.uuid
        );
        let decoded = kiln::log::chunk::decode(chunk.seq, &chunk.data).expect("decoding a chunk");
        assert_eq!(
            decoded.len(),
            chunk.line_count as usize,
            "line count of chunk {i}"
        );
        lines.extend(decoded);
    }
    lines
}
