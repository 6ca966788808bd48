//! `releases`: an artifact copied into a release store, when and by whom.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{id_type, ArtifactId, ReleaseStoreId};
use crate::db::schema::releases;

id_type!(
    /// The id of a `releases` row.
    ReleaseId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = releases, check_for_backend(diesel::pg::Pg))]
pub struct Release {
    pub id: ReleaseId,
    pub artifact_id: ArtifactId,
    pub release_store_id: ReleaseStoreId,
    pub released_at: DateTime<Utc>,
    pub released_by: String,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = releases)]
pub struct NewRelease<'a> {
    pub artifact_id: ArtifactId,
    pub release_store_id: ReleaseStoreId,
    /// The user who released it.
    pub released_by: &'a str,
}

/// What recording a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new release row.
    New(Release),
    /// The artifact was already in that store; the earlier row.
    Existing(Release),
}

impl NewRelease<'_> {
    /// Records the release, unless the artifact is already in that store.
    pub fn record(&self, conn: &mut PgConnection) -> QueryResult<Recorded> {
        let inserted = diesel::insert_into(releases::table)
            .values(self)
            .on_conflict((releases::artifact_id, releases::release_store_id))
            .do_nothing()
            .returning(Release::as_returning())
            .get_result(conn)
            .optional()?;
        match inserted {
            Some(row) => Ok(Recorded::New(row)),
            None => releases::table
                .filter(releases::artifact_id.eq(self.artifact_id))
                .filter(releases::release_store_id.eq(self.release_store_id))
                .select(Release::as_select())
                .first(conn)
                .map(Recorded::Existing),
        }
    }
}

impl Release {
    pub fn find(conn: &mut PgConnection, id: ReleaseId) -> QueryResult<Release> {
        releases::table
            .find(id)
            .select(Release::as_select())
            .first(conn)
    }
}
