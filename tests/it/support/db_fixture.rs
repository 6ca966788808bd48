//! A fresh PostgreSQL database per test, created through the admin URL
//! (`KILN_TEST_DATABASE_URL`, default the local server's socket) and
//! dropped at the end of the test.
//!
//! Where PostgreSQL cannot be reached, [`TestDb::create`] returns `None`
//! with a printed note, except under `CI=true`, where it panics so that the
//! test fails instead of passing without having run.

use std::sync::atomic::{AtomicU32, Ordering};

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};

use super::in_ci;

const DEFAULT_ADMIN_URL: &str = "postgres:///postgres?host=/var/run/postgresql";

/// A database of one test's own, dropped when the value is.
pub struct TestDb {
    admin_url: String,
    pub name: String,
    /// The URL of the test's database, for `kiln --database-url`.
    pub url: String,
}

impl TestDb {
    /// Creates an empty database, or returns `None` (outside CI) when
    /// PostgreSQL is not reachable.
    pub fn create() -> Option<TestDb> {
        let admin_url =
            std::env::var("KILN_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into());
        let mut admin = match PgConnection::establish(&admin_url) {
            Ok(conn) => conn,
            Err(e) if in_ci() => {
                panic!("PostgreSQL is required under CI but unreachable at {admin_url}: {e}")
            }
            Err(e) => {
                eprintln!("note: skipping: PostgreSQL is unreachable at {admin_url}: {e}");
                return None;
            }
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "kiln_it_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .get(..8)
                .unwrap_or("x")
        );
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("creating the test database");
        let mut url = url::Url::parse(&admin_url).expect("the admin URL is a URL");
        url.set_path(&format!("/{name}"));
        Some(TestDb {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    /// A connection to the test's database, set up as kiln sets up its own.
    pub fn connect(&self) -> PgConnection {
        let mut conn = PgConnection::establish(&self.url).expect("connecting to the test database");
        kiln::db::prepare_session(&mut conn, kiln::config::DEFAULT_DATABASE_SCHEMA)
            .expect("setting up the session");
        conn
    }

    /// Runs SQL statements (separated by `;`) in the test's database.
    pub fn execute(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        self.connect()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("running SQL in the test database: {e}\n{sql}"));
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
