//! `release_stores`: a release store by its configured name; a shared lookup
//! row.

use diesel::prelude::*;

use super::id_type;
use crate::db::schema::release_stores;

id_type!(
    /// The id of a `release_stores` row.
    ReleaseStoreId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = release_stores, check_for_backend(diesel::pg::Pg))]
pub struct ReleaseStore {
    pub id: ReleaseStoreId,
    pub name: String,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = release_stores)]
pub struct NewReleaseStore<'a> {
    pub name: &'a str,
}

impl NewReleaseStore<'_> {
    /// The row of this store, inserted if it is new.
    pub fn get_or_create(&self, conn: &mut PgConnection) -> QueryResult<ReleaseStore> {
        let inserted = diesel::insert_into(release_stores::table)
            .values(self)
            .on_conflict(release_stores::name)
            .do_nothing()
            .returning(ReleaseStore::as_returning())
            .get_result(conn)
            .optional()?;
        match inserted {
            Some(row) => Ok(row),
            None => release_stores::table
                .filter(release_stores::name.eq(self.name))
                .select(ReleaseStore::as_select())
                .first(conn),
        }
    }
}
