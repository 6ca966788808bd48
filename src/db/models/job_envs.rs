//! `job_envs`: the environment variables a job's container ran with (N:M
//! between `jobs` and `env_vars`).

use diesel::prelude::*;

use super::{insert_in_batches, BatchInsert, EnvVarId, JobId};
use crate::db::schema::job_envs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = job_envs, check_for_backend(diesel::pg::Pg))]
pub struct JobEnv {
    pub job_id: JobId,
    pub env_id: EnvVarId,
}

/// The insert form; the link holds nothing to borrow.
pub type NewJobEnv = JobEnv;

impl BatchInsert for NewJobEnv {
    const COLUMNS: usize = 2;
}

impl JobEnv {
    /// Links jobs to their variables, however many, all or none; links
    /// that exist are kept.
    pub fn insert_all(conn: &mut PgConnection, links: &[NewJobEnv]) -> QueryResult<usize> {
        let counts = insert_in_batches(conn, links, |conn, batch| {
            diesel::insert_into(job_envs::table)
                .values(batch)
                .on_conflict_do_nothing()
                .execute(conn)
        })?;
        Ok(counts.into_iter().sum())
    }
}
