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

pub mod inputs;
pub mod job;
pub mod owner;
pub mod prepare;
pub mod reuse;
pub mod scheduler;
pub mod submit;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::models::artifacts::NewArtifact;
use crate::db::models::endpoints::{Endpoint as EndpointRow, EndpointCheck};
use crate::db::models::job_attempts::{AttemptEnd, AttemptOutcome, AttemptRecord};
use crate::db::models::job_input_artifacts::{JobInputArtifact, NewJobInputArtifact};
use crate::db::models::jobs::{FinalJobStatus, Job, JobEnd, JobStart};
use crate::db::models::{ArtifactId, EndpointId, JobId, JobStatus};
use crate::db::slots::{Capacity, Connector};
use crate::endpoint::Endpoint;
use crate::log::Marker;
use crate::ui::progress::{JobLabel, Progress, ProgressMode};

use job::JobReturn;
pub use job::{Attempt, Failure, InputFile, JobContext, JobOutcome};
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
    /// The job's container exists (since `at`).
    Started {
        index: usize,
        container: String,
        at: Instant,
    },
    /// The script printed a marker.
    Marker { index: usize, marker: Marker },
    /// An endpoint's engine stopped answering (the run's endpoint index).
    EndpointDown { endpoint: usize, error: String },
}

/// How the run should behave.
pub struct RunOptions {
    pub fail_fast: bool,
    /// How many times a job is tried when engines fail under it.
    pub job_attempts: u32,
    /// Sessions of the database that holds the endpoints' slots, shared
    /// with every other kiln (`None`: only this run's limits apply).
    pub shared_capacity: Option<Connector>,
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

impl JobReport {
    fn queued() -> Self {
        Self {
            status: JobStatus::Queued,
            endpoint: None,
            started: None,
            finished: None,
            failure: None,
        }
    }
}

/// What became of the whole run.
#[derive(Debug)]
pub struct RunReport {
    pub jobs: Vec<JobReport>,
    /// The user interrupted it.
    pub interrupted: bool,
    /// kiln could not go on (the database was lost, a record could not be
    /// written): why. Every job still ended and every container is gone.
    pub aborted: Option<String>,
}

impl RunReport {
    pub fn all_succeeded(&self) -> bool {
        self.jobs
            .iter()
            .all(|j| matches!(j.status, JobStatus::Succeeded | JobStatus::Reused))
    }
}

/// An artifact recorded in the database, kept for the jobs that take it as input.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub id: ArtifactId,
    pub path: String,
    pub sha256: String,
}

/// Why the run stopped starting jobs before the plan was done.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Halt {
    /// Ctrl-C.
    Interrupted,
    /// kiln could not go on (the database, a record that could not be
    /// written); the message says why.
    Aborted(String),
}

/// Runs every job of `jobs` on `endpoints`, but those recorded `reused`
/// (`reused[i]` holds their artifacts, placed and recorded), which are
/// done. Returns when every job reached a final state: a job failing is
/// in the report, and so is kiln failing (the database lost, a record
/// refused), which stops the run but still ends every job and removes
/// every container.
pub async fn run(
    ctx: Arc<JobContext>,
    jobs: Vec<JobSpec>,
    reused: Vec<Option<Vec<Recorded>>>,
    endpoints: Vec<EndpointSlot>,
    options: RunOptions,
    cancel: CancellationToken,
) -> RunReport {
    let capacity = match options.shared_capacity.clone() {
        Some(connect) => {
            let gates: Vec<_> = endpoints
                .iter()
                .map(|e| (e.id, e.endpoint.name().to_owned(), e.maxjobs))
                .collect();
            Capacity::new(connect, &gates)
        }
        None => Capacity::unshared(endpoints.len()),
    };
    let mut run = Run::new(ctx, jobs, reused, &endpoints, &options, cancel);
    run.capacity = Arc::new(capacity);
    run.drive().await;
    run.finish().await
}

/// The state of one run, owned by its loop.
struct Run<'a> {
    ctx: Arc<JobContext>,
    jobs: Vec<Arc<JobSpec>>,
    endpoints: &'a [EndpointSlot],
    fail_fast: bool,
    scheduler: Scheduler,
    /// For each job, every job it depends on, directly or not.
    closure: Vec<Vec<usize>>,
    progress: Progress,
    reports: Vec<JobReport>,
    recorded: Vec<Vec<Recorded>>,
    /// The endpoint (index) each started job runs on.
    assigned: HashMap<usize, usize>,
    /// The container of each job whose task reported one.
    containers: HashMap<usize, String>,
    /// The job of each task.
    task_jobs: HashMap<tokio::task::Id, usize>,
    tasks: JoinSet<JobReturn>,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    preparations: Preparations,
    /// Ctrl-C.
    cancel: CancellationToken,
    /// What the job tasks watch: cancelled by Ctrl-C and by an abort.
    jobs_cancel: CancellationToken,
    halt: Option<Halt>,
    /// An abort happened: the jobs not started yet are still to be ended.
    stop_pending: bool,
    /// Records that could not be written once the run had stopped.
    unrecorded: Vec<String>,
    /// How many times a job is tried when engines fail under it.
    max_attempts: u32,
    /// The attempt each job is at (0: none yet).
    attempts: Vec<u32>,
    /// When each job's current attempt began.
    attempt_started: HashMap<usize, Instant>,
    /// Why the last attempt of a job that is tried again ended.
    retry_notes: HashMap<usize, String>,
    /// Why each endpoint was taken out of the rotation (its engine failed).
    down: Vec<Option<String>>,
    /// Stops a job's task at once (when its engine failed).
    aborts: HashMap<usize, tokio::task::AbortHandle>,
    /// The endpoints' slots, shared with other kiln processes.
    capacity: Arc<Capacity>,
    /// Tasks that ping each endpoint while the run lasts.
    watchdogs: JoinSet<()>,
    /// Removals of the containers of failed attempts.
    cleanups: JoinSet<()>,
}

impl<'a> Run<'a> {
    fn new(
        ctx: Arc<JobContext>,
        jobs: Vec<JobSpec>,
        reused: Vec<Option<Vec<Recorded>>>,
        endpoints: &'a [EndpointSlot],
        options: &RunOptions,
        cancel: CancellationToken,
    ) -> Self {
        let n = jobs.len();
        let dependencies: Vec<Vec<usize>> = jobs.iter().map(|j| j.dependencies.clone()).collect();
        let slots: Vec<usize> = endpoints.iter().map(|e| e.maxjobs).collect();
        let labels = jobs
            .iter()
            .map(|j| JobLabel {
                package: j.package.clone(),
                version: j.version.clone(),
                short_id: j.uuid.to_string()[..8].to_owned(),
            })
            .collect();
        let (events_tx, events) = mpsc::unbounded_channel();
        let done: Vec<bool> = reused.iter().map(Option::is_some).collect();
        let mut progress =
            Progress::new(options.progress, labels, options.progress_format.as_deref());
        let mut reports: Vec<JobReport> = (0..n).map(|_| JobReport::queued()).collect();
        for (index, _) in done.iter().enumerate().filter(|(_, d)| **d) {
            reports[index].status = JobStatus::Reused;
            progress.finished(index, JobStatus::Reused);
        }
        Self {
            ctx,
            jobs: jobs.into_iter().map(Arc::new).collect(),
            endpoints,
            fail_fast: options.fail_fast,
            scheduler: Scheduler::with_succeeded(&dependencies, &slots, &done),
            closure: inputs::transitive_dependencies(&dependencies),
            progress,
            reports,
            recorded: reused.into_iter().map(Option::unwrap_or_default).collect(),
            assigned: HashMap::new(),
            containers: HashMap::new(),
            task_jobs: HashMap::new(),
            tasks: JoinSet::new(),
            events_tx,
            events,
            // At most as many containers prepared ahead as there are slots.
            preparations: Preparations::new(slots.iter().sum()),
            jobs_cancel: cancel.child_token(),
            cancel,
            halt: None,
            stop_pending: false,
            unrecorded: Vec::new(),
            max_attempts: options.job_attempts.max(1),
            attempts: vec![0; n],
            attempt_started: HashMap::new(),
            retry_notes: HashMap::new(),
            down: vec![None; endpoints.len()],
            aborts: HashMap::new(),
            capacity: Arc::new(Capacity::unshared(0)),
            watchdogs: JoinSet::new(),
            cleanups: JoinSet::new(),
        }
    }

    /// The loop: start what can start, then sleep until a task reports, a
    /// job ends, the user interrupts, or the database is lost for good.
    async fn drive(&mut self) {
        let lease = Arc::clone(&self.ctx.lease);
        self.watch_endpoints();
        loop {
            if self.halt.is_none() {
                self.start_ready_jobs().await;
                if self.scheduler.no_endpoint_left() {
                    self.stop_for_want_of_endpoints().await;
                }
                self.prepare_upcoming();
            }
            if std::mem::take(&mut self.stop_pending) {
                self.stop_scheduling().await;
            }
            if self.tasks.is_empty() {
                if self.scheduler.is_done() || self.halt.is_some() {
                    break;
                }
                // A job failed before it started and freed its slot.
                continue;
            }
            tokio::select! {
                // A task's events come before its end: it sent them first.
                biased;
                Some(event) = self.events.recv() => self.on_event(event).await,
                Some(joined) = self.tasks.join_next_with_id() => self.on_task_end(joined).await,
                _ = self.cancel.cancelled(), if self.halt.is_none() => self.interrupt().await,
                reason = lease.lost(), if self.halt.is_none() => {
                    self.abort(anyhow::Error::new(reason).context("the submit's records cannot be written"));
                }
            }
        }
    }

    /// Starts every job the scheduler assigns now.
    async fn start_ready_jobs(&mut self) {
        let assignments = self
            .scheduler
            .next_assignments_preferring(|job| self.preparations.endpoint_of(job));
        for (index, endpoint) in assignments {
            if self.halt.is_some() {
                // The run stopped while this batch was being started.
                self.end_now(index, FinalJobStatus::Cancelled, None).await;
                continue;
            }
            self.start_job(index, endpoint).await;
        }
    }

    async fn start_job(&mut self, index: usize, endpoint: usize) {
        let spec = Arc::clone(&self.jobs[index]);
        let preparation = self.preparations.take(index, endpoint);
        let inputs =
            match collect_inputs(&self.ctx, &self.jobs, &self.closure[index], &self.recorded) {
                Ok(inputs) => inputs,
                Err(message) => {
                    // Two dependencies produced different files of one name: the
                    // job cannot get a consistent /inputs.
                    if let Some(preparation) = preparation {
                        self.preparations.discard(preparation);
                    }
                    let failure = Failure::new(message);
                    self.end_now(index, FinalJobStatus::Failed, Some(failure))
                        .await;
                    return;
                }
            };
        self.attempts[index] += 1;
        let attempt = Attempt {
            number: self.attempts[index],
            note: self.retry_notes.remove(&index),
        };
        // The inputs are recorded with the first attempt.
        let input_ids: Vec<ArtifactId> = match attempt.number {
            1 => inputs.iter().map(|(id, _)| *id).collect(),
            _ => Vec::new(),
        };
        let job_id = spec.id;
        let recorded = self
            .ctx
            .lease
            .write(
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
            .await;
        if let Err(err) = recorded {
            if let Some(preparation) = preparation {
                self.preparations.discard(preparation);
            }
            let failure = Failure::new(crate::error::chain(&err).to_string());
            self.abort(err);
            self.end_now(index, FinalJobStatus::Cancelled, Some(failure))
                .await;
            return;
        }
        let slot = &self.endpoints[endpoint];
        self.assigned.insert(index, endpoint);
        self.attempt_started.insert(index, Instant::now());
        self.reports[index].endpoint = Some(slot.endpoint.name().to_owned());
        self.progress.started(index, slot.endpoint.name());
        let run = job::run(
            Arc::clone(&self.ctx),
            Arc::clone(&slot.endpoint),
            index,
            spec,
            attempt,
            inputs.into_iter().map(|(_, f)| f).collect(),
            preparation,
            self.events_tx.clone(),
            self.jobs_cancel.child_token(),
        );
        let capacity = Arc::clone(&self.capacity);
        let handle = self.tasks.spawn(async move {
            // Held until the job's container is gone.
            let _slot = capacity.acquire(endpoint).await;
            run.await
        });
        self.task_jobs.insert(handle.id(), index);
        self.aborts.insert(index, handle);
    }

    /// Pings every endpoint while the run lasts: one that stops answering
    /// is reported ([`Event::EndpointDown`]), so that the jobs it froze are
    /// tried elsewhere.
    fn watch_endpoints(&mut self) {
        for (index, slot) in self.endpoints.iter().enumerate() {
            let endpoint = Arc::clone(&slot.endpoint);
            let events = self.events_tx.clone();
            self.watchdogs.spawn(async move {
                let mut every =
                    tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    if let Err(err) = endpoint.ping().await {
                        let error = crate::error::Chain(&err).to_string();
                        let _ = events.send(Event::EndpointDown {
                            endpoint: index,
                            error,
                        });
                        return;
                    }
                }
            });
        }
    }

    /// Takes an endpoint whose engine failed out of the rotation: recorded
    /// unhealthy with its error, its running jobs stopped at once (they are
    /// tried again elsewhere when their tasks return), the containers
    /// prepared there dropped.
    /// It is announced when `announce` (else the job whose attempt it
    /// ended says it).
    async fn take_out(&mut self, endpoint: usize, error: String, announce: bool) {
        if self.down[endpoint].is_some() {
            return;
        }
        let slot = &self.endpoints[endpoint];
        let name = slot.endpoint.name().to_owned();
        if announce {
            self.progress.note(&format!(
                "{error}: endpoint `{name}` is taken out of this submit, its jobs go to the other endpoints"
            ));
        }
        self.down[endpoint] = Some(error.clone());
        self.scheduler.remove_endpoint(endpoint);
        self.preparations.drop_on(endpoint, slot.endpoint.timeout());
        for (job, _) in self.assigned.iter().filter(|(_, &e)| e == endpoint) {
            if let Some(task) = self.aborts.get(job) {
                task.abort();
            }
        }
        let (id, timeout) = (slot.id, slot.endpoint.timeout());
        let written = self
            .ctx
            .lease
            .write(
                format!("recording the failure of endpoint `{name}`"),
                move |conn| {
                    EndpointRow::record_check(
                        conn,
                        id,
                        EndpointCheck::Unreachable { error: &error },
                        timeout,
                    )?;
                    Ok(())
                },
            )
            .await;
        self.handle_write(written);
    }

    /// Every endpoint failed: the jobs that have not started never will.
    async fn stop_for_want_of_endpoints(&mut self) {
        let never = self.scheduler.stop();
        if never.is_empty() {
            return;
        }
        self.preparations.discard_jobs(&never);
        let message = format!(
            "not run: no healthy endpoint is left ({})",
            self.failed_endpoints()
        );
        self.progress.note(&message);
        self.not_started(never, FinalJobStatus::Failed, message)
            .await;
    }

    /// The endpoints taken out, each with its error.
    fn failed_endpoints(&self) -> String {
        self.down
            .iter()
            .enumerate()
            .filter_map(|(e, why)| {
                why.as_ref()
                    .map(|why| format!("`{}`: {why}", self.endpoints[e].endpoint.name()))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// While jobs run, makes the containers of the jobs that come next.
    fn prepare_upcoming(&mut self) {
        for index in self.scheduler.upcoming(self.preparations.limit) {
            if self.preparations.is_full() {
                break;
            }
            if !self.preparations.has(index) {
                let endpoint = self.scheduler.likely_endpoint(index);
                let task = tokio::spawn(job::prepare(
                    Arc::clone(&self.ctx),
                    Arc::clone(&self.endpoints[endpoint].endpoint),
                    Arc::clone(&self.jobs[index]),
                ));
                self.preparations.add(index, endpoint, task);
            }
        }
    }

    async fn on_event(&mut self, event: Event) {
        match event {
            Event::Started {
                index,
                container,
                at,
            } => {
                self.containers.insert(index, container.clone());
                self.reports[index].status = JobStatus::Running;
                self.reports[index].started = Some(wall_clock(at));
                let spec = &self.jobs[index];
                let slot = &self.endpoints[self.assigned[&index]];
                let (job_id, endpoint_id, digest) = (spec.id, slot.id, slot.image_digest.clone());
                let attempt = self.attempt_number(index);
                let recorded = self
                    .ctx
                    .lease
                    .write(
                        format!("recording the start of job {}", spec.uuid),
                        move |conn| {
                            Job::start_attempt(
                                conn,
                                job_id,
                                attempt,
                                JobStart {
                                    at,
                                    endpoint_id,
                                    container_id: &container,
                                    image_digest: Some(&digest),
                                },
                            )?;
                            Ok(())
                        },
                    )
                    .await;
                if let Err(err) = recorded {
                    self.abort(err);
                }
            }
            Event::Marker { index, marker } => match marker {
                Marker::Phase(name) => self.progress.phase(index, &name),
                Marker::Progress(percent) => self.progress.percent(index, percent),
                Marker::StateOk | Marker::StateErr(_) => {}
            },
            Event::EndpointDown { endpoint, error } => self.take_out(endpoint, error, true).await,
        }
    }

    /// The number of a job's current attempt, as recorded.
    fn attempt_number(&self, index: usize) -> i32 {
        i32::try_from(self.attempts[index]).unwrap_or(i32::MAX)
    }

    /// A job task returned (or ended abnormally): record how its job ended,
    /// or try it again elsewhere when its engine failed under it.
    async fn on_task_end(
        &mut self,
        joined: std::result::Result<(tokio::task::Id, JobReturn), tokio::task::JoinError>,
    ) {
        let (index, ended, container, result) = match joined {
            Ok((id, returned)) => {
                self.task_jobs.remove(&id);
                let JobReturn {
                    index,
                    container,
                    result,
                    ended,
                } = returned;
                (index, ended, container, Ok(result))
            }
            Err(err) => {
                let Some(index) = self.task_jobs.remove(&err.id()) else {
                    return;
                };
                let container = self.containers.get(&index).cloned();
                (index, Instant::now(), container, Err(err))
            }
        };
        self.aborts.remove(&index);
        self.containers.remove(&index);
        if let Some(why) = self.engine_failure(index, &result) {
            self.attempt_failed(index, container, why).await;
            return;
        }
        let result = match result {
            Ok(result) => result,
            Err(err) => {
                self.remove_container_of(index, container.as_deref()).await;
                let failure =
                    Failure::new(format!("kiln's task for the job ended abnormally: {err}"));
                self.end_now(index, FinalJobStatus::Failed, Some(failure))
                    .await;
                return;
            }
        };
        let (status, failure, recorded) = match result {
            Ok(JobOutcome::Succeeded { artifacts }) => {
                match record_success(&self.ctx, &self.jobs[index], &artifacts, ended).await {
                    Ok(records) => {
                        self.recorded[index] = records;
                        (FinalJobStatus::Succeeded, None, true)
                    }
                    Err(err) => {
                        let failure = Failure::new(crate::error::chain(&err).to_string());
                        self.abort(err);
                        (FinalJobStatus::Failed, Some(failure), false)
                    }
                }
            }
            Ok(JobOutcome::Failed(f)) => (FinalJobStatus::Failed, Some(f), false),
            Ok(JobOutcome::TimedOut(f)) => (FinalJobStatus::TimedOut, Some(f), false),
            Ok(JobOutcome::Cancelled) => (FinalJobStatus::Cancelled, None, false),
            Err(err) => {
                // kiln could not run the job (disk, database, a refusal of
                // the engine): the job failed, and the message says why.
                // Its container, if one was made, must not stay behind.
                self.remove_container_of(index, container.as_deref()).await;
                let message = crate::error::chain(&err).to_string();
                tracing::debug!("job {} failed to run: {message}", self.jobs[index].uuid);
                // Stopped by the user or by an abort: cancelled, not failed.
                let status = match self.halt {
                    Some(_) => FinalJobStatus::Cancelled,
                    None => FinalJobStatus::Failed,
                };
                (status, Some(Failure::new(message)), false)
            }
        };
        self.job_ended(index, status, failure, ended, recorded)
            .await;
    }

    /// Why the attempt's engine failed under it, if it did: the task
    /// returned an engine failure, or its endpoint was taken out while it
    /// ran (and the task was stopped). A job whose script ended is judged
    /// by its script, whatever the engine did since. Nothing is an engine
    /// failure once the run stopped.
    fn engine_failure(
        &self,
        index: usize,
        result: &std::result::Result<Result<JobOutcome>, tokio::task::JoinError>,
    ) -> Option<String> {
        if self.halt.is_some() {
            return None;
        }
        let endpoint = *self.assigned.get(&index)?;
        let taken_out = self.down[endpoint].clone();
        match result {
            Ok(Err(err)) => crate::endpoint::engine_failure(err)
                .map(|_| crate::error::chain(err).to_string())
                .or(taken_out),
            Ok(Ok(JobOutcome::Cancelled)) | Err(_) => taken_out,
            Ok(Ok(_)) => None,
        }
    }

    /// An attempt ended because its engine failed: the endpoint is taken
    /// out, the attempt recorded, and the job tried again on another
    /// endpoint, or failed when it had all its attempts or no endpoint is
    /// left.
    async fn attempt_failed(&mut self, index: usize, container: Option<String>, error: String) {
        let endpoint = self.assigned[&index];
        self.take_out(endpoint, error.clone(), false).await;
        self.remove_later(endpoint, container);
        self.record_attempt_end(index, AttemptOutcome::EngineFailed, Some(error.clone()))
            .await;
        let attempt = self.attempts[index];
        let failure = if attempt >= self.max_attempts {
            Some(format!(
                "the engine failed under the job in each of its {attempt} attempts (job_attempts); the last: {error}"
            ))
        } else if self.scheduler.no_endpoint_left() {
            Some(format!(
                "no healthy endpoint is left to try the job again ({})",
                self.failed_endpoints()
            ))
        } else {
            None
        };
        if let Some(message) = failure {
            self.end_now(index, FinalJobStatus::Failed, Some(Failure::new(message)))
                .await;
            return;
        }
        if !self.scheduler.retry(index) {
            self.end_now(index, FinalJobStatus::Cancelled, None).await;
            return;
        }
        let label = &self.jobs[index];
        let note = format!(
            "attempt {attempt} of job {} ({} {}) ended: {error}; the endpoint is taken out of this submit, trying again elsewhere (attempt {} of at most {})",
            label.uuid,
            label.package,
            label.version,
            attempt + 1,
            self.max_attempts
        );
        self.progress.requeued(index, &note);
        self.reports[index].status = JobStatus::Queued;
        self.retry_notes.insert(index, note);
    }

    /// Records how the current attempt of a job ended, if it had one.
    async fn record_attempt_end(
        &mut self,
        index: usize,
        outcome: AttemptOutcome,
        error: Option<String>,
    ) {
        let Some(started) = self.attempt_started.remove(&index) else {
            return;
        };
        let job_id = self.jobs[index].id;
        let attempt = self.attempt_number(index);
        let endpoint_id = self.endpoints[self.assigned[&index]].id;
        let at = Instant::now();
        let written = self
            .ctx
            .lease
            .write(
                format!(
                    "recording attempt {attempt} of job {}",
                    self.jobs[index].uuid
                ),
                move |conn| {
                    AttemptRecord {
                        job_id,
                        attempt,
                        endpoint_id,
                        container_id: None,
                        started,
                        end: Some(AttemptEnd {
                            at,
                            outcome,
                            error_message: error.as_deref(),
                        }),
                    }
                    .write(conn)?;
                    Ok(())
                },
            )
            .await;
        self.handle_write(written);
    }

    /// Removes the container of a failed attempt in the background, giving
    /// its engine the endpoint's timeout to answer.
    fn remove_later(&mut self, endpoint: usize, container: Option<String>) {
        let (Some(id), false) = (container, self.ctx.keep_containers) else {
            return;
        };
        let endpoint = Arc::clone(&self.endpoints[endpoint].endpoint);
        self.cleanups.spawn(async move {
            let removal = endpoint.remove_container(&id, crate::endpoint::Removal::Force);
            let why = match tokio::time::timeout(endpoint.timeout(), removal).await {
                Ok(Ok(())) => return,
                Ok(Err(err)) => crate::error::Chain(&err).to_string(),
                Err(_) => "the engine did not answer".to_owned(),
            };
            tracing::warn!(
                "container {id} stays on endpoint `{}` ({why}); `kiln endpoint containers prune` removes it",
                endpoint.name()
            );
        });
    }

    /// Everything that follows the end of a job, wherever it ended: its
    /// record (unless `recorded`), its report and progress line, the
    /// scheduler, the dependents that can no longer run, and --fail-fast.
    async fn job_ended(
        &mut self,
        index: usize,
        status: FinalJobStatus,
        failure: Option<Failure>,
        at: Instant,
        recorded: bool,
    ) {
        let outcome = match status {
            FinalJobStatus::Succeeded => AttemptOutcome::Succeeded,
            FinalJobStatus::Failed => AttemptOutcome::Failed,
            FinalJobStatus::TimedOut => AttemptOutcome::TimedOut,
            FinalJobStatus::Cancelled | FinalJobStatus::Lost | FinalJobStatus::DepFailed => {
                AttemptOutcome::Cancelled
            }
        };
        self.record_attempt_end(index, outcome, failure.as_ref().map(|f| f.message.clone()))
            .await;
        if !recorded {
            let written =
                finish_job(&self.ctx, &self.jobs[index], status, failure.as_ref(), at).await;
            self.handle_write(written);
        }
        let job_status = JobStatus::from(status);
        let report = &mut self.reports[index];
        report.status = job_status;
        report.finished = Some(wall_clock(at));
        report.failure = failure;
        let ok = status == FinalJobStatus::Succeeded;
        self.progress.finished(index, job_status);
        let finish = if ok {
            Finish::Succeeded
        } else {
            Finish::Failed
        };
        let dep_failed = self.scheduler.finished(index, finish);
        self.preparations.discard_jobs(&dep_failed);
        self.not_started(
            dep_failed,
            FinalJobStatus::DepFailed,
            NOT_RUN_DEP_FAILED.into(),
        )
        .await;
        if !ok && self.fail_fast && self.halt.is_none() {
            self.progress
                .note("a job failed and --fail-fast is given: starting no more jobs");
            let never = self.scheduler.stop();
            self.preparations.discard_jobs(&never);
            self.not_started(never, FinalJobStatus::Cancelled, NOT_RUN_STOPPED.into())
                .await;
        }
    }

    /// Ends a job that did not get to run, or whose task is gone, now.
    async fn end_now(&mut self, index: usize, status: FinalJobStatus, failure: Option<Failure>) {
        self.job_ended(index, status, failure, Instant::now(), false)
            .await;
    }

    /// Ctrl-C: no new jobs, the running ones stopped; records wait for the
    /// database only a little longer.
    async fn interrupt(&mut self) {
        self.halt = Some(Halt::Interrupted);
        self.ctx.lease.hurry();
        self.jobs_cancel.cancel();
        self.progress
            .note("interrupted: starting no more jobs, stopping the running ones");
        self.stop_scheduling().await;
    }

    /// kiln cannot go on: stop like Ctrl-C (the loop ends the jobs not
    /// started yet), and say why.
    fn abort(&mut self, err: anyhow::Error) {
        let message = crate::error::chain(&err).to_string();
        match &self.halt {
            Some(_) => self.unrecorded.push(message),
            None => {
                self.progress.note(&format!("stopping the run: {message}"));
                self.halt = Some(Halt::Aborted(message));
                self.jobs_cancel.cancel();
                self.stop_pending = true;
            }
        }
    }

    /// The jobs that have not started never will: recorded `cancelled`.
    async fn stop_scheduling(&mut self) {
        let never = self.scheduler.stop();
        self.preparations.discard_jobs(&never);
        self.not_started(never, FinalJobStatus::Cancelled, NOT_RUN_STOPPED.into())
            .await;
    }

    /// Records jobs that will never run (in one transaction), and reports them.
    async fn not_started(&mut self, indices: Vec<usize>, status: FinalJobStatus, message: String) {
        if indices.is_empty() {
            return;
        }
        let at = Instant::now();
        let ids: Vec<JobId> = indices.iter().map(|&i| self.jobs[i].id).collect();
        let written = record_not_started(&self.ctx, ids, status, message, at).await;
        self.handle_write(written);
        let job_status = JobStatus::from(status);
        for index in indices {
            self.reports[index].status = job_status;
            self.reports[index].finished = Some(wall_clock(at));
            self.progress.finished(index, job_status);
        }
    }

    /// A record that could not be written stops the run; once it stopped,
    /// it is only noted.
    fn handle_write(&mut self, written: Result<()>) {
        if let Err(err) = written {
            self.abort(err);
        }
    }

    async fn remove_container_of(&self, index: usize, container: Option<&str>) {
        let (Some(id), false) = (container, self.ctx.keep_containers) else {
            return;
        };
        let Some(&endpoint) = self.assigned.get(&index) else {
            return;
        };
        let endpoint = &self.endpoints[endpoint].endpoint;
        if let Err(e) = endpoint
            .remove_container(id, crate::endpoint::Removal::Force)
            .await
        {
            tracing::warn!(
                "removing container {id} of job {}: {}",
                self.jobs[index].uuid,
                crate::error::Chain(&e)
            );
        }
    }

    /// Removes the unused prepared containers and says how the run ended.
    async fn finish(mut self) -> RunReport {
        self.watchdogs.abort_all();
        self.preparations.finish().await;
        while self.cleanups.join_next().await.is_some() {}
        self.progress.finish();
        if !self.unrecorded.is_empty() {
            tracing::warn!(
                "{} record(s) of the run could not be written; the next kiln run records the submit lost",
                self.unrecorded.len()
            );
        }
        let (interrupted, aborted) = match self.halt {
            Some(Halt::Interrupted) => (true, None),
            Some(Halt::Aborted(message)) => (false, Some(message)),
            None => (false, None),
        };
        RunReport {
            jobs: self.reports,
            interrupted,
            aborted,
        }
    }
}

/// How often each endpoint is pinged while a run lasts.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Why jobs did not run, as recorded.
const NOT_RUN_DEP_FAILED: &str = "not run: a dependency failed";
const NOT_RUN_STOPPED: &str = "not run: the submit was stopped";

/// The wall-clock time of a moment this process saw.
fn wall_clock(at: Instant) -> DateTime<Utc> {
    let ago = chrono::Duration::from_std(at.elapsed()).unwrap_or_default();
    Utc::now() - ago
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

    /// Drops the containers prepared on an endpoint whose engine failed,
    /// giving it `timeout` to remove them.
    fn drop_on(&mut self, endpoint: usize, timeout: std::time::Duration) {
        let jobs: Vec<usize> = self
            .by_job
            .iter()
            .filter(|(_, (made_on, _))| *made_on == endpoint)
            .map(|(job, _)| *job)
            .collect();
        for job in jobs {
            if let Some((_, task)) = self.by_job.remove(&job) {
                self.removals.spawn(async move {
                    if tokio::time::timeout(timeout, job::discard(task))
                        .await
                        .is_err()
                    {
                        tracing::warn!("a container prepared on a failed endpoint may stay there");
                    }
                });
            }
        }
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

/// The artifacts a job takes as inputs ([`inputs::select_inputs`]), as
/// files in the submit's staging directory. Two different files of one
/// name are an error naming both jobs.
fn collect_inputs(
    ctx: &JobContext,
    jobs: &[Arc<JobSpec>],
    dependencies: &[usize],
    recorded: &[Vec<Recorded>],
) -> std::result::Result<Vec<(ArtifactId, InputFile)>, String> {
    let of = |d: usize| {
        recorded[d]
            .iter()
            .map(|a| (a.path.as_str(), a.sha256.as_str()))
    };
    let selected = inputs::select_inputs(dependencies, of).map_err(|c| {
        let (a, b) = (&jobs[c.first], &jobs[c.second]);
        format!(
            "two dependencies produced different files named `{}`: job {} ({} {}) and job {} ({} {})",
            c.name, a.uuid, a.package, a.version, b.uuid, b.package, b.version
        )
    })?;
    let dir = ctx.staging.submit_dir(ctx.submit);
    Ok(selected
        .into_iter()
        .map(|(dep, pos)| {
            let artifact = &recorded[dep][pos];
            (
                artifact.id,
                InputFile {
                    name: artifact.path.clone(),
                    path: dir.join(&artifact.path),
                },
            )
        })
        .collect())
}

/// Records a job's artifacts and its success in one transaction. Tried
/// again after a lost connection, it finds the job ended and returns the
/// artifacts recorded the first time.
async fn record_success(
    ctx: &JobContext,
    spec: &JobSpec,
    artifacts: &[crate::store::Artifact],
    at: Instant,
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
    ctx.lease
        .write(
            format!("recording the artifacts of job {}", spec.uuid),
            move |conn| {
                let end = JobEnd {
                    at,
                    status: FinalJobStatus::Succeeded,
                    exit_status: Some(0),
                    failed_phase: None,
                    error_message: None,
                };
                let new: Vec<NewArtifact> = rows
                    .iter()
                    .map(|(path, size, sha256)| NewArtifact {
                        job_id,
                        path,
                        size: *size,
                        sha256,
                    })
                    .collect();
                let stored = Job::succeed(conn, job_id, end, &new)?;
                Ok(stored
                    .into_iter()
                    .map(|a| Recorded {
                        id: a.id,
                        path: a.path,
                        sha256: a.sha256,
                    })
                    .collect())
            },
        )
        .await
}

async fn finish_job(
    ctx: &JobContext,
    spec: &JobSpec,
    status: FinalJobStatus,
    failure: Option<&Failure>,
    at: Instant,
) -> Result<()> {
    let job_id = spec.id;
    let failure = failure.cloned();
    ctx.lease
        .write(
            format!("recording the end of job {}", spec.uuid),
            move |conn| {
                Job::finish(
                    conn,
                    job_id,
                    JobEnd {
                        at,
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

/// Records jobs that will never run, in one transaction.
async fn record_not_started(
    ctx: &JobContext,
    ids: Vec<JobId>,
    status: FinalJobStatus,
    message: String,
    at: Instant,
) -> Result<()> {
    ctx.lease
        .write("recording jobs that will not run", move |conn| {
            let end = JobEnd {
                at,
                status,
                exit_status: None,
                failed_phase: None,
                error_message: Some(&message),
            };
            Job::finish_all(conn, &ids, end)?;
            Ok(())
        })
        .await
}
