//! `hash_keys`: the keys of kiln's keyed hashes, one row per use, made at
//! random by the first caller that needs one and kept for the life of the
//! database. The only use is `secret_env`: the HMAC key of the values of
//! secret variables in build key inputs. A key is never printed.

use diesel::prelude::*;

use crate::db::schema::hash_keys;

/// The name of the key of secret variables' values.
pub const SECRET_ENV: &str = "secret_env";

/// The length of every key, in bytes.
pub const KEY_BYTES: usize = 32;

/// A new key, at random.
pub fn random_key() -> Result<[u8; KEY_BYTES], getrandom::Error> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::getrandom(&mut key)?;
    Ok(key)
}

/// The key named `name`; `fresh` (from [`random_key`]) becomes it when the
/// database has none yet. Two callers at once get the same key.
pub fn get_or_create(
    conn: &mut PgConnection,
    name: &str,
    fresh: &[u8; KEY_BYTES],
) -> QueryResult<Vec<u8>> {
    diesel::insert_into(hash_keys::table)
        .values((hash_keys::name.eq(name), hash_keys::key.eq(&fresh[..])))
        .on_conflict(hash_keys::name)
        .do_nothing()
        .execute(conn)?;
    hash_keys::table
        .find(name)
        .select(hash_keys::key)
        .first(conn)
}

/// The key named `name`, if the database has one (reads only).
pub fn get(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Vec<u8>>> {
    hash_keys::table
        .find(name)
        .select(hash_keys::key)
        .first(conn)
        .optional()
}
