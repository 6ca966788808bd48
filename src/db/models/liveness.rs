//! Which submits still have a living kiln process, and what became of those
//! that lost theirs.
//!
//! A running submit's process holds a session-level advisory lock keyed on
//! the submit's id for as long as it lives; it takes it in the transaction
//! that inserts the submit, so no other process ever sees the row without
//! the lock. When a process dies, PostgreSQL drops its session and the lock
//! with it: a later kiln that can take the lock of a `running` submit knows
//! its owner is gone, and marks the submit and its unfinished jobs `lost`.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};

use super::jobs::JobStatus;
use super::submits::{SubmitEnd, SubmitStatus};
use super::{EndpointId, JobId, SubmitId};
use crate::db::schema::{jobs, submits};

/// The first half of every submit lock's key (the bytes of "kiln").
const LOCK_CLASS: i32 = 0x6b69_6c6e;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Takes the lock that says submit `id`'s process is alive; it is held
/// until `conn` closes (or [`release`] is called on it).
pub fn hold(conn: &mut PgConnection, id: SubmitId) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_lock($1, $2)")
        .bind::<Integer, _>(LOCK_CLASS)
        .bind::<Integer, _>(id.0)
        .execute(conn)
        .map(drop)
}

/// Releases the lock taken by [`hold`] on this connection.
pub fn release(conn: &mut PgConnection, id: SubmitId) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
        .bind::<Integer, _>(LOCK_CLASS)
        .bind::<Integer, _>(id.0)
        .execute(conn)
        .map(drop)
}

/// A job whose kiln process died while it was unfinished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostJob {
    pub id: JobId,
    pub endpoint: Option<EndpointId>,
    pub container: Option<String>,
}

/// Marks every `running` submit whose process is gone, and its unfinished
/// jobs, `lost`. Returns the jobs, so that their containers can be removed.
pub fn reap_lost(conn: &mut PgConnection) -> QueryResult<Vec<LostJob>> {
    let running: Vec<SubmitId> = submits::table
        .filter(submits::status.eq(SubmitStatus::Running))
        .select(submits::id)
        .load(conn)?;
    let mut lost = Vec::new();
    for id in running {
        let probe: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS locked")
            .bind::<Integer, _>(LOCK_CLASS)
            .bind::<Integer, _>(id.0)
            .get_result(conn)?;
        if !probe.locked {
            continue; // its process is alive
        }
        let jobs = conn.transaction(|conn| {
            let jobs: Vec<(JobId, Option<EndpointId>, Option<String>)> = diesel::update(
                jobs::table
                    .filter(jobs::submit_id.eq(id))
                    .filter(jobs::status.eq_any([JobStatus::Queued, JobStatus::Running])),
            )
            .set((
                jobs::status.eq(JobStatus::Lost),
                jobs::finished_at.eq(diesel::dsl::now),
            ))
            .returning((jobs::id, jobs::endpoint_id, jobs::container_id))
            .get_results(conn)?;
            super::submits::Submit::finish(conn, id, SubmitEnd::Lost)?;
            Ok::<_, diesel::result::Error>(jobs)
        })?;
        release(conn, id)?;
        lost.extend(jobs.into_iter().map(|(id, endpoint, container)| LostJob {
            id,
            endpoint,
            container,
        }));
    }
    Ok(lost)
}

/// What this database knows of the job a container was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerOwner {
    /// The job is not in this database: another kiln (with another
    /// database) made the container; it is not ours to remove.
    Unknown,
    /// The job's submit has a living kiln process.
    Live,
    /// The job's submit ended (or its process died): the container is a
    /// leftover.
    Gone,
}

/// Whose container one made for the job with this UUID is.
pub fn container_owner(conn: &mut PgConnection, job: uuid::Uuid) -> QueryResult<ContainerOwner> {
    let status: Option<SubmitStatus> = jobs::table
        .inner_join(submits::table)
        .filter(jobs::uuid.eq(job))
        .select(submits::status)
        .first(conn)
        .optional()?;
    Ok(match status {
        None => ContainerOwner::Unknown,
        Some(SubmitStatus::Running) => ContainerOwner::Live,
        Some(_) => ContainerOwner::Gone,
    })
}
