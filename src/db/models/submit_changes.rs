//! `submit_changes`: the uncommitted changes of a submit from a dirty work
//! tree, as a patch against its commit (git's binary-safe format),
//! compressed with zstd. `submits.repo_diff_sha256` is the SHA-256 of the
//! patch before compression.

use diesel::prelude::*;

use super::SubmitId;
use crate::db::schema::submit_changes;

const ZSTD_LEVEL: i32 = 9;

/// A submit's stored changes, still compressed.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = submit_changes, check_for_backend(diesel::pg::Pg))]
pub struct SubmitChanges {
    pub submit_id: SubmitId,
    /// The patch's size before compression, in bytes.
    pub size: i64,
    /// The patch, compressed.
    pub patch: Vec<u8>,
}

impl SubmitChanges {
    /// Compresses and inserts the changes of a submit.
    pub fn insert(conn: &mut PgConnection, submit_id: SubmitId, patch: &[u8]) -> QueryResult<()> {
        let compressed = zstd::encode_all(patch, ZSTD_LEVEL)
            .map_err(|err| diesel::result::Error::SerializationError(Box::new(err)))?;
        diesel::insert_into(submit_changes::table)
            .values((
                submit_changes::submit_id.eq(submit_id),
                submit_changes::size.eq(i64::try_from(patch.len()).unwrap_or(i64::MAX)),
                submit_changes::patch.eq(compressed),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The stored changes of a submit, if it has some.
    pub fn find(conn: &mut PgConnection, submit_id: SubmitId) -> QueryResult<Option<Self>> {
        submit_changes::table
            .find(submit_id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The patch, decompressed.
    pub fn patch(&self) -> std::io::Result<Vec<u8>> {
        zstd::decode_all(self.patch.as_slice())
    }
}
