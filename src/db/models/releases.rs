//! `releases`: an artifact copied into a release store, when, by whom and
//! from which host, at which path; and, once it is removed or replaced,
//! when, by whom and why. Rows are never deleted: a store's history stays
//! queryable.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{id_type, text_enum, ArtifactId, PackageId, ReleaseStoreId};
use crate::db::schema::releases;

id_type!(
    /// The id of a `releases` row.
    ReleaseId
);

text_enum! {
    /// Why a release is no longer current.
    Removal ("release removal") {
        /// `kiln release rm` removed its file.
        Removed => "removed",
        /// `kiln release new --update` put another file at its path.
        Replaced => "replaced",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = releases, check_for_backend(diesel::pg::Pg))]
pub struct Release {
    pub id: ReleaseId,
    pub artifact_id: ArtifactId,
    pub release_store_id: ReleaseStoreId,
    pub package_id: PackageId,
    /// The file's path in the store.
    pub path: String,
    pub released_at: DateTime<Utc>,
    pub released_by: String,
    pub released_host: String,
    pub removed_at: Option<DateTime<Utc>>,
    pub removed_by: Option<String>,
    pub removed_host: Option<String>,
    pub removal: Option<Removal>,
}

/// A new current release.
#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = releases)]
pub struct NewRelease<'a> {
    pub artifact_id: ArtifactId,
    pub release_store_id: ReleaseStoreId,
    /// The package the artifact was built for.
    pub package_id: PackageId,
    /// Its path in the store (the artifact's path in staging).
    pub path: &'a str,
    /// The user who released it, and the host it ran on.
    pub released_by: &'a str,
    pub released_host: &'a str,
}

impl NewRelease<'_> {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Release> {
        diesel::insert_into(releases::table)
            .values(self)
            .returning(Release::as_returning())
            .get_result(conn)
    }
}

/// Who removes releases, from where, and why.
#[derive(Debug, Clone, Copy)]
pub struct Removing<'a> {
    pub by: &'a str,
    pub host: &'a str,
    pub removal: Removal,
}

impl Release {
    pub fn find(conn: &mut PgConnection, id: ReleaseId) -> QueryResult<Release> {
        releases::table
            .find(id)
            .select(Release::as_select())
            .first(conn)
    }

    /// The current release at `path` in a store, if there is one.
    pub fn current_at(
        conn: &mut PgConnection,
        store: ReleaseStoreId,
        path: &str,
    ) -> QueryResult<Option<Release>> {
        releases::table
            .filter(releases::release_store_id.eq(store))
            .filter(releases::path.eq(path))
            .filter(releases::removed_at.is_null())
            .select(Release::as_select())
            .first(conn)
            .optional()
    }

    /// The current releases of a package version in a store.
    pub fn current_of_package(
        conn: &mut PgConnection,
        store: ReleaseStoreId,
        package: PackageId,
    ) -> QueryResult<Vec<Release>> {
        releases::table
            .filter(releases::release_store_id.eq(store))
            .filter(releases::package_id.eq(package))
            .filter(releases::removed_at.is_null())
            .order(releases::path)
            .select(Release::as_select())
            .load(conn)
    }

    /// Records releases as no longer current (those that still are).
    pub fn mark_removed(
        conn: &mut PgConnection,
        ids: &[ReleaseId],
        removing: Removing<'_>,
    ) -> QueryResult<usize> {
        diesel::update(
            releases::table
                .filter(releases::id.eq_any(ids))
                .filter(releases::removed_at.is_null()),
        )
        .set((
            releases::removed_at.eq(diesel::dsl::now),
            releases::removed_by.eq(removing.by),
            releases::removed_host.eq(removing.host),
            releases::removal.eq(removing.removal),
        ))
        .execute(conn)
    }
}
