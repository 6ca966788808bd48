//! Databases for tests, the one fixture of them ([`TestDb`]): each test
//! gets a fresh database of its own on the test server, created through an
//! admin URL (`KILN_TEST_DATABASE_URL`, default the local server's socket)
//! and dropped when the test ends. Where PostgreSQL cannot be reached,
//! [`TestDb::new`] returns `None` with a printed note, except under
//! `CI=true`, where it panics so that the test fails instead of passing
//! without having run.

use std::process::Command;

use diesel::pg::PgConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};

use super::{in_ci, Sandbox};

pub const DEFAULT_ADMIN_URL: &str = "postgres:///postgres?host=/var/run/postgresql";

/// The admin URL of the test server.
pub fn admin_url() -> String {
    std::env::var("KILN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Reports a missing service: a failure under CI, a note and a skip elsewhere.
/// Returns `None` so that a test can `let Some(x) = ... else { return };`.
pub fn missing<T>(what: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} (CI=true: missing services are failures)");
    }
    eprintln!("note: skipping test: {what}");
    None
}

/// A database of one test's own, dropped at the end.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    /// Creates `kiln_it_<random>`; `None` (after a note) when the test server is
    /// unreachable outside CI.
    pub fn new() -> Option<TestDb> {
        let admin_url = admin_url();
        let mut admin = match PgConnection::establish(&admin_url) {
            Ok(c) => c,
            Err(e) => return missing(&format!("PostgreSQL is unreachable at {admin_url}: {e}")),
        };
        let name = format!(
            "kiln_it_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("creating the test database");
        let url = database_url(&admin_url, &name);
        Some(TestDb {
            name,
            url,
            admin_url,
        })
    }

    /// A connection set up as kiln sets up its own (kiln's schema first on
    /// the search path).
    pub fn connect(&self) -> PgConnection {
        let mut conn = PgConnection::establish(&self.url).expect("connecting to the test database");
        kiln::db::prepare_session(&mut conn, kiln::config::DEFAULT_DATABASE_SCHEMA)
            .expect("setting up the session");
        conn
    }

    /// `kiln` in `sandbox`, pointed at this database.
    pub fn kiln(&self, sandbox: &Sandbox) -> Command {
        let mut cmd = sandbox.kiln();
        cmd.arg("--database-url").arg(&self.url);
        cmd
    }

    /// Runs SQL statements (separated by `;`) in the test's database.
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        self.connect()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("running SQL in the test database: {e}\n{sql}"));
    }

    /// The database with its schema applied through the library.
    pub fn migrated(self) -> Self {
        let mut conn = self.connect();
        kiln::db::run_pending_migrations(&mut conn, kiln::config::DEFAULT_DATABASE_SCHEMA)
            .expect("applying migrations");
        self
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// The admin URL with its database replaced by `name`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).expect("KILN_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// One column of the live schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
pub struct LiveColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub udt_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub is_nullable: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub column_default: String,
}

/// Every column of every table in kiln's schema.
pub fn live_columns(conn: &mut PgConnection) -> Vec<LiveColumn> {
    diesel::sql_query(
        "SELECT c.table_name::text, c.column_name::text, c.udt_name::text, c.is_nullable::text, \
                COALESCE(c.column_default, '')::text AS column_default \
         FROM information_schema.columns c \
         JOIN information_schema.tables t USING (table_schema, table_name) \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
         ORDER BY 1, 2",
    )
    .load(conn)
    .expect("reading information_schema")
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
pub struct SchemaObject {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub definition: String,
}

/// Everything that makes up the schema: columns, indexes, constraints, and
/// the applied migrations (to see that a run changed nothing).
pub fn schema_snapshot(conn: &mut PgConnection) -> (Vec<LiveColumn>, Vec<SchemaObject>) {
    let objects = diesel::sql_query(
        "SELECT 'index' AS kind, indexname::text AS name, indexdef::text AS definition \
           FROM pg_indexes WHERE schemaname = current_schema() \
         UNION ALL \
         SELECT 'constraint', conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid) \
           FROM pg_constraint WHERE connamespace = current_schema()::regnamespace \
         UNION ALL \
         SELECT 'migration', version::text, run_on::text FROM __diesel_schema_migrations \
         ORDER BY 1, 2",
    )
    .load(conn)
    .expect("reading the schema's objects");
    (live_columns(conn), objects)
}
