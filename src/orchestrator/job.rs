//! One job in one container: create it, stream its inputs in, run the
//! script while its log goes to the database, judge the result, stream its
//! outputs into the staging store, remove the container. The container may
//! have been made ahead by [`prepare`], with the job's own files in it;
//! then only the artifacts of its dependencies are uploaded.
//!
//! A job task never writes the job's row: it reports to the run loop through
//! [`Event`]s and its return value. It writes only the job's log chunks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Event, JobSpec};
use crate::db::lease::SubmitLease;
use crate::db::models::jobs::{Job, LogState};
use crate::db::models::log_chunks;
use crate::db::models::JobId;
use crate::endpoint::{
    Container, ContainerSpec, Created, Endpoint, Finished, Removal, Running, UploadSet,
};
use crate::error::{chain, Chain};
use crate::log::{ChunkEncoder, JobLog, LineEnd, LogChunk, LogLine, RawLine, Source, Verdict};
use crate::secrets::Secrets;
use crate::store::{Artifact, StagingStore};

/// How long a container may take to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// How often a running job's log is written even when few lines came.
const LOG_FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What every job of a submit shares.
pub struct JobContext {
    /// Every record of the submit is written through it.
    pub lease: Arc<SubmitLease>,
    pub submit: Uuid,
    pub image: String,
    pub staging: StagingStore,
    pub keep_containers: bool,
    pub log_limit: u64,
    /// The submit's secrets: scrubbed from the log, its copy and every
    /// message about the job.
    pub secrets: Secrets,
    pub error_lines: usize,
    pub job_timeout: Option<Duration>,
    pub silence_timeout: Option<Duration>,
    /// Where `--write-log` puts a copy of each job's log.
    pub log_dir: Option<PathBuf>,
}

/// A file to put into the container's `/inputs`.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub name: String,
    pub path: PathBuf,
}

/// How a job ended. Failing is a value, not an error: errors are for kiln
/// failing (the engine, the database, the disk).
#[derive(Debug)]
pub enum JobOutcome {
    Succeeded { artifacts: Vec<Artifact> },
    Failed(Failure),
    TimedOut(Failure),
    Cancelled,
}

/// Why a job failed, as recorded and shown.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub exit_status: Option<i32>,
    pub phase: Option<String>,
    pub message: String,
    pub last_lines: Vec<String>,
}

impl Failure {
    /// A failure that only has a message (kiln could not run the job).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }
}

/// Which attempt at a job a task makes.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    /// Why the job is tried again (for its log), from the second on.
    pub note: Option<String>,
}

/// How many chunk numbers each attempt's log may use: the log of attempt
/// `n` is numbered from `(n - 1) * ATTEMPT_CHUNKS` on, so that the logs of
/// all attempts are kept, in order.
const ATTEMPT_CHUNKS: i32 = 1 << 24;

impl Attempt {
    fn first_chunk(&self) -> i32 {
        let n = i32::try_from(self.number.saturating_sub(1)).unwrap_or(i32::MAX);
        n.saturating_mul(ATTEMPT_CHUNKS)
    }
}

/// What the run loop gets back from a job task.
#[derive(Debug)]
pub struct JobReturn {
    pub index: usize,
    /// The container, if one was created (kept or removed by now).
    pub container: Option<String>,
    pub result: Result<JobOutcome>,
    /// When the job ended (before its end was recorded).
    pub ended: std::time::Instant,
}

/// A container made ahead of time by [`prepare`], while the job waits for
/// its dependencies or a slot.
pub type Preparation = tokio::task::JoinHandle<Result<Container<Created>>>;

/// Creates a job's container and uploads what depends on no other job (the
/// script, sources and patches), so that the job can start as soon as its
/// dependencies' artifacts are there. The container is not started. The
/// error holds no secret's value.
pub async fn prepare(
    ctx: Arc<JobContext>,
    endpoint: Arc<Endpoint>,
    spec: Arc<JobSpec>,
) -> Result<Container<Created>> {
    prepare_container(&ctx, &endpoint, &spec)
        .await
        .map_err(|err| ctx.secrets.scrub_error(err))
}

async fn prepare_container(
    ctx: &JobContext,
    endpoint: &Endpoint,
    spec: &JobSpec,
) -> Result<Container<Created>> {
    let created = create(ctx, endpoint, spec).await?;
    let mut upload = UploadSet::new();
    add_own_files(&mut upload, spec)?;
    if let Err(err) = created.upload(upload).await {
        remove(ctx, created).await;
        // The error names the endpoint, the container and the file.
        return Err(err.into());
    }
    Ok(created)
}

/// Removes a prepared container that will not be used (its job will not
/// run, or runs elsewhere).
pub async fn discard(preparation: Preparation) {
    match preparation.await {
        Ok(Ok(created)) => {
            let id = created.id().to_owned();
            if let Err(err) = created.remove(Removal::Force).await {
                tracing::warn!("removing the unused container {id}: {}", Chain(&err));
            }
        }
        Ok(Err(err)) => tracing::debug!("an unused preparation had failed: {}", chain(&err)),
        Err(err) => tracing::warn!("a preparation task ended abnormally: {err}"),
    }
}

/// Runs job `index` on `endpoint`, in the container `preparation` made if
/// there is one. Never panics; every failure comes back in the
/// [`JobReturn`], with no secret's value in its messages.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    ctx: Arc<JobContext>,
    endpoint: Arc<Endpoint>,
    index: usize,
    spec: Arc<JobSpec>,
    attempt: Attempt,
    inputs: Vec<InputFile>,
    preparation: Option<Preparation>,
    events: mpsc::UnboundedSender<Event>,
    cancel: CancellationToken,
) -> JobReturn {
    let mut trace = Trace::default();
    let result = run_inner(
        &ctx,
        &endpoint,
        (index, &attempt),
        &spec,
        inputs,
        preparation,
        &events,
        &cancel,
        &mut trace,
    )
    .await;
    JobReturn {
        index,
        container: trace.container,
        result: scrub_outcome(&ctx.secrets, result),
        ended: trace.ended.unwrap_or_else(std::time::Instant::now),
    }
}

/// The outcome with every secret's value masked in its messages (the
/// engine's messages may quote what it was given).
fn scrub_outcome(secrets: &Secrets, result: Result<JobOutcome>) -> Result<JobOutcome> {
    let scrub_failure = |mut failure: Failure| {
        failure.message = secrets.scrub(&failure.message);
        failure
    };
    match result {
        Ok(JobOutcome::Failed(f)) => Ok(JobOutcome::Failed(scrub_failure(f))),
        Ok(JobOutcome::TimedOut(f)) => Ok(JobOutcome::TimedOut(scrub_failure(f))),
        Ok(outcome) => Ok(outcome),
        Err(err) => Err(secrets.scrub_error(err)),
    }
}

/// What a job task learned on its way that its return must carry, however
/// it ended.
#[derive(Default)]
struct Trace {
    container: Option<String>,
    /// When the job's work ended: before the last of its log was stored,
    /// which may wait for the database.
    ended: Option<std::time::Instant>,
}

#[allow(clippy::too_many_arguments)]
async fn run_inner(
    ctx: &JobContext,
    endpoint: &Endpoint,
    (index, attempt): (usize, &Attempt),
    spec: &JobSpec,
    inputs: Vec<InputFile>,
    preparation: Option<Preparation>,
    events: &mpsc::UnboundedSender<Event>,
    cancel: &CancellationToken,
    trace: &mut Trace,
) -> Result<JobOutcome> {
    // Every file, checked together: a source and an artifact must not
    // claim one name in /inputs.
    let sets = || -> Result<(UploadSet, UploadSet)> {
        let mut upload = UploadSet::new();
        add_own_files(&mut upload, spec)?;
        let mut artifacts = UploadSet::new();
        for input in &inputs {
            for set in [&mut upload, &mut artifacts] {
                set.input(&input.name, input.path.clone())
                    .with_context(|| {
                        format!("adding input `{}` of job {}", input.name, spec.uuid)
                    })?;
            }
        }
        Ok((upload, artifacts))
    };
    let (upload, artifacts) = match sets() {
        Ok(sets) => sets,
        Err(err) => {
            if let Some(preparation) = preparation {
                discard(preparation).await;
            }
            return Err(err);
        }
    };

    let prepared = match preparation {
        Some(preparation) => match preparation.await {
            Ok(Ok(created)) => Some(created),
            Ok(Err(err)) => {
                tracing::debug!(
                    "preparing the container of job {} failed, trying again: {}",
                    spec.uuid,
                    chain(&err)
                );
                None
            }
            Err(err) => {
                tracing::warn!(
                    "the preparation of job {} ended abnormally: {err}",
                    spec.uuid
                );
                None
            }
        },
        None => None,
    };
    let (created, upload) = match prepared {
        // The script, sources and patches are in already.
        Some(created) => (created, artifacts),
        None => (create(ctx, endpoint, spec).await?, upload),
    };
    trace.container = Some(created.id().to_owned());
    let _ = events.send(Event::Started {
        index,
        container: created.id().to_owned(),
        at: std::time::Instant::now(),
    });

    let uploaded = tokio::select! {
        r = upload_if_any(&created, upload) => r,
        _ = cancel.cancelled() => {
            remove(ctx, created).await;
            return Ok(JobOutcome::Cancelled);
        }
    };
    if let Err(err) = uploaded {
        remove(ctx, created).await;
        return Err(err.into());
    }
    // Errors of the engine name the endpoint, the action and the container;
    // the job is named by whoever reports its failure.
    let (running, logs) = created.start().await?;

    let watched = watch(ctx, (index, attempt), spec, &running, logs, events, cancel).await;
    let (log_end, stop, storage) = match watched {
        Ok(x) => x,
        Err(err) => {
            let _ = running.stop(STOP_GRACE).await;
            if let Ok(finished) = running.wait().await {
                remove(ctx, finished).await;
            }
            return Err(err);
        }
    };
    if stop.is_some() {
        running.stop(STOP_GRACE).await?;
    }
    let finished = running.wait().await?;

    let outcome = judge(ctx, spec, &finished, log_end, stop).await;
    trace.ended = Some(std::time::Instant::now());
    remove(ctx, finished).await;
    storage.finish().await?;
    outcome
}

async fn create(
    ctx: &JobContext,
    endpoint: &Endpoint,
    spec: &JobSpec,
) -> Result<Container<Created>> {
    let mut container_spec = ContainerSpec::new(ctx.image.clone(), ctx.submit, spec.uuid);
    container_spec.env = spec.env.clone();
    // The error names the endpoint, the job and the image.
    Ok(endpoint.create_container(&container_spec).await?)
}

async fn upload_if_any(
    created: &Container<Created>,
    upload: UploadSet,
) -> Result<(), crate::endpoint::EndpointError> {
    if upload.is_empty() {
        return Ok(());
    }
    created.upload(upload).await
}

/// The files of the job itself: sources in /inputs, patches, the script.
fn add_own_files(upload: &mut UploadSet, spec: &JobSpec) -> Result<()> {
    for (name, path) in &spec.sources {
        upload
            .input(name, path.clone())
            .with_context(|| format!("adding source `{name}` of job {}", spec.uuid))?;
    }
    for (rel, path) in &spec.patches {
        upload
            .patch(rel, path.clone())
            .with_context(|| format!("adding patch `{rel}` of job {}", spec.uuid))?;
    }
    upload
        .script(spec.script.as_bytes().to_vec())
        .with_context(|| format!("adding the script of job {}", spec.uuid))?;
    Ok(())
}

/// Why the script was stopped before it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    Timeout,
    Silence,
}

/// What the log said, once the script ended (or was stopped).
struct LogEnd {
    verdict: Verdict,
    phase: Option<String>,
    last_lines: Vec<String>,
}

/// Reads the log stream until it ends, storing chunks and sending markers.
async fn watch(
    ctx: &JobContext,
    (index, attempt): (usize, &Attempt),
    spec: &JobSpec,
    _running: &Container<Running>,
    mut logs: crate::endpoint::LogStream,
    events: &mpsc::UnboundedSender<Event>,
    cancel: &CancellationToken,
) -> Result<(LogEnd, Option<Stop>, LogStorage)> {
    let mut log = JobLog::with_encoder(
        ctx.secrets.scrubber().clone(),
        ctx.log_limit,
        ctx.error_lines,
        ChunkEncoder::default().starting_at(attempt.first_chunk(), 0),
    );
    if ctx.log_dir.is_some() {
        log = log.with_copies();
    }
    let mut writer = ChunkWriter::new(ctx, spec).await?;
    if let Some(note) = &attempt.note {
        let fed = log.feed(kiln_line(note)).context("encoding the log")?;
        if let Some(chunk) = fed.chunk {
            writer.store(chunk).await?;
        }
    }
    let mut flush = tokio::time::interval(LOG_FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = ctx.job_timeout.map(|t| tokio::time::Instant::now() + t);
    let far = tokio::time::Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600);
    let mut silence_deadline = ctx.silence_timeout.map(|t| tokio::time::Instant::now() + t);
    let mut stop = None;
    loop {
        tokio::select! {
            line = logs.next() => match line {
                Some(Ok(line)) => {
                    if let Some(t) = ctx.silence_timeout {
                        silence_deadline = Some(tokio::time::Instant::now() + t);
                    }
                    let fed = log.feed(line).context("encoding the log")?;
                    if let Some(copy) = &fed.copy {
                        writer.copy_line(copy).await;
                    }
                    if let Some(marker) = fed.marker {
                        let _ = events.send(Event::Marker { index, marker });
                    }
                    if let Some(chunk) = fed.chunk {
                        writer.store(chunk).await?;
                    }
                }
                Some(Err(err)) => return Err(err).context("reading the container's log"),
                None => break,
            },
            _ = flush.tick() => {
                if let Some(chunk) = log.flush().context("encoding the log")? {
                    writer.store(chunk).await?;
                }
            }
            _ = cancel.cancelled(), if stop.is_none() => { stop = Some(Stop::Cancelled); break; }
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() && stop.is_none() => {
                stop = Some(Stop::Timeout); break;
            }
            _ = tokio::time::sleep_until(silence_deadline.unwrap_or(far)), if silence_deadline.is_some() && stop.is_none() => {
                stop = Some(Stop::Silence); break;
            }
        }
    }
    let end = log.finish().context("encoding the log")?;
    for chunk in end.chunks {
        writer.store(chunk).await?;
    }
    let state = if end.truncated {
        LogState::Truncated
    } else {
        LogState::Complete
    };
    let bytes = i64::try_from(end.total_bytes).unwrap_or(i64::MAX);
    let storage = writer.close(bytes, state).await?;
    Ok((
        LogEnd {
            verdict: end.progress.verdict,
            phase: end.progress.phase,
            last_lines: end.last_lines,
        },
        stop,
        storage,
    ))
}

/// A line of the log that kiln writes (not the container).
fn kiln_line(text: &str) -> LogLine {
    LogLine {
        source: Source::Kiln,
        at: chrono::Utc::now(),
        line: RawLine {
            bytes: text.as_bytes().to_vec(),
            end: LineEnd::Newline,
        },
    }
}

/// Decides how the job ended and, when it succeeded, collects its outputs.
async fn judge(
    ctx: &JobContext,
    spec: &JobSpec,
    finished: &Container<Finished>,
    log: LogEnd,
    stop: Option<Stop>,
) -> Result<JobOutcome> {
    let exit = finished.exit_status();
    let exit_status = i32::try_from(exit.code()).ok();
    let failure = |message: String| Failure {
        exit_status,
        phase: log.phase.clone(),
        message,
        last_lines: log.last_lines.clone(),
    };
    match stop {
        Some(Stop::Cancelled) => return Ok(JobOutcome::Cancelled),
        Some(Stop::Timeout) => {
            let limit = ctx.job_timeout.unwrap_or_default().as_secs();
            return Ok(JobOutcome::TimedOut(failure(format!(
                "the job ran longer than job_timeout ({limit} s)"
            ))));
        }
        Some(Stop::Silence) => {
            let limit = ctx.silence_timeout.unwrap_or_default().as_secs();
            return Ok(JobOutcome::TimedOut(failure(format!(
                "the job printed nothing for job_silence_timeout ({limit} s)"
            ))));
        }
        None => {}
    }
    if let Verdict::Err(message) = &log.verdict {
        return Ok(JobOutcome::Failed(failure(message.clone())));
    }
    if !exit.success() {
        let message = match finished.exit_message() {
            Some(m) if !m.is_empty() => format!("the script ended with {exit}: {m}"),
            _ => format!("the script ended with {exit}"),
        };
        return Ok(JobOutcome::Failed(failure(message)));
    }
    let extraction = ctx
        .staging
        .extract_outputs(ctx.submit, finished.download_outputs())
        .await
        .with_context(|| format!("collecting the outputs of job {}", spec.uuid))?;
    if !extraction.refused.is_empty() {
        let refused: Vec<String> = extraction.refused.iter().map(ToString::to_string).collect();
        return Ok(JobOutcome::Failed(failure(format!(
            "outputs refused (nothing was written outside the staging directory): {}",
            refused.join("; ")
        ))));
    }
    Ok(JobOutcome::Succeeded {
        artifacts: extraction.artifacts,
    })
}

async fn remove<S>(ctx: &JobContext, container: Container<S>) {
    if ctx.keep_containers {
        let id = container.keep();
        tracing::info!("keeping container {id}");
        return;
    }
    let id = container.id().to_owned();
    if let Err(err) = container.remove(Removal::Force).await {
        tracing::warn!("removing container {id}: {}", Chain(&err));
    }
}

/// Writes a job's log chunks to the database (and, with `--write-log`, its
/// lines to a file). The chunks are stored by a task of their own, so that
/// a slow or restarting database holds neither the log stream nor the
/// job's timing; at most [`PENDING_CHUNKS`] wait for it.
struct ChunkWriter {
    uuid: Uuid,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    chunks: mpsc::Sender<Stored>,
    /// Taken when the log is closed, or when the task failed.
    storage: Option<LogStorage>,
}

/// How many log chunks (of at most 256 KiB of lines each) may wait for the
/// database before the log stream waits too.
const PENDING_CHUNKS: usize = 64;

/// What the storing task is given.
enum Stored {
    Chunk(LogChunk),
    /// The log ended: its size and whether it was cut.
    End {
        bytes: i64,
        state: LogState,
    },
}

/// The task that stores a job's log chunks; [`LogStorage::finish`] waits
/// until everything is stored.
struct LogStorage(tokio::task::JoinHandle<Result<()>>);

impl LogStorage {
    async fn finish(self) -> Result<()> {
        match self.0.await {
            Ok(result) => result,
            Err(err) => Err(anyhow::anyhow!(
                "the task storing the log ended abnormally: {err}"
            )),
        }
    }
}

impl ChunkWriter {
    async fn new(ctx: &JobContext, spec: &JobSpec) -> Result<Self> {
        let file = match &ctx.log_dir {
            Some(dir) => {
                let name = format!("{}-{}-{}.log", spec.package, spec.version, spec.uuid);
                let path = crate::store::paths::under_root(dir, &[&name])?;
                let file = tokio::fs::File::create(&path)
                    .await
                    .with_context(|| format!("creating the log file {}", path.display()))?;
                Some(tokio::io::BufWriter::new(file))
            }
            None => None,
        };
        let (chunks, received) = mpsc::channel(PENDING_CHUNKS);
        let task = tokio::spawn(store_chunks(
            Arc::clone(&ctx.lease),
            spec.id,
            spec.uuid,
            received,
        ));
        Ok(Self {
            uuid: spec.uuid,
            file,
            chunks,
            storage: Some(LogStorage(task)),
        })
    }

    /// Writes a line of the log file; `line` is scrubbed already.
    async fn copy_line(&mut self, line: &[u8]) {
        if let Some(file) = &mut self.file {
            let ok = file.write_all(line).await.is_ok() && file.write_all(b"\n").await.is_ok();
            if !ok {
                tracing::warn!(
                    "writing the log file of job {} failed; not writing it further",
                    self.uuid
                );
                self.file = None;
            }
        }
    }

    /// Hands a chunk to the storing task; fails when that task failed.
    async fn store(&mut self, chunk: LogChunk) -> Result<()> {
        if self.chunks.send(Stored::Chunk(chunk)).await.is_ok() {
            return Ok(());
        }
        Err(self.storage_error().await)
    }

    /// Why the storing task ended before its time.
    async fn storage_error(&mut self) -> anyhow::Error {
        let ended = match self.storage.take() {
            Some(storage) => storage.finish().await,
            None => Ok(()),
        };
        ended
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("the log of job {} could not be stored", self.uuid))
    }

    /// Ends the log: the file is flushed, and the storing task records the
    /// log's size after its last chunk. Returns that task.
    async fn close(mut self, bytes: i64, state: LogState) -> Result<LogStorage> {
        if let Some(file) = &mut self.file {
            let _ = file.flush().await;
        }
        if self
            .chunks
            .send(Stored::End { bytes, state })
            .await
            .is_err()
        {
            return Err(self.storage_error().await);
        }
        self.storage
            .take()
            .ok_or_else(|| anyhow::anyhow!("the log of job {} was closed twice", self.uuid))
    }
}

/// Stores the chunks it receives, in order, then the log's size.
async fn store_chunks(
    lease: Arc<SubmitLease>,
    job: JobId,
    uuid: Uuid,
    mut received: mpsc::Receiver<Stored>,
) -> Result<()> {
    while let Some(stored) = received.recv().await {
        match stored {
            Stored::Chunk(chunk) => {
                lease
                    .write(format!("storing the log of job {uuid}"), move |conn| {
                        Ok(log_chunks::insert(conn, job, &chunk)?)
                    })
                    .await?;
            }
            Stored::End { bytes, state } => {
                lease
                    .write(
                        format!("recording the log size of job {uuid}"),
                        move |conn| Ok(Job::record_log_size(conn, job, bytes, state)?),
                    )
                    .await?;
                return Ok(());
            }
        }
    }
    Ok(())
}
