//! `jobs`: one package built (or reused) inside one submit. A row is written
//! when the job is planned, before any container exists, and its status
//! moves `queued → running → succeeded | failed | timed_out | cancelled |
//! lost`; `reused` rows point at the job whose artifacts they took, and
//! `dep_failed` rows never ran because a dependency failed.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::artifacts::{Artifact, NewArtifact};
use super::{
    id_type, insert_in_batches, text_enum, BatchInsert, EndpointId, ImageId, PackageId, SubmitId,
};
use crate::db::schema::{artifacts, jobs};

id_type!(
    /// The id of a `jobs` row (users see the UUID instead).
    JobId
);

text_enum! {
    /// Where a job is in its lifecycle.
    JobStatus ("job status") {
        /// Planned, waiting for its dependencies or an endpoint.
        Queued => "queued",
        /// Its container runs.
        Running => "running",
        /// The script exited 0 and the artifacts were collected.
        Succeeded => "succeeded",
        /// The script (or collecting its artifacts) failed.
        Failed => "failed",
        /// Stopped for running longer than `job_timeout` or being silent
        /// longer than `job_silence_timeout`.
        TimedOut => "timed_out",
        /// The user interrupted it.
        Cancelled => "cancelled",
        /// Its kiln process died while it ran; a later run found it.
        Lost => "lost",
        /// Not built: an earlier job with the same build key provided the artifacts.
        Reused => "reused",
        /// Not run because a dependency failed.
        DepFailed => "dep_failed",
    }
}

impl JobStatus {
    /// Whether the job has reached its last state.
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running)
    }

    /// Whether the job ended well: built, or reused.
    pub fn is_success(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Reused)
    }

    /// Whether the job's build failed: it failed, timed out or was lost.
    /// (Cancelled, reused and not-run jobs say nothing about the build.)
    /// `db submits` counts these as failed jobs, `db stats` as failures.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            JobStatus::Failed | JobStatus::TimedOut | JobStatus::Lost
        )
    }
}

/// The last state of a job that was queued or ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalJobStatus {
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    Lost,
    DepFailed,
}

impl From<FinalJobStatus> for JobStatus {
    fn from(s: FinalJobStatus) -> Self {
        match s {
            FinalJobStatus::Succeeded => JobStatus::Succeeded,
            FinalJobStatus::Failed => JobStatus::Failed,
            FinalJobStatus::TimedOut => JobStatus::TimedOut,
            FinalJobStatus::Cancelled => JobStatus::Cancelled,
            FinalJobStatus::Lost => JobStatus::Lost,
            FinalJobStatus::DepFailed => JobStatus::DepFailed,
        }
    }
}

/// Whether a job's stored log is all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogState {
    Complete,
    /// Over `log_limit`: only its head and tail are stored.
    Truncated,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct Job {
    pub id: JobId,
    pub uuid: Uuid,
    pub submit_id: SubmitId,
    pub package_id: PackageId,
    pub image_id: ImageId,
    /// The digest the image name resolved to on the endpoint.
    pub image_digest: Option<String>,
    pub endpoint_id: Option<EndpointId>,
    pub container_id: Option<String>,
    pub status: JobStatus,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub exit_status: Option<i32>,
    pub failed_phase: Option<String>,
    pub error_message: Option<String>,
    pub script: String,
    pub build_key: String,
    pub build_key_inputs: serde_json::Value,
    pub reused_job_id: Option<JobId>,
    pub log_bytes: i64,
    pub log_truncated: bool,
    /// Why it was built rather than reused (null for reused jobs).
    pub build_reason: Option<String>,
}

/// A planned job: `queued`, or `reused` with `reused_job_id` set (the
/// database refuses any other pairing).
#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = jobs)]
pub struct NewJob<'a> {
    pub uuid: Uuid,
    pub submit_id: SubmitId,
    pub package_id: PackageId,
    pub image_id: ImageId,
    pub status: JobStatus,
    /// The rendered script.
    pub script: &'a str,
    /// SHA-256 (hex) over everything that can change the job's output.
    pub build_key: &'a str,
    /// The fields the build key was computed from, to explain differences.
    pub build_key_inputs: &'a serde_json::Value,
    pub reused_job_id: Option<JobId>,
    /// Why it is built rather than reused; `None` for a reused job.
    pub build_reason: Option<&'a str>,
}

/// A succeeded job whose artifacts a new job with the same build key may
/// take ([`Job::reuse_candidates`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseCandidate {
    pub job_id: JobId,
    pub uuid: Uuid,
    pub build_key: String,
    /// Its submit, whose staging directory holds its artifacts.
    pub submit_uuid: Uuid,
    /// The newest submits that reused it: their staging directories hold
    /// copies (links) of its artifacts.
    pub reused_in: Vec<Uuid>,
    /// By path.
    pub artifacts: Vec<EarlierArtifact>,
}

/// An artifact of a [`ReuseCandidate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierArtifact {
    pub path: String,
    pub size: i64,
    pub sha256: String,
    /// The release stores it was released into.
    pub stores: Vec<String>,
}

#[derive(QueryableByName)]
struct CandidateRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    job_id: JobId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    job_uuid: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    build_key: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    submit_uuid: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Uuid>>)]
    reused_in: Option<Vec<Uuid>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    path: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    size: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    sha256: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Text>>)]
    stores: Option<Vec<String>>,
}

/// What is known when a job's container starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobStart<'a> {
    /// When the container was made, on this machine's clock (not when the
    /// row is written: that may be later, after a database outage).
    pub at: std::time::Instant,
    pub endpoint_id: EndpointId,
    pub container_id: &'a str,
    pub image_digest: Option<&'a str>,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobEnd<'a> {
    /// When the job ended, on this machine's clock.
    pub at: std::time::Instant,
    pub status: FinalJobStatus,
    /// The script's exit status, if it ran to its end.
    pub exit_status: Option<i32>,
    /// The phase it failed in, if the log said so.
    pub failed_phase: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

impl NewJob<'_> {
    /// Inserts jobs, however many, all or none, returning them in the same order.
    pub fn insert_all(conn: &mut PgConnection, jobs: &[NewJob<'_>]) -> QueryResult<Vec<Job>> {
        let batches = insert_in_batches(conn, jobs, |conn, batch| {
            diesel::insert_into(jobs::table)
                .values(batch)
                .returning(Job::as_returning())
                .get_results(conn)
        })?;
        Ok(batches.into_iter().flatten().collect())
    }
}

impl BatchInsert for NewJob<'_> {
    const COLUMNS: usize = 10;
}

impl Job {
    pub fn find(conn: &mut PgConnection, id: JobId) -> QueryResult<Job> {
        jobs::table.find(id).select(Job::as_select()).first(conn)
    }

    pub fn find_by_uuid(conn: &mut PgConnection, uuid: Uuid) -> QueryResult<Option<Job>> {
        jobs::table
            .filter(jobs::uuid.eq(uuid))
            .select(Job::as_select())
            .first(conn)
            .optional()
    }

    /// The succeeded jobs with one of `keys` as build key, at most
    /// `per_key` for each key, newest first, each with its artifacts, the
    /// release stores that hold them, and the newest `per_key` submits
    /// that reused it: what a new submit may reuse. One
    /// query for a whole tree, served by `jobs_reusable` (it reads only
    /// the newest `per_key` jobs of each key, however long the history).
    pub fn reuse_candidates(
        conn: &mut PgConnection,
        keys: &[String],
        per_key: i64,
    ) -> QueryResult<Vec<ReuseCandidate>> {
        use diesel::sql_types::{Array, BigInt, Text};
        let rows: Vec<CandidateRow> = diesel::sql_query(
            "SELECT j.id AS job_id, j.uuid AS job_uuid, j.build_key, s.uuid AS submit_uuid, \
                    (SELECT array_agg(r.uuid) FROM (SELECT rs.uuid FROM jobs rj \
                       JOIN submits rs ON rs.id = rj.submit_id \
                      WHERE rj.reused_job_id = j.id ORDER BY rj.id DESC LIMIT $2) r) AS reused_in, \
                    a.path, a.size, a.sha256, \
                    (SELECT array_agg(rs.name ORDER BY rs.name) FROM releases r \
                       JOIN release_stores rs ON rs.id = r.release_store_id \
                      WHERE r.artifact_id = a.id) AS stores \
               FROM unnest($1::text[]) AS k(key) \
              CROSS JOIN LATERAL (SELECT id, uuid, build_key, submit_id FROM jobs \
                                   WHERE build_key = k.key AND status = 'succeeded' \
                                   ORDER BY id DESC LIMIT $2) j \
               JOIN submits s ON s.id = j.submit_id \
               LEFT JOIN artifacts a ON a.job_id = j.id \
              ORDER BY j.id DESC, a.path",
        )
        .bind::<Array<Text>, _>(keys)
        .bind::<BigInt, _>(per_key)
        .load(conn)?;
        let mut out: Vec<ReuseCandidate> = Vec::new();
        for row in rows {
            if out.last().is_none_or(|c| c.job_id != row.job_id) {
                out.push(ReuseCandidate {
                    job_id: row.job_id,
                    uuid: row.job_uuid,
                    build_key: row.build_key,
                    submit_uuid: row.submit_uuid,
                    reused_in: row.reused_in.unwrap_or_default(),
                    artifacts: Vec::new(),
                });
            }
            if let (Some(path), Some(size), Some(sha256), Some(candidate)) =
                (row.path, row.size, row.sha256, out.last_mut())
            {
                candidate.artifacts.push(EarlierArtifact {
                    path,
                    size,
                    sha256,
                    stores: row.stores.unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// Marks a queued job running since `start.at`, or moves a running one
    /// to the container of its next attempt. `None` if it had ended.
    pub fn start(
        conn: &mut PgConnection,
        id: JobId,
        start: JobStart<'_>,
    ) -> QueryResult<Option<Job>> {
        // Running already: a later attempt, in another container.
        diesel::update(
            jobs::table
                .find(id)
                .filter(jobs::status.eq_any([JobStatus::Queued, JobStatus::Running])),
        )
        .set((
            jobs::status.eq(JobStatus::Running),
            jobs::started_at.eq(super::moment(start.at, "queued_at")),
            jobs::endpoint_id.eq(start.endpoint_id),
            jobs::container_id.eq(start.container_id),
            jobs::image_digest.eq(start.image_digest),
        ))
        .returning(Job::as_returning())
        .get_result(conn)
        .optional()
    }

    /// Marks a job running in the container of its attempt number
    /// `attempt` ([`Job::start`]) and records the attempt, in one
    /// transaction.
    pub fn start_attempt(
        conn: &mut PgConnection,
        id: JobId,
        attempt: i32,
        start: JobStart<'_>,
    ) -> QueryResult<()> {
        conn.transaction(|conn| {
            Job::start(conn, id, start)?;
            super::job_attempts::AttemptRecord {
                job_id: id,
                attempt,
                endpoint_id: start.endpoint_id,
                container_id: Some(start.container_id),
                started: start.at,
                end: None,
            }
            .write(conn)
        })
    }

    /// Ends a queued or running job at `end.at`. `None` if it had already ended.
    pub fn finish(conn: &mut PgConnection, id: JobId, end: JobEnd<'_>) -> QueryResult<Option<Job>> {
        diesel::update(
            jobs::table
                .find(id)
                .filter(jobs::status.eq_any([JobStatus::Queued, JobStatus::Running])),
        )
        .set((
            jobs::status.eq(JobStatus::from(end.status)),
            jobs::finished_at.eq(super::moment(end.at, "COALESCE(started_at, queued_at)")),
            jobs::exit_status.eq(end.exit_status),
            jobs::failed_phase.eq(end.failed_phase),
            jobs::error_message.eq(end.error_message),
        ))
        .returning(Job::as_returning())
        .get_result(conn)
        .optional()
    }

    /// Ends jobs that never ran (`dep_failed`, or `cancelled` before they
    /// started), in one transaction; those already ended are left alone.
    pub fn finish_all(conn: &mut PgConnection, ids: &[JobId], end: JobEnd<'_>) -> QueryResult<()> {
        conn.transaction(|conn| {
            for &id in ids {
                Job::finish(conn, id, end)?;
            }
            Ok(())
        })
    }

    /// Records a job's success and its artifacts in one transaction, and
    /// returns the artifacts. Done a second time (the first commit may have
    /// happened although its connection was lost), it finds the job ended
    /// and returns the artifacts recorded then.
    pub fn succeed(
        conn: &mut PgConnection,
        id: JobId,
        end: JobEnd<'_>,
        artifacts: &[NewArtifact<'_>],
    ) -> QueryResult<Vec<Artifact>> {
        conn.transaction(|conn| match Job::finish(conn, id, end)? {
            Some(_) => NewArtifact::insert_all(conn, artifacts),
            None => artifacts::table
                .filter(artifacts::job_id.eq(id))
                .order(artifacts::id)
                .select(Artifact::as_select())
                .load(conn),
        })
    }

    /// Records how many bytes of log the job has written so far.
    pub fn record_log_size(
        conn: &mut PgConnection,
        id: JobId,
        log_bytes: i64,
        state: LogState,
    ) -> QueryResult<()> {
        diesel::update(jobs::table.find(id))
            .set((
                jobs::log_bytes.eq(log_bytes),
                jobs::log_truncated.eq(state == LogState::Truncated),
            ))
            .execute(conn)
            .map(drop)
    }
}
