//! `submit_envs`: the environment variables a submit was given on its command
//! line (N:M between `submits` and `env_vars`).

use diesel::prelude::*;

use super::{insert_in_batches, BatchInsert, EnvVarId, SubmitId};
use crate::db::schema::submit_envs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = submit_envs, check_for_backend(diesel::pg::Pg))]
pub struct SubmitEnv {
    pub submit_id: SubmitId,
    pub env_id: EnvVarId,
}

/// The insert form; the link holds nothing to borrow.
pub type NewSubmitEnv = SubmitEnv;

impl BatchInsert for NewSubmitEnv {
    const COLUMNS: usize = 2;
}

impl SubmitEnv {
    /// Links a submit to its variables, however many, all or none; links
    /// that exist are kept.
    pub fn insert_all(conn: &mut PgConnection, links: &[NewSubmitEnv]) -> QueryResult<usize> {
        let counts = insert_in_batches(conn, links, |conn, batch| {
            diesel::insert_into(submit_envs::table)
                .values(batch)
                .on_conflict_do_nothing()
                .execute(conn)
        })?;
        Ok(counts.into_iter().sum())
    }

    /// The variables of one submit.
    pub fn env_ids(conn: &mut PgConnection, submit: SubmitId) -> QueryResult<Vec<EnvVarId>> {
        submit_envs::table
            .filter(submit_envs::submit_id.eq(submit))
            .select(submit_envs::env_id)
            .order(submit_envs::env_id)
            .load(conn)
    }
}
