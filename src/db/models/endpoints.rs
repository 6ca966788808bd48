//! `endpoints`: a Docker endpoint by its configured name, with what kiln last
//! learned of it; a shared lookup row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::id_type;
use crate::db::schema::endpoints;

id_type!(
    /// The id of an `endpoints` row.
    EndpointId
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = endpoints, check_for_backend(diesel::pg::Pg))]
pub struct Endpoint {
    pub id: EndpointId,
    pub name: String,
    pub uri: String,
    pub engine_version: Option<String>,
    pub api_version: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    /// `None` until the first check.
    pub healthy: Option<bool>,
    pub last_error: Option<String>,
    /// The reply timeout of the last check, in milliseconds; `None` for rows
    /// last checked before it was recorded.
    pub timeout_ms: Option<i32>,
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = endpoints)]
pub struct NewEndpoint<'a> {
    pub name: &'a str,
    pub uri: &'a str,
}

/// What one check of an endpoint found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointCheck<'a> {
    /// It answered and meets the configured requirements.
    Healthy {
        engine_version: &'a str,
        api_version: &'a str,
    },
    /// It answered but does not meet them (a version kiln may not use).
    Unhealthy {
        engine_version: &'a str,
        api_version: &'a str,
        error: &'a str,
    },
    /// It did not answer.
    Unreachable { error: &'a str },
}

impl NewEndpoint<'_> {
    /// The row of this endpoint, inserted if it is new; its `uri` becomes the
    /// configured one.
    pub fn get_or_create(&self, conn: &mut PgConnection) -> QueryResult<Endpoint> {
        diesel::insert_into(endpoints::table)
            .values(self)
            .on_conflict(endpoints::name)
            .do_update()
            .set(endpoints::uri.eq(self.uri))
            .returning(Endpoint::as_returning())
            .get_result(conn)
    }
}

impl Endpoint {
    pub fn find_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Endpoint>> {
        endpoints::table
            .filter(endpoints::name.eq(name))
            .select(Endpoint::as_select())
            .first(conn)
            .optional()
    }

    /// Records a check made now, with the reply timeout it gave the endpoint.
    pub fn record_check(
        conn: &mut PgConnection,
        id: EndpointId,
        check: EndpointCheck<'_>,
        timeout: Duration,
    ) -> QueryResult<Endpoint> {
        let now = diesel::dsl::now;
        let timeout_ms = endpoints::timeout_ms.eq(timeout_millis(timeout));
        let target = diesel::update(endpoints::table.find(id));
        match check {
            EndpointCheck::Healthy {
                engine_version,
                api_version,
            } => target
                .set((
                    endpoints::engine_version.eq(engine_version),
                    endpoints::api_version.eq(api_version),
                    endpoints::last_checked_at.eq(now),
                    endpoints::last_seen_at.eq(now),
                    endpoints::healthy.eq(true),
                    endpoints::last_error.eq(None::<&str>),
                    timeout_ms,
                ))
                .returning(Endpoint::as_returning())
                .get_result(conn),
            EndpointCheck::Unhealthy {
                engine_version,
                api_version,
                error,
            } => target
                .set((
                    endpoints::engine_version.eq(engine_version),
                    endpoints::api_version.eq(api_version),
                    endpoints::last_checked_at.eq(now),
                    endpoints::last_seen_at.eq(now),
                    endpoints::healthy.eq(false),
                    endpoints::last_error.eq(error),
                    timeout_ms,
                ))
                .returning(Endpoint::as_returning())
                .get_result(conn),
            EndpointCheck::Unreachable { error } => target
                .set((
                    endpoints::last_checked_at.eq(now),
                    endpoints::healthy.eq(false),
                    endpoints::last_error.eq(error),
                    timeout_ms,
                ))
                .returning(Endpoint::as_returning())
                .get_result(conn),
        }
    }
}

/// A timeout in whole milliseconds, at least 1 (the column holds only
/// positive values), at most what an `integer` holds.
fn timeout_millis(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1)
}
