//! `kiln find-artifact`: the artifacts of packages whose names match a
//! regular expression (PostgreSQL's), of one version, built with given
//! variables and image, newest first, each with the places it should be:
//! its submit's staging directory and the release stores it is released
//! into now. Whether the files are there is for the caller to check.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::dsl::{exists, sql};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use uuid::Uuid;

use super::{Conn, Limit};
use crate::db::models::{ArtifactId, JobStatus};
use crate::db::schema::{
    artifacts, env_vars, images, job_envs, jobs, packages, release_stores, releases, submits,
};

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// A regular expression the package name must match (anywhere: anchor
    /// it with `^…$` for a whole name).
    pub name_regex: String,
    pub version: Option<String>,
    /// Variables the job must have had, with these values.
    pub env: Vec<(String, String)>,
    /// The image the job ran in, by its full name.
    pub image: Option<String>,
}

/// An artifact that matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: String,
    pub sha256: String,
    pub size: i64,
    pub package: String,
    pub version: String,
    pub image: String,
    pub job: Uuid,
    pub submit: Uuid,
    pub built_at: Option<DateTime<Utc>>,
    /// The release stores it is released into now.
    pub stores: Vec<String>,
}

/// Why a regular expression was refused, in PostgreSQL's words; `None`
/// when it is valid.
pub fn regex_problem(conn: &mut Conn, regex: &str) -> QueryResult<Option<String>> {
    let checked = diesel::select(sql::<Bool>("'' ~ ").bind::<diesel::sql_types::Text, _>(regex))
        .get_result::<bool>(conn);
    match checked {
        Ok(_) => Ok(None),
        Err(diesel::result::Error::DatabaseError(_, info)) => Ok(Some(info.message().to_owned())),
        Err(other) => Err(other),
    }
}

/// A row of the search: artifact id, path, SHA-256, size, package, version,
/// image, job, submit, when the job finished.
type Row = (
    ArtifactId,
    String,
    String,
    i64,
    String,
    String,
    String,
    Uuid,
    Uuid,
    Option<DateTime<Utc>>,
);

/// The matching artifacts of succeeded and reused jobs, newest job first.
pub fn find(conn: &mut Conn, wanted: &Wanted, limit: Limit) -> QueryResult<Vec<Candidate>> {
    let mut q = artifacts::table
        .inner_join(
            jobs::table
                .inner_join(packages::table)
                .inner_join(images::table)
                .inner_join(submits::table),
        )
        .filter(jobs::status.eq_any([JobStatus::Succeeded, JobStatus::Reused]))
        .filter(
            sql::<Bool>("packages.name ~ ").bind::<diesel::sql_types::Text, _>(&wanted.name_regex),
        )
        .into_boxed();
    if let Some(version) = &wanted.version {
        q = q.filter(packages::version.eq(version));
    }
    if let Some(image) = &wanted.image {
        q = q.filter(images::name.eq(image));
    }
    for (name, value) in &wanted.env {
        q = q.filter(exists(
            job_envs::table
                .inner_join(env_vars::table)
                .filter(job_envs::job_id.eq(jobs::id))
                .filter(env_vars::name.eq(name))
                .filter(env_vars::value.eq(value)),
        ));
    }
    q = q.order((jobs::id.desc(), artifacts::path));
    if let Some(n) = limit.as_sql() {
        q = q.limit(n);
    }
    let rows: Vec<Row> = q
        .select((
            artifacts::id,
            artifacts::path,
            artifacts::sha256,
            artifacts::size,
            packages::name,
            packages::version,
            images::name,
            jobs::uuid,
            submits::uuid,
            jobs::finished_at,
        ))
        .load(conn)?;
    let ids: Vec<ArtifactId> = rows.iter().map(|r| r.0).collect();
    let mut stores: BTreeMap<ArtifactId, Vec<String>> = BTreeMap::new();
    let released: Vec<(ArtifactId, String)> = releases::table
        .inner_join(release_stores::table)
        .filter(releases::artifact_id.eq_any(&ids))
        .filter(releases::removed_at.is_null())
        .order(release_stores::name)
        .select((releases::artifact_id, release_stores::name))
        .load(conn)?;
    for (artifact, store) in released {
        stores.entry(artifact).or_default().push(store);
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, path, sha256, size, package, version, image, job, submit, built_at)| Candidate {
                path,
                sha256,
                size,
                package,
                version,
                image,
                job,
                submit,
                built_at,
                stores: stores.remove(&id).unwrap_or_default(),
            },
        )
        .collect())
}
