//! `log_chunks`: a job's log as it is written, in zstd-compressed chunks of
//! whole lines, numbered from 0, so that another process can follow it.
//! A chunk is [`crate::log::LogChunk`], the one type of it (made by the
//! log's encoder, stored and read back here); this file owns its queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::JobId;
use crate::db::schema::log_chunks;
use crate::log::LogChunk;

/// The columns of a chunk, in the order of [`LogChunk`]'s fields.
type Columns = (
    log_chunks::seq,
    log_chunks::written_at,
    log_chunks::first_line,
    log_chunks::line_count,
    log_chunks::raw_bytes,
    log_chunks::data,
);

const COLUMNS: Columns = (
    log_chunks::seq,
    log_chunks::written_at,
    log_chunks::first_line,
    log_chunks::line_count,
    log_chunks::raw_bytes,
    log_chunks::data,
);

type Row = (i32, DateTime<Utc>, i64, i32, i32, Vec<u8>);

fn chunk_of((seq, written_at, first_line, line_count, raw_bytes, data): Row) -> LogChunk {
    LogChunk {
        seq,
        written_at,
        first_line,
        line_count,
        raw_bytes,
        data,
    }
}

/// Inserts `chunk` of job `job` (its time is the database's); one already
/// stored (a write tried again after a lost connection) is left as it is.
pub fn insert(conn: &mut PgConnection, job: JobId, chunk: &LogChunk) -> QueryResult<()> {
    diesel::insert_into(log_chunks::table)
        .values((
            log_chunks::job_id.eq(job),
            log_chunks::seq.eq(chunk.seq),
            log_chunks::first_line.eq(chunk.first_line),
            log_chunks::line_count.eq(chunk.line_count),
            log_chunks::raw_bytes.eq(chunk.raw_bytes),
            log_chunks::data.eq(&chunk.data),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(drop)
}

/// Chunk `seq` of job `job`, if it was stored.
pub fn find(conn: &mut PgConnection, job: JobId, seq: i32) -> QueryResult<Option<LogChunk>> {
    log_chunks::table
        .find((job, seq))
        .select(COLUMNS)
        .first::<Row>(conn)
        .optional()
        .map(|row| row.map(chunk_of))
}

/// The chunks of a job from `from_seq` on, in order: the log so far, or
/// what a follower has not read yet.
pub fn from_seq(conn: &mut PgConnection, job: JobId, from_seq: i32) -> QueryResult<Vec<LogChunk>> {
    log_chunks::table
        .filter(log_chunks::job_id.eq(job))
        .filter(log_chunks::seq.ge(from_seq))
        .order(log_chunks::seq)
        .select(COLUMNS)
        .load::<Row>(conn)
        .map(|rows| rows.into_iter().map(chunk_of).collect())
}

/// The sequence number the next chunk of a job gets.
pub fn next_seq(conn: &mut PgConnection, job: JobId) -> QueryResult<i32> {
    log_chunks::table
        .filter(log_chunks::job_id.eq(job))
        .select(diesel::dsl::max(log_chunks::seq))
        .first::<Option<i32>>(conn)
        .map(|max| max.map_or(0, |m| m + 1))
}
