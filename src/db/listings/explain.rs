//! Why a job was built rather than reused: `kiln explain JOB [OTHER]` and
//! the "what changed" of `kiln submit --dry-run`.
//!
//! A job is compared with the nearest earlier job of its package and
//! version that succeeded or was reused (newest first, one built in the
//! same image preferred), or with the job given; their recorded build key
//! inputs are compared field by field ([`BuildKeyInputs::explain_difference`]),
//! and a dependency whose key changed is explained the same way,
//! recursively, down to the dependency whose own input changed.

use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use super::Conn;
use crate::db::models::jobs::Job;
use crate::db::models::{JobId, JobStatus};
use crate::db::schema::{images, job_dependencies, jobs, packages};
use crate::plan::build_key::{BuildKeyInputs, Difference, Field};

/// What one job was, as the explanation shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobFacts {
    pub uuid: Uuid,
    pub package: String,
    pub version: String,
    pub image: String,
    pub status: JobStatus,
    pub build_key: String,
    /// Why it was built rather than reused, as recorded.
    pub build_reason: Option<String>,
    /// The job it reused, if it was reused.
    pub reused_from: Option<Uuid>,
    #[serde(skip)]
    id: JobId,
    #[serde(skip)]
    inputs: Option<BuildKeyInputs>,
}

/// What the comparison found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The job was not built: it took the artifacts of `compared_with`.
    Reused,
    /// No earlier job of the package and version succeeded or was reused.
    NoEarlierJob,
    /// The build keys are equal: the job was built for its recorded
    /// `build_reason` (an earlier artifact missing or changed, a dependency
    /// built, `--no-reuse` or `--rebuild`).
    SameKey,
    /// The build keys differ in the fields listed.
    InputsDiffer,
}

/// Why a job was built: what it was compared with and what differs.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub job: JobFacts,
    pub compared_with: Option<JobFacts>,
    pub verdict: Verdict,
    pub differences: Vec<Explained>,
}

/// One differing field; for a dependency whose key changed, why.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    #[serde(flatten)]
    pub difference: Difference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<Box<Explanation>>,
}

/// The nearest earlier build of a package and what changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierChange {
    pub job: Uuid,
    pub differences: Vec<Difference>,
}

/// Explains job `id`: against `other` when given, else against the
/// nearest earlier job of its package and version.
pub fn explain(conn: &mut Conn, id: JobId, other: Option<JobId>) -> anyhow::Result<Explanation> {
    let job = facts(conn, id)?;
    let earlier = match (other, job.status, job.reused_from) {
        (Some(other), _, _) => Some(facts(conn, other)?),
        (None, JobStatus::Reused, Some(from)) => Job::find_by_uuid(conn, from)?
            .map(|j| facts(conn, j.id))
            .transpose()?,
        (None, _, _) => {
            nearest_earlier(conn, &job.package, &job.version, &job.image, Some(job.id))?
                .map(|j| facts(conn, j))
                .transpose()?
        }
    };
    compare(conn, job, earlier)
}

fn compare(
    conn: &mut Conn,
    job: JobFacts,
    earlier: Option<JobFacts>,
) -> anyhow::Result<Explanation> {
    let Some(earlier) = earlier else {
        return Ok(Explanation {
            job,
            compared_with: None,
            verdict: Verdict::NoEarlierJob,
            differences: Vec::new(),
        });
    };
    let verdict = if job.status == JobStatus::Reused && job.reused_from == Some(earlier.uuid) {
        Verdict::Reused
    } else if job.build_key == earlier.build_key {
        Verdict::SameKey
    } else {
        Verdict::InputsDiffer
    };
    let differences = match (&earlier.inputs, &job.inputs) {
        (Some(before), Some(after)) => before.explain_difference(after),
        _ => Vec::new(),
    };
    let mut explained = Vec::with_capacity(differences.len());
    for difference in differences {
        let because = match &difference.field {
            Field::Dependency(name) => explain_dependency(conn, &job, &earlier, name)?,
            _ => None,
        };
        explained.push(Explained {
            difference,
            because,
        });
    }
    Ok(Explanation {
        job,
        compared_with: Some(earlier),
        verdict,
        differences: explained,
    })
}

/// Why dependency `name` (`name version`) of two jobs has two keys: its
/// job in each one's submit, compared.
fn explain_dependency(
    conn: &mut Conn,
    job: &JobFacts,
    earlier: &JobFacts,
    name: &str,
) -> anyhow::Result<Option<Box<Explanation>>> {
    let Some((package, version)) = name.split_once(' ') else {
        return Ok(None);
    };
    let later_dep = dependency_named(conn, job.id, package, version)?;
    let earlier_dep = dependency_named(conn, earlier.id, package, version)?;
    let (Some(later_dep), Some(earlier_dep)) = (later_dep, earlier_dep) else {
        return Ok(None);
    };
    let later = facts(conn, later_dep)?;
    let before = facts(conn, earlier_dep)?;
    Ok(Some(Box::new(compare(conn, later, Some(before))?)))
}

/// For each job of a planned submit (package, version, inputs), the
/// nearest earlier build of its package and version and what differs.
pub fn earlier_changes(
    conn: &mut Conn,
    image: &str,
    planned: &[(&str, &str, &BuildKeyInputs)],
) -> QueryResult<Vec<Option<EarlierChange>>> {
    planned
        .iter()
        .map(|(package, version, inputs)| {
            let Some(id) = nearest_earlier(conn, package, version, image, None)? else {
                return Ok(None);
            };
            let job = Job::find(conn, id)?;
            let before: Option<BuildKeyInputs> = serde_json::from_value(job.build_key_inputs).ok();
            Ok(Some(EarlierChange {
                job: job.uuid,
                differences: before
                    .map(|b| b.explain_difference(inputs))
                    .unwrap_or_default(),
            }))
        })
        .collect()
}

/// The newest job of `package version` that succeeded or was reused,
/// before job `before` when given; one built in `image` first.
fn nearest_earlier(
    conn: &mut Conn,
    package: &str,
    version: &str,
    image: &str,
    before: Option<JobId>,
) -> QueryResult<Option<JobId>> {
    let candidates = |same_image: bool| {
        let mut q = jobs::table
            .inner_join(packages::table)
            .inner_join(images::table)
            .filter(packages::name.eq(package))
            .filter(packages::version.eq(version))
            .filter(jobs::status.eq_any([JobStatus::Succeeded, JobStatus::Reused]))
            .select(jobs::id)
            .order(jobs::id.desc())
            .into_boxed();
        if let Some(before) = before {
            q = q.filter(jobs::id.lt(before));
        }
        if same_image {
            q = q.filter(images::name.eq(image));
        }
        q
    };
    match candidates(true).first::<JobId>(conn).optional()? {
        Some(id) => Ok(Some(id)),
        None => candidates(false).first::<JobId>(conn).optional(),
    }
}

/// The job of `package version` that job `id` depended on directly.
fn dependency_named(
    conn: &mut Conn,
    id: JobId,
    package: &str,
    version: &str,
) -> QueryResult<Option<JobId>> {
    job_dependencies::table
        .inner_join(jobs::table.on(jobs::id.eq(job_dependencies::dependency_job_id)))
        .inner_join(packages::table.on(packages::id.eq(jobs::package_id)))
        .filter(job_dependencies::job_id.eq(id))
        .filter(packages::name.eq(package))
        .filter(packages::version.eq(version))
        .select(jobs::id)
        .first(conn)
        .optional()
}

fn facts(conn: &mut Conn, id: JobId) -> QueryResult<JobFacts> {
    let job = Job::find(conn, id)?;
    let (package, version): (String, String) = packages::table
        .find(job.package_id)
        .select((packages::name, packages::version))
        .first(conn)?;
    let image: String = images::table
        .find(job.image_id)
        .select(images::name)
        .first(conn)?;
    let reused_from = match job.reused_job_id {
        Some(from) => Some(jobs::table.find(from).select(jobs::uuid).first(conn)?),
        None => None,
    };
    Ok(JobFacts {
        uuid: job.uuid,
        package,
        version,
        image,
        status: job.status,
        build_key: job.build_key,
        build_reason: job.build_reason,
        reused_from,
        id: job.id,
        inputs: serde_json::from_value(job.build_key_inputs).ok(),
    })
}
