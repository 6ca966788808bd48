//! `kiln metrics`: how much the database holds, as butido's `metrics`
//! prints it: the number of rows of each kind of record, and the jobs by
//! status. One query of counts; `log_chunks` is not read.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::Conn;

/// One count: what is counted, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Metric {
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = BigInt)]
    pub count: i64,
}

/// The tables counted, each under the name `kiln metrics` shows.
const COUNTED: &[(&str, &str)] = &[
    ("submits", "submits"),
    ("jobs", "jobs"),
    ("packages", "packages"),
    ("artifacts", "artifacts"),
    ("releases", "releases"),
    ("release_stores", "release_stores"),
    ("images", "images"),
    ("endpoints", "endpoints"),
    ("environment_variables", "env_vars"),
    ("git_hashes", "git_hashes"),
];

/// The count of every kind of record, then `jobs_<status>` for each job
/// status that has jobs (statuses in name order).
pub fn metrics(conn: &mut Conn) -> QueryResult<Vec<Metric>> {
    let counts: Vec<String> = COUNTED
        .iter()
        .enumerate()
        .map(|(i, (name, table))| {
            format!(
                "SELECT {i} AS ord, '{name}'::text AS name, count(*)::int8 AS count FROM {table}"
            )
        })
        .collect();
    let query = format!(
        "SELECT name, count FROM (
            {}
            UNION ALL
            SELECT {} AS ord, 'jobs_' || status AS name, count(*)::int8 AS count
              FROM jobs GROUP BY status
         ) m
         ORDER BY ord, name",
        counts.join("\n            UNION ALL\n            "),
        COUNTED.len()
    );
    diesel::sql_query(query).load(conn)
}
