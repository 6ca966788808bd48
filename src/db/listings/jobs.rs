//! `db jobs`, `db job UUID` and `db log-of JOB`: jobs newest first,
//! everything recorded about one job, and its log read back chunk by chunk.
//!
//! Only [`for_each_log_chunk`] reads `log_chunks`; the listings never do.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Double, Nullable};
use serde::Serialize;
use uuid::Uuid;

use super::artifacts::{self, ArtifactItem};
use super::{
    filter_in, in_page_order, lookups, matches_nothing, newest_page, unique_by_prefix, Conn,
    EnvPair, IdSet, JobStatus, Limit, Order, PackageSpec, PageKey, TimeWindow, UuidPrefix,
};
use crate::db::models::job_attempts::AttemptOutcome;
use crate::db::models::job_dependencies::DependencyKind;
use crate::db::models::{ArtifactId, JobId, SubmitId};
use crate::db::schema::{
    endpoints, env_vars, images, job_attempts, job_dependencies, job_envs, job_input_artifacts,
    jobs, log_chunks, packages, submits,
};

/// What `db jobs` filters on; every field is optional and all must match.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// `--submit`: the submit's id (see [`super::submits::resolve`]).
    pub submit: Option<SubmitId>,
    pub package: Option<PackageSpec>,
    /// `--image`: the image's full name.
    pub image: Option<String>,
    pub endpoint: Option<String>,
    pub status: Option<JobStatus>,
    /// `--env K=V`: the job ran with every one of these.
    pub env: Vec<EnvPair>,
    /// `--newer-than`/`--older-than` on the time the job was queued.
    pub window: TimeWindow,
}

/// One job as listed.
#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    #[serde(skip)]
    pub id: JobId,
    pub uuid: Uuid,
    #[diesel(select_expression = submits::uuid)]
    pub submit_uuid: Uuid,
    pub queued_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[diesel(select_expression = sql::<Nullable<Double>>(
        "EXTRACT(EPOCH FROM (jobs.finished_at - jobs.started_at))::float8"))]
    #[diesel(select_expression_type = diesel::expression::SqlLiteral<Nullable<Double>>)]
    pub duration_seconds: Option<f64>,
    #[diesel(select_expression = endpoints::name.nullable())]
    #[diesel(select_expression_type = diesel::dsl::Nullable<endpoints::name>)]
    pub endpoint: Option<String>,
    pub status: JobStatus,
    pub exit_status: Option<i32>,
    #[diesel(select_expression = packages::name)]
    pub package_name: String,
    #[diesel(select_expression = packages::version)]
    pub package_version: String,
    #[diesel(select_expression = images::name)]
    pub image: String,
    pub image_digest: Option<String>,
}

/// A variable a job or submit ran with.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = env_vars, check_for_backend(diesel::pg::Pg))]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// `db jobs`: the newest jobs that match a filter.
pub fn list_jobs(conn: &mut Conn, filter: &JobFilter, limit: Limit) -> QueryResult<Vec<JobRow>> {
    let package: IdSet = filter
        .package
        .as_ref()
        .map(|p| lookups::package_ids(conn, p))
        .transpose()?;
    let image: IdSet = filter
        .image
        .as_deref()
        .map(|i| lookups::image_ids(conn, i))
        .transpose()?;
    let endpoint: IdSet = filter
        .endpoint
        .as_deref()
        .map(|e| lookups::endpoint_ids(conn, e))
        .transpose()?;
    let mut env = Vec::with_capacity(filter.env.len());
    for pair in &filter.env {
        env.push(Some(lookups::env_var_ids(conn, pair)?));
    }
    let mut sets = vec![&package, &image, &endpoint];
    sets.extend(env.iter());
    if matches_nothing(&sets) {
        return Ok(Vec::new());
    }
    let order = Order::for_window(&filter.window);
    let page = newest_page(package.as_deref(), limit, |package_ids| {
        let mut q = jobs::table.select((jobs::queued_at, jobs::id)).into_boxed();
        if let Some(submit) = filter.submit {
            q = q.filter(jobs::submit_id.eq(submit));
        }
        if let Some(ids) = package_ids {
            q = filter_in!(q, jobs::package_id, ids);
        }
        if let Some(ids) = &image {
            q = filter_in!(q, jobs::image_id, ids.as_slice());
        }
        if let Some(ids) = &endpoint {
            q = filter_in!(q, jobs::endpoint_id, ids.as_slice());
        }
        if let Some(status) = filter.status {
            q = q.filter(jobs::status.eq(status));
        }
        for ids in env.iter().flatten() {
            let with = job_envs::table.select(job_envs::job_id).into_boxed();
            let with = filter_in!(with, job_envs::env_id, ids.as_slice());
            q = q.filter(jobs::id.eq_any(with));
        }
        if let Some(after) = filter.window.after {
            q = q.filter(jobs::queued_at.gt(after));
        }
        if let Some(before) = filter.window.before {
            q = q.filter(jobs::queued_at.lt(before));
        }
        q = match order {
            Order::Id => q.order(jobs::id.desc()),
            Order::Time => q.order((jobs::queued_at.desc(), jobs::id.desc())),
        };
        if let Some(n) = limit.as_sql() {
            q = q.limit(n);
        }
        let keys: Vec<(DateTime<Utc>, i32)> = q.load(conn)?;
        Ok(keys
            .into_iter()
            .map(|(time, id)| PageKey::new(order, time, id))
            .collect())
    })?;
    load_rows(conn, &page)
}

/// The listed columns of the given jobs, in the given order.
fn load_rows(conn: &mut Conn, page: &[i32]) -> QueryResult<Vec<JobRow>> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let rows = jobs::table
        .inner_join(submits::table)
        .inner_join(packages::table)
        .inner_join(images::table)
        .left_join(endpoints::table)
        .filter(jobs::id.eq_any(page))
        .select(JobRow::as_select())
        .load(conn)?;
    Ok(in_page_order(page, rows, |r| r.id.0))
}

/// Every job of a submit, in the order they were planned.
pub fn jobs_of_submit(conn: &mut Conn, submit_id: SubmitId) -> QueryResult<Vec<JobRow>> {
    jobs::table
        .inner_join(submits::table)
        .inner_join(packages::table)
        .inner_join(images::table)
        .left_join(endpoints::table)
        .filter(jobs::submit_id.eq(submit_id))
        .order(jobs::id)
        .select(JobRow::as_select())
        .load(conn)
}

/// Finds the one job whose UUID starts with a prefix.
pub fn resolve(conn: &mut Conn, prefix: &UuidPrefix) -> anyhow::Result<(JobId, Uuid)> {
    unique_by_prefix(
        conn,
        "job",
        prefix,
        |conn, uuid| {
            jobs::table
                .filter(jobs::uuid.eq(uuid))
                .select((jobs::id, jobs::uuid))
                .first(conn)
                .optional()
        },
        |conn, pattern, n| {
            jobs::table
                .filter(jobs::uuid.cast::<diesel::sql_types::Text>().like(pattern))
                .order(jobs::uuid.cast::<diesel::sql_types::Text>())
                .select((jobs::id, jobs::uuid))
                .limit(n)
                .load(conn)
        },
    )
}

/// The job whose artifacts a reused job took (id and UUID); `None` for a
/// job that was not reused.
pub fn reused_source(conn: &mut Conn, id: JobId) -> QueryResult<Option<(JobId, Uuid)>> {
    let source: Option<JobId> = jobs::table
        .find(id)
        .select(jobs::reused_job_id)
        .first(conn)?;
    match source {
        Some(source) => jobs::table
            .find(source)
            .select((jobs::id, jobs::uuid))
            .first(conn)
            .optional(),
        None => Ok(None),
    }
}

/// A job this job depended on.
#[derive(Debug, Serialize)]
pub struct Dependency {
    pub uuid: Uuid,
    pub package_name: String,
    pub package_version: String,
    pub kind: DependencyKind,
}

/// Everything recorded about one job (its log is read separately).
#[derive(Debug, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobRow,
    pub container_id: Option<String>,
    pub failed_phase: Option<String>,
    pub error_message: Option<String>,
    pub build_key: String,
    /// For a reused job, the job that built the artifacts it took.
    pub reused_job_uuid: Option<Uuid>,
    /// Why it was built rather than reused.
    pub build_reason: Option<String>,
    pub log_bytes: i64,
    pub log_truncated: bool,
    /// When its status was last set, and by whom (the audit columns).
    pub status_set_at: DateTime<Utc>,
    pub status_set_by: String,
    pub script: String,
    pub env: Vec<EnvVar>,
    pub dependencies: Vec<Dependency>,
    /// Artifacts the job took as inputs.
    pub inputs: Vec<ArtifactItem>,
    /// Artifacts the job produced.
    pub outputs: Vec<ArtifactItem>,
    /// Each try at running it, first first.
    pub attempts: Vec<AttemptItem>,
}

/// One attempt at running a job, as `db job` shows it.
#[derive(Debug, Serialize, Queryable)]
pub struct AttemptItem {
    pub attempt: i32,
    pub endpoint: String,
    pub container_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` while it runs.
    pub outcome: Option<AttemptOutcome>,
    pub error_message: Option<String>,
}

/// Every attempt of a job, first first.
fn attempts_of(conn: &mut Conn, job: JobId) -> QueryResult<Vec<AttemptItem>> {
    job_attempts::table
        .inner_join(endpoints::table)
        .filter(job_attempts::job_id.eq(job))
        .order(job_attempts::attempt)
        .select((
            job_attempts::attempt,
            endpoints::name,
            job_attempts::container_id,
            job_attempts::started_at,
            job_attempts::finished_at,
            job_attempts::outcome,
            job_attempts::error_message,
        ))
        .load(conn)
}

/// `db job UUID`.
pub fn job_detail(conn: &mut Conn, id: JobId) -> QueryResult<JobDetail> {
    let job = load_rows(conn, &[id.0])?
        .into_iter()
        .next()
        .ok_or(diesel::result::Error::NotFound)?;
    type Extra = (
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        Option<JobId>,
        i64,
        bool,
        String,
        Option<String>,
    );
    let (
        container_id,
        failed_phase,
        error_message,
        build_key,
        reused_job_id,
        log_bytes,
        log_truncated,
        script,
        build_reason,
    ): Extra = jobs::table
        .find(id)
        .select((
            jobs::container_id,
            jobs::failed_phase,
            jobs::error_message,
            jobs::build_key,
            jobs::reused_job_id,
            jobs::log_bytes,
            jobs::log_truncated,
            jobs::script,
            jobs::build_reason,
        ))
        .first(conn)?;
    let reused_job_uuid = match reused_job_id {
        Some(other) => Some(jobs::table.find(other).select(jobs::uuid).first(conn)?),
        None => None,
    };
    let (status_set_at, status_set_by) = jobs::table
        .find(id)
        .select((jobs::set_at, jobs::set_by))
        .first(conn)?;
    let env = job_envs::table
        .inner_join(env_vars::table)
        .filter(job_envs::job_id.eq(id))
        .order((env_vars::name, env_vars::value))
        .select(EnvVar::as_select())
        .load(conn)?;
    let dependencies = job_dependencies::table
        .inner_join(jobs::table.on(jobs::id.eq(job_dependencies::dependency_job_id)))
        .inner_join(packages::table.on(packages::id.eq(jobs::package_id)))
        .filter(job_dependencies::job_id.eq(id))
        .order((packages::name, packages::version))
        .select((
            jobs::uuid,
            packages::name,
            packages::version,
            job_dependencies::kind,
        ))
        .load::<(Uuid, String, String, DependencyKind)>(conn)?
        .into_iter()
        .map(|(uuid, package_name, package_version, kind)| Dependency {
            uuid,
            package_name,
            package_version,
            kind,
        })
        .collect();
    let input_ids: Vec<ArtifactId> = job_input_artifacts::table
        .filter(job_input_artifacts::job_id.eq(id))
        .select(job_input_artifacts::artifact_id)
        .load(conn)?;
    let inputs = artifacts::artifacts_by_id(conn, &input_ids)?;
    let outputs = artifacts::artifacts_of_job(conn, id)?;
    let attempts = attempts_of(conn, id)?;
    Ok(JobDetail {
        job,
        container_id,
        failed_phase,
        error_message,
        build_key,
        reused_job_uuid,
        build_reason,
        log_bytes,
        log_truncated,
        status_set_at,
        status_set_by,
        script,
        env,
        dependencies,
        inputs,
        outputs,
        attempts,
    })
}

/// A job's current status (for following a running job's log).
pub fn job_status(conn: &mut Conn, id: JobId) -> QueryResult<JobStatus> {
    jobs::table.find(id).select(jobs::status).first(conn)
}

/// How many log chunks one round trip reads: bounds the memory of reading a
/// log, whatever its size.
const CHUNKS_PER_READ: i64 = 16;

/// Why reading a stored log stopped.
#[derive(Debug, thiserror::Error)]
pub enum LogReadError {
    #[error("reading the log of the job from the database")]
    Database(#[from] diesel::result::Error),
    #[error("log chunk {seq} cannot be read")]
    Corrupt {
        seq: i32,
        source: crate::log::ChunkError,
    },
    /// The consumer of the decompressed bytes failed (for instance a closed pipe).
    #[error("writing the log")]
    Write(#[source] std::io::Error),
}

/// Reads a job's log chunks from sequence number `from` on, in order, and
/// hands each one's decompressed bytes (whole lines) to `sink`. Returns the
/// sequence number to read from next time. Memory stays bounded by
/// [`CHUNKS_PER_READ`] chunks, however long the log.
pub fn for_each_log_chunk(
    conn: &mut Conn,
    job_id: JobId,
    from: i32,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<i32, LogReadError> {
    let mut next = from;
    let mut buffer = Vec::new();
    loop {
        let batch: Vec<(i32, Vec<u8>)> = log_chunks::table
            .filter(log_chunks::job_id.eq(job_id))
            .filter(log_chunks::seq.ge(next))
            .order(log_chunks::seq)
            .select((log_chunks::seq, log_chunks::data))
            .limit(CHUNKS_PER_READ)
            .load(conn)?;
        let full = batch.len() as i64 == CHUNKS_PER_READ;
        for (seq, data) in batch {
            let lines = crate::log::chunk::decode(seq, &data)
                .map_err(|source| LogReadError::Corrupt { seq, source })?;
            buffer.clear();
            for line in lines {
                buffer.extend_from_slice(&line.bytes);
                if !line.cut {
                    buffer.push(b'\n');
                }
            }
            sink(&buffer).map_err(LogReadError::Write)?;
            next = seq.saturating_add(1);
        }
        if !full {
            return Ok(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: JobStatus) -> JobRow {
        let at = DateTime::from_timestamp(1_000, 0).expect("valid time");
        JobRow {
            id: JobId(7),
            uuid: Uuid::from_u128(1),
            submit_uuid: Uuid::from_u128(2),
            queued_at: at,
            started_at: None,
            finished_at: None,
            duration_seconds: None,
            endpoint: None,
            status,
            exit_status: None,
            package_name: "a".into(),
            package_version: "1".into(),
            image: "busybox:1".into(),
            image_digest: None,
        }
    }

    /// Every job status is listed as it is stored, and read back from the
    /// listing as the same status; the id is not listed.
    #[test]
    fn rows_list_every_status_as_stored() {
        for status in JobStatus::ALL {
            let json = serde_json::to_value(row(*status)).expect("json");
            assert_eq!(json["status"], status.as_str());
            let listed: JobStatus = json["status"]
                .as_str()
                .expect("a string")
                .parse()
                .expect("a status");
            assert_eq!(listed, *status);
            assert!(json.get("id").is_none());
        }
    }
}
