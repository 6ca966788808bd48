//! `db artifacts` and `db releases`: files jobs produced, newest job first,
//! and the copies of them made into release stores.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::dsl::exists;
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::{
    filter_in, in_page_order, lookups, matches_nothing, newest_page, Conn, HexPrefix, IdSet, Limit,
    PackageSpec, PageKey, TimeWindow,
};
use crate::db::models::releases::Removal;
use crate::db::models::{ArtifactId, JobId, ReleaseId, SubmitId};
use crate::db::schema::{artifacts, jobs, packages, release_stores, releases};

/// Whether artifacts were copied into a release store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// `--released`: into at least one store.
    Yes,
    /// `--unreleased`: into none.
    No,
}

/// What `db artifacts` filters on; every field is optional and all must match.
#[derive(Debug, Clone, Default)]
pub struct ArtifactFilter {
    /// `--job`: the producing job's id (see [`super::jobs::resolve`]).
    pub job: Option<JobId>,
    /// `--submit`: the submit's id (see [`super::submits::resolve`]).
    pub submit: Option<SubmitId>,
    pub package: Option<PackageSpec>,
    pub released: Option<Released>,
    pub sha256: Option<HexPrefix>,
}

/// One artifact as stored.
#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = artifacts, check_for_backend(diesel::pg::Pg))]
pub struct ArtifactRow {
    #[serde(skip)]
    pub id: ArtifactId,
    pub path: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    #[diesel(select_expression = jobs::uuid)]
    pub job_uuid: Uuid,
    #[diesel(select_expression = packages::name)]
    pub package_name: String,
    #[diesel(select_expression = packages::version)]
    pub package_version: String,
}

/// A listed artifact with the release stores it was copied into.
#[derive(Debug, Serialize)]
pub struct ArtifactItem {
    #[serde(flatten)]
    pub artifact: ArtifactRow,
    /// Names of the release stores, in the order of release.
    pub released_to: Vec<String>,
}

/// `db artifacts`: artifacts of the newest jobs first that match a filter.
pub fn list_artifacts(
    conn: &mut Conn,
    filter: &ArtifactFilter,
    limit: Limit,
) -> QueryResult<Vec<ArtifactItem>> {
    let package: IdSet = filter
        .package
        .as_ref()
        .map(|p| lookups::package_ids(conn, p))
        .transpose()?;
    if matches_nothing(&[&package]) {
        return Ok(Vec::new());
    }
    let page = newest_page(package.as_deref(), limit, |package_ids| {
        let mut q = artifacts::table
            .select((artifacts::job_id, artifacts::id))
            .into_boxed();
        if let Some(job) = filter.job {
            q = q.filter(artifacts::job_id.eq(job));
        }
        if let Some(submit) = filter.submit {
            q = q.filter(
                artifacts::job_id.eq_any(
                    jobs::table
                        .filter(jobs::submit_id.eq(submit))
                        .select(jobs::id),
                ),
            );
        }
        if let Some(ids) = package_ids {
            let of = jobs::table.select(jobs::id).into_boxed();
            let of = filter_in!(of, jobs::package_id, ids);
            q = q.filter(artifacts::job_id.eq_any(of));
        }
        let released = exists(
            releases::table
                .filter(releases::artifact_id.eq(artifacts::id))
                .filter(releases::removed_at.is_null()),
        );
        match filter.released {
            Some(Released::Yes) => q = q.filter(released),
            Some(Released::No) => q = q.filter(diesel::dsl::not(released)),
            None => {}
        }
        if let Some(prefix) = &filter.sha256 {
            q = q.filter(artifacts::sha256.like(prefix.like_pattern()));
        }
        q = q.order((artifacts::job_id.desc(), artifacts::id.desc()));
        if let Some(n) = limit.as_sql() {
            q = q.limit(n);
        }
        let keys: Vec<(i32, i32)> = q.load(conn)?;
        Ok(keys
            .into_iter()
            .map(|(job, id)| PageKey {
                major: i64::from(job),
                id,
            })
            .collect())
    })?;
    let page: Vec<ArtifactId> = page.into_iter().map(ArtifactId).collect();
    artifacts_by_id(conn, &page)
}

/// The given artifacts, in the given order, with their release stores.
pub fn artifacts_by_id(conn: &mut Conn, page: &[ArtifactId]) -> QueryResult<Vec<ArtifactItem>> {
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let rows = artifacts::table
        .inner_join(jobs::table.inner_join(packages::table))
        .filter(artifacts::id.eq_any(page))
        .select(ArtifactRow::as_select())
        .load(conn)?;
    let page: Vec<i32> = page.iter().map(|id| id.0).collect();
    with_stores(conn, in_page_order(&page, rows, |r| r.id.0))
}

/// The artifacts a job produced, by path.
pub fn artifacts_of_job(conn: &mut Conn, job_id: JobId) -> QueryResult<Vec<ArtifactItem>> {
    let rows = artifacts::table
        .inner_join(jobs::table.inner_join(packages::table))
        .filter(artifacts::job_id.eq(job_id))
        .order(artifacts::path)
        .select(ArtifactRow::as_select())
        .load(conn)?;
    with_stores(conn, rows)
}

/// Adds the names of the stores each artifact is released into now.
fn with_stores(conn: &mut Conn, rows: Vec<ArtifactRow>) -> QueryResult<Vec<ArtifactItem>> {
    let ids: Vec<ArtifactId> = rows.iter().map(|r| r.id).collect();
    let stores: Vec<(ArtifactId, String)> = releases::table
        .inner_join(release_stores::table)
        .filter(releases::artifact_id.eq_any(ids))
        .filter(releases::removed_at.is_null())
        .order((releases::released_at, releases::id))
        .select((releases::artifact_id, release_stores::name))
        .load(conn)?;
    let mut by_artifact: BTreeMap<ArtifactId, Vec<String>> = BTreeMap::new();
    for (artifact, store) in stores {
        by_artifact.entry(artifact).or_default().push(store);
    }
    Ok(rows
        .into_iter()
        .map(|artifact| ArtifactItem {
            released_to: by_artifact.remove(&artifact.id).unwrap_or_default(),
            artifact,
        })
        .collect())
}

/// What `db releases` filters on.
#[derive(Debug, Clone, Default)]
pub struct ReleaseFilter {
    /// `--store`: the release store's name.
    pub store: Option<String>,
    pub package: Option<PackageSpec>,
    /// `--newer-than`/`--older-than` on the time of release.
    pub window: TimeWindow,
    /// `--all`: removed and replaced releases too, not only current ones.
    pub all: bool,
}

/// One artifact released into one store.
#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = releases, check_for_backend(diesel::pg::Pg))]
pub struct ReleaseRow {
    #[serde(skip)]
    pub id: ReleaseId,
    pub released_at: DateTime<Utc>,
    #[diesel(select_expression = release_stores::name)]
    pub store: String,
    pub released_by: String,
    pub released_host: String,
    pub path: String,
    #[diesel(select_expression = artifacts::size)]
    pub size: i64,
    #[diesel(select_expression = artifacts::sha256)]
    pub sha256: String,
    #[diesel(select_expression = packages::name)]
    pub package_name: String,
    #[diesel(select_expression = packages::version)]
    pub package_version: String,
    #[diesel(select_expression = jobs::uuid)]
    pub job_uuid: Uuid,
    /// When it stopped being current, by whom, and why (`removed`, `replaced`).
    pub removed_at: Option<DateTime<Utc>>,
    pub removed_by: Option<String>,
    pub removal: Option<Removal>,
}

/// `db releases`: the newest releases that match a filter.
pub fn list_releases(
    conn: &mut Conn,
    filter: &ReleaseFilter,
    limit: Limit,
) -> QueryResult<Vec<ReleaseRow>> {
    let store: IdSet = filter
        .store
        .as_deref()
        .map(|s| lookups::release_store_ids(conn, s))
        .transpose()?;
    let package: IdSet = filter
        .package
        .as_ref()
        .map(|p| lookups::package_ids(conn, p))
        .transpose()?;
    if matches_nothing(&[&store, &package]) {
        return Ok(Vec::new());
    }
    let page = newest_page(package.as_deref(), limit, |package_ids| {
        let mut q = releases::table
            .select((releases::released_at, releases::id))
            .into_boxed();
        if let Some(ids) = &store {
            q = filter_in!(q, releases::release_store_id, ids.as_slice());
        }
        if let Some(ids) = package_ids {
            q = filter_in!(q, releases::package_id, ids);
        }
        if !filter.all {
            q = q.filter(releases::removed_at.is_null());
        }
        if let Some(after) = filter.window.after {
            q = q.filter(releases::released_at.gt(after));
        }
        if let Some(before) = filter.window.before {
            q = q.filter(releases::released_at.lt(before));
        }
        q = q.order((releases::released_at.desc(), releases::id.desc()));
        if let Some(n) = limit.as_sql() {
            q = q.limit(n);
        }
        let keys: Vec<(DateTime<Utc>, i32)> = q.load(conn)?;
        Ok(keys
            .into_iter()
            .map(|(at, id)| PageKey {
                major: at.timestamp_micros(),
                id,
            })
            .collect())
    })?;
    if page.is_empty() {
        return Ok(Vec::new());
    }
    let rows = releases::table
        .inner_join(release_stores::table)
        .inner_join(packages::table)
        .inner_join(artifacts::table.inner_join(jobs::table))
        .filter(releases::id.eq_any(&page))
        .select(ReleaseRow::as_select())
        .load(conn)?;
    Ok(in_page_order(&page, rows, |r| r.id.0))
}
