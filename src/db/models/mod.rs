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
//!
//! The tables written many rows at a time (`jobs`, `artifacts`, the links)
//! have an `insert_all` that takes any number of rows: [`insert_in_batches`]
//! splits them into statements that stay within PostgreSQL's limit of bind
//! parameters, all in one transaction (a savepoint inside the caller's).

use diesel::{Connection, PgConnection, QueryResult};

pub mod artifacts;
pub mod endpoints;
pub mod env_vars;
pub mod git_hashes;
pub mod hash_keys;
pub mod image_digests;
pub mod images;
pub mod job_attempts;
pub mod job_dependencies;
pub mod job_envs;
pub mod job_input_artifacts;
pub mod jobs;
pub mod liveness;
pub mod log_chunks;
pub mod packages;
pub mod release_stores;
pub mod releases;
pub mod submit_changes;
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

/// The database's time of a moment this process saw: `now()` minus the time
/// since `at`, never earlier than the SQL expression `floor` (a column of the
/// updated row). Writing an event's time so, rather than `now()`, keeps it
/// true when the row is written late (after a database outage), without
/// comparing this machine's clock with the database's.
pub(crate) fn moment(
    at: std::time::Instant,
    floor: &'static str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>> {
    // A number formatted by Rust: nothing of it comes from input.
    let ago = at.elapsed().as_secs_f64();
    diesel::dsl::sql(&format!(
        "GREATEST(now() - make_interval(secs => {ago:.6}), {floor})"
    ))
}

/// The most bind parameters PostgreSQL takes in one statement: its wire
/// protocol counts them in 16 bits.
pub const MAX_BIND_PARAMETERS: usize = 65_535;

/// An insert form written many rows at a time by [`insert_in_batches`].
pub trait BatchInsert {
    /// The values one row binds: its columns (a test checks the number
    /// against the SQL diesel writes).
    const COLUMNS: usize;
    /// The most rows one statement can hold.
    const ROWS_PER_STATEMENT: usize = MAX_BIND_PARAMETERS / Self::COLUMNS;
}

/// Writes `rows` with `insert`, in statements of at most
/// [`BatchInsert::ROWS_PER_STATEMENT`] rows, and returns what each statement
/// returned, in order. More than one statement runs in a transaction (a
/// savepoint when the caller has one open): all rows are written, or none.
pub(crate) fn insert_in_batches<T: BatchInsert, R>(
    conn: &mut PgConnection,
    rows: &[T],
    mut insert: impl FnMut(&mut PgConnection, &[T]) -> QueryResult<R>,
) -> QueryResult<Vec<R>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    if rows.len() <= T::ROWS_PER_STATEMENT {
        return insert(conn, rows).map(|r| vec![r]);
    }
    conn.transaction(|conn| {
        rows.chunks(T::ROWS_PER_STATEMENT)
            .map(|batch| insert(conn, batch))
            .collect()
    })
}

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
///
/// The enum is the one spelling of its values: the database column, JSON and
/// CSV (`serde`, `Display`), and the command line (`clap::ValueEnum`, for
/// `--status` filters) all use [`as_str`](#method.as_str). Values sort by
/// that text, as `ORDER BY` on the column sorts them.
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
            /// The stored text, padded as the format asks (`{:<9}`).
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }

            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
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

    /// The bind parameters of inserting `rows`, counted in the SQL diesel writes.
    fn binds_of<T>(rows: &[T], insert: impl Fn(&[T]) -> String) -> usize {
        let sql = insert(rows);
        let statement = sql.split(" -- binds:").next().unwrap_or_default();
        statement.matches('$').count()
    }

    /// Each `BatchInsert::COLUMNS` is what one row binds: the batches stay
    /// within PostgreSQL's limit only if it is.
    #[test]
    fn batch_inserts_know_how_many_values_a_row_binds() {
        use crate::db::schema;
        use diesel::pg::Pg;

        fn check<T: BatchInsert>(what: &str, row: T, insert: impl Fn(&[T]) -> String) {
            let rows = [row];
            assert_eq!(binds_of(&rows, insert), T::COLUMNS, "{what}");
            assert!(T::ROWS_PER_STATEMENT * T::COLUMNS <= MAX_BIND_PARAMETERS);
            assert!((T::ROWS_PER_STATEMENT + 1) * T::COLUMNS > MAX_BIND_PARAMETERS);
        }
        let inputs = serde_json::json!({});
        check(
            "jobs",
            jobs::NewJob {
                uuid: uuid::Uuid::nil(),
                submit_id: SubmitId(1),
                package_id: PackageId(1),
                image_id: ImageId(1),
                status: JobStatus::Queued,
                script: "s",
                build_key: "k",
                build_key_inputs: &inputs,
                // Set, so that they are bound rather than DEFAULT.
                reused_job_id: Some(JobId(1)),
                build_reason: Some("r"),
            },
            |rows| {
                diesel::debug_query::<Pg, _>(&diesel::insert_into(schema::jobs::table).values(rows))
                    .to_string()
            },
        );
        check(
            "artifacts",
            artifacts::NewArtifact {
                job_id: JobId(1),
                path: "p",
                size: 1,
                sha256: "0",
            },
            |rows| {
                diesel::debug_query::<Pg, _>(
                    &diesel::insert_into(schema::artifacts::table).values(rows),
                )
                .to_string()
            },
        );
        check(
            "job_dependencies",
            job_dependencies::JobDependency {
                job_id: JobId(1),
                dependency_job_id: JobId(2),
                kind: job_dependencies::DependencyKind::Build,
            },
            |rows| {
                diesel::debug_query::<Pg, _>(
                    &diesel::insert_into(schema::job_dependencies::table).values(rows),
                )
                .to_string()
            },
        );
        check(
            "job_envs",
            job_envs::JobEnv {
                job_id: JobId(1),
                env_id: EnvVarId(1),
            },
            |rows| {
                diesel::debug_query::<Pg, _>(
                    &diesel::insert_into(schema::job_envs::table).values(rows),
                )
                .to_string()
            },
        );
        check(
            "job_input_artifacts",
            job_input_artifacts::JobInputArtifact {
                job_id: JobId(1),
                artifact_id: ArtifactId(1),
            },
            |rows| {
                diesel::debug_query::<Pg, _>(
                    &diesel::insert_into(schema::job_input_artifacts::table).values(rows),
                )
                .to_string()
            },
        );
        check(
            "submit_envs",
            submit_envs::SubmitEnv {
                submit_id: SubmitId(1),
                env_id: EnvVarId(1),
            },
            |rows| {
                diesel::debug_query::<Pg, _>(
                    &diesel::insert_into(schema::submit_envs::table).values(rows),
                )
                .to_string()
            },
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
