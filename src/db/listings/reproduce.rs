//! What `kiln reproduce` reads: the recorded submit it rebuilds, and each
//! job of a submit with its build key inputs and artifacts, to compare an
//! original with its rebuild.

use std::collections::BTreeMap;

use diesel::prelude::*;
use uuid::Uuid;

use super::Conn;
use crate::db::models::submit_changes::SubmitChanges;
use crate::db::models::{JobId, JobStatus, SubmitId, SubmitStatus};
use crate::db::schema::{
    artifacts, env_vars, git_hashes, images, jobs, packages, submit_envs, submits,
};

/// A recorded submit, as a reproduction needs it.
#[derive(Debug, Clone)]
pub struct Original {
    pub id: SubmitId,
    pub uuid: Uuid,
    pub status: SubmitStatus,
    pub commit: String,
    /// Whether the work tree had uncommitted changes.
    pub dirty: bool,
    /// SHA-256 of the patch of those changes.
    pub diff_sha256: Option<String>,
    /// The stored patch (compressed); `None` for a clean tree, and for a
    /// dirty one recorded before kiln stored changes.
    pub changes: Option<SubmitChanges>,
    pub package: String,
    pub version: String,
    pub image: String,
    /// The digest its jobs ran on (`None` when no job got that far).
    pub image_digest: Option<String>,
    /// The `-E` variables, as recorded (secrets masked).
    pub env: Vec<(String, String)>,
    pub kiln_version: String,
    /// The first line of its scripts (`--shebang` may have changed it).
    pub shebang: Option<String>,
}

/// The submit with id `id`, for a reproduction.
pub fn original(conn: &mut Conn, id: SubmitId) -> QueryResult<Original> {
    let (uuid, status, dirty, diff_sha256, kiln_version, commit, package, version, image) =
        submits::table
            .find(id)
            .inner_join(git_hashes::table)
            .inner_join(packages::table)
            .inner_join(images::table)
            .select((
                submits::uuid,
                submits::status,
                submits::repo_dirty,
                submits::repo_diff_sha256,
                submits::kiln_version,
                git_hashes::hash,
                packages::name,
                packages::version,
                images::name,
            ))
            .first::<(
                Uuid,
                SubmitStatus,
                bool,
                Option<String>,
                String,
                String,
                String,
                String,
                String,
            )>(conn)?;
    let image_digest = jobs::table
        .filter(jobs::submit_id.eq(id))
        .filter(jobs::image_digest.is_not_null())
        .select(jobs::image_digest)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    let env = submit_envs::table
        .inner_join(env_vars::table)
        .filter(submit_envs::submit_id.eq(id))
        .order(env_vars::name)
        .select((env_vars::name, env_vars::value))
        .load(conn)?;
    let script: Option<String> = jobs::table
        .filter(jobs::submit_id.eq(id))
        .order(jobs::id)
        .select(jobs::script)
        .first(conn)
        .optional()?;
    let shebang = script
        .as_deref()
        .and_then(|s| s.lines().next())
        .filter(|line| line.starts_with("#!"))
        .map(str::to_owned);
    Ok(Original {
        id,
        shebang,
        uuid,
        status,
        commit,
        dirty,
        diff_sha256,
        changes: SubmitChanges::find(conn, id)?,
        package,
        version,
        image,
        image_digest,
        env,
        kiln_version,
    })
}

/// A job of a submit, with what a comparison needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltJob {
    pub uuid: Uuid,
    pub package: String,
    pub version: String,
    pub status: JobStatus,
    pub build_key: String,
    pub build_key_inputs: serde_json::Value,
    /// Its artifacts: path (under the submit's staging directory) and SHA-256.
    pub artifacts: BTreeMap<String, String>,
}

/// Every job of submit `id`, in the order they were planned, with its
/// artifacts.
pub fn built_jobs(conn: &mut Conn, id: SubmitId) -> QueryResult<Vec<BuiltJob>> {
    let rows: Vec<(
        JobId,
        Uuid,
        String,
        String,
        JobStatus,
        String,
        serde_json::Value,
    )> = jobs::table
        .inner_join(packages::table)
        .filter(jobs::submit_id.eq(id))
        .order(jobs::id)
        .select((
            jobs::id,
            jobs::uuid,
            packages::name,
            packages::version,
            jobs::status,
            jobs::build_key,
            jobs::build_key_inputs,
        ))
        .load(conn)?;
    let mut by_job: BTreeMap<JobId, BTreeMap<String, String>> = BTreeMap::new();
    let files: Vec<(JobId, String, String)> = artifacts::table
        .inner_join(jobs::table)
        .filter(jobs::submit_id.eq(id))
        .select((artifacts::job_id, artifacts::path, artifacts::sha256))
        .load(conn)?;
    for (job, path, sha256) in files {
        by_job.entry(job).or_default().insert(path, sha256);
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, uuid, package, version, status, build_key, build_key_inputs)| BuiltJob {
                uuid,
                package,
                version,
                status,
                build_key,
                build_key_inputs,
                artifacts: by_job.remove(&id).unwrap_or_default(),
            },
        )
        .collect())
}
