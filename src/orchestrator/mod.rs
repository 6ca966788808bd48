//! Running a plan: the run loop that starts jobs as their dependencies
//! succeed, on the endpoint with the most free slots, within each endpoint's
//! `maxjobs`, until everything ran or the user interrupted.
//!
//! One loop owns the job records and the progress display; job tasks (in a
//! `JoinSet`) send it [`Event`]s and return their outcome. The loop sleeps
//! until a task reports: there is no polling. Which job runs next is decided
//! by the pure [`scheduler`].
//!
//! While jobs run, the containers of the jobs that come next (ready ones
//! waiting for a slot, and those waiting only for running jobs) are created
//! ahead, at most one per slot, on the endpoint they will probably go to,
//! with their script, sources and patches uploaded: a job whose dependencies
//! just succeeded then needs only their artifacts uploaded before it starts.
//! Containers prepared for jobs that will not run there are removed before
//! the run ends.

pub mod job;
pub mod scheduler;
pub mod submit;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::models::artifacts::NewArtifact;
use crate::db::models::job_input_artifacts::{JobInputArtifact, NewJobInputArtifact};
use crate::db::models::jobs::{FinalJobStatus, Job, JobEnd, JobStart};
use crate::db::models::{ArtifactId, EndpointId, JobId, JobStatus};
use crate::db::{self, Pool};
use crate::endpoint::Endpoint;
use crate::log::Marker;
use crate::ui::progress::{JobLabel, Progress, ProgressMode};

pub use job::{Failure, InputFile, JobContext, JobOutcome};
use scheduler::{Finish, Scheduler};

/// One job of the plan, as the orchestrator needs it. Its row exists (as
/// `queued`) before the orchestrator sees it.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub id: JobId,
    pub uuid: Uuid,
    pub package: String,
    pub version: String,
    pub script: String,
    pub env: Vec<(String, String)>,
    /// Each source as (`<key>.source`, file in the source cache).
    pub sources: Vec<(String, PathBuf)>,
    /// Each patch as (repository-relative path, file).
    pub patches: Vec<(String, PathBuf)>,
    /// Indices (into the job list) of the jobs this one waits for.
    pub dependencies: Vec<usize>,
}

/// An endpoint the submit may use.
pub struct EndpointSlot {
    pub endpoint: Arc<Endpoint>,
    pub id: EndpointId,
    pub maxjobs: usize,
    /// The digest the build image resolved to on this endpoint.
    pub image_digest: String,
}

/// What a job task tells the run loop while it runs.
#[derive(Debug)]
pub enum Event {
    /// The job's container exists.
    Started { index: usize, container: String },
    /// The script printed a marker.
    Marker { index: usize, marker: Marker },
}

/// How the run should behave.
pub struct RunOptions {
    pub fail_fast: bool,
    pub progress: ProgressMode,
    pub progress_format: Option<String>,
}

/// What became of one job.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub status: JobStatus,
    pub endpoint: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub failure: Option<Failure>,
}

/// What became of the whole run.
#[derive(Debug)]
pub struct RunReport {
    pub jobs: Vec<JobReport>,
    pub interrupted: bool,
}

impl RunReport {
    pub fn all_succeeded(&self) -> bool {
        self.jobs.iter().all(|j| j.status == JobStatus::Succeeded)
    }
}

/// An artifact recorded in the database, kept for the jobs that take it as input.
#[derive(Debug, Clone)]
struct Recorded {
    id: ArtifactId,
    path: String,
    sha256: String,
}

/// Runs every job of `jobs` on `endpoints`. Returns when all jobs reached a
/// final state; a job failing is in the report, not an error.
pub async fn run(
    ctx: Arc<JobContext>,
    jobs: Vec<JobSpec>,
    endpoints: Vec<EndpointSlot>,
    options: RunOptions,
    cancel: CancellationToken,
) -> Result<RunReport> {
    let n = jobs.len();
    let dependencies: Vec<Vec<usize>> = jobs.iter().map(|j| j.dependencies.clone()).collect();
    let slots: Vec<usize> = endpoints.iter().map(|e| e.maxjobs).collect();
    let mut scheduler = Scheduler::new(&dependencies, &slots);
    let closure = transitive_dependencies(&dependencies);
    let labels = jobs
        .iter()
        .map(|j| JobLabel {
            package: j.package.clone(),
            version: j.version.clone(),
            short_id: j.uuid.to_string()[..8].to_owned(),
        })
        .collect();
    let mut progress = Progress::new(options.progress, labels, options.progress_format.as_deref());
    let jobs: Vec<Arc<JobSpec>> = jobs.into_iter().map(Arc::new).collect();
    let mut reports: Vec<JobReport> = (0..n)
        .map(|_| JobReport {
            status: JobStatus::Queued,
            endpoint: None,
            started: None,
            finished: None,
            failure: None,
        })
        .collect();
    let mut recorded: Vec<Vec<Recorded>> = vec![Vec::new(); n];
    let mut assigned: HashMap<usize, usize> = HashMap::new();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let mut interrupted = false;
    // At most as many containers prepared ahead as there are slots.
    let mut preparations = Preparations::new(slots.iter().sum());

    loop {
        if !interrupted {
            let assignments =
                scheduler.next_assignments_preferring(|job| preparations.endpoint_of(job));
            for (index, endpoint) in assignments {
                let spec = Arc::clone(&jobs[index]);
                let preparation = preparations.take(index, endpoint);
                let inputs = match collect_inputs(&ctx, &jobs, &closure[index], &recorded) {
                    Ok(inputs) => inputs,
                    Err(message) => {
                        // Two dependencies produced different files of one
                        // name: the job cannot get a consistent /inputs.
                        let failure = Failure {
                            message,
                            ..Failure::default()
                        };
                        finish_job(&ctx.pool, &spec, FinalJobStatus::Failed, Some(&failure))
                            .await?;
                        reports[index].status = JobStatus::Failed;
                        reports[index].failure = Some(failure);
                        progress.finished(index, "failed", false);
                        if let Some(preparation) = preparation {
                            preparations.discard(preparation);
                        }
                        let dep_failed = scheduler.finished(index, Finish::Failed);
                        preparations.discard_jobs(&dep_failed);
                        record_dep_failed(
                            &ctx.pool,
                            &jobs,
                            &mut reports,
                            &mut progress,
                            dep_failed,
                        )
                        .await?;
                        continue;
                    }
                };
                let input_ids: Vec<ArtifactId> = inputs.iter().map(|(id, _)| *id).collect();
                let job_id = spec.id;
                db::run(
                    &ctx.pool,
                    format!("recording the inputs of job {}", spec.uuid),
                    move |conn| {
                        let links: Vec<NewJobInputArtifact> = input_ids
                            .iter()
                            .map(|&artifact_id| JobInputArtifact {
                                job_id,
                                artifact_id,
                            })
                            .collect();
                        JobInputArtifact::insert_all(conn, &links)?;
                        Ok(())
                    },
                )
                .await?;
                assigned.insert(index, endpoint);
                reports[index].endpoint = Some(endpoints[endpoint].endpoint.name().to_owned());
                progress.started(index, endpoints[endpoint].endpoint.name());
                tasks.spawn(job::run(
                    Arc::clone(&ctx),
                    Arc::clone(&endpoints[endpoint].endpoint),
                    index,
                    spec,
                    inputs.into_iter().map(|(_, f)| f).collect(),
                    preparation,
                    events_tx.clone(),
                    cancel.child_token(),
                ));
            }
            // While those run, make the containers of the jobs that come next.
            for index in scheduler.upcoming(preparations.limit) {
                if preparations.is_full() {
                    break;
                }
                if !preparations.has(index) {
                    let endpoint = scheduler.likely_endpoint(index);
                    let task = tokio::spawn(job::prepare(
                        Arc::clone(&ctx),
                        Arc::clone(&endpoints[endpoint].endpoint),
                        Arc::clone(&jobs[index]),
                    ));
                    preparations.add(index, endpoint, task);
                }
            }
        }
        if tasks.is_empty() {
            if scheduler.is_done() {
                break;
            }
            // A job failed before it started and freed its slot.
            continue;
        }
        tokio::select! {
            Some(event) = events.recv() => match event {
                Event::Started { index, container } => {
                    let spec = &jobs[index];
                    let slot = &endpoints[assigned[&index]];
                    let (job_id, endpoint_id, digest) = (spec.id, slot.id, slot.image_digest.clone());
                    let started = db::run(&ctx.pool, format!("recording the start of job {}", spec.uuid), move |conn| {
                        Ok(Job::start(conn, job_id, JobStart {
                            endpoint_id,
                            container_id: &container,
                            image_digest: Some(&digest),
                        })?)
                    })
                    .await?;
                    reports[index].status = JobStatus::Running;
                    reports[index].started = started.and_then(|j| j.started_at);
                }
                Event::Marker { index, marker } => match marker {
                    Marker::Phase(name) => progress.phase(index, &name),
                    Marker::Progress(percent) => progress.percent(index, percent),
                    Marker::StateOk | Marker::StateErr(_) => {}
                },
            },
            joined = tasks.join_next() => {
                let Some(joined) = joined else { continue };
                let returned = match joined {
                    Ok(r) => r,
                    Err(err) => anyhow::bail!("a job task ended abnormally: {err}"),
                };
                let index = returned.index;
                let spec = Arc::clone(&jobs[index]);
                let (status, failure) = match returned.result {
                    Ok(JobOutcome::Succeeded { artifacts }) => {
                        let records = record_success(&ctx.pool, &spec, &artifacts).await?;
                        recorded[index] = records;
                        (FinalJobStatus::Succeeded, None)
                    }
                    Ok(JobOutcome::Failed(f)) => (FinalJobStatus::Failed, Some(f)),
                    Ok(JobOutcome::TimedOut(f)) => (FinalJobStatus::TimedOut, Some(f)),
                    Ok(JobOutcome::Cancelled) => (FinalJobStatus::Cancelled, None),
                    Err(err) => {
                        // kiln could not run the job (engine, disk): the job
                        // failed, and the message says why. Its container,
                        // if one was made, must not stay behind.
                        if let (Some(id), false) = (&returned.container, ctx.keep_containers) {
                            let endpoint = &endpoints[assigned[&index]].endpoint;
                            if let Err(e) = endpoint.remove_container(id, crate::endpoint::Removal::Force).await {
                                tracing::warn!("removing container {id} of job {}: {}", spec.uuid, crate::error::Chain(&e));
                            }
                        }
                        let message = crate::error::chain(&err).to_string();
                        tracing::debug!("job {} failed to run: {message}", spec.uuid);
                        (FinalJobStatus::Failed, Some(Failure { message, ..Failure::default() }))
                    }
                };
                if status != FinalJobStatus::Succeeded {
                    finish_job(&ctx.pool, &spec, status, failure.as_ref()).await?;
                }
                let job_status = JobStatus::from(status);
                reports[index].status = job_status;
                reports[index].finished = Some(Utc::now());
                reports[index].failure = failure;
                progress.finished(index, job_status.as_str(), status == FinalJobStatus::Succeeded);
                let finish = if status == FinalJobStatus::Succeeded { Finish::Succeeded } else { Finish::Failed };
                let dep_failed = scheduler.finished(index, finish);
                preparations.discard_jobs(&dep_failed);
                record_dep_failed(&ctx.pool, &jobs, &mut reports, &mut progress, dep_failed).await?;
                if finish == Finish::Failed && options.fail_fast && !interrupted {
                    progress.note("a job failed and --fail-fast is given: starting no more jobs");
                    let never = scheduler.stop();
                    preparations.discard_jobs(&never);
                    record_not_started(&ctx.pool, &jobs, &mut reports, &mut progress, never, FinalJobStatus::Cancelled).await?;
                }
            }
            _ = cancel.cancelled(), if !interrupted => {
                interrupted = true;
                progress.note("interrupted: starting no more jobs, stopping the running ones");
                let never = scheduler.stop();
                preparations.discard_jobs(&never);
                record_not_started(&ctx.pool, &jobs, &mut reports, &mut progress, never, FinalJobStatus::Cancelled).await?;
            }
        }
    }
    preparations.finish().await;
    progress.finish();
    Ok(RunReport {
        jobs: reports,
        interrupted,
    })
}

/// Containers made ahead of time for jobs that have not started, each on
/// the endpoint the job will probably go to, and the removal of those that
/// end up unused.
struct Preparations {
    limit: usize,
    by_job: HashMap<usize, (usize, job::Preparation)>,
    removals: JoinSet<()>,
}

impl Preparations {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            by_job: HashMap::new(),
            removals: JoinSet::new(),
        }
    }

    fn is_full(&self) -> bool {
        self.by_job.len() >= self.limit
    }

    fn has(&self, job: usize) -> bool {
        self.by_job.contains_key(&job)
    }

    fn endpoint_of(&self, job: usize) -> Option<usize> {
        self.by_job.get(&job).map(|(endpoint, _)| *endpoint)
    }

    fn add(&mut self, job: usize, endpoint: usize, task: job::Preparation) {
        if let Some((_, old)) = self.by_job.insert(job, (endpoint, task)) {
            self.discard(old);
        }
    }

    /// The job's prepared container if it was made on `endpoint`; one made
    /// elsewhere is removed.
    fn take(&mut self, job: usize, endpoint: usize) -> Option<job::Preparation> {
        let (made_on, task) = self.by_job.remove(&job)?;
        if made_on == endpoint {
            Some(task)
        } else {
            self.discard(task);
            None
        }
    }

    fn discard(&mut self, task: job::Preparation) {
        self.removals.spawn(job::discard(task));
    }

    /// Removes the prepared containers of jobs that will not run.
    fn discard_jobs(&mut self, jobs: &[usize]) {
        for job in jobs {
            if let Some((_, task)) = self.by_job.remove(job) {
                self.discard(task);
            }
        }
    }

    /// Removes every unused container and waits until they are gone.
    async fn finish(mut self) {
        for (_, (_, task)) in std::mem::take(&mut self.by_job) {
            self.discard(task);
        }
        while self.removals.join_next().await.is_some() {}
    }
}

/// The artifacts a job takes as inputs: those of all its dependencies,
/// transitively, by file name. Two different files of one name are an error
/// naming both jobs.
fn collect_inputs(
    ctx: &JobContext,
    jobs: &[Arc<JobSpec>],
    dependencies: &[usize],
    recorded: &[Vec<Recorded>],
) -> std::result::Result<Vec<(ArtifactId, InputFile)>, String> {
    let mut by_name: BTreeMap<&str, (usize, &Recorded)> = BTreeMap::new();
    for &dep in dependencies {
        for artifact in &recorded[dep] {
            match by_name.get(artifact.path.as_str()) {
                Some((other, seen)) if seen.sha256 != artifact.sha256 => {
                    return Err(format!(
                        "two dependencies produced different files named `{}`: job {} ({} {}) and job {} ({} {})",
                        artifact.path,
                        jobs[*other].uuid,
                        jobs[*other].package,
                        jobs[*other].version,
                        jobs[dep].uuid,
                        jobs[dep].package,
                        jobs[dep].version
                    ));
                }
                Some(_) => {}
                None => {
                    by_name.insert(&artifact.path, (dep, artifact));
                }
            }
        }
    }
    let dir = ctx.staging.submit_dir(ctx.submit);
    Ok(by_name
        .into_iter()
        .map(|(name, (_, artifact))| {
            (
                artifact.id,
                InputFile {
                    name: name.to_owned(),
                    path: dir.join(name),
                },
            )
        })
        .collect())
}

/// For each job, every job it depends on, directly or not, in index order.
fn transitive_dependencies(dependencies: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = dependencies.len();
    let mut out = vec![Vec::new(); n];
    let mut seen = vec![usize::MAX; n];
    for job in 0..n {
        let mut stack = dependencies[job].clone();
        while let Some(dep) = stack.pop() {
            if seen[dep] != job {
                seen[dep] = job;
                out[job].push(dep);
                stack.extend_from_slice(&dependencies[dep]);
            }
        }
        out[job].sort_unstable();
    }
    out
}

/// Records a job's artifacts and its success in one transaction.
async fn record_success(
    pool: &Pool,
    spec: &JobSpec,
    artifacts: &[crate::store::Artifact],
) -> Result<Vec<Recorded>> {
    let job_id = spec.id;
    let rows: Vec<(String, i64, String)> = artifacts
        .iter()
        .map(|a| {
            (
                a.path.as_str().to_owned(),
                i64::try_from(a.size).unwrap_or(i64::MAX),
                a.sha256.to_hex(),
            )
        })
        .collect();
    db::run(
        pool,
        format!("recording the artifacts of job {}", spec.uuid),
        move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let new: Vec<NewArtifact> = rows
                    .iter()
                    .map(|(path, size, sha256)| NewArtifact {
                        job_id,
                        path,
                        size: *size,
                        sha256,
                    })
                    .collect();
                let inserted = NewArtifact::insert_all(conn, &new)?;
                Job::finish(
                    conn,
                    job_id,
                    JobEnd {
                        status: FinalJobStatus::Succeeded,
                        exit_status: Some(0),
                        failed_phase: None,
                        error_message: None,
                    },
                )?;
                Ok::<_, diesel::result::Error>(
                    inserted
                        .into_iter()
                        .map(|a| Recorded {
                            id: a.id,
                            path: a.path,
                            sha256: a.sha256,
                        })
                        .collect(),
                )
            })
            .map_err(anyhow::Error::from)
        },
    )
    .await
}

async fn finish_job(
    pool: &Pool,
    spec: &JobSpec,
    status: FinalJobStatus,
    failure: Option<&Failure>,
) -> Result<()> {
    let job_id = spec.id;
    let failure = failure.cloned();
    db::run(
        pool,
        format!("recording the end of job {}", spec.uuid),
        move |conn| {
            Job::finish(
                conn,
                job_id,
                JobEnd {
                    status,
                    exit_status: failure.as_ref().and_then(|f| f.exit_status),
                    failed_phase: failure.as_ref().and_then(|f| f.phase.as_deref()),
                    error_message: failure.as_ref().map(|f| f.message.as_str()),
                },
            )?;
            Ok(())
        },
    )
    .await
}

async fn record_dep_failed(
    pool: &Pool,
    jobs: &[Arc<JobSpec>],
    reports: &mut [JobReport],
    progress: &mut Progress,
    indices: Vec<usize>,
) -> Result<()> {
    record_not_started(
        pool,
        jobs,
        reports,
        progress,
        indices,
        FinalJobStatus::DepFailed,
    )
    .await
}

/// Records jobs that will never run, in one transaction.
async fn record_not_started(
    pool: &Pool,
    jobs: &[Arc<JobSpec>],
    reports: &mut [JobReport],
    progress: &mut Progress,
    indices: Vec<usize>,
    status: FinalJobStatus,
) -> Result<()> {
    if indices.is_empty() {
        return Ok(());
    }
    let ids: Vec<JobId> = indices.iter().map(|&i| jobs[i].id).collect();
    let message = match status {
        FinalJobStatus::DepFailed => "not run: a dependency failed",
        _ => "not run: the submit was stopped",
    };
    db::run(pool, "recording jobs that will not run", move |conn| {
        use diesel::Connection;
        conn.transaction(|conn| {
            for id in ids {
                Job::finish(
                    conn,
                    id,
                    JobEnd {
                        status,
                        exit_status: None,
                        failed_phase: None,
                        error_message: Some(message),
                    },
                )?;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    })
    .await?;
    let job_status = JobStatus::from(status);
    for index in indices {
        reports[index].status = job_status;
        reports[index].finished = Some(Utc::now());
        progress.finished(index, job_status.as_str(), false);
    }
    Ok(())
}

/// How long the run loop gives running containers to stop after Ctrl-C.
pub const CANCEL_GRACE: Duration = Duration::from_secs(10);
