//! `job_attempts`: each try at running a job, on one endpoint, in one
//! container. A job whose engine failed under it is tried again elsewhere
//! (see `orchestrator`); a job whose script failed is never tried again, so
//! most jobs have one attempt.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{text_enum, EndpointId, JobId};
use crate::db::schema::job_attempts;

text_enum! {
    /// How an attempt ended.
    AttemptOutcome ("attempt outcome") {
        /// The job succeeded in this attempt.
        Succeeded => "succeeded",
        /// The script failed (or its outputs were refused): the job failed.
        Failed => "failed",
        /// Stopped at `job_timeout` or `job_silence_timeout`.
        TimedOut => "timed_out",
        /// Stopped by the user, or because the submit stopped.
        Cancelled => "cancelled",
        /// The engine failed under the job (it could not be reached, reset
        /// the connection, timed out or answered with a server error): the
        /// job is tried again on another endpoint.
        EngineFailed => "engine_failed",
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = job_attempts, check_for_backend(diesel::pg::Pg))]
pub struct JobAttempt {
    pub job_id: JobId,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub endpoint_id: EndpointId,
    pub container_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` while the attempt runs.
    pub outcome: Option<AttemptOutcome>,
    pub error_message: Option<String>,
}

/// An attempt as the run loop knows it: written when its container exists,
/// and again when it ends (or only then, when no container was made).
#[derive(Debug, Clone, Copy)]
pub struct AttemptRecord<'a> {
    pub job_id: JobId,
    pub attempt: i32,
    pub endpoint_id: EndpointId,
    pub container_id: Option<&'a str>,
    /// When the attempt began on this machine.
    pub started: std::time::Instant,
    /// When it ended, and how.
    pub end: Option<AttemptEnd<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct AttemptEnd<'a> {
    pub at: std::time::Instant,
    pub outcome: AttemptOutcome,
    pub error_message: Option<&'a str>,
}

impl AttemptRecord<'_> {
    /// Writes the attempt: inserted the first time, completed the second
    /// (a container or an end already written is kept).
    pub fn write(&self, conn: &mut PgConnection) -> QueryResult<()> {
        use diesel::sql_types::{Double, Integer, Nullable, Text};
        let ago = |at: std::time::Instant| at.elapsed().as_secs_f64();
        diesel::sql_query(
            "INSERT INTO job_attempts (job_id, attempt, endpoint_id, container_id, started_at, \
                 finished_at, outcome, error_message) \
             VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5), \
                 now() - make_interval(secs => $6), $7, $8) \
             ON CONFLICT (job_id, attempt) DO UPDATE SET \
                 container_id = COALESCE(excluded.container_id, job_attempts.container_id), \
                 finished_at = COALESCE(excluded.finished_at, job_attempts.finished_at), \
                 outcome = COALESCE(excluded.outcome, job_attempts.outcome), \
                 error_message = COALESCE(excluded.error_message, job_attempts.error_message)",
        )
        .bind::<Integer, _>(self.job_id)
        .bind::<Integer, _>(self.attempt)
        .bind::<Integer, _>(self.endpoint_id)
        .bind::<Nullable<Text>, _>(self.container_id)
        .bind::<Double, _>(ago(self.started))
        .bind::<Nullable<Double>, _>(self.end.map(|e| ago(e.at)))
        .bind::<Nullable<Text>, _>(self.end.map(|e| e.outcome))
        .bind::<Nullable<Text>, _>(self.end.and_then(|e| e.error_message))
        .execute(conn)
        .map(drop)
    }
}

impl JobAttempt {
    /// Every attempt of a job, first first.
    pub fn of_job(conn: &mut PgConnection, job: JobId) -> QueryResult<Vec<JobAttempt>> {
        job_attempts::table
            .filter(job_attempts::job_id.eq(job))
            .order(job_attempts::attempt)
            .select(JobAttempt::as_select())
            .load(conn)
    }
}
