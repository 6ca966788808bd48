//! `db stats`: per package (or per endpoint or image) over a time window,
//! how many jobs ran, how often they succeeded, and the median and 95th
//! percentile of their duration, computed in SQL with `percentile_cont`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamptz};
use serde::Serialize;

use super::{Conn, JobStatus, Limit};

/// What the statistics are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsBy {
    /// Package name (all versions together).
    Package,
    Endpoint,
    Image,
}

impl StatsBy {
    /// The SQL expression of the group's name, and the join that brings it
    /// to the jobs (aliased `j`).
    fn key_sql(self) -> (&'static str, &'static str) {
        match self {
            StatsBy::Package => ("p.name", "JOIN packages p ON p.id = j.package_id"),
            StatsBy::Endpoint => ("e.name", "LEFT JOIN endpoints e ON e.id = j.endpoint_id"),
            StatsBy::Image => ("i.name", "JOIN images i ON i.id = j.image_id"),
        }
    }
}

/// Statistics of one group of jobs.
///
/// Counted are all jobs queued in the window; the success rate is
/// `succeeded / (succeeded + failed)` where failed counts the jobs whose
/// status [`JobStatus::is_failure`] (`failed`, `timed_out` and `lost`:
/// cancelled, reused and not-run jobs say nothing about the build);
/// durations are those of succeeded jobs, from start to finish.
#[derive(Debug, QueryableByName, Serialize)]
pub struct StatsRow {
    /// The package, endpoint or image name (none for jobs that never reached an endpoint).
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub jobs: i64,
    #[diesel(sql_type = BigInt)]
    pub succeeded: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Between 0 and 1; none when no job ran to an end.
    #[diesel(sql_type = Nullable<Double>)]
    pub success_rate: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub median_seconds: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub p95_seconds: Option<f64>,
}

/// The statistics of every group with a job queued after `since`, the
/// groups with the most jobs first.
pub fn job_stats(
    conn: &mut Conn,
    by: StatsBy,
    since: DateTime<Utc>,
    limit: Limit,
) -> QueryResult<Vec<StatsRow>> {
    let limit_sql = match limit.as_sql() {
        Some(n) => format!("LIMIT {n}"),
        None => String::new(),
    };
    let (key, join) = by.key_sql();
    let succeeded = sql_list([JobStatus::Succeeded]);
    let failed = sql_list(JobStatus::ALL.iter().copied().filter(|s| s.is_failure()));
    let ended = sql_list(
        JobStatus::ALL
            .iter()
            .copied()
            .filter(|s| *s == JobStatus::Succeeded || s.is_failure()),
    );
    let query = format!(
        "SELECT {key} AS name,
                count(*) AS jobs,
                count(*) FILTER (WHERE j.status IN ({succeeded})) AS succeeded,
                count(*) FILTER (WHERE j.status IN ({failed})) AS failed,
                (count(*) FILTER (WHERE j.status IN ({succeeded})))::float8
                    / NULLIF(count(*) FILTER (WHERE j.status IN ({ended})), 0)
                    AS success_rate,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (j.finished_at - j.started_at))::float8)
                    FILTER (WHERE j.status IN ({succeeded})) AS median_seconds,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (j.finished_at - j.started_at))::float8)
                    FILTER (WHERE j.status IN ({succeeded})) AS p95_seconds
           FROM jobs j
           {join}
          WHERE j.queued_at >= $1
          GROUP BY {key}
          ORDER BY jobs DESC, name
          {limit_sql}",
    );
    // The percentiles sort each group's durations: give the sorts memory
    // enough not to spill to disk for a window of some 100,000 jobs.
    diesel::sql_query("SET work_mem = '64MB'").execute(conn)?;
    diesel::sql_query(query)
        .bind::<Timestamptz, _>(since)
        .load(conn)
}

/// Statuses as an SQL list of literals (`'failed', 'lost'`). Their text is
/// the enum's own, never input.
fn sql_list(statuses: impl IntoIterator<Item = JobStatus>) -> String {
    statuses
        .into_iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
