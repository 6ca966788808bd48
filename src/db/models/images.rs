//! `images`: a Docker image by the name the configuration gives it; a shared
//! lookup row. The digests it resolved to are in `image_digests`.

use diesel::prelude::*;

use super::id_type;
use crate::db::schema::images;

id_type!(
    /// The id of an `images` row.
    ImageId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = images, check_for_backend(diesel::pg::Pg))]
pub struct Image {
    pub id: ImageId,
    pub name: String,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = images)]
pub struct NewImage<'a> {
    /// The full name, as in `docker.images` (`debian:bookworm`).
    pub name: &'a str,
}

impl NewImage<'_> {
    /// The row of this image, inserted if it is new.
    pub fn get_or_create(&self, conn: &mut PgConnection) -> QueryResult<Image> {
        let inserted = diesel::insert_into(images::table)
            .values(self)
            .on_conflict(images::name)
            .do_nothing()
            .returning(Image::as_returning())
            .get_result(conn)
            .optional()?;
        match inserted {
            Some(row) => Ok(row),
            None => images::table
                .filter(images::name.eq(self.name))
                .select(Image::as_select())
                .first(conn),
        }
    }
}
