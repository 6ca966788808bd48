//! Read-only queries behind `kiln db` listings, details and statistics: one
//! file per family, each with read structs of its own.
//!
//! How every listing is shaped, so that its time does not grow with the
//! history (spec/records.md):
//!
//! 1. Names the user gives (packages, images, endpoints, variables, UUID and
//!    hash prefixes) are first resolved to ids with small indexed look-ups.
//! 2. A page query selects only the ids of the page from the listed table,
//!    newest first, with `ORDER BY ... DESC LIMIT n` over an index that
//!    matches the filter; other tables appear only in `IN`/`EXISTS`
//!    subqueries, so no row is repeated. When a filter resolves to several
//!    ids (a package name with several versions), the page query runs once
//!    per id and the newest rows are merged, instead of sorting every match.
//! 3. The rows of the page are then loaded with their look-up columns, and
//!    aggregates (counts, store names) come from a further query keyed by
//!    the page's ids. No listing reads `log_chunks`.

use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;

pub mod artifacts;
pub mod containers;
pub mod explain;
pub mod filters;
pub mod find_artifact;
pub mod jobs;
pub mod lineage;
pub mod lookups;
pub mod metrics;
pub mod provenance;
pub mod reproduce;
pub mod stats;
pub mod submits;

pub use filters::{
    parse_limit, ArtifactCandidate, EnvPair, FilterError, HexPrefix, JobStatus, PackageSpec,
    SubmitStatus, TimeSpec, UuidPrefix,
};

/// How many rows a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    All,
    First(u32),
}

impl Limit {
    /// `--limit N`: 0 means all rows.
    pub fn from_count(n: u32) -> Self {
        if n == 0 {
            Limit::All
        } else {
            Limit::First(n)
        }
    }

    fn as_sql(self) -> Option<i64> {
        match self {
            Limit::All => None,
            Limit::First(n) => Some(i64::from(n)),
        }
    }

    fn truncate<T>(self, rows: &mut Vec<T>) {
        if let Limit::First(n) = self {
            rows.truncate(n as usize);
        }
    }
}

/// A time window on a listing's time column (both ends exclusive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// `--newer-than`: only rows after this point.
    pub after: Option<DateTime<Utc>>,
    /// `--older-than`: only rows before this point.
    pub before: Option<DateTime<Utc>>,
}

impl TimeWindow {
    pub fn is_open(&self) -> bool {
        self.after.is_none() && self.before.is_none()
    }
}

/// Newest first: by id alone, or by the time column then id when the filter
/// is a time window (so that the time index serves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Id,
    Time,
}

impl Order {
    fn for_window(window: &TimeWindow) -> Self {
        if window.is_open() {
            Order::Id
        } else {
            Order::Time
        }
    }
}

/// The sort key of one row of a page: newest first means the greatest
/// `(major, id)` first. `major` is what the page is ordered by before the id
/// (a time in microseconds, a parent's id), or 0 when ordered by id alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct PageKey {
    major: i64,
    id: i32,
}

impl PageKey {
    /// The key of a row ordered by `order`, given its time and id.
    fn new(order: Order, time: DateTime<Utc>, id: i32) -> Self {
        let major = match order {
            Order::Id => 0,
            Order::Time => time.timestamp_micros(),
        };
        PageKey { major, id }
    }
}

/// Ids of several look-up rows that a filter names (all versions of a
/// package, all commits with a prefix). `None` where the filter is not given.
type IdSet = Option<Vec<i32>>;

/// Above this many ids, a multi-valued filter is one `= ANY(...)` query
/// rather than one query per id.
const MAX_SPLIT: usize = 32;

/// Runs a page query, once per id of `split` when it holds a few ids, and
/// keeps the newest `limit` keys. The query receives the ids to filter on.
fn newest_page<F>(split: Option<&[i32]>, limit: Limit, mut query: F) -> QueryResult<Vec<i32>>
where
    F: FnMut(Option<&[i32]>) -> QueryResult<Vec<PageKey>>,
{
    let mut keys = match split {
        Some(ids) if ids.len() > 1 && ids.len() <= MAX_SPLIT => {
            let mut all = Vec::new();
            for id in ids {
                all.extend(query(Some(std::slice::from_ref(id)))?);
            }
            all
        }
        other => query(other)?,
    };
    keys.sort_by(|a, b| b.cmp(a));
    keys.dedup_by_key(|k| k.id);
    limit.truncate(&mut keys);
    Ok(keys.into_iter().map(|k| k.id).collect())
}

/// Puts rows loaded by `id = ANY(page)` back into the page's order.
fn in_page_order<T>(page: &[i32], mut rows: Vec<T>, id_of: impl Fn(&T) -> i32) -> Vec<T> {
    let position: std::collections::HashMap<i32, usize> =
        page.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    rows.sort_by_key(|r| position.get(&id_of(r)).copied().unwrap_or(usize::MAX));
    rows
}

/// Adds `column = id` (one id) or `column = ANY(ids)` (several) to a boxed query.
macro_rules! filter_in {
    ($query:expr, $column:expr, $ids:expr) => {
        match $ids {
            [one] => $query.filter($column.eq(*one)),
            many => $query.filter($column.eq_any(many.to_vec())),
        }
    };
}
pub(crate) use filter_in;

/// Whether a resolved filter can match nothing at all (a name that is not in
/// the database), so the listing is empty without a page query.
fn matches_nothing(sets: &[&IdSet]) -> bool {
    sets.iter()
        .any(|s| matches!(s, Some(ids) if ids.is_empty()))
}

/// Resolves a UUID prefix to the single row it names in a table with a
/// `uuid` column and a `(uuid::text) text_pattern_ops` index.
fn unique_by_prefix<Id: Copy>(
    conn: &mut Conn,
    what: &'static str,
    prefix: &UuidPrefix,
    exact: impl FnOnce(&mut Conn, uuid::Uuid) -> QueryResult<Option<(Id, uuid::Uuid)>>,
    by_prefix: impl FnOnce(&mut Conn, &str, i64) -> QueryResult<Vec<(Id, uuid::Uuid)>>,
) -> anyhow::Result<(Id, uuid::Uuid)> {
    const SHOWN: usize = 10;
    let found = match prefix.full() {
        Some(uuid) => exact(conn, uuid)?.into_iter().collect::<Vec<_>>(),
        None => by_prefix(conn, &prefix.like_pattern(), SHOWN as i64 + 1)?,
    };
    match found.as_slice() {
        [] => Err(FilterError::NotFound {
            what,
            prefix: prefix.as_str().to_owned(),
        }
        .into()),
        [one] => Ok(*one),
        many => Err(FilterError::Ambiguous {
            what,
            prefix: prefix.as_str().to_owned(),
            candidates: many.iter().take(SHOWN).map(|(_, u)| *u).collect(),
            truncated: many.len() > SHOWN,
        }
        .into()),
    }
}

/// The connection type every query here takes.
pub type Conn = PgConnection;

#[cfg(test)]
mod tests {
    use super::*;

    fn key(major: i64, id: i32) -> PageKey {
        PageKey { major, id }
    }

    #[test]
    fn pages_merge_newest_first() {
        // (split ids, limit, what each query returns, the page)
        type Case = (Option<Vec<i32>>, Limit, Vec<Vec<PageKey>>, Vec<i32>);
        let cases: Vec<Case> = vec![
            (
                None,
                Limit::First(2),
                vec![vec![key(0, 9), key(0, 5), key(0, 1)]],
                vec![9, 5],
            ),
            (
                Some(vec![1, 2]),
                Limit::First(3),
                vec![vec![key(0, 10), key(0, 4)], vec![key(0, 7), key(0, 6)]],
                vec![10, 7, 6],
            ),
            (
                Some(vec![1, 2]),
                Limit::All,
                vec![vec![key(5, 1), key(1, 9)], vec![key(7, 2), key(5, 3)]],
                vec![2, 3, 1, 9],
            ),
            (
                Some(vec![1, 2]),
                Limit::All,
                vec![vec![key(0, 3), key(0, 2)], vec![key(0, 3)]],
                vec![3, 2],
            ),
        ];
        for (split, limit, results, expected) in cases {
            let mut calls = results.into_iter();
            let page = newest_page(split.as_deref(), limit, |_| {
                Ok(calls.next().unwrap_or_default())
            })
            .expect("no database involved");
            assert_eq!(page, expected);
        }
    }

    #[test]
    fn many_ids_are_one_query() {
        let ids: Vec<i32> = (0..(MAX_SPLIT as i32 + 1)).collect();
        let mut calls = 0;
        newest_page(Some(&ids), Limit::All, |given| {
            calls += 1;
            assert_eq!(given.map(<[i32]>::len), Some(ids.len()));
            Ok(vec![])
        })
        .expect("no database involved");
        assert_eq!(calls, 1);
    }

    #[test]
    fn keys_follow_the_order() {
        let t = DateTime::from_timestamp(1_000, 0).expect("valid");
        assert_eq!(PageKey::new(Order::Id, t, 7), key(0, 7));
        assert_eq!(PageKey::new(Order::Time, t, 7), key(1_000_000_000, 7));
    }

    #[test]
    fn rows_follow_page_order() {
        let rows = in_page_order(&[3, 1, 2], vec![1, 2, 3], |r| *r);
        assert_eq!(rows, vec![3, 1, 2]);
    }

    #[test]
    fn limits() {
        for (n, expected) in [(0, Limit::All), (5, Limit::First(5))] {
            assert_eq!(Limit::from_count(n), expected);
        }
        let mut v = vec![1, 2, 3];
        Limit::First(2).truncate(&mut v);
        assert_eq!(v, vec![1, 2]);
    }
}
