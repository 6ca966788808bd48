//! One `kiln submit`, from a plan to its records: everything is checked
//! before anything runs (scripts render, environment names are allowed,
//! endpoints answer and have the image), then the submit row and every job
//! row (`queued`) are written in one transaction, then the run loop builds,
//! then the submit's end is recorded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use diesel::Connection;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{EndpointSlot, JobContext, JobSpec, RunOptions, RunReport};
use crate::config::{Config, EndpointConfig, ImageConfig};
use crate::db::lease::SubmitLease;
use crate::db::models::endpoints::{EndpointCheck, NewEndpoint};
use crate::db::models::env_vars::NewEnvVar;
use crate::db::models::git_hashes::NewGitHash;
use crate::db::models::image_digests::NewImageDigest;
use crate::db::models::images::NewImage;
use crate::db::models::job_dependencies::{DependencyKind as DbDependencyKind, JobDependency};
use crate::db::models::job_envs::JobEnv;
use crate::db::models::jobs::{JobStatus, NewJob};
use crate::db::models::liveness;
use crate::db::models::packages::NewPackage;
use crate::db::models::submit_envs::SubmitEnv;
use crate::db::models::submits::{NewSubmit, Submit, SubmitEnd};
use crate::db::models::{EnvVarId, JobId, SubmitId};
use crate::db::{self, Pool};
use crate::endpoint::{AllowedVersions, Endpoint};
use crate::package::script::ScriptRenderer;
use crate::package::{DependencyKind, PackageSet};
use crate::plan::build_key::{sha256_hex, BuildKeyInputs, SecretHasher};
use crate::plan::Plan;
use crate::repo::git::GitState;
use crate::secrets::Secrets;
use crate::store::StagingStore;

/// What the user asked for, parsed and resolved.
pub struct SubmitRequest<'a> {
    pub packages: &'a PackageSet,
    pub repo_root: PathBuf,
    pub plan: &'a Plan,
    pub image: ImageConfig,
    /// The `-E` variables.
    pub env: BTreeMap<String, String>,
    pub endpoints: Vec<EndpointConfig>,
    pub staging: PathBuf,
    pub shebang: Option<String>,
    pub keep_containers: bool,
    pub fail_fast: bool,
    pub write_log: bool,
    pub options: RunOptions,
    /// Who submits (user name) and from where (host name).
    pub submitter: (String, String),
}

/// A job as prepared before the records are written.
struct Prepared {
    spec: JobSpec,
    /// The script as recorded: secrets masked.
    recorded_script: String,
    build_key: String,
    build_key_inputs: serde_json::Value,
    kinds: Vec<DependencyKind>,
}

/// The end of a submit, for the command to print.
pub struct SubmitSummary {
    pub uuid: Uuid,
    pub jobs: Vec<JobSpec>,
    pub report: RunReport,
    /// Why the submit's end could not be recorded, if it could not (the
    /// next kiln run records it `lost`).
    pub unrecorded_end: Option<String>,
}

impl SubmitSummary {
    /// Whether every job succeeded and everything was recorded.
    pub fn succeeded(&self) -> bool {
        self.report.all_succeeded()
            && self.report.aborted.is_none()
            && self.unrecorded_end.is_none()
    }
}

/// Checks, records and runs a submit. `cancel` is cancelled by Ctrl-C.
pub async fn submit(
    config: Arc<Config>,
    pool: Pool,
    request: SubmitRequest<'_>,
    cancel: CancellationToken,
) -> Result<SubmitSummary> {
    let uuid = Uuid::new_v4();
    let packages = request.packages;
    let plan = request.plan;

    // Scripts, environments, inputs: all that needs no engine.
    let mut settings = crate::package::script::ScriptSettings::from_config(&config);
    if let Some(shebang) = &request.shebang {
        settings.shebang = shebang.clone();
    }
    let renderer = ScriptRenderer::new(settings);
    let git = {
        let root = request.repo_root.clone();
        tokio::task::spawn_blocking(move || crate::repo::git::state_of(&root))
            .await
            .context("reading the repository's git state")??
    };
    let order = plan.serial_buildorder().to_vec();
    let mut index_of = vec![usize::MAX; plan.len()];
    for (i, node) in order.iter().enumerate() {
        index_of[node.index()] = i;
    }

    // Endpoints: reachable, allowed engine versions, the image present.
    reap_lost(&pool).await?;
    let allowed = AllowedVersions::from(&config.docker);
    let mut slots = Vec::new();
    for endpoint_config in &request.endpoints {
        slots.push(connect_endpoint(&pool, endpoint_config, &allowed, &request.image.name).await?);
    }
    let digest = slots
        .first()
        .map(|s| s.image_digest.clone())
        .context("no endpoint to build on")?;
    if let Some(other) = slots.iter().find(|s| s.image_digest != digest) {
        return Err(crate::input_error!(
            "image {} is {digest} on endpoint `{}` but {} on endpoint `{}`: builds would not be reproducible",
            request.image.name,
            slots[0].endpoint.name(),
            other.image_digest,
            other.endpoint.name()
        ));
    }

    let environments: Vec<BTreeMap<String, String>> = order
        .iter()
        .map(|&n| {
            let package = plan.package(packages, n);
            job_environment(&config, &package.environment, &request.env, &git)
        })
        .collect();
    let secrets = submit_secrets(&config, plan, packages, &request.env, &environments)?;
    let hasher = secret_hasher(&pool).await?;

    let mut prepared: Vec<Prepared> = Vec::with_capacity(order.len());
    let mut problems = Vec::new();
    for (&node_id, env) in order.iter().zip(environments) {
        let package = plan.package(packages, node_id);
        let script = match renderer.render(package) {
            Ok(s) => s.into_string(),
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        for phase in renderer.unknown_phases(package) {
            tracing::warn!(
                "{}: phase `{phase}` is not in available_phases and is left out of the script",
                package.id_string()
            );
        }
        if config.containers.check_env_names {
            for name in env.keys() {
                if !config.containers.allowed_env.iter().any(|a| a == name) {
                    problems.push(format!(
                        "{}: variable `{name}` is not in containers.allowed_env (containers.check_env_names is true)",
                        package.id_string()
                    ));
                }
            }
        }
        let sources = package
            .sources
            .keys()
            .map(|key| {
                let path = crate::store::sources::source_path(&config, package, key)?;
                Ok((format!("{key}.source"), path))
            })
            .collect::<Result<Vec<(String, PathBuf)>, crate::store::PathError>>()?;
        let patches: Vec<(String, PathBuf)> = package
            .patches
            .iter()
            .map(|rel| (rel.clone(), request.repo_root.join(rel)))
            .collect();
        let node = plan.node(node_id);
        let dependencies: Vec<usize> = node
            .dependencies
            .iter()
            .map(|e| index_of[e.to.index()])
            .collect();
        let kinds = node.dependencies.iter().map(|e| e.kind).collect();
        let patch_hashes = {
            let patches = patches.clone();
            tokio::task::spawn_blocking(move || -> Result<BTreeMap<String, String>> {
                patches
                    .iter()
                    .map(|(rel, path)| {
                        let bytes = std::fs::read(path)
                            .with_context(|| format!("reading patch {}", path.display()))?;
                        Ok((rel.clone(), sha256_hex(&bytes)))
                    })
                    .collect()
            })
            .await
            .context("hashing patches")??
        };
        let inputs = BuildKeyInputs {
            package: package.name.to_string(),
            version: package.version.to_string(),
            script_sha256: hasher.script(&script, &secrets),
            image_digest: digest.clone(),
            environment: hasher.environment(&env, &secrets),
            sources: package
                .sources
                .iter()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        format!("{}:{}", s.hash.kind.as_str(), s.hash.hash),
                    )
                })
                .collect(),
            patches: patch_hashes,
            dependencies: dependencies
                .iter()
                .map(|&d| {
                    let dep: &Prepared = &prepared[d];
                    (
                        format!("{} {}", dep.spec.package, dep.spec.version),
                        dep.build_key.clone(),
                    )
                })
                .collect(),
        };
        prepared.push(Prepared {
            recorded_script: secrets.scrub(&script),
            build_key: inputs.key(),
            build_key_inputs: serde_json::to_value(&inputs)
                .context("serializing build key inputs")?,
            spec: JobSpec {
                id: JobId(0),
                uuid: Uuid::new_v4(),
                package: package.name.to_string(),
                version: package.version.to_string(),
                script,
                env: env.into_iter().collect(),
                sources,
                patches,
                dependencies,
            },
            kinds,
        });
    }
    if !problems.is_empty() {
        return Err(crate::input_error!(
            "the submit cannot start:\n  {}",
            problems.join("\n  ")
        ));
    }

    // The records: the submit and every job, queued, in one transaction.
    let tree = serde_json::to_value(plan.tree_record(packages)).context("serializing the tree")?;
    let plan_json =
        serde_json::to_value(plan.plan_record(packages)).context("serializing the plan")?;
    let root = plan.package(packages, plan.root());
    let root_name = root.name.to_string();
    let root_version = root.version.to_string();
    let masked = |name: &str, value: &str| secrets.mask(name, value);
    let submit_env: Vec<(String, String)> = request
        .env
        .iter()
        .map(|(k, v)| (k.clone(), masked(k, v)))
        .collect();
    let job_envs: Vec<Vec<(String, String)>> = prepared
        .iter()
        .map(|p| {
            p.spec
                .env
                .iter()
                .map(|(k, v)| (k.clone(), masked(k, v)))
                .collect()
        })
        .collect();
    let rows: Vec<(Uuid, String, String, String, String, serde_json::Value)> = prepared
        .iter()
        .map(|p| {
            (
                p.spec.uuid,
                p.spec.package.clone(),
                p.spec.version.clone(),
                p.recorded_script.clone(),
                p.build_key.clone(),
                p.build_key_inputs.clone(),
            )
        })
        .collect();
    let edges: Vec<Vec<(usize, DependencyKind)>> = prepared
        .iter()
        .map(|p| {
            p.spec
                .dependencies
                .iter()
                .copied()
                .zip(p.kinds.iter().copied())
                .collect()
        })
        .collect();
    let image_name = request.image.name.clone();
    let (user, host) = request.submitter.clone();
    let digest_for_db = digest.clone();
    let owner = super::owner::current_owner();
    let lease = crate::db::lease::lease(config.database_outage_timeout);
    // The submit's row is inserted on a connection that keeps the lock
    // saying this process is alive until the submit ends.
    let mut alive = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || pool.get())
            .await
            .context("taking a database connection")?
            .context("taking a database connection")?
    };
    let (alive, recorded) = tokio::task::spawn_blocking(move || {
        let conn: &mut diesel::PgConnection = &mut alive;
        let recorded = conn.transaction(|conn| {
            let image = NewImage { name: &image_name }.get_or_create(conn)?;
            NewImageDigest {
                image_id: image.id,
                digest: &digest_for_db,
            }
            .get_or_create(conn)?;
            let requested = NewPackage {
                name: &root_name,
                version: &root_version,
            }
            .get_or_create(conn)?;
            let hash = NewGitHash { hash: &git.commit }.get_or_create(conn)?;
            let submit = NewSubmit {
                uuid,
                requested_package_id: requested.id,
                requested_image_id: image.id,
                repo_hash_id: hash.id,
                repo_dirty: git.is_dirty(),
                repo_diff_sha256: git.diff_sha256.as_deref(),
                submitter_user: &user,
                submitter_host: &host,
                kiln_version: env!("CARGO_PKG_VERSION"),
                tree: &tree,
                plan: &plan_json,
                owner_machine: owner.as_ref().map(|o| o.machine.as_str()),
                owner_pid: owner.as_ref().map(|o| o.pid),
                owner_started: owner.as_ref().map(|o| o.started),
            }
            .insert(conn)?;
            // A new submit's lock is free: no other session knows its id yet.
            if !liveness::try_hold(conn, submit.id)? {
                return Err(diesel::result::Error::RollbackTransaction);
            }
            liveness::renew(conn, submit.id, lease)?;
            let holder = liveness::backend_pid(conn)?;
            let mut env_ids: BTreeMap<(String, String), EnvVarId> = BTreeMap::new();
            let mut env_id = |conn: &mut diesel::PgConnection,
                              name: &str,
                              value: &str|
             -> diesel::QueryResult<EnvVarId> {
                if let Some(id) = env_ids.get(&(name.to_owned(), value.to_owned())) {
                    return Ok(*id);
                }
                let id = NewEnvVar { name, value }.get_or_create(conn)?.id;
                env_ids.insert((name.to_owned(), value.to_owned()), id);
                Ok(id)
            };
            let mut links = Vec::new();
            for (name, value) in &submit_env {
                links.push(SubmitEnv {
                    submit_id: submit.id,
                    env_id: env_id(conn, name, value)?,
                });
            }
            SubmitEnv::insert_all(conn, &links)?;
            let mut package_ids = Vec::with_capacity(rows.len());
            for (_, name, version, ..) in &rows {
                package_ids.push(NewPackage { name, version }.get_or_create(conn)?.id);
            }
            let new_jobs: Vec<NewJob> = rows
                .iter()
                .zip(&package_ids)
                .map(|((uuid, _, _, script, key, inputs), package_id)| NewJob {
                    uuid: *uuid,
                    submit_id: submit.id,
                    package_id: *package_id,
                    image_id: image.id,
                    status: JobStatus::Queued,
                    script,
                    build_key: key,
                    build_key_inputs: inputs,
                    reused_job_id: None,
                })
                .collect();
            let jobs = NewJob::insert_all(conn, &new_jobs)?;
            let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
            let mut dependency_rows = Vec::new();
            for (i, deps) in edges.iter().enumerate() {
                for &(d, kind) in deps {
                    let kind = match kind {
                        DependencyKind::Build => DbDependencyKind::Build,
                        DependencyKind::Runtime => DbDependencyKind::Runtime,
                    };
                    if !dependency_rows.iter().any(|r: &JobDependency| {
                        r.job_id == ids[i] && r.dependency_job_id == ids[d]
                    }) {
                        dependency_rows.push(JobDependency {
                            job_id: ids[i],
                            dependency_job_id: ids[d],
                            kind,
                        });
                    }
                }
            }
            JobDependency::insert_all(conn, &dependency_rows)?;
            let mut env_links = Vec::new();
            for (i, env) in job_envs.iter().enumerate() {
                for (name, value) in env {
                    env_links.push(JobEnv {
                        job_id: ids[i],
                        env_id: env_id(conn, name, value)?,
                    });
                }
            }
            JobEnv::insert_all(conn, &env_links)?;
            Ok::<_, diesel::result::Error>((submit.id, holder, ids))
        });
        (alive, recorded)
    })
    .await
    .context("recording the submit")?;
    let (submit_id, holder, job_ids) =
        recorded.with_context(|| format!("recording submit {uuid}"))?;
    let jobs: Vec<JobSpec> = prepared
        .into_iter()
        .zip(job_ids)
        .map(|(p, id)| JobSpec { id, ..p.spec })
        .collect();

    // The build.
    let staging = StagingStore::new(&request.staging);
    let log_dir = match request.write_log {
        true => {
            let dir = crate::store::paths::under_root(&config.log_dir, &[&uuid.to_string()])?;
            tokio::fs::create_dir_all(&dir)
                .await
                .with_context(|| format!("creating the log directory {}", dir.display()))?;
            Some(dir)
        }
        false => None,
    };
    let lease = Arc::new(SubmitLease::start(
        pool.clone(),
        submit_id,
        alive,
        holder,
        config.database_outage_timeout,
    ));
    let ctx = Arc::new(JobContext {
        lease: Arc::clone(&lease),
        submit: uuid,
        image: request.image.name.clone(),
        staging,
        keep_containers: request.keep_containers,
        log_limit: config.log_limit,
        secrets,
        error_lines: config.build_error_lines,
        job_timeout: config.job_timeout,
        silence_timeout: config.job_silence_timeout,
        log_dir,
    });
    let options = RunOptions {
        fail_fast: request.fail_fast,
        ..request.options
    };
    let report = super::run(ctx, jobs.clone(), slots, options, cancel).await;
    let end = if report.interrupted {
        SubmitEnd::Cancelled
    } else if report.all_succeeded() && report.aborted.is_none() {
        SubmitEnd::Succeeded
    } else {
        SubmitEnd::Failed
    };
    let unrecorded_end = finish_submit(&lease, submit_id, uuid, end, Instant::now())
        .await
        .err()
        .map(|err| err.root_cause().to_string());
    lease.stop().await;
    Ok(SubmitSummary {
        uuid,
        jobs,
        report,
        unrecorded_end,
    })
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
async fn remove_leftovers(pool: &Pool, endpoint: &Endpoint) -> Result<()> {
    // The error names the endpoint and what was asked.
    let containers = endpoint.list_kiln_containers().await?;
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
            if let Err(err) = endpoint
                .remove_container(&container.id, crate::endpoint::Removal::Force)
                .await
            {
                tracing::warn!(
                    "removing container {} on endpoint `{}`: {}",
                    container.id,
                    endpoint.name(),
                    crate::error::Chain(&err)
                );
            }
        }
    }
    Ok(())
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
                    crate::db::models::endpoints::Endpoint::record_check(conn, id, check)?;
                    Ok(())
                },
            )
            .await?;
            return Err(
                anyhow::Error::new(err).context(format!("checking endpoint `{}`", config.name))
            );
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

/// A job's environment: the package's, then the command line's, then the
/// configured git variables.
fn job_environment(
    config: &Config,
    package: &BTreeMap<String, String>,
    cli: &BTreeMap<String, String>,
    git: &GitState,
) -> BTreeMap<String, String> {
    let mut env = package.clone();
    env.extend(cli.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(name) = &config.containers.git_author {
        env.insert(name.clone(), git.author.clone());
    }
    if let Some(name) = &config.containers.git_commit_hash {
        env.insert(name.clone(), git.commit.clone());
    }
    env
}

/// The submit's secrets: the `secret_env` variables, with the values that
/// the packages of the plan, the command line and the final job
/// environments give them.
fn submit_secrets(
    config: &Config,
    plan: &Plan,
    packages: &PackageSet,
    cli: &BTreeMap<String, String>,
    jobs: &[BTreeMap<String, String>],
) -> Result<Secrets> {
    let own = plan
        .node_ids()
        .map(|n| &plan.package(packages, n).environment);
    Secrets::new(&config.secret_env, own.chain([cli]).chain(jobs))
        .context("preparing the scrubbing of secret values")
}

/// The key of this database's keyed hashes of secret values.
async fn secret_hasher(pool: &Pool) -> Result<SecretHasher> {
    use crate::db::models::hash_keys;
    let fresh = hash_keys::random_key().context("making a key for hashing secret values")?;
    let key = db::run(
        pool,
        "reading the key for hashing secret values",
        move |conn| {
            Ok(hash_keys::get_or_create(
                conn,
                hash_keys::SECRET_ENV,
                &fresh,
            )?)
        },
    )
    .await?;
    Ok(SecretHasher::new(&key))
}

/// Who submits, and from where (reads the user database: blocking).
pub fn submitter() -> (String, String) {
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_owned());
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".to_owned());
    (user, host)
}
