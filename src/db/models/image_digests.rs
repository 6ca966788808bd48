//! `image_digests`: a digest an image name resolved to on some endpoint, with
//! when it was first and last seen; a shared lookup row.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{id_type, ImageId};
use crate::db::schema::image_digests;

id_type!(
    /// The id of an `image_digests` row.
    ImageDigestId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = image_digests, check_for_backend(diesel::pg::Pg))]
pub struct ImageDigest {
    pub id: ImageDigestId,
    pub image_id: ImageId,
    pub digest: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = image_digests)]
pub struct NewImageDigest<'a> {
    pub image_id: ImageId,
    /// `sha256:...`, as the engine reports it.
    pub digest: &'a str,
}

impl NewImageDigest<'_> {
    /// The row of this digest, inserted if it is new; either way its
    /// `last_seen` becomes now.
    pub fn get_or_create(&self, conn: &mut PgConnection) -> QueryResult<ImageDigest> {
        diesel::insert_into(image_digests::table)
            .values(self)
            .on_conflict((image_digests::image_id, image_digests::digest))
            .do_update()
            .set(image_digests::last_seen.eq(diesel::dsl::now))
            .returning(ImageDigest::as_returning())
            .get_result(conn)
    }
}
