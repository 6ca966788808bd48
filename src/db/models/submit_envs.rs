//! `submit_envs`: the environment variables a submit was given on its command
//! line (N:M between `submits` and `env_vars`).

use diesel::prelude::*;

use super::{EnvVarId, SubmitId};
use crate::db::schema::submit_envs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = submit_envs, check_for_backend(diesel::pg::Pg))]
pub struct SubmitEnv {
    pub submit_id: SubmitId,
    pub env_id: EnvVarId,
}

/// The insert form; the link holds nothing to borrow.
pub type NewSubmitEnv = SubmitEnv;

impl SubmitEnv {
    /// Links a submit to its variables, in one statement; links that exist are kept.
    pub fn insert_all(conn: &mut PgConnection, links: &[NewSubmitEnv]) -> QueryResult<usize> {
        diesel::insert_into(submit_envs::table)
            .values(links)
            .on_conflict_do_nothing()
            .execute(conn)
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
