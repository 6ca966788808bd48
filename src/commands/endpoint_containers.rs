//! `kiln endpoint [NAME] containers list|prune|stop`: kiln's containers on
//! the endpoints, with their jobs from the database; stopping and removing
//! those whose submit no longer runs. A container of a running submit, or
//! of a job this database does not know, is never stopped or removed.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::endpoint::ask_all;
use crate::cli::{
    ContainerFilter, EndpointContainersCommand, EndpointContainersListArgs,
    EndpointContainersPruneArgs, EndpointContainersStopArgs, OutputFormat,
};
use crate::config::{Config, EndpointConfig};
use crate::db::listings::containers::{container_jobs, ContainerJob};
use crate::db::models::liveness::ContainerOwner;
use crate::endpoint::{Endpoint, KilnContainer, Removal};
use crate::error::Outcome;
use crate::ui;
use crate::ui::endpoint::{CleanupReport, ContainerRow};

pub(super) fn run(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    cmd: EndpointContainersCommand,
) -> Result<Outcome> {
    match cmd {
        EndpointContainersCommand::List(args) => list(config, runtime, targets, args),
        EndpointContainersCommand::Prune(args) => prune(config, runtime, targets, args),
        EndpointContainersCommand::Stop(args) => stop(config, runtime, targets, args),
    }
}

/// Which containers the filter flags take, with their times resolved.
#[derive(Debug, Clone, Default)]
struct Selection {
    submit_prefix: Option<String>,
    created_before: Option<DateTime<Utc>>,
    created_after: Option<DateTime<Utc>>,
}

impl Selection {
    fn new(filter: &ContainerFilter, now: DateTime<Utc>) -> Self {
        Selection {
            submit_prefix: filter.submit.as_ref().map(|p| p.as_str().to_owned()),
            created_before: filter.older_than.map(|t| t.resolve(now)),
            created_after: filter.newer_than.map(|t| t.resolve(now)),
        }
    }

    fn takes(&self, c: &KilnContainer) -> bool {
        let submit_ok = match &self.submit_prefix {
            None => true,
            Some(prefix) => c
                .submit
                .is_some_and(|s| s.hyphenated().to_string().starts_with(prefix.as_str())),
        };
        let before_ok = self
            .created_before
            .is_none_or(|t| c.created.is_some_and(|created| created < t));
        let after_ok = self
            .created_after
            .is_none_or(|t| c.created.is_some_and(|created| created > t));
        submit_ok && before_ok && after_ok
    }
}

/// Whether Docker's state is one of a container that runs (or may run again by itself).
fn is_running(state: Option<&str>) -> bool {
    matches!(state, Some("running" | "paused" | "restarting"))
}

/// Whether Docker's state is one of a container that does not run.
fn is_stopped(state: Option<&str>) -> bool {
    matches!(state, Some("exited" | "created" | "dead"))
}

/// The containers each endpoint that answered holds (with the connected
/// endpoint, for what follows); those that did not are named, and the
/// outcome is `Failed`.
fn list_each(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
) -> (Vec<(Endpoint, Vec<KilnContainer>)>, Outcome) {
    let (found, outcome) = ask_all(config, runtime, targets, |endpoint, _| async move {
        let containers = endpoint.list_kiln_containers().await?;
        Ok((endpoint, containers))
    });
    (found.into_iter().map(|(_, x)| x).collect(), outcome)
}

/// The jobs of these containers that the database knows, by UUID.
fn jobs_by_uuid(
    conn: &mut diesel::PgConnection,
    found: &[(Endpoint, Vec<KilnContainer>)],
) -> Result<HashMap<Uuid, ContainerJob>> {
    let uuids: Vec<Uuid> = found
        .iter()
        .flat_map(|(_, cs)| cs.iter().filter_map(|c| c.job))
        .collect();
    let jobs = container_jobs(conn, &uuids).context("reading the jobs of kiln's containers")?;
    Ok(jobs.into_iter().map(|j| (j.job, j)).collect())
}

fn list(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    args: EndpointContainersListArgs,
) -> Result<Outcome> {
    let conn = super::db::connect_reaped(config);
    let selection = Selection::new(&args.filter, Utc::now());
    let (found, outcome) = list_each(config, runtime, targets);
    let jobs = match conn.and_then(|mut conn| jobs_by_uuid(&mut conn, &found)) {
        Ok(jobs) => jobs,
        Err(err) => {
            ui::endpoint::warn_jobs_unknown(&err);
            HashMap::new()
        }
    };
    let rows: Vec<ContainerRow> = found
        .iter()
        .flat_map(|(endpoint, cs)| cs.iter().map(move |c| (endpoint, c)))
        .filter(|(_, c)| args.all || is_running(c.state.as_deref()))
        .filter(|(_, c)| selection.takes(c))
        .map(|(endpoint, c)| container_row(endpoint, c, &jobs))
        .collect();
    ui::endpoint::print_containers(args.output, &rows)?;
    Ok(outcome)
}

fn container_row(
    endpoint: &Endpoint,
    c: &KilnContainer,
    jobs: &HashMap<Uuid, ContainerJob>,
) -> ContainerRow {
    let job = c.job.and_then(|u| jobs.get(&u));
    ContainerRow {
        endpoint: endpoint.name().to_owned(),
        container: c.id.clone(),
        state: c.state.clone(),
        created: c.created,
        submit: c.submit,
        job: c.job,
        package: job.map(|j| (j.package_name.clone(), j.package_version.clone())),
        submit_status: job.map(|j| j.submit_status),
    }
}

/// What to do with each leftover container.
#[derive(Debug, Clone, Copy)]
enum Cleanup {
    Stop { grace: Duration },
    Remove,
}

impl Cleanup {
    fn past_tense(self) -> &'static str {
        match self {
            Cleanup::Stop { .. } => "stopped",
            Cleanup::Remove => "removed",
        }
    }

    /// Whether a container in this Docker state is one this cleanup acts on.
    fn takes_state(self, state: Option<&str>) -> bool {
        match self {
            Cleanup::Stop { .. } => is_running(state),
            Cleanup::Remove => is_stopped(state),
        }
    }

    async fn apply(
        self,
        endpoint: &Endpoint,
        id: &str,
    ) -> Result<(), crate::endpoint::EndpointError> {
        match self {
            Cleanup::Stop { grace } => endpoint.stop_container(id, grace).await,
            Cleanup::Remove => endpoint.remove_container(id, Removal::IfStopped).await,
        }
    }
}

fn prune(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    args: EndpointContainersPruneArgs,
) -> Result<Outcome> {
    let selection = Selection::new(&args.filter, Utc::now());
    clean_up(
        config,
        runtime,
        targets,
        &selection,
        Cleanup::Remove,
        args.output,
    )
}

fn stop(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    args: EndpointContainersStopArgs,
) -> Result<Outcome> {
    let selection = Selection::new(&args.filter, Utc::now());
    let cleanup = Cleanup::Stop {
        grace: Duration::from_secs(args.timeout),
    };
    clean_up(config, runtime, targets, &selection, cleanup, args.output)
}

/// Records lost the submits whose kiln is gone, finds the selected
/// containers whose submit is not running, and stops or removes them.
fn clean_up(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    selection: &Selection,
    cleanup: Cleanup,
    output: OutputFormat,
) -> Result<Outcome> {
    let mut conn = super::db::connect_reaped(config).context(
        "the database tells which containers belong to running submits: nothing was touched",
    )?;
    let (found, mut outcome) = list_each(config, runtime, targets);
    let jobs = jobs_by_uuid(&mut conn, &found)?;
    let chosen: Vec<(Endpoint, Vec<String>)> = found
        .into_iter()
        .map(|(endpoint, cs)| {
            let ids = cs
                .into_iter()
                .filter(|c| cleanup.takes_state(c.state.as_deref()) && selection.takes(c))
                .filter(|c| owner(c, &jobs) == ContainerOwner::Gone)
                .map(|c| c.id)
                .collect();
            (endpoint, ids)
        })
        .collect();
    let reports = runtime.block_on(apply_each(chosen, cleanup));
    if reports.iter().any(|r| !r.failed.is_empty()) {
        outcome = Outcome::Failed;
    }
    ui::endpoint::print_cleanup(output, cleanup.past_tense(), &reports)?;
    Ok(outcome)
}

/// Whose a container is, by its job's record: a container without a job
/// label, or whose job this database does not know, is another kiln's.
fn owner(c: &KilnContainer, jobs: &HashMap<Uuid, ContainerJob>) -> ContainerOwner {
    c.job
        .and_then(|u| jobs.get(&u))
        .map_or(ContainerOwner::Unknown, ContainerJob::owner)
}

/// Applies the cleanup to the chosen containers, every endpoint at once.
async fn apply_each(chosen: Vec<(Endpoint, Vec<String>)>, cleanup: Cleanup) -> Vec<CleanupReport> {
    let work = chosen.into_iter().map(|(endpoint, ids)| async move {
        let mut report = CleanupReport {
            endpoint: endpoint.name().to_owned(),
            done: Vec::new(),
            failed: Vec::new(),
        };
        for id in ids {
            match cleanup.apply(&endpoint, &id).await {
                Ok(()) => report.done.push(id),
                Err(err) => {
                    let why = crate::error::Chain(&err).to_string();
                    report.failed.push((id, why));
                }
            }
        }
        report
    });
    futures::future::join_all(work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(submit: &str, created: Option<DateTime<Utc>>) -> KilnContainer {
        KilnContainer {
            id: "c".into(),
            name: None,
            image: None,
            state: Some("exited".into()),
            created,
            submit: Uuid::parse_str(submit).ok(),
            job: None,
        }
    }

    #[test]
    fn a_selection_takes_containers_by_submit_and_age() {
        let now = Utc::now();
        let hour = chrono::Duration::hours(1);
        let s = "3f2a1b2c-0000-4000-8000-000000000001";
        let old = container(s, Some(now - hour * 3));
        let new = container(s, Some(now - hour / 60));
        let undated = container(s, None);
        let other = container("9c1d0000-0000-4000-8000-000000000002", Some(now));
        let by_prefix = Selection {
            submit_prefix: Some("3f2a".into()),
            ..Selection::default()
        };
        let older = Selection {
            created_before: Some(now - hour),
            ..Selection::default()
        };
        let newer = Selection {
            created_after: Some(now - hour),
            ..Selection::default()
        };
        let cases: &[(&Selection, &KilnContainer, bool)] = &[
            (&Selection::default(), &undated, true),
            (&by_prefix, &old, true),
            (&by_prefix, &other, false),
            (&older, &old, true),
            (&older, &new, false),
            (&older, &undated, false),
            (&newer, &new, true),
            (&newer, &old, false),
        ];
        for (i, (selection, c, expected)) in cases.iter().enumerate() {
            assert_eq!(selection.takes(c), *expected, "case {i}");
        }
    }

    #[test]
    fn stop_takes_running_containers_and_prune_stopped_ones() {
        let cases = [
            (Some("running"), true, false),
            (Some("paused"), true, false),
            (Some("exited"), false, true),
            (Some("created"), false, true),
            (Some("dead"), false, true),
            (Some("removing"), false, false),
            (None, false, false),
        ];
        let stop = Cleanup::Stop {
            grace: Duration::from_secs(1),
        };
        for (state, stops, removes) in cases {
            assert_eq!(stop.takes_state(state), stops, "{state:?}");
            assert_eq!(Cleanup::Remove.takes_state(state), removes, "{state:?}");
        }
    }
}
