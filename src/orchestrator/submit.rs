//! One `kiln submit`, as a sequence of named steps: connect to the
//! endpoints (reachable, the image present, one digest everywhere);
//! [`prepare`](super::prepare) every job (environments, scripts, build
//! keys over what really goes in); decide which jobs [`reuse`](super::reuse)
//! an earlier build and place their artifacts; record the submit and every
//! job in one transaction (`db::submit_record`); run the jobs that are
//! built; record the submit's end. Everything is checked before anything
//! is recorded, and nothing is recorded before its files are in place.
//!
//! [`dry_run`] takes the same steps up to the decision, and records and
//! runs nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::inputs::{select_inputs, transitive_dependencies};
use super::prepare::{self, PreparedJob};
use super::reuse::{self, BuildReason, Decision, ReuseOptions, Stores};
use super::{EndpointSlot, JobContext, JobSpec, Recorded, RunOptions, RunReport};
use crate::config::{Config, EndpointConfig, ImageConfig};
use crate::db::lease::SubmitLease;
use crate::db::listings::explain::{self, EarlierChange};
use crate::db::models::endpoints::{EndpointCheck, NewEndpoint};
use crate::db::models::job_dependencies::DependencyKind as DbDependencyKind;
use crate::db::models::liveness;
use crate::db::models::submits::{Submit, SubmitEnd};
use crate::db::models::SubmitId;
use crate::db::submit_record::{self, JobRecord, RecordedSubmit, ReusedRecord, SubmitRecord};
use crate::db::{self, Pool};
use crate::endpoint::{AllowedVersions, Endpoint};
use crate::package::script::ScriptRenderer;
use crate::package::{DependencyKind, PackageSet};
use crate::plan::build_key::{BuildKeyInputs, SecretHasher};
use crate::plan::Plan;
use crate::repo::git::GitState;
use crate::secrets::Secrets;
use crate::store::StagingStore;

/// What the user asked for, parsed and resolved.
pub struct SubmitRequest<'a> {
    pub packages: &'a PackageSet,
    /// The top of the tree the packages were read from: the work tree, or
    /// a checkout of another commit.
    pub repo_root: PathBuf,
    /// The commit (and uncommitted changes) of that tree.
    pub git: GitState,
    /// The image digest the submit must build with, when it reproduces an
    /// earlier one.
    pub expected_image: Option<ExpectedImage>,
    /// The earlier submit this one reproduces.
    pub reproduces: Option<SubmitId>,
    pub plan: &'a Plan,
    pub image: ImageConfig,
    /// The `-E` variables.
    pub env: BTreeMap<String, String>,
    pub endpoints: Vec<EndpointConfig>,
    pub staging: PathBuf,
    pub shebang: Option<String>,
    /// The sources were verified against their declared hashes just now.
    pub sources_verified: bool,
    pub reuse: ReuseOptions,
    pub keep_containers: bool,
    pub write_log: bool,
    /// Refuse the submit when an endpoint does not answer, instead of
    /// building on the others.
    pub require_all_endpoints: bool,
    pub options: RunOptions,
    /// Who submits (user name) and from where (host name).
    pub submitter: (String, String),
}

/// The image digest a reproduction must build with.
#[derive(Debug, Clone)]
pub struct ExpectedImage {
    pub digest: String,
    /// `--allow-other-image`: another digest is reported, not refused.
    pub allow_other: bool,
}

/// The jobs of a submit, prepared, with what their preparation learned.
struct Prepared {
    jobs: Vec<PreparedJob>,
    secrets: Secrets,
    image_digest: String,
}

/// The end of a submit, for the command to print.
pub struct SubmitSummary {
    pub uuid: Uuid,
    pub jobs: Vec<JobSpec>,
    /// Whether each job was built (and why) or reused (and from which job).
    pub decisions: Vec<Decision>,
    pub report: RunReport,
    /// Why the submit's end could not be recorded, if it could not (the
    /// next kiln run records it `lost`).
    pub unrecorded_end: Option<String>,
}

impl SubmitSummary {
    /// Whether every job succeeded (or was reused) and everything was recorded.
    pub fn succeeded(&self) -> bool {
        self.report.all_succeeded()
            && self.report.aborted.is_none()
            && self.unrecorded_end.is_none()
    }
}

/// What `kiln submit --dry-run` found: each job and whether it would be
/// built or reused.
pub struct DryRun {
    pub jobs: Vec<PreparedJob>,
    pub decisions: Vec<Decision>,
    /// For each job with no earlier build of its key, the nearest earlier
    /// build of its package and what changed since.
    pub changes: Vec<Option<EarlierChange>>,
}

/// Checks, records and runs a submit. `cancel` is cancelled by Ctrl-C.
pub async fn submit(
    config: Arc<Config>,
    pool: Pool,
    request: SubmitRequest<'_>,
    cancel: CancellationToken,
) -> Result<SubmitSummary> {
    let uuid = Uuid::new_v4();
    reap_lost(&pool).await?;
    let slots = connect_endpoints(&config, &pool, &request).await?;
    let digest = common_image_digest(&request, &slots)?;
    check_expected_image(&request, &digest)?;
    let prepared = prepare_jobs(&config, &pool, &request, digest, SecretKey::Make).await?;
    let log_dir = log_dir(&config, request.write_log, uuid).await?;
    let staging = StagingStore::new(&request.staging);
    let submit_dir = staging.submit_dir(uuid);
    let decisions = reuse::find_reuse(
        &pool,
        &stores(&config, &request),
        &prepared.jobs,
        &request.reuse,
        Some(submit_dir.clone()),
    )
    .await?;
    let (alive, recorded) =
        match record_submit(&config, &pool, &request, uuid, &prepared, &decisions).await {
            Ok(recorded) => recorded,
            Err(err) => {
                // Nothing is recorded: the artifacts placed for reuse go.
                remove_dir(submit_dir).await;
                return Err(err);
            }
        };
    let reused = reused_artifacts(&recorded);
    let jobs: Vec<JobSpec> = prepared
        .jobs
        .into_iter()
        .zip(&recorded.jobs)
        .map(|(p, &id)| JobSpec { id, ..p.spec })
        .collect();
    let lease = Arc::new(SubmitLease::start(
        pool.clone(),
        recorded.id,
        alive,
        recorded.holder,
        config.database_outage_timeout,
    ));
    let ctx = Arc::new(JobContext {
        lease: Arc::clone(&lease),
        submit: uuid,
        image: request.image.name.clone(),
        staging,
        keep_containers: request.keep_containers,
        log_limit: config.log_limit,
        secrets: prepared.secrets,
        error_lines: config.build_error_lines,
        job_timeout: config.job_timeout,
        silence_timeout: config.job_silence_timeout,
        log_dir,
    });
    let report = super::run(ctx, jobs.clone(), reused, slots, request.options, cancel).await;
    let end = if report.interrupted {
        SubmitEnd::Cancelled
    } else if report.all_succeeded() && report.aborted.is_none() {
        SubmitEnd::Succeeded
    } else {
        SubmitEnd::Failed
    };
    let unrecorded_end = finish_submit(&lease, recorded.id, uuid, end, Instant::now())
        .await
        .err()
        .map(|err| err.root_cause().to_string());
    lease.stop().await;
    Ok(SubmitSummary {
        uuid,
        jobs,
        decisions,
        report,
        unrecorded_end,
    })
}

/// Takes a submit's steps up to the decision of what is built and what is
/// reused, and records, places and runs nothing.
pub async fn dry_run(
    config: Arc<Config>,
    pool: Pool,
    request: SubmitRequest<'_>,
) -> Result<DryRun> {
    let digest = image_digest_unrecorded(&request).await?;
    let prepared = prepare_jobs(&config, &pool, &request, digest, SecretKey::Read).await?;
    let decisions = reuse::find_reuse(
        &pool,
        &stores(&config, &request),
        &prepared.jobs,
        &request.reuse,
        None,
    )
    .await?;
    let changes = earlier_changes(&pool, &request.image.name, &prepared.jobs, &decisions).await?;
    Ok(DryRun {
        jobs: prepared.jobs,
        decisions,
        changes,
    })
}

/// What changed since the nearest earlier build, for each job that has no
/// earlier build of its key.
async fn earlier_changes(
    pool: &Pool,
    image: &str,
    jobs: &[PreparedJob],
    decisions: &[Decision],
) -> Result<Vec<Option<EarlierChange>>> {
    let wanted: Vec<Option<(String, String, BuildKeyInputs)>> = jobs
        .iter()
        .zip(decisions)
        .map(|(job, decision)| {
            matches!(decision, Decision::Build(BuildReason::NoEarlierBuild)).then(|| {
                (
                    job.spec.package.clone(),
                    job.spec.version.clone(),
                    job.inputs.clone(),
                )
            })
        })
        .collect();
    let image = image.to_owned();
    db::run(
        pool,
        "looking up earlier builds of the packages",
        move |conn| {
            let planned: Vec<(&str, &str, &BuildKeyInputs)> = wanted
                .iter()
                .flatten()
                .map(|(p, v, i)| (p.as_str(), v.as_str(), i))
                .collect();
            let mut found = explain::earlier_changes(conn, &image, &planned)?.into_iter();
            Ok(wanted
                .iter()
                .map(|w| w.as_ref().and_then(|_| found.next().flatten()))
                .collect())
        },
    )
    .await
}

/// Where earlier artifacts may be found.
fn stores(config: &Config, request: &SubmitRequest<'_>) -> Stores {
    Stores {
        staging: request.staging.clone(),
        releases_root: config.releases_root.clone(),
    }
}

/// Every endpoint, connected, checked and recorded.
async fn connect_endpoints(
    config: &Config,
    pool: &Pool,
    request: &SubmitRequest<'_>,
) -> Result<Vec<EndpointSlot>> {
    let allowed = AllowedVersions::from(&config.docker);
    let mut slots = Vec::new();
    let mut down = Vec::new();
    for endpoint_config in &request.endpoints {
        match connect_endpoint(pool, endpoint_config, &allowed, &request.image.name).await {
            Ok(slot) => slots.push(slot),
            Err(err) if !request.require_all_endpoints && err.is::<EndpointDown>() => {
                tracing::warn!(
                    "{}; building on the other endpoints",
                    crate::error::Chain(err.as_ref())
                );
                down.push(err);
            }
            Err(err) => return Err(err),
        }
    }
    if slots.is_empty() && !down.is_empty() {
        let reasons: Vec<String> = down
            .iter()
            .map(|e| crate::error::Chain(e.as_ref()).to_string())
            .collect();
        anyhow::bail!("no endpoint answered:\n  {}", reasons.join("\n  "));
    }
    Ok(slots)
}

/// An endpoint that could not be reached, or answered as an engine kiln
/// may not use: the submit goes on without it (unless
/// `--require-all-endpoints`).
#[derive(Debug, thiserror::Error)]
#[error("endpoint `{name}` is not usable")]
struct EndpointDown {
    name: String,
}

/// The digest the image resolved to, the same on every endpoint.
fn common_image_digest(request: &SubmitRequest<'_>, slots: &[EndpointSlot]) -> Result<String> {
    let first = slots.first().context("no endpoint to build on")?;
    if let Some(other) = slots.iter().find(|s| s.image_digest != first.image_digest) {
        return Err(crate::input_error!(
            "image {} is {} on endpoint `{}` but {} on endpoint `{}`: builds would not be reproducible",
            request.image.name,
            first.image_digest,
            first.endpoint.name(),
            other.image_digest,
            other.endpoint.name()
        ));
    }
    Ok(first.image_digest.clone())
}

/// A reproduction builds with the image its original was built with,
/// unless told to accept another.
fn check_expected_image(request: &SubmitRequest<'_>, digest: &str) -> Result<()> {
    match &request.expected_image {
        Some(expected) if expected.digest != digest && !expected.allow_other => {
            Err(crate::input_error!(
                "image {} is {digest} now, but the submit being reproduced was built with {}: \
                 make the image name point at {} again, or give --allow-other-image to build with {digest}",
                request.image.name,
                expected.digest,
                expected.digest
            ))
        }
        _ => Ok(()),
    }
}

/// The image's digest on the first endpoint, for a dry run: nothing about
/// the endpoint is recorded and nothing on it is changed.
async fn image_digest_unrecorded(request: &SubmitRequest<'_>) -> Result<String> {
    let config = request
        .endpoints
        .first()
        .context("no endpoint to build on")?;
    let endpoint = Endpoint::connect(config)
        .await
        .with_context(|| format!("connecting to endpoint `{}`", config.name))?;
    endpoint
        .image_digest(&request.image.name)
        .await
        .with_context(|| format!("the build image on endpoint `{}`", config.name))?
        .ok_or_else(|| {
            crate::input_error!(
                "image {} is not on endpoint `{}`",
                request.image.name,
                config.name
            )
        })
}

/// Whether the key of secrets' keyed hashes may be made (a submit) or only
/// read (a dry run, which records nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretKey {
    Make,
    Read,
}

/// Prepares every job: environments, secrets, the files' hashes, scripts
/// and build keys. Problems with the packages are one input error.
async fn prepare_jobs(
    config: &Config,
    pool: &Pool,
    request: &SubmitRequest<'_>,
    image_digest: String,
    key: SecretKey,
) -> Result<Prepared> {
    let (packages, plan) = (request.packages, request.plan);
    let git = &request.git;
    let environments = prepare::job_environments(config, packages, plan, &request.env, git);
    let secrets = prepare::submit_secrets(config, packages, plan, &request.env, &environments)?;
    let hasher = secret_hasher(pool, key).await?;
    let files = prepare::input_files(
        config,
        packages,
        plan,
        &request.repo_root,
        request.sources_verified,
    )?;
    let files = tokio::task::spawn_blocking(move || prepare::hash_input_files(files))
        .await
        .context("hashing sources and patches")??;
    let mut settings = crate::package::script::ScriptSettings::from_config(config);
    if let Some(shebang) = &request.shebang {
        settings.shebang = shebang.clone();
    }
    let renderer = ScriptRenderer::new(settings);
    let preparation = prepare::Preparation {
        config,
        packages,
        plan,
        repo_root: &request.repo_root,
        renderer: &renderer,
        cli_env: &request.env,
        git,
        image_digest: &image_digest,
        files: &files,
        secrets: &secrets,
        hasher: &hasher,
    };
    let jobs = prepare::prepare_jobs(&preparation, environments).map_err(|problems| {
        crate::input_error!("the submit cannot start:\n  {}", problems.join("\n  "))
    })?;
    Ok(Prepared {
        jobs,
        secrets,
        image_digest,
    })
}

/// Records the submit and every job in one transaction, on a connection
/// that then keeps the lock saying this process is alive.
async fn record_submit(
    config: &Config,
    pool: &Pool,
    request: &SubmitRequest<'_>,
    uuid: Uuid,
    prepared: &Prepared,
    decisions: &[Decision],
) -> Result<(db::PooledConn, RecordedSubmit)> {
    let (packages, plan) = (request.packages, request.plan);
    let root = plan.package(packages, plan.root());
    let inputs = reused_inputs(&prepared.jobs, decisions);
    let jobs = prepared
        .jobs
        .iter()
        .zip(decisions)
        .zip(inputs)
        .map(|((job, decision), inputs)| {
            Ok(JobRecord {
                uuid: job.spec.uuid,
                package: job.spec.package.clone(),
                version: job.spec.version.clone(),
                script: job.recorded_script.clone(),
                build_key: job.build_key.clone(),
                build_key_inputs: serde_json::to_value(&job.inputs)
                    .context("serializing build key inputs")?,
                env: job.recorded_env.clone(),
                dependencies: job
                    .spec
                    .dependencies
                    .iter()
                    .zip(&job.kinds)
                    .map(|(&d, &kind)| (d, db_kind(kind)))
                    .collect(),
                reused: decision.reused().map(|from| ReusedRecord {
                    from: from.job,
                    artifacts: from.artifacts.clone(),
                    inputs,
                }),
                build_reason: match decision {
                    Decision::Build(reason) => Some(reason.to_string()),
                    Decision::Reuse(_) => None,
                },
            })
        })
        .collect::<Result<Vec<JobRecord>>>()?;
    let record = SubmitRecord {
        uuid,
        image: request.image.name.clone(),
        image_digest: prepared.image_digest.clone(),
        package: (root.name.to_string(), root.version.to_string()),
        commit: request.git.commit.clone(),
        changes: request.git.changes.clone(),
        reproduces: request.reproduces,
        submitter: request.submitter.clone(),
        kiln_version: crate::VERSION.to_owned(),
        tree: serde_json::to_value(plan.tree_record(packages)).context("serializing the tree")?,
        plan: serde_json::to_value(plan.plan_record(packages)).context("serializing the plan")?,
        owner: super::owner::current_owner(),
        lease: crate::db::lease::lease(config.database_outage_timeout),
        env: request
            .env
            .iter()
            .map(|(k, v)| (k.clone(), prepared.secrets.mask(k, v)))
            .collect(),
        jobs,
    };
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut alive = pool.get().context("taking a database connection")?;
        let recorded = submit_record::record_new_submit(&mut alive, &record)
            .with_context(|| format!("recording submit {uuid}"))?;
        Ok((alive, recorded))
    })
    .await
    .context("recording the submit")?
}

/// The artifacts recorded for each reused job, as the run loop keeps them.
fn reused_artifacts(recorded: &RecordedSubmit) -> Vec<Option<Vec<Recorded>>> {
    recorded
        .reused_artifacts
        .iter()
        .map(|artifacts| {
            artifacts.as_ref().map(|list| {
                list.iter()
                    .map(|a| Recorded {
                        id: a.id,
                        path: a.path.clone(),
                        sha256: a.sha256.clone(),
                    })
                    .collect()
            })
        })
        .collect()
}

/// The input edges of each reused job, as (dependency, artifact position):
/// the one rule of [`select_inputs`] over the artifacts the reused
/// dependencies took.
fn reused_inputs(jobs: &[PreparedJob], decisions: &[Decision]) -> Vec<Vec<(usize, usize)>> {
    let dependencies: Vec<Vec<usize>> = jobs.iter().map(|j| j.spec.dependencies.clone()).collect();
    let closure = transitive_dependencies(&dependencies);
    let of = |d: usize| {
        decisions[d]
            .reused()
            .map(|from| from.artifacts.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|a| (a.path.as_str(), a.sha256.as_str()))
    };
    decisions
        .iter()
        .zip(&closure)
        .map(|(decision, deps)| match decision.reused() {
            // Its source succeeded with these inputs, so they cannot conflict.
            Some(_) => select_inputs(deps, of).unwrap_or_default(),
            None => Vec::new(),
        })
        .collect()
}

fn db_kind(kind: DependencyKind) -> DbDependencyKind {
    match kind {
        DependencyKind::Build => DbDependencyKind::Build,
        DependencyKind::Runtime => DbDependencyKind::Runtime,
    }
}

/// The directory `--write-log` writes into, made.
async fn log_dir(config: &Config, write_log: bool, uuid: Uuid) -> Result<Option<PathBuf>> {
    if !write_log {
        return Ok(None);
    }
    let dir = crate::store::paths::under_root(&config.log_dir, &[&uuid.to_string()])?;
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("creating the log directory {}", dir.display()))?;
    Ok(Some(dir))
}

/// Removes a directory that holds nothing recorded.
async fn remove_dir(dir: PathBuf) {
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("removing {}: {e}", dir.display());
        }
    }
}

/// Marks the submits whose kiln process died `lost`, with their unfinished
/// jobs, and removes those jobs' containers from the endpoints given.
async fn reap_lost(pool: &Pool) -> Result<()> {
    let lost = db::run(pool, "finding submits whose kiln process died", |conn| {
        Ok(liveness::reap_lost(conn, super::owner::is_dead)?)
    })
    .await?;
    if !lost.is_empty() {
        tracing::warn!(
            "{} job(s) of submits whose kiln process died are now recorded as lost",
            lost.len()
        );
    }
    Ok(())
}

/// Removes the containers kiln left on an endpoint for jobs of this
/// database whose submit has no living process. Containers of live submits,
/// and of jobs this database does not know (another kiln's), are left alone.
/// Returns how many were removed.
pub async fn remove_leftovers(pool: &Pool, endpoint: &Endpoint) -> Result<usize> {
    // The error names the endpoint and what was asked.
    let containers = endpoint.list_kiln_containers().await?;
    let mut removed = 0;
    for container in containers {
        let Some(job) = container.job else { continue };
        let owner = db::run(pool, "checking a container's job", move |conn| {
            Ok(liveness::container_owner(conn, job)?)
        })
        .await?;
        if owner == liveness::ContainerOwner::Gone {
            tracing::info!(
                "removing container {} left on endpoint `{}`",
                container.id,
                endpoint.name()
            );
            match endpoint
                .remove_container(&container.id, crate::endpoint::Removal::Force)
                .await
            {
                Ok(()) => removed += 1,
                Err(err) => tracing::warn!(
                    "removing container {} on endpoint `{}`: {}",
                    container.id,
                    endpoint.name(),
                    crate::error::Chain(&err)
                ),
            }
        }
    }
    Ok(removed)
}

async fn finish_submit(
    lease: &SubmitLease,
    id: SubmitId,
    uuid: Uuid,
    end: SubmitEnd,
    at: Instant,
) -> Result<()> {
    lease
        .write(format!("recording the end of submit {uuid}"), move |conn| {
            Submit::finish(conn, id, end, at)?;
            Ok(())
        })
        .await
}

/// Connects to an endpoint, checks it and the image on it, and records what
/// was learned of it.
async fn connect_endpoint(
    pool: &Pool,
    config: &EndpointConfig,
    allowed: &AllowedVersions,
    image: &str,
) -> Result<EndpointSlot> {
    let name = config.name.clone();
    let uri = config.uri.clone();
    let timeout = config.timeout;
    let id = db::run(pool, format!("recording endpoint `{name}`"), move |conn| {
        Ok(NewEndpoint {
            name: &name,
            uri: &uri,
        }
        .get_or_create(conn)?
        .id)
    })
    .await?;
    let checked = async {
        let endpoint = Endpoint::connect(config).await?;
        let info = endpoint.check(allowed).await?;
        Ok::<_, crate::endpoint::EndpointError>((endpoint, info))
    }
    .await;
    let (endpoint, info) = match checked {
        Ok(x) => x,
        Err(err) => {
            let message = crate::error::Chain(&err).to_string();
            // An engine that answered with versions kiln may not use is
            // unhealthy, with its versions recorded; any other failure means
            // it could not be reached.
            let versions = match &err {
                crate::endpoint::EndpointError::VersionNotAllowed { info, .. } => {
                    Some((info.engine_version.clone(), info.api_version.clone()))
                }
                _ => None,
            };
            db::run(
                pool,
                format!("recording the health of endpoint `{}`", config.name),
                move |conn| {
                    let check = match &versions {
                        Some((engine_version, api_version)) => EndpointCheck::Unhealthy {
                            engine_version,
                            api_version,
                            error: &message,
                        },
                        None => EndpointCheck::Unreachable { error: &message },
                    };
                    crate::db::models::endpoints::Endpoint::record_check(conn, id, check, timeout)?;
                    Ok(())
                },
            )
            .await?;
            return Err(anyhow::Error::new(err).context(EndpointDown {
                name: config.name.clone(),
            }));
        }
    };
    let (engine, api) = (info.engine_version.clone(), info.api_version.clone());
    db::run(
        pool,
        format!("recording the health of endpoint `{}`", config.name),
        move |conn| {
            crate::db::models::endpoints::Endpoint::record_check(
                conn,
                id,
                EndpointCheck::Healthy {
                    engine_version: &engine,
                    api_version: &api,
                },
                timeout,
            )?;
            Ok(())
        },
    )
    .await?;
    remove_leftovers(pool, &endpoint).await?;
    let image_digest = endpoint
        .ensure_image(image)
        .await
        .with_context(|| format!("the build image on endpoint `{}`", config.name))?;
    Ok(EndpointSlot {
        endpoint: Arc::new(endpoint),
        id,
        maxjobs: config.maxjobs,
        image_digest,
    })
}

/// The key of this database's keyed hashes of secret values. A dry run
/// that finds none uses a fresh one: no earlier job can match it anyway.
async fn secret_hasher(pool: &Pool, key: SecretKey) -> Result<SecretHasher> {
    use crate::db::models::hash_keys;
    let fresh = hash_keys::random_key().context("making a key for hashing secret values")?;
    let key = db::run(
        pool,
        "reading the key for hashing secret values",
        move |conn| {
            Ok(match key {
                SecretKey::Make => hash_keys::get_or_create(conn, hash_keys::SECRET_ENV, &fresh)?,
                SecretKey::Read => {
                    hash_keys::get(conn, hash_keys::SECRET_ENV)?.unwrap_or_else(|| fresh.to_vec())
                }
            })
        },
    )
    .await?;
    Ok(SecretHasher::new(&key))
}
