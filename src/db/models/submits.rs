//! `submits`: one `kiln submit` invocation, with everything needed to know
//! later what was asked for, from which commit, by whom, and how it ended.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::{id_type, text_enum, GitHashId, ImageId, PackageId};
use crate::db::schema::submits;

id_type!(
    /// The id of a `submits` row (users see the UUID instead).
    SubmitId
);

text_enum! {
    /// How far a submit got.
    SubmitStatus ("submit status") {
        /// kiln is working on it (`ended_at` is not set).
        Running => "running",
        /// Every job succeeded or was reused.
        Succeeded => "succeeded",
        /// At least one job failed.
        Failed => "failed",
        /// The user interrupted it.
        Cancelled => "cancelled",
        /// Its kiln process died; a later run found it `running`.
        Lost => "lost",
    }
}

/// How a submit ended: every [`SubmitStatus`] but `Running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitEnd {
    Succeeded,
    Failed,
    Cancelled,
    Lost,
}

impl From<SubmitEnd> for SubmitStatus {
    fn from(end: SubmitEnd) -> Self {
        match end {
            SubmitEnd::Succeeded => SubmitStatus::Succeeded,
            SubmitEnd::Failed => SubmitStatus::Failed,
            SubmitEnd::Cancelled => SubmitStatus::Cancelled,
            SubmitEnd::Lost => SubmitStatus::Lost,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = submits, check_for_backend(diesel::pg::Pg))]
pub struct Submit {
    pub id: SubmitId,
    pub uuid: Uuid,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub status: SubmitStatus,
    pub requested_package_id: PackageId,
    pub requested_image_id: ImageId,
    pub repo_hash_id: GitHashId,
    pub repo_dirty: bool,
    pub repo_diff_sha256: Option<String>,
    pub submitter_user: String,
    pub submitter_host: String,
    pub kiln_version: String,
    pub tree: serde_json::Value,
    pub plan: serde_json::Value,
    /// The lease of the submit's kiln process (see [`super::liveness`]).
    pub alive_until: Option<DateTime<Utc>>,
    pub owner_machine: Option<String>,
    pub owner_pid: Option<i32>,
    pub owner_started: Option<i64>,
    /// The earlier submit this one rebuilt (`kiln reproduce`).
    pub reproduces_submit_id: Option<SubmitId>,
}

/// A new submit; it starts `running`, now.
#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = submits)]
pub struct NewSubmit<'a> {
    pub uuid: Uuid,
    pub requested_package_id: PackageId,
    pub requested_image_id: ImageId,
    pub repo_hash_id: GitHashId,
    /// Whether the work tree had uncommitted changes; true exactly when
    /// `repo_diff_sha256` is set (the database checks it).
    pub repo_dirty: bool,
    /// SHA-256 (hex) of the stored patch of uncommitted changes
    /// (`submit_changes`) when the work tree was dirty.
    pub repo_diff_sha256: Option<&'a str>,
    pub submitter_user: &'a str,
    pub submitter_host: &'a str,
    pub kiln_version: &'a str,
    /// The resolved package tree.
    pub tree: &'a serde_json::Value,
    /// The build plan.
    pub plan: &'a serde_json::Value,
    /// The kiln process that runs the submit: its machine and process-id
    /// namespace, id, and start time (see [`super::liveness::Owner`]).
    pub owner_machine: Option<&'a str>,
    pub owner_pid: Option<i32>,
    pub owner_started: Option<i64>,
    pub reproduces_submit_id: Option<SubmitId>,
}

impl NewSubmit<'_> {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Submit> {
        diesel::insert_into(submits::table)
            .values(self)
            .returning(Submit::as_returning())
            .get_result(conn)
    }
}

impl Submit {
    pub fn find(conn: &mut PgConnection, id: SubmitId) -> QueryResult<Submit> {
        submits::table
            .find(id)
            .select(Submit::as_select())
            .first(conn)
    }

    pub fn find_by_uuid(conn: &mut PgConnection, uuid: Uuid) -> QueryResult<Option<Submit>> {
        submits::table
            .filter(submits::uuid.eq(uuid))
            .select(Submit::as_select())
            .first(conn)
            .optional()
    }

    /// Ends a running submit at `at` (this machine's clock). `None` if it was not running (it had
    /// already ended, or does not exist).
    pub fn finish(
        conn: &mut PgConnection,
        id: SubmitId,
        end: SubmitEnd,
        at: std::time::Instant,
    ) -> QueryResult<Option<Submit>> {
        diesel::update(
            submits::table
                .find(id)
                .filter(submits::status.eq(SubmitStatus::Running)),
        )
        .set((
            submits::status.eq(SubmitStatus::from(end)),
            submits::ended_at.eq(super::moment(at, "started_at")),
        ))
        .returning(Submit::as_returning())
        .get_result(conn)
        .optional()
    }
}
