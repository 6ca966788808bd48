//! One file per table: a read struct (`Queryable`, `Selectable`), a borrowed
//! insert struct `NewThing<'a>`, and the writes and single-row reads of that
//! table. Listings live elsewhere.
//!
//! Ids are newtypes ([`JobId`], [`SubmitId`], ...), so that a job's id cannot
//! be passed where a submit's is meant; the CHECKed status columns are enums.
//!
//! The shared lookup rows (packages, images, image digests, env vars, git
//! hashes, endpoints, release stores) have a `get_or_create` that is safe when
//! two kiln processes insert the same row at once: `INSERT ... ON CONFLICT DO
//! NOTHING` waits for the other insert to commit, and the `SELECT` that
//! follows (a new snapshot under READ COMMITTED) then sees its row. Do not
//! call them inside a REPEATABLE READ or SERIALIZABLE transaction.

pub mod artifacts;
pub mod endpoints;
pub mod env_vars;
pub mod git_hashes;
pub mod hash_keys;
pub mod image_digests;
pub mod images;
pub mod job_dependencies;
pub mod job_envs;
pub mod job_input_artifacts;
pub mod jobs;
pub mod liveness;
pub mod log_chunks;
pub mod packages;
pub mod release_stores;
pub mod releases;
pub mod submit_envs;
pub mod submits;

pub use artifacts::ArtifactId;
pub use endpoints::EndpointId;
pub use env_vars::EnvVarId;
pub use git_hashes::GitHashId;
pub use image_digests::ImageDigestId;
pub use images::ImageId;
pub use jobs::{JobId, JobStatus};
pub use packages::PackageId;
pub use release_stores::ReleaseStoreId;
pub use releases::ReleaseId;
pub use submits::{SubmitId, SubmitStatus};

/// A text column held a value that its Rust enum does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// Declares a newtype for a table's `SERIAL` id, usable in queries and rows.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
            diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[serde(transparent)]
        pub struct $name(pub i32);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Integer, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <i32 as diesel::serialize::ToSql<diesel::sql_types::Integer, diesel::pg::Pg>>::to_sql(
                    &self.0, out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Integer, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                <i32 as diesel::deserialize::FromSql<diesel::sql_types::Integer, diesel::pg::Pg>>::from_sql(
                    bytes,
                )
                .map($name)
            }
        }
    };
}

/// Declares an enum stored as one of a fixed set of strings in a TEXT column
/// (the set its CHECK constraint allows).
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($kind:literal) {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            diesel::AsExpression, diesel::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The value stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::db::models::UnknownValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::db::models::UnknownValue { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                Ok(text.parse::<$name>()?)
            }
        }
    };
}

pub(crate) use id_type;
pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a CHECK constraint of the initial migration allows for
    /// `column IN (...)` in `table`.
    fn checked_values(table: &str, column: &str) -> Vec<String> {
        let sql = include_str!("../../../migrations/2026-11-22-000001_initial/up.sql");
        let start = sql
            .find(&format!("CREATE TABLE {table} ("))
            .unwrap_or_else(|| panic!("table {table} in up.sql"));
        let body = &sql[start..];
        let body = &body[..body.find(");\n").expect("end of table")];
        let marker = format!("{column} IN (");
        let at = body
            .find(&marker)
            .unwrap_or_else(|| panic!("CHECK on {table}.{column}"));
        let list = &body[at + marker.len()..];
        let list = &list[..list.find(')').expect("end of list")];
        list.split(',')
            .map(|v| v.trim().trim_matches('\'').to_owned())
            .collect()
    }

    fn check<T: Copy + std::fmt::Debug + PartialEq + std::str::FromStr>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        table: &str,
        column: &str,
    ) where
        T::Err: std::fmt::Debug,
    {
        let strings: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
        let mut want = checked_values(table, column);
        let mut got: Vec<String> = strings.iter().map(|s| s.to_string()).collect();
        want.sort();
        got.sort();
        assert_eq!(
            got, want,
            "{table}.{column}: the enum and the CHECK constraint differ"
        );
        for v in all {
            let back: T = as_str(*v).parse().expect("round trip");
            assert_eq!(back, *v);
        }
        assert!("no-such-value".parse::<T>().is_err());
    }

    #[test]
    fn enums_match_the_check_constraints() {
        check(JobStatus::ALL, JobStatus::as_str, "jobs", "status");
        check(SubmitStatus::ALL, SubmitStatus::as_str, "submits", "status");
        check(
            job_dependencies::DependencyKind::ALL,
            job_dependencies::DependencyKind::as_str,
            "job_dependencies",
            "kind",
        );
    }

    #[test]
    fn ids_print_as_numbers() {
        assert_eq!(JobId(42).to_string(), "42");
        assert_eq!(serde_json::to_string(&SubmitId(7)).expect("json"), "7");
        assert_eq!(
            serde_json::to_string(&JobStatus::TimedOut).expect("json"),
            "\"timed_out\""
        );
    }
}
