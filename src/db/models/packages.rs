//! `packages`: a package by name and version, as submits request it and jobs
//! build it; a shared lookup row.

use diesel::prelude::*;

use super::id_type;
use crate::db::schema::packages;

id_type!(
    /// The id of a `packages` row.
    PackageId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = packages, check_for_backend(diesel::pg::Pg))]
pub struct Package {
    pub id: PackageId,
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = packages)]
pub struct NewPackage<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

impl NewPackage<'_> {
    /// The row of this package and version, inserted if it is new.
    pub fn get_or_create(&self, conn: &mut PgConnection) -> QueryResult<Package> {
        let inserted = diesel::insert_into(packages::table)
            .values(self)
            .on_conflict((packages::name, packages::version))
            .do_nothing()
            .returning(Package::as_returning())
            .get_result(conn)
            .optional()?;
        match inserted {
            Some(row) => Ok(row),
            None => packages::table
                .filter(packages::name.eq(self.name))
                .filter(packages::version.eq(self.version))
                .select(Package::as_select())
                .first(conn),
        }
    }
}

impl NewPackage<'_> {
    /// The ids of these packages, in the same order, each inserted if it
    /// is new: two statements however many there are.
    pub fn get_or_create_all(
        conn: &mut PgConnection,
        packages: &[NewPackage<'_>],
    ) -> QueryResult<Vec<PackageId>> {
        use diesel::sql_types::{Array, Text};
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            id: PackageId,
        }
        let names: Vec<&str> = packages.iter().map(|p| p.name).collect();
        let versions: Vec<&str> = packages.iter().map(|p| p.version).collect();
        diesel::sql_query(
            "INSERT INTO packages (name, version) \
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind::<Array<Text>, _>(&names)
        .bind::<Array<Text>, _>(&versions)
        .execute(conn)?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT p.id FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(name, version, n) \
             JOIN packages p ON p.name = k.name AND p.version = k.version ORDER BY k.n",
        )
        .bind::<Array<Text>, _>(&names)
        .bind::<Array<Text>, _>(&versions)
        .load(conn)?;
        if rows.len() != packages.len() {
            return Err(diesel::result::Error::NotFound);
        }
        Ok(rows.into_iter().map(|r| r.id).collect())
    }
}
