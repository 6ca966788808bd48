//! `db submits` and `db submit UUID`: submits newest first, and everything
//! recorded about one submit.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{Double, Integer, Nullable, Timestamptz};
use serde::Serialize;
use uuid::Uuid;

use super::jobs::{self, JobRow};
use super::{
    filter_in, in_page_order, lookups, matches_nothing, newest_page, unique_by_prefix, Conn,
    HexPrefix, IdSet, Limit, Order, PackageSpec, PageKey, SubmitStatus, TimeWindow, UuidPrefix,
};
use crate::db::models::{JobId, JobStatus, SubmitId};
use crate::db::schema::{
    env_vars, git_hashes, images, jobs as jobs_t, packages, submit_changes, submit_envs, submits,
};

/// What `db submits` filters on; every field is optional and all must match.
#[derive(Debug, Clone, Default)]
pub struct SubmitFilter {
    /// `--package`: the package the submit asked for.
    pub package: Option<PackageSpec>,
    /// `--with-package`: a package built anywhere in the submit's tree.
    pub with_package: Option<PackageSpec>,
    /// `--image`: the full name of the requested image.
    pub image: Option<String>,
    /// `--commit`: the start of the repository's commit hash.
    pub commit: Option<HexPrefix>,
    pub status: Option<SubmitStatus>,
    /// `--newer-than`/`--older-than` on the submit's start.
    pub window: TimeWindow,
}

/// One submit as listed.
#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = submits, check_for_backend(diesel::pg::Pg))]
pub struct SubmitRow {
    #[serde(skip)]
    pub id: SubmitId,
    pub uuid: Uuid,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    #[diesel(select_expression = sql::<Nullable<Double>>(
        "EXTRACT(EPOCH FROM (submits.ended_at - submits.started_at))::float8"))]
    #[diesel(select_expression_type = diesel::expression::SqlLiteral<Nullable<Double>>)]
    pub duration_seconds: Option<f64>,
    pub status: SubmitStatus,
    #[diesel(select_expression = packages::name)]
    pub package_name: String,
    #[diesel(select_expression = packages::version)]
    pub package_version: String,
    #[diesel(select_expression = images::name)]
    pub image: String,
    #[diesel(select_expression = git_hashes::hash)]
    pub commit: String,
    pub repo_dirty: bool,
    pub submitter_user: String,
    pub submitter_host: String,
}

/// A listed submit with the number of its jobs.
#[derive(Debug, Serialize)]
pub struct SubmitListItem {
    #[serde(flatten)]
    pub submit: SubmitRow,
    /// All jobs of the submit.
    pub jobs: i64,
    /// Jobs that failed, timed out or were lost.
    pub jobs_failed: i64,
}

/// `db submits`: the newest submits that match a filter.
pub fn list_submits(
    conn: &mut Conn,
    filter: &SubmitFilter,
    limit: Limit,
) -> QueryResult<Vec<SubmitListItem>> {
    let resolved = Resolved::new(conn, filter)?;
    if matches_nothing(&[
        &resolved.package,
        &resolved.with_package,
        &resolved.image,
        &resolved.commit,
    ]) {
        return Ok(Vec::new());
    }
    let order = Order::for_window(&filter.window);
    // The filter with several ids (if any) on which the page query is split.
    let split = [&resolved.package, &resolved.with_package, &resolved.commit]
        .into_iter()
        .position(|s| matches!(s, Some(ids) if ids.len() > 1));
    let split_ids = split
        .and_then(|i| [&resolved.package, &resolved.with_package, &resolved.commit][i].as_deref());
    let page = newest_page(split_ids, limit, |ids| {
        let pick = |i: usize, all: &IdSet| -> Option<Vec<i32>> {
            if split == Some(i) {
                ids.map(<[i32]>::to_vec)
            } else {
                all.clone()
            }
        };
        let (package, built, commit) = (
            pick(0, &resolved.package),
            pick(1, &resolved.with_package),
            pick(2, &resolved.commit),
        );
        let make = || {
            page_query(
                filter,
                package.as_deref(),
                commit.as_deref(),
                resolved.image.as_deref(),
            )
        };
        let mut q = make();
        match built.as_deref() {
            Some([one]) if order == Order::Id => return walk_built(conn, *one, limit, make),
            Some(ids) => {
                let jobs_of = jobs_t::table.select(jobs_t::submit_id).into_boxed();
                let jobs_of = filter_in!(jobs_of, jobs_t::package_id, ids);
                q = q.filter(submits::id.eq_any(jobs_of));
            }
            None => {}
        }
        q = match order {
            Order::Id => q.order(submits::id.desc()),
            Order::Time => q.order((submits::started_at.desc(), submits::id.desc())),
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
    let rows = load_rows(conn, &page)?;
    let counts = job_counts(conn, &page)?;
    Ok(rows
        .into_iter()
        .map(|submit| {
            let of = counts.get(&submit.id);
            let total = of.map(|c| c.values().sum()).unwrap_or(0);
            let failed = of
                .map(|c| {
                    c.iter()
                        .filter(|(status, _)| status.is_failure())
                        .map(|(_, n)| n)
                        .sum()
                })
                .unwrap_or(0);
            SubmitListItem {
                submit,
                jobs: total,
                jobs_failed: failed,
            }
        })
        .collect())
}

/// A page query on `submits` with every filter but `--with-package`, not
/// yet ordered or limited.
type PageQuery<'a> = submits::BoxedQuery<'a, diesel::pg::Pg, (Timestamptz, Integer)>;

fn page_query<'a>(
    filter: &'a SubmitFilter,
    package: Option<&[i32]>,
    commit: Option<&[i32]>,
    image: Option<&[i32]>,
) -> PageQuery<'a> {
    let mut q = submits::table
        .select((submits::started_at, submits::id))
        .into_boxed();
    if let Some(ids) = package {
        q = filter_in!(q, submits::requested_package_id, ids);
    }
    if let Some(ids) = commit {
        q = filter_in!(q, submits::repo_hash_id, ids);
    }
    if let Some(ids) = image {
        q = filter_in!(q, submits::requested_image_id, ids);
    }
    if let Some(status) = filter.status {
        q = q.filter(submits::status.eq(status));
    }
    if let Some(after) = filter.window.after {
        q = q.filter(submits::started_at.gt(after));
    }
    if let Some(before) = filter.window.before {
        q = q.filter(submits::started_at.lt(before));
    }
    q
}

/// The newest submits that built one package and pass the other filters.
///
/// Walks the distinct submit ids of the package's jobs newest first over the
/// `(package_id, submit_id DESC)` index, in growing batches, and keeps those
/// the other filters accept: the work is bounded by the page, not by how
/// often the package was ever built.
fn walk_built<'a>(
    conn: &mut Conn,
    package_id: i32,
    limit: Limit,
    make: impl Fn() -> PageQuery<'a>,
) -> QueryResult<Vec<PageKey>> {
    let want = limit.as_sql();
    let mut batch = want.map(|n| n.max(64));
    let mut below: Option<i32> = None;
    let mut keys = Vec::new();
    loop {
        let mut candidates = jobs_t::table
            .filter(jobs_t::package_id.eq(package_id))
            .select(jobs_t::submit_id)
            .distinct()
            .order(jobs_t::submit_id.desc())
            .into_boxed();
        if let Some(below) = below {
            candidates = candidates.filter(jobs_t::submit_id.lt(below));
        }
        if let Some(n) = batch {
            candidates = candidates.limit(n);
        }
        let candidates: Vec<i32> = candidates.load(conn)?;
        let Some(&last) = candidates.last() else {
            break;
        };
        let exhausted = batch.is_none_or(|n| (candidates.len() as i64) < n);
        let mut q = make()
            .filter(submits::id.eq_any(candidates))
            .order(submits::id.desc());
        if let Some(n) = want {
            q = q.limit(n - keys.len() as i64);
        }
        let found: Vec<(DateTime<Utc>, i32)> = q.load(conn)?;
        keys.extend(
            found
                .into_iter()
                .map(|(time, id)| PageKey::new(Order::Id, time, id)),
        );
        if exhausted || want.is_some_and(|n| keys.len() as i64 >= n) {
            break;
        }
        below = Some(last);
        batch = batch.map(|n| n.saturating_mul(4));
    }
    Ok(keys)
}

/// The filter's names resolved to ids.
struct Resolved {
    package: IdSet,
    with_package: IdSet,
    image: IdSet,
    commit: IdSet,
}

impl Resolved {
    fn new(conn: &mut Conn, f: &SubmitFilter) -> QueryResult<Self> {
        Ok(Resolved {
            package: f
                .package
                .as_ref()
                .map(|p| lookups::package_ids(conn, p))
                .transpose()?,
            with_package: f
                .with_package
                .as_ref()
                .map(|p| lookups::package_ids(conn, p))
                .transpose()?,
            image: f
                .image
                .as_deref()
                .map(|i| lookups::image_ids(conn, i))
                .transpose()?,
            commit: f
                .commit
                .as_ref()
                .map(|c| lookups::git_hash_ids(conn, c))
                .transpose()?,
        })
    }
}

/// The listed columns of the given submits, in the given order.
fn load_rows(conn: &mut Conn, page: &[i32]) -> QueryResult<Vec<SubmitRow>> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let rows = submits::table
        .inner_join(packages::table)
        .inner_join(images::table)
        .inner_join(git_hashes::table)
        .filter(submits::id.eq_any(page))
        .select(SubmitRow::as_select())
        .load(conn)?;
    Ok(in_page_order(page, rows, |r| r.id.0))
}

/// How many jobs of a submit are in each status.
pub type JobCounts = BTreeMap<JobStatus, i64>;

/// Per submit of the page, how many of its jobs are in each status.
fn job_counts(conn: &mut Conn, page: &[i32]) -> QueryResult<BTreeMap<SubmitId, JobCounts>> {
    let counts: Vec<(SubmitId, JobStatus, i64)> = jobs_t::table
        .filter(jobs_t::submit_id.eq_any(page))
        .group_by((jobs_t::submit_id, jobs_t::status))
        .select((jobs_t::submit_id, jobs_t::status, count_star()))
        .load(conn)?;
    let mut by_submit: BTreeMap<SubmitId, JobCounts> = BTreeMap::new();
    for (submit, status, n) in counts {
        by_submit.entry(submit).or_default().insert(status, n);
    }
    Ok(by_submit)
}

/// Finds the one submit whose UUID starts with a prefix.
pub fn resolve(conn: &mut Conn, prefix: &UuidPrefix) -> anyhow::Result<(SubmitId, Uuid)> {
    unique_by_prefix(
        conn,
        "submit",
        prefix,
        |conn, uuid| {
            submits::table
                .filter(submits::uuid.eq(uuid))
                .select((submits::id, submits::uuid))
                .first(conn)
                .optional()
        },
        |conn, pattern, n| {
            submits::table
                .filter(
                    submits::uuid
                        .cast::<diesel::sql_types::Text>()
                        .like(pattern),
                )
                .order(submits::uuid.cast::<diesel::sql_types::Text>())
                .select((submits::id, submits::uuid))
                .limit(n)
                .load(conn)
        },
    )
}

/// Everything recorded about one submit, and its jobs.
#[derive(Debug, Serialize)]
pub struct SubmitDetail {
    #[serde(flatten)]
    pub submit: SubmitRow,
    pub repo_diff_sha256: Option<String>,
    /// The size of the stored uncommitted changes, uncompressed, in bytes
    /// (`None` for a clean tree, or changes recorded only by their hash).
    pub changes_size: Option<i64>,
    /// The submit this one rebuilt (`kiln reproduce`).
    pub reproduces: Option<Uuid>,
    /// When its status was last set, and by whom (the audit columns).
    pub status_set_at: DateTime<Utc>,
    pub status_set_by: String,
    pub kiln_version: String,
    /// The command-line environment recorded for the submit.
    pub env: Vec<super::jobs::EnvVar>,
    /// The number of its jobs in each status.
    pub job_counts: JobCounts,
    /// The resolved package tree.
    pub tree: serde_json::Value,
    /// The build plan.
    pub plan: serde_json::Value,
    /// Its jobs, in the order they were planned.
    pub jobs: Vec<JobEntry>,
}

/// A job of a submit, with its artifacts when they were asked for.
#[derive(Debug, Serialize)]
pub struct JobEntry {
    #[serde(flatten)]
    pub job: JobRow,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Vec<StagedArtifact>>,
}

/// An artifact of a submit's job, and where it is in the staging store.
#[derive(Debug, Clone, Serialize)]
pub struct StagedArtifact {
    #[serde(skip)]
    pub job_id: JobId,
    pub path: String,
    pub size: i64,
    pub sha256: String,
    /// `<staging>/<submit uuid>/<path>`.
    pub staged_path: Option<std::path::PathBuf>,
}

/// The artifacts of every job of a submit, by job id, each with its path
/// under `dir` (the submit's staging directory).
fn artifacts_of_submit(
    conn: &mut Conn,
    id: SubmitId,
    dir: &std::path::Path,
) -> QueryResult<BTreeMap<JobId, Vec<StagedArtifact>>> {
    use crate::db::schema::{artifacts, jobs as job_rows};
    let rows: Vec<(JobId, String, i64, String)> = artifacts::table
        .inner_join(job_rows::table)
        .filter(job_rows::submit_id.eq(id))
        .order((artifacts::job_id, artifacts::path))
        .select((
            artifacts::job_id,
            artifacts::path,
            artifacts::size,
            artifacts::sha256,
        ))
        .load(conn)?;
    let mut out: BTreeMap<JobId, Vec<StagedArtifact>> = BTreeMap::new();
    for (job_id, path, size, sha256) in rows {
        let staged_path = crate::store::RelPath::new(&path)
            .ok()
            .map(|rel| rel.under(dir));
        out.entry(job_id).or_default().push(StagedArtifact {
            job_id,
            path,
            size,
            sha256,
            staged_path,
        });
    }
    Ok(out)
}

/// The id of the submit with this UUID.
pub fn find(conn: &mut Conn, uuid: Uuid) -> QueryResult<SubmitId> {
    submits::table
        .filter(submits::uuid.eq(uuid))
        .select(submits::id)
        .first(conn)
}

/// `db submit UUID`; with `staging` (the staging root), each job's
/// artifacts and their paths under it.
pub fn submit_detail(
    conn: &mut Conn,
    id: SubmitId,
    staging: Option<&std::path::Path>,
) -> QueryResult<SubmitDetail> {
    let submit = load_rows(conn, &[id.0])?
        .into_iter()
        .next()
        .ok_or(diesel::result::Error::NotFound)?;
    let (repo_diff_sha256, kiln_version, tree, plan, reproduces_id) = submits::table
        .find(id)
        .select((
            submits::repo_diff_sha256,
            submits::kiln_version,
            submits::tree,
            submits::plan,
            submits::reproduces_submit_id,
        ))
        .first::<(
            Option<String>,
            String,
            serde_json::Value,
            serde_json::Value,
            Option<SubmitId>,
        )>(conn)?;
    let (status_set_at, status_set_by) = submits::table
        .find(id)
        .select((submits::set_at, submits::set_by))
        .first(conn)?;
    let changes_size = submit_changes::table
        .find(id)
        .select(submit_changes::size)
        .first(conn)
        .optional()?;
    let reproduces = match reproduces_id {
        Some(original) => Some(
            submits::table
                .find(original)
                .select(submits::uuid)
                .first(conn)?,
        ),
        None => None,
    };
    let env = submit_envs::table
        .inner_join(env_vars::table)
        .filter(submit_envs::submit_id.eq(id))
        .order((env_vars::name, env_vars::value))
        .select(super::jobs::EnvVar::as_select())
        .load(conn)?;
    let job_counts = job_counts(conn, &[id.0])?.remove(&id).unwrap_or_default();
    let mut artifacts = match staging {
        Some(root) => Some(artifacts_of_submit(
            conn,
            id,
            &root.join(submit.uuid.to_string()),
        )?),
        None => None,
    };
    let jobs = jobs::jobs_of_submit(conn, id)?
        .into_iter()
        .map(|job| JobEntry {
            artifacts: artifacts
                .as_mut()
                .map(|all| all.remove(&job.id).unwrap_or_default()),
            job,
        })
        .collect();
    Ok(SubmitDetail {
        submit,
        repo_diff_sha256,
        changes_size,
        reproduces,
        status_set_at,
        status_set_by,
        kiln_version,
        env,
        job_counts,
        tree,
        plan,
        jobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Job counts are listed by status name, in name order (as `db submit`
    /// lists them), with the names as stored.
    #[test]
    fn job_counts_are_keyed_by_status_name() {
        let counts: JobCounts = JobStatus::ALL.iter().map(|s| (*s, 1)).collect();
        let mut names: Vec<&str> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        let listed: Vec<&str> = counts.keys().map(|s| s.as_str()).collect();
        assert_eq!(listed, names);
        let expected: Vec<String> = names.iter().map(|n| format!("\"{n}\":1")).collect();
        assert_eq!(
            serde_json::to_string(&counts).expect("json"),
            format!("{{{}}}", expected.join(","))
        );
    }
}
