//! The records of `kiln release`: the artifacts a submit can release, the
//! current releases at paths of a store or of a package, and recording a
//! set of releases or removals in one transaction each. The caller says
//! what to record in plain values; the SQL is here.

use std::collections::BTreeMap;

use diesel::prelude::*;

use super::models::release_stores::NewReleaseStore;
use super::models::releases::{NewRelease, Release, Removal, Removing};
use super::models::{ArtifactId, JobStatus, PackageId, ReleaseId, SubmitId};
use super::schema::{artifacts, jobs, packages, release_stores, releases};
use crate::actor::Actor;

/// An artifact of a submit that can be released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Releasable {
    pub artifact_id: ArtifactId,
    pub package_id: PackageId,
    pub package: String,
    pub version: String,
    /// Its path under the submit's staging directory, and in the store.
    pub path: String,
    pub sha256: String,
    pub size: i64,
}

/// The artifacts of the succeeded and reused jobs of submit `id`, of
/// package `name` (and `version`) when given, by package and path.
pub fn releasable(
    conn: &mut PgConnection,
    id: SubmitId,
    name: Option<&str>,
    version: Option<&str>,
) -> QueryResult<Vec<Releasable>> {
    let mut q = artifacts::table
        .inner_join(jobs::table.inner_join(packages::table))
        .filter(jobs::submit_id.eq(id))
        .filter(jobs::status.eq_any([JobStatus::Succeeded, JobStatus::Reused]))
        .into_boxed();
    if let Some(name) = name {
        q = q.filter(packages::name.eq(name));
    }
    if let Some(version) = version {
        q = q.filter(packages::version.eq(version));
    }
    let rows: Vec<(ArtifactId, PackageId, String, String, String, String, i64)> = q
        .order((packages::name, packages::version, artifacts::path))
        .select((
            artifacts::id,
            packages::id,
            packages::name,
            packages::version,
            artifacts::path,
            artifacts::sha256,
            artifacts::size,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(artifact_id, package_id, package, version, path, sha256, size)| Releasable {
                artifact_id,
                package_id,
                package,
                version,
                path,
                sha256,
                size,
            },
        )
        .collect())
}

/// A current release, with the SHA-256 of what it released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentRelease {
    pub id: ReleaseId,
    pub artifact_id: ArtifactId,
    pub path: String,
    pub sha256: String,
}

/// The current releases at `paths` in store `store`, by path.
pub fn current_at_paths(
    conn: &mut PgConnection,
    store: &str,
    paths: &[&str],
) -> QueryResult<BTreeMap<String, CurrentRelease>> {
    let rows: Vec<(ReleaseId, ArtifactId, String, String)> = releases::table
        .inner_join(release_stores::table)
        .inner_join(artifacts::table)
        .filter(release_stores::name.eq(store))
        .filter(releases::path.eq_any(paths))
        .filter(releases::removed_at.is_null())
        .select((
            releases::id,
            releases::artifact_id,
            releases::path,
            artifacts::sha256,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, artifact_id, path, sha256)| {
            (
                path.clone(),
                CurrentRelease {
                    id,
                    artifact_id,
                    path,
                    sha256,
                },
            )
        })
        .collect())
}

/// The current releases of package `name` `version` in store `store`.
pub fn current_of_package(
    conn: &mut PgConnection,
    store: &str,
    name: &str,
    version: &str,
) -> QueryResult<Vec<Release>> {
    let ids: Option<(i32, PackageId)> = release_stores::table
        .filter(release_stores::name.eq(store))
        .select(release_stores::id)
        .first::<i32>(conn)
        .optional()?
        .zip(
            packages::table
                .filter(packages::name.eq(name))
                .filter(packages::version.eq(version))
                .select(packages::id)
                .first::<PackageId>(conn)
                .optional()?,
        );
    match ids {
        Some((store, package)) => {
            Release::current_of_package(conn, super::models::ReleaseStoreId(store), package)
        }
        None => Ok(Vec::new()),
    }
}

/// A release to record: the artifact, and the current release it replaces.
#[derive(Debug, Clone)]
pub struct ReleaseRecord<'a> {
    pub artifact: &'a Releasable,
    pub replaces: Option<ReleaseId>,
}

/// Records releases into store `store` in one transaction, after
/// `place` (moving the files into place) succeeded inside it: a failure
/// to place them records nothing.
pub fn record_releases<E>(
    conn: &mut PgConnection,
    store: &str,
    records: &[ReleaseRecord<'_>],
    actor: &Actor,
    place: impl FnOnce() -> Result<(), E>,
) -> Result<Vec<Release>, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        let store = NewReleaseStore { name: store }.get_or_create(conn)?;
        let replaced: Vec<ReleaseId> = records.iter().filter_map(|r| r.replaces).collect();
        Release::mark_removed(
            conn,
            &replaced,
            Removing {
                by: &actor.user,
                host: &actor.host,
                removal: Removal::Replaced,
            },
        )?;
        let mut released = Vec::with_capacity(records.len());
        for record in records {
            let a = record.artifact;
            released.push(
                NewRelease {
                    artifact_id: a.artifact_id,
                    release_store_id: store.id,
                    package_id: a.package_id,
                    path: &a.path,
                    released_by: &actor.user,
                    released_host: &actor.host,
                }
                .insert(conn)?,
            );
        }
        place()?;
        Ok(released)
    })
}

/// Records releases as removed in one transaction, after `remove`
/// (deleting their files) succeeded inside it.
pub fn record_removals<E>(
    conn: &mut PgConnection,
    ids: &[ReleaseId],
    actor: &Actor,
    remove: impl FnOnce() -> Result<(), E>,
) -> Result<usize, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        let n = Release::mark_removed(
            conn,
            ids,
            Removing {
                by: &actor.user,
                host: &actor.host,
                removal: Removal::Removed,
            },
        )?;
        remove()?;
        Ok(n)
    })
}
