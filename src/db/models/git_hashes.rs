//! `git_hashes`: the commit hashes of package repositories that submits were
//! made from; a shared lookup row.

use diesel::prelude::*;

use super::id_type;
use crate::db::schema::git_hashes;

id_type!(
    /// The id of a `git_hashes` row.
    GitHashId
);

/// A commit hash (40 hex digits for SHA-1, 64 for SHA-256 repositories).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = git_hashes, check_for_backend(diesel::pg::Pg))]
pub struct GitHash {
    pub id: GitHashId,
    pub hash: String,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = git_hashes)]
pub struct NewGitHash<'a> {
    /// Lower-case hex.
    pub hash: &'a str,
}

impl NewGitHash<'_> {
    /// The row of this hash, inserted if it is new.
    pub fn get_or_create(&self, conn: &mut PgConnection) -> QueryResult<GitHash> {
        let inserted = diesel::insert_into(git_hashes::table)
            .values(self)
            .on_conflict(git_hashes::hash)
            .do_nothing()
            .returning(GitHash::as_returning())
            .get_result(conn)
            .optional()?;
        match inserted {
            Some(row) => Ok(row),
            None => git_hashes::table
                .filter(git_hashes::hash.eq(self.hash))
                .select(GitHash::as_select())
                .first(conn),
        }
    }
}
