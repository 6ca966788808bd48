//! `job_envs`: the environment variables a job's container ran with (N:M
//! between `jobs` and `env_vars`).

use diesel::prelude::*;

use super::{EnvVarId, JobId};
use crate::db::schema::job_envs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = job_envs, check_for_backend(diesel::pg::Pg))]
pub struct JobEnv {
    pub job_id: JobId,
    pub env_id: EnvVarId,
}

/// The insert form; the link holds nothing to borrow.
pub type NewJobEnv = JobEnv;

impl JobEnv {
    /// Links jobs to their variables, in one statement; links that exist are kept.
    pub fn insert_all(conn: &mut PgConnection, links: &[NewJobEnv]) -> QueryResult<usize> {
        diesel::insert_into(job_envs::table)
            .values(links)
            .on_conflict_do_nothing()
            .execute(conn)
    }

    /// The variables of one job.
    pub fn env_ids(conn: &mut PgConnection, job: JobId) -> QueryResult<Vec<EnvVarId>> {
        job_envs::table
            .filter(job_envs::job_id.eq(job))
            .select(job_envs::env_id)
            .order(job_envs::env_id)
            .load(conn)
    }
}
