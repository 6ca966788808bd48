//! The records behind the containers kiln finds on its endpoints
//! (`kiln endpoint containers`): for each job a container carries in its
//! label, the job's package and its submit's status, read in one query.

use diesel::prelude::*;
use uuid::Uuid;

use super::{Conn, JobStatus, SubmitStatus};
use crate::db::models::liveness::ContainerOwner;
use crate::db::schema::{jobs, packages, submits};

/// What this database holds of the job a container was made for.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ContainerJob {
    pub job: Uuid,
    pub job_status: JobStatus,
    pub submit: Uuid,
    pub submit_status: SubmitStatus,
    pub package_name: String,
    pub package_version: String,
}

impl ContainerJob {
    /// Whose the container is: a running submit's (its kiln lives: first
    /// record lost the submits whose kiln is gone), or a leftover.
    pub fn owner(&self) -> ContainerOwner {
        match self.submit_status {
            SubmitStatus::Running => ContainerOwner::Live,
            _ => ContainerOwner::Gone,
        }
    }
}

/// The jobs with these UUIDs that this database knows, in one query; a
/// UUID it does not know (another kiln's job) is left out.
pub fn container_jobs(conn: &mut Conn, job_uuids: &[Uuid]) -> QueryResult<Vec<ContainerJob>> {
    if job_uuids.is_empty() {
        return Ok(Vec::new());
    }
    jobs::table
        .inner_join(submits::table)
        .inner_join(packages::table)
        .filter(jobs::uuid.eq_any(job_uuids))
        .select((
            jobs::uuid,
            jobs::status,
            submits::uuid,
            submits::status,
            packages::name,
            packages::version,
        ))
        .load(conn)
}
