//! Which submits still have a living kiln process, and what became of those
//! that lost theirs.
//!
//! Three things say that a running submit's process is alive, and a later
//! kiln records the submit `lost` only when none of them holds:
//!
//! - **the lock**: the process holds a session-level advisory lock keyed on
//!   the submit's id, taken in the transaction that inserts the submit, and
//!   taken again on a new connection after the database restarted;
//! - **the lease**: `submits.alive_until`, which the process renews every few
//!   seconds; a process that cannot renew it for `database_outage_timeout`
//!   stops its jobs and writes nothing more, and the lease reaches further
//!   than that, so a lease that has run out belongs to a process that has
//!   stopped;
//! - **the process**: the machine, process-id namespace, pid and start time
//!   of the process; a kiln in the same namespace that finds no such process
//!   knows it died without waiting for its lease.
//!
//! The lock alone is not enough: when the database restarts, every session
//! and lock is gone while the process lives on and reconnects.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};

use super::jobs::JobStatus;
use super::submits::SubmitStatus;
use super::{EndpointId, JobId, SubmitId};
use crate::db::schema::{jobs, submits};

/// The first half of every submit lock's key (the bytes of "kiln").
const LOCK_CLASS: i32 = 0x6b69_6c6e;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// The process that runs a submit, as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The machine (boot id) and process-id namespace it runs in: pids are
    /// comparable only between processes with the same value.
    pub machine: String,
    pub pid: i32,
    /// When it started, in clock ticks after boot.
    pub started: i64,
}

/// Takes the lock that says submit `id`'s process is alive, if no other
/// session holds it; it is held until `conn` closes (or [`release`] is
/// called on it). Taking it again on the same connection is harmless.
pub fn try_hold(conn: &mut PgConnection, id: SubmitId) -> QueryResult<bool> {
    let probe: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS locked")
        .bind::<Integer, _>(LOCK_CLASS)
        .bind::<Integer, _>(id.0)
        .get_result(conn)?;
    Ok(probe.locked)
}

/// Releases the lock taken by [`try_hold`] on this connection.
pub fn release(conn: &mut PgConnection, id: SubmitId) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
        .bind::<Integer, _>(LOCK_CLASS)
        .bind::<Integer, _>(id.0)
        .execute(conn)
        .map(drop)
}

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// The server process of this connection: the holder of the locks it takes.
pub fn backend_pid(conn: &mut PgConnection) -> QueryResult<i32> {
    let row: BackendPid = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result(conn)?;
    Ok(row.pid)
}

/// Whether the server process `holder` holds submit `id`'s lock now (asked
/// on any connection to the same server).
pub fn is_held_by(conn: &mut PgConnection, id: SubmitId, holder: i32) -> QueryResult<bool> {
    let probe: Locked = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2 AND pid = $3) AS locked",
    )
    .bind::<Integer, _>(LOCK_CLASS)
    .bind::<Integer, _>(id.0)
    .bind::<Integer, _>(holder)
    .get_result(conn)?;
    Ok(probe.locked)
}

/// What renewing a submit's lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The lease now reaches `lease` past the database's clock.
    Renewed,
    /// The submit is no longer running: it ended, or another kiln recorded
    /// it `lost`. Its process must stop.
    Ended,
}

/// Extends the lease of running submit `id` to `lease` from now.
pub fn renew(conn: &mut PgConnection, id: SubmitId, lease: Duration) -> QueryResult<Renewal> {
    let updated = diesel::update(
        submits::table
            .find(id)
            .filter(submits::status.eq(SubmitStatus::Running)),
    )
    .set(submits::alive_until.eq(diesel::dsl::sql(&format!(
        // A number formatted by Rust: nothing of it comes from input.
        "now() + make_interval(secs => {:.3})",
        lease.as_secs_f64()
    ))))
    .execute(conn)?;
    Ok(if updated == 1 {
        Renewal::Renewed
    } else {
        Renewal::Ended
    })
}

/// Takes the lock of submit `id` again on a new connection (after the
/// database restarted) and renews its lease. `None` when another session
/// holds the lock for now (a kiln looking for lost submits probes it).
pub fn retake(
    conn: &mut PgConnection,
    id: SubmitId,
    lease: Duration,
) -> QueryResult<Option<Renewal>> {
    if !try_hold(conn, id)? {
        return Ok(None);
    }
    let renewal = renew(conn, id, lease)?;
    if renewal == Renewal::Ended {
        release(conn, id)?;
    }
    Ok(Some(renewal))
}

/// A job whose kiln process died while it was unfinished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostJob {
    pub id: JobId,
    pub endpoint: Option<EndpointId>,
    pub container: Option<String>,
}

/// A running submit, as the search for lost ones sees it.
struct Candidate {
    id: SubmitId,
    lease_over: bool,
    owner: Option<Owner>,
}

/// Marks every `running` submit whose process is gone, and its unfinished
/// jobs, `lost`. A submit's process is gone when nobody holds its lock and
/// either its lease has run out or `is_dead` says its owner process no
/// longer exists. Returns the jobs, so that their containers can be removed.
pub fn reap_lost(
    conn: &mut PgConnection,
    is_dead: impl Fn(&Owner) -> bool,
) -> QueryResult<Vec<LostJob>> {
    let mut lost = Vec::new();
    for candidate in running_submits(conn)? {
        let owner_dead = candidate.owner.as_ref().is_some_and(&is_dead);
        if !(candidate.lease_over || owner_dead) {
            continue; // its process may be alive, between two renewals
        }
        if !try_hold(conn, candidate.id)? {
            continue; // its process is alive and connected
        }
        let jobs = conn.transaction(|conn| mark_lost(conn, candidate.id, owner_dead));
        release(conn, candidate.id)?;
        lost.extend(jobs?);
    }
    Ok(lost)
}

/// The running submits, whether their lease ran out, and their owners.
fn running_submits(conn: &mut PgConnection) -> QueryResult<Vec<Candidate>> {
    type Row = (SubmitId, bool, Option<String>, Option<i32>, Option<i64>);
    let rows: Vec<Row> = submits::table
        .filter(submits::status.eq(SubmitStatus::Running))
        .select((
            submits::id,
            diesel::dsl::sql::<Bool>("COALESCE(alive_until < now(), true)"),
            submits::owner_machine,
            submits::owner_pid,
            submits::owner_started,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, lease_over, machine, pid, started)| Candidate {
            id,
            lease_over,
            owner: match (machine, pid, started) {
                (Some(machine), Some(pid), Some(started)) => Some(Owner {
                    machine,
                    pid,
                    started,
                }),
                _ => None,
            },
        })
        .collect())
}

/// Records submit `id` and its unfinished jobs `lost`, unless its lease was
/// renewed meanwhile (and its owner was not seen dead). Returns the jobs.
fn mark_lost(conn: &mut PgConnection, id: SubmitId, owner_dead: bool) -> QueryResult<Vec<LostJob>> {
    let ended = diesel::update(
        submits::table
            .find(id)
            .filter(submits::status.eq(SubmitStatus::Running))
            .filter(
                diesel::dsl::sql::<Bool>("(alive_until IS NULL OR alive_until < now() OR ")
                    .bind::<Bool, _>(owner_dead)
                    .sql(")"),
            ),
    )
    .set((
        submits::status.eq(SubmitStatus::Lost),
        submits::ended_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("GREATEST(now(), started_at)")),
    ))
    .execute(conn)?;
    if ended == 0 {
        return Ok(Vec::new());
    }
    let jobs: Vec<(JobId, Option<EndpointId>, Option<String>)> = diesel::update(
        jobs::table
            .filter(jobs::submit_id.eq(id))
            .filter(jobs::status.eq_any([JobStatus::Queued, JobStatus::Running])),
    )
    .set((
        jobs::status.eq(JobStatus::Lost),
        jobs::finished_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("GREATEST(now(), COALESCE(started_at, queued_at))")),
    ))
    .returning((jobs::id, jobs::endpoint_id, jobs::container_id))
    .get_results(conn)?;
    Ok(jobs
        .into_iter()
        .map(|(id, endpoint, container)| LostJob {
            id,
            endpoint,
            container,
        })
        .collect())
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
