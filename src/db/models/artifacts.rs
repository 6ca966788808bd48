//! `artifacts`: a file a job produced, by its path relative to the staging
//! or release store, with its size and SHA-256.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{id_type, insert_in_batches, BatchInsert, JobId};
use crate::db::schema::artifacts;

id_type!(
    /// The id of an `artifacts` row.
    ArtifactId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = artifacts, check_for_backend(diesel::pg::Pg))]
pub struct Artifact {
    pub id: ArtifactId,
    pub job_id: JobId,
    pub path: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = artifacts)]
pub struct NewArtifact<'a> {
    pub job_id: JobId,
    /// Relative, without `..` (the database checks it).
    pub path: &'a str,
    pub size: i64,
    /// Lower-case hex.
    pub sha256: &'a str,
}

impl NewArtifact<'_> {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Artifact> {
        diesel::insert_into(artifacts::table)
            .values(self)
            .returning(Artifact::as_returning())
            .get_result(conn)
    }

    /// Inserts a job's artifacts, however many, all or none, returning them
    /// in the same order.
    pub fn insert_all(
        conn: &mut PgConnection,
        artifacts: &[NewArtifact<'_>],
    ) -> QueryResult<Vec<Artifact>> {
        let batches = insert_in_batches(conn, artifacts, |conn, batch| {
            diesel::insert_into(artifacts::table)
                .values(batch)
                .returning(Artifact::as_returning())
                .get_results(conn)
        })?;
        Ok(batches.into_iter().flatten().collect())
    }
}

impl BatchInsert for NewArtifact<'_> {
    const COLUMNS: usize = 4;
}

impl Artifact {
    pub fn find_by_job_and_path(
        conn: &mut PgConnection,
        job: JobId,
        path: &str,
    ) -> QueryResult<Option<Artifact>> {
        artifacts::table
            .filter(artifacts::job_id.eq(job))
            .filter(artifacts::path.eq(path))
            .select(Artifact::as_select())
            .first(conn)
            .optional()
    }
}
