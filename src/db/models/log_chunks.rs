//! `log_chunks`: a job's log as it is written, in zstd-compressed chunks of
//! whole lines, numbered from 0, so that another process can follow it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::JobId;
use crate::db::schema::log_chunks;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = log_chunks, check_for_backend(diesel::pg::Pg))]
pub struct LogChunk {
    pub job_id: JobId,
    pub seq: i32,
    pub written_at: DateTime<Utc>,
    /// The number (from 0) of the chunk's first line in the job's log.
    pub first_line: i64,
    pub line_count: i32,
    /// The size before compression.
    pub raw_bytes: i32,
    /// zstd-compressed lines.
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = log_chunks)]
pub struct NewLogChunk<'a> {
    pub job_id: JobId,
    pub seq: i32,
    pub first_line: i64,
    pub line_count: i32,
    pub raw_bytes: i32,
    pub data: &'a [u8],
}

impl NewLogChunk<'_> {
    /// Inserts the chunk; one already stored (a write tried again after a
    /// lost connection) is left as it is.
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::insert_into(log_chunks::table)
            .values(self)
            .on_conflict_do_nothing()
            .execute(conn)
            .map(drop)
    }
}

impl LogChunk {
    pub fn find(conn: &mut PgConnection, job: JobId, seq: i32) -> QueryResult<Option<LogChunk>> {
        log_chunks::table
            .find((job, seq))
            .select(LogChunk::as_select())
            .first(conn)
            .optional()
    }

    /// The chunks of a job from `from_seq` on, in order: the log so far, or
    /// what a follower has not read yet.
    pub fn from_seq(
        conn: &mut PgConnection,
        job: JobId,
        from_seq: i32,
    ) -> QueryResult<Vec<LogChunk>> {
        log_chunks::table
            .filter(log_chunks::job_id.eq(job))
            .filter(log_chunks::seq.ge(from_seq))
            .order(log_chunks::seq)
            .select(LogChunk::as_select())
            .load(conn)
    }

    /// The sequence number the next chunk of a job gets.
    pub fn next_seq(conn: &mut PgConnection, job: JobId) -> QueryResult<i32> {
        log_chunks::table
            .filter(log_chunks::job_id.eq(job))
            .select(diesel::dsl::max(log_chunks::seq))
            .first::<Option<i32>>(conn)
            .map(|max| max.map_or(0, |m| m + 1))
    }
}
