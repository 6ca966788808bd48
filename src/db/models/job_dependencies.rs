//! `job_dependencies`: the edges of a submit's build plan; `job_id` waits for
//! `dependency_job_id`.

use diesel::prelude::*;

use super::{insert_in_batches, text_enum, BatchInsert, JobId};
use crate::db::schema::job_dependencies;

text_enum! {
    /// Why one package needs another.
    DependencyKind ("dependency kind") {
        /// Needed to build the package.
        Build => "build",
        /// Needed where the package runs (and so by what builds on it).
        Runtime => "runtime",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = job_dependencies, check_for_backend(diesel::pg::Pg))]
pub struct JobDependency {
    pub job_id: JobId,
    pub dependency_job_id: JobId,
    pub kind: DependencyKind,
}

/// The insert form; the edge holds nothing to borrow.
pub type NewJobDependency = JobDependency;

impl BatchInsert for NewJobDependency {
    const COLUMNS: usize = 3;
}

impl JobDependency {
    /// Records plan edges, however many, all or none.
    pub fn insert_all(conn: &mut PgConnection, edges: &[NewJobDependency]) -> QueryResult<usize> {
        let counts = insert_in_batches(conn, edges, |conn, batch| {
            diesel::insert_into(job_dependencies::table)
                .values(batch)
                .execute(conn)
        })?;
        Ok(counts.into_iter().sum())
    }

    /// The jobs one job waits for.
    pub fn of_job(conn: &mut PgConnection, job: JobId) -> QueryResult<Vec<JobDependency>> {
        job_dependencies::table
            .filter(job_dependencies::job_id.eq(job))
            .select(JobDependency::as_select())
            .order(job_dependencies::dependency_job_id)
            .load(conn)
    }
}
