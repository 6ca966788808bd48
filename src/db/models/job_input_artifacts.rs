//! `job_input_artifacts`: the artifacts (of its dependencies, or reused ones)
//! a job was given as inputs (N:M between `jobs` and `artifacts`).

use diesel::prelude::*;

use super::{insert_in_batches, ArtifactId, BatchInsert, JobId};
use crate::db::schema::job_input_artifacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = job_input_artifacts, check_for_backend(diesel::pg::Pg))]
pub struct JobInputArtifact {
    pub job_id: JobId,
    pub artifact_id: ArtifactId,
}

/// The insert form; the link holds nothing to borrow.
pub type NewJobInputArtifact = JobInputArtifact;

impl BatchInsert for NewJobInputArtifact {
    const COLUMNS: usize = 2;
}

impl JobInputArtifact {
    /// Records inputs, however many, all or none; links that exist are kept.
    pub fn insert_all(
        conn: &mut PgConnection,
        links: &[NewJobInputArtifact],
    ) -> QueryResult<usize> {
        let counts = insert_in_batches(conn, links, |conn, batch| {
            diesel::insert_into(job_input_artifacts::table)
                .values(batch)
                .on_conflict_do_nothing()
                .execute(conn)
        })?;
        Ok(counts.into_iter().sum())
    }

    /// The inputs of one job.
    pub fn artifact_ids(conn: &mut PgConnection, job: JobId) -> QueryResult<Vec<ArtifactId>> {
        job_input_artifacts::table
            .filter(job_input_artifacts::job_id.eq(job))
            .select(job_input_artifacts::artifact_id)
            .order(job_input_artifacts::artifact_id)
            .load(conn)
    }
}
