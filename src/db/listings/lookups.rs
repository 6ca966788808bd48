//! The shared look-up rows: resolving names the user types into ids (for the
//! other listings' filters), and the `db envvars`, `db images`,
//! `db endpoints` and `db packages` listings.

use chrono::{DateTime, Utc};
use diesel::dsl::max;
use diesel::prelude::*;
use serde::Serialize;

use super::{Conn, EnvPair, HexPrefix, JobStatus, Limit, PackageSpec};
use crate::db::models::{ImageId, JobId};
use crate::db::schema::{
    endpoints, env_vars, git_hashes, image_digests, images, job_envs, jobs, packages,
    release_stores,
};

/// Ids of the packages a spec names: every version of a name, or one.
pub fn package_ids(conn: &mut Conn, spec: &PackageSpec) -> QueryResult<Vec<i32>> {
    let mut q = packages::table
        .filter(packages::name.eq(&spec.name))
        .select(packages::id)
        .into_boxed();
    if let Some(version) = &spec.version {
        q = q.filter(packages::version.eq(version));
    }
    q.order(packages::id.desc()).load(conn)
}

/// The id of an image by its full name (empty when unknown).
pub fn image_ids(conn: &mut Conn, name: &str) -> QueryResult<Vec<i32>> {
    images::table
        .filter(images::name.eq(name))
        .select(images::id)
        .load(conn)
}

/// The id of an endpoint by name (empty when unknown).
pub fn endpoint_ids(conn: &mut Conn, name: &str) -> QueryResult<Vec<i32>> {
    endpoints::table
        .filter(endpoints::name.eq(name))
        .select(endpoints::id)
        .load(conn)
}

/// The id of one variable with its value (empty when never recorded).
pub fn env_var_ids(conn: &mut Conn, pair: &EnvPair) -> QueryResult<Vec<i32>> {
    env_vars::table
        .filter(env_vars::name.eq(&pair.name))
        .filter(env_vars::value.eq(&pair.value))
        .select(env_vars::id)
        .load(conn)
}

/// Ids of the commits whose hash starts with a prefix.
pub fn git_hash_ids(conn: &mut Conn, prefix: &HexPrefix) -> QueryResult<Vec<i32>> {
    git_hashes::table
        .filter(git_hashes::hash.like(prefix.like_pattern()))
        .select(git_hashes::id)
        .load(conn)
}

/// The id of a release store by name (empty when nothing was ever released there).
pub fn release_store_ids(conn: &mut Conn, name: &str) -> QueryResult<Vec<i32>> {
    release_stores::table
        .filter(release_stores::name.eq(name))
        .select(release_stores::id)
        .load(conn)
}

// ---------------------------------------------------------------------------
// db envvars
// ---------------------------------------------------------------------------

/// The newest job id of something, as a correlated `max(id)` subquery that
/// an index on `(thing_id, job_id)` answers with one probe.
type NewestJob<T, C, Outer, J> = diesel::dsl::SingleValue<
    diesel::dsl::Select<
        diesel::dsl::Filter<T, diesel::dsl::Eq<C, Outer>>,
        diesel::helper_types::max<J>,
    >,
>;

/// A variable and the newest job that ran with it (as stored).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = env_vars, check_for_backend(diesel::pg::Pg))]
struct EnvVarPage {
    name: String,
    value: String,
    #[diesel(select_expression = job_envs::table
        .filter(job_envs::env_id.eq(env_vars::id))
        .select(max(job_envs::job_id))
        .single_value())]
    #[diesel(select_expression_type = NewestJob<job_envs::table, job_envs::env_id, env_vars::id, job_envs::job_id>)]
    last_job_id: Option<JobId>,
}

/// One variable with one value, and when a job last ran with it.
#[derive(Debug, Serialize)]
pub struct EnvVarRow {
    pub name: String,
    pub value: String,
    /// When the newest job that ran with it was queued.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `db envvars [--name NAME]`: variables, newest first.
pub fn list_env_vars(
    conn: &mut Conn,
    name: Option<&str>,
    limit: Limit,
) -> QueryResult<Vec<EnvVarRow>> {
    let mut q = env_vars::table.select(EnvVarPage::as_select()).into_boxed();
    if let Some(name) = name {
        q = q.filter(env_vars::name.eq(name.to_owned()));
    }
    if let Some(n) = limit.as_sql() {
        q = q.limit(n);
    }
    let page: Vec<EnvVarPage> = q.order(env_vars::id.desc()).load(conn)?;
    let times = queued_times(conn, page.iter().filter_map(|r| r.last_job_id).collect())?;
    Ok(page
        .into_iter()
        .map(|r| EnvVarRow {
            last_used_at: r
                .last_job_id
                .and_then(|id| times.get(&id).map(|(at, _)| *at)),
            name: r.name,
            value: r.value,
        })
        .collect())
}

/// When the given jobs were queued, and their status.
fn queued_times(
    conn: &mut Conn,
    job_ids: Vec<JobId>,
) -> QueryResult<std::collections::HashMap<JobId, (DateTime<Utc>, JobStatus)>> {
    Ok(jobs::table
        .filter(jobs::id.eq_any(job_ids))
        .select((jobs::id, jobs::queued_at, jobs::status))
        .load::<(JobId, DateTime<Utc>, JobStatus)>(conn)?
        .into_iter()
        .map(|(id, at, status)| (id, (at, status)))
        .collect())
}

// ---------------------------------------------------------------------------
// db images
// ---------------------------------------------------------------------------

/// A digest an image name resolved to, and when it was first and last seen.
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = image_digests, check_for_backend(diesel::pg::Pg))]
pub struct DigestSeen {
    #[serde(skip)]
    pub image_id: ImageId,
    pub digest: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// An image by name, with every digest seen.
#[derive(Debug, Serialize)]
pub struct ImageRow {
    #[serde(skip)]
    pub id: ImageId,
    pub name: String,
    pub digests: Vec<DigestSeen>,
}

/// `db images`: images, newest first, each with its digests (newest seen first).
pub fn list_images(conn: &mut Conn, limit: Limit) -> QueryResult<Vec<ImageRow>> {
    let mut q = images::table
        .select((images::id, images::name))
        .into_boxed();
    if let Some(n) = limit.as_sql() {
        q = q.limit(n);
    }
    let page: Vec<(ImageId, String)> = q.order(images::id.desc()).load(conn)?;
    let ids: Vec<ImageId> = page.iter().map(|(id, _)| *id).collect();
    let digests: Vec<DigestSeen> = image_digests::table
        .filter(image_digests::image_id.eq_any(ids))
        .order((image_digests::image_id, image_digests::last_seen.desc()))
        .select(DigestSeen::as_select())
        .load(conn)?;
    Ok(page
        .into_iter()
        .map(|(id, name)| ImageRow {
            id,
            name,
            digests: digests
                .iter()
                .filter(|d| d.image_id == id)
                .cloned()
                .collect(),
        })
        .collect())
}

// ---------------------------------------------------------------------------
// db endpoints
// ---------------------------------------------------------------------------

/// An endpoint with what kiln last learned of it.
#[derive(Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = endpoints, check_for_backend(diesel::pg::Pg))]
pub struct EndpointRow {
    pub name: String,
    pub uri: String,
    pub engine_version: Option<String>,
    pub api_version: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub healthy: Option<bool>,
    pub last_error: Option<String>,
    /// The reply timeout of the last check, in milliseconds.
    pub timeout_ms: Option<i32>,
}

/// `db endpoints`: every endpoint ever used, by name.
pub fn list_endpoints(conn: &mut Conn, limit: Limit) -> QueryResult<Vec<EndpointRow>> {
    let mut q = endpoints::table
        .select(EndpointRow::as_select())
        .into_boxed();
    if let Some(n) = limit.as_sql() {
        q = q.limit(n);
    }
    q.order(endpoints::name).load(conn)
}

// ---------------------------------------------------------------------------
// db packages
// ---------------------------------------------------------------------------

/// A package version and its newest job id (as stored).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = packages, check_for_backend(diesel::pg::Pg))]
struct PackagePage {
    name: String,
    version: String,
    #[diesel(select_expression = jobs::table
        .filter(jobs::package_id.eq(packages::id))
        .select(max(jobs::id))
        .single_value())]
    #[diesel(select_expression_type = NewestJob<jobs::table, jobs::package_id, packages::id, jobs::id>)]
    last_job_id: Option<JobId>,
}

/// A package version, and its newest job.
#[derive(Debug, Serialize)]
pub struct PackageRow {
    pub name: String,
    pub version: String,
    /// When its newest job was queued.
    pub last_job_at: Option<DateTime<Utc>>,
    /// The status of its newest job.
    pub last_job_status: Option<JobStatus>,
}

/// `db packages [--name NAME]`: package versions, newest first.
pub fn list_packages(
    conn: &mut Conn,
    name: Option<&str>,
    limit: Limit,
) -> QueryResult<Vec<PackageRow>> {
    let mut q = packages::table
        .select(PackagePage::as_select())
        .into_boxed();
    if let Some(name) = name {
        q = q.filter(packages::name.eq(name.to_owned()));
    }
    if let Some(n) = limit.as_sql() {
        q = q.limit(n);
    }
    let page: Vec<PackagePage> = q.order(packages::id.desc()).load(conn)?;
    let mut newest = queued_times(conn, page.iter().filter_map(|r| r.last_job_id).collect())?;
    Ok(page
        .into_iter()
        .map(|r| {
            let (at, status) = r.last_job_id.and_then(|id| newest.remove(&id)).unzip();
            PackageRow {
                name: r.name,
                version: r.version,
                last_job_at: at,
                last_job_status: status,
            }
        })
        .collect())
}
