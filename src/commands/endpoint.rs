//! `kiln endpoint [NAME] ping|stats|images`, and what every `endpoint`
//! command shares: choosing the endpoints, asking each of them at once
//! (within its configured timeout) after a check of its versions, and
//! recording what was learned of each one's health. The `containers`
//! commands are in `endpoint_containers`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::{
    EndpointArgs, EndpointCommand, EndpointImagesCommand, EndpointOutputArgs, EndpointPingArgs,
    EndpointVerifyPresentArgs,
};
use crate::config::{Config, EndpointConfig};
use crate::db::models::endpoints::{Endpoint as EndpointRecord, EndpointCheck, NewEndpoint};
use crate::endpoint::{AllowedVersions, Endpoint, EndpointError, EngineInfo};
use crate::error::Outcome;
use crate::ui;
use crate::ui::endpoint::{PingReport, PresenceRow};

pub fn run(ctx: &Context, args: EndpointArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let targets = choose_endpoints(&config.docker.endpoints, args.name.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match args.command {
        EndpointCommand::Ping(a) => ping(&config, &runtime, &targets, a),
        EndpointCommand::Stats(a) => stats(&config, &runtime, &targets, a),
        EndpointCommand::Containers(cmd) => {
            super::endpoint_containers::run(&config, &runtime, &targets, cmd)
        }
        EndpointCommand::Images(EndpointImagesCommand::List(a)) => {
            images_list(&config, &runtime, &targets, a)
        }
        EndpointCommand::Images(EndpointImagesCommand::VerifyPresent(a)) => {
            verify_present(&config, &runtime, &targets, a)
        }
    }
}

/// The endpoint named NAME, or every configured one; an unknown name is an
/// input error that lists the configured ones.
fn choose_endpoints(
    configured: &[EndpointConfig],
    name: Option<&str>,
) -> Result<Vec<EndpointConfig>> {
    let Some(name) = name else {
        return Ok(configured.to_vec());
    };
    match configured.iter().find(|e| e.name == name) {
        Some(e) => Ok(vec![e.clone()]),
        None => {
            let known: Vec<&str> = configured.iter().map(|e| e.name.as_str()).collect();
            Err(crate::input_error!(
                "no endpoint is named `{name}` (configured: {})",
                known.join(", ")
            ))
        }
    }
}

/// What one check of an endpoint found, owned (see [`EndpointCheck`]).
#[derive(Debug, Clone)]
pub(super) enum Health {
    Healthy { info: EngineInfo },
    Unhealthy { info: EngineInfo, error: String },
    Unreachable { error: String },
}

impl Health {
    fn as_check(&self) -> EndpointCheck<'_> {
        match self {
            Health::Healthy { info } => EndpointCheck::Healthy {
                engine_version: &info.engine_version,
                api_version: &info.api_version,
            },
            Health::Unhealthy { info, error } => EndpointCheck::Unhealthy {
                engine_version: &info.engine_version,
                api_version: &info.api_version,
                error,
            },
            Health::Unreachable { error } => EndpointCheck::Unreachable { error },
        }
    }
}

/// What one endpoint answered to a command: its health, and the command's
/// result there (an error when it did not answer or refused).
pub(super) struct Answer<T> {
    pub config: EndpointConfig,
    pub health: Health,
    pub result: Result<T, anyhow::Error>,
}

/// Connects to every endpoint at once, checks its versions, and does
/// `work` on each that answered with versions kiln may use. An endpoint
/// that fails `work` is recorded unhealthy with that error.
async fn ask_each<T, F, Fut>(
    targets: &[EndpointConfig],
    allowed: &AllowedVersions,
    work: F,
) -> Vec<Answer<T>>
where
    F: Fn(Endpoint, EngineInfo) -> Fut,
    Fut: Future<Output = Result<T, EndpointError>>,
{
    let asks = targets.iter().map(|config| ask_one(config, allowed, &work));
    futures::future::join_all(asks).await
}

async fn ask_one<T, F, Fut>(
    config: &EndpointConfig,
    allowed: &AllowedVersions,
    work: &F,
) -> Answer<T>
where
    F: Fn(Endpoint, EngineInfo) -> Fut,
    Fut: Future<Output = Result<T, EndpointError>>,
{
    let checked = async {
        let endpoint = Endpoint::connect(config).await?;
        let info = endpoint.check(allowed).await?;
        Ok::<_, EndpointError>((endpoint, info))
    }
    .await;
    let (endpoint, info) = match checked {
        Ok(x) => x,
        Err(err) => return failed_check(config, err),
    };
    match work(endpoint, info.clone()).await {
        Ok(value) => Answer {
            config: config.clone(),
            health: Health::Healthy { info },
            result: Ok(value),
        },
        Err(err) => Answer {
            config: config.clone(),
            health: Health::Unhealthy {
                info,
                error: crate::error::Chain(&err).to_string(),
            },
            result: Err(err.into()),
        },
    }
}

/// An endpoint that did not answer, or answered with versions kiln may not
/// use (then recorded unhealthy with them).
fn failed_check<T>(config: &EndpointConfig, err: EndpointError) -> Answer<T> {
    let error = crate::error::Chain(&err).to_string();
    let health = match &err {
        EndpointError::VersionNotAllowed { info, .. } => Health::Unhealthy {
            info: (**info).clone(),
            error,
        },
        _ => Health::Unreachable { error },
    };
    Answer {
        config: config.clone(),
        health,
        result: Err(err.into()),
    }
}

/// Records each endpoint's health; when the database cannot be reached,
/// warns that it was not recorded (what the engines said is printed all
/// the same).
fn record_health<T>(config: &Config, answers: &[Answer<T>]) {
    if let Err(err) = try_record_health(config, answers) {
        ui::endpoint::warn_health_not_recorded(&err);
    }
}

fn try_record_health<T>(config: &Config, answers: &[Answer<T>]) -> Result<()> {
    let mut conn = crate::db::connect(config)?;
    for answer in answers {
        let name = &answer.config.name;
        let row = NewEndpoint {
            name,
            uri: &answer.config.uri,
        }
        .get_or_create(&mut conn)
        .with_context(|| format!("recording endpoint `{name}`"))?;
        EndpointRecord::record_check(
            &mut conn,
            row.id,
            answer.health.as_check(),
            answer.config.timeout,
        )
        .with_context(|| format!("recording the health of endpoint `{name}`"))?;
    }
    Ok(())
}

/// The values of the endpoints that answered; each that did not is named
/// on standard error and makes the outcome `Failed`.
fn answered<T>(answers: Vec<Answer<T>>) -> (Vec<(EndpointConfig, T)>, Outcome) {
    let mut outcome = Outcome::Success;
    let mut values = Vec::new();
    for answer in answers {
        match answer.result {
            Ok(value) => values.push((answer.config, value)),
            Err(err) => {
                ui::endpoint::print_endpoint_failed(&answer.config.name, &err);
                outcome = Outcome::Failed;
            }
        }
    }
    (values, outcome)
}

/// Asks every target at once ([`ask_each`]), records what was learned of
/// each one's health, and returns the answers of those that answered, with
/// `Failed` when one did not (it is named on standard error).
pub(super) fn ask_all<T, F, Fut>(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    work: F,
) -> (Vec<(EndpointConfig, T)>, Outcome)
where
    F: Fn(Endpoint, EngineInfo) -> Fut,
    Fut: Future<Output = Result<T, EndpointError>>,
{
    let allowed = AllowedVersions::from(&config.docker);
    let answers = runtime.block_on(ask_each(targets, &allowed, work));
    record_health(config, &answers);
    answered(answers)
}

fn ping(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    args: EndpointPingArgs,
) -> Result<Outcome> {
    let pause = Duration::from_secs(args.sleep);
    let (reports, outcome) = ask_all(config, runtime, targets, |endpoint, info| async move {
        let round_trips = ping_times(&endpoint, args.times, pause).await?;
        Ok(PingReport {
            endpoint: endpoint.name().to_owned(),
            engine_version: info.engine_version,
            api_version: info.api_version,
            round_trips,
        })
    });
    let reports: Vec<PingReport> = reports.into_iter().map(|(_, r)| r).collect();
    ui::endpoint::print_ping(args.output, &reports)?;
    Ok(outcome)
}

/// The round trips of `times` pings, `pause` apart.
async fn ping_times(
    endpoint: &Endpoint,
    times: u32,
    pause: Duration,
) -> Result<Vec<Duration>, EndpointError> {
    let mut round_trips = Vec::new();
    for i in 0..times {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        round_trips.push(endpoint.ping().await?);
    }
    Ok(round_trips)
}

fn stats(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    args: EndpointOutputArgs,
) -> Result<Outcome> {
    let (stats, outcome) = ask_all(config, runtime, targets, |endpoint, _| async move {
        endpoint.stats().await
    });
    let stats: Vec<_> = stats.into_iter().map(|(c, s)| (c.name, s)).collect();
    ui::endpoint::print_stats(args.output, &stats)?;
    Ok(outcome)
}

fn images_list(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    args: EndpointOutputArgs,
) -> Result<Outcome> {
    let (images, outcome) = ask_all(config, runtime, targets, |endpoint, _| async move {
        endpoint.list_images().await
    });
    let rows: Vec<_> = images
        .into_iter()
        .flat_map(|(c, images)| images.into_iter().map(move |i| (c.name.clone(), i)))
        .collect();
    ui::endpoint::print_images(args.output, &rows)?;
    Ok(outcome)
}

fn verify_present(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    targets: &[EndpointConfig],
    args: EndpointVerifyPresentArgs,
) -> Result<Outcome> {
    let images = images_to_verify(config, args.image.as_deref())?;
    let (found, mut outcome) = ask_all(config, runtime, targets, |endpoint, _| {
        let images = images.clone();
        async move {
            let mut ids = Vec::new();
            for image in &images {
                ids.push(endpoint.image_digest(image).await?);
            }
            Ok(ids)
        }
    });
    let rows = presence(&images, &found);
    if rows.iter().any(|r| r.verdict != "present") {
        outcome = Outcome::Failed;
    }
    ui::endpoint::print_presence(args.output, &rows)?;
    Ok(outcome)
}

/// IMAGE by its full or configured short name (a name kiln does not know
/// is taken as given), or every configured image.
fn images_to_verify(config: &Config, image: Option<&str>) -> Result<Vec<String>> {
    match image {
        Some(name) => Ok(vec![config
            .docker
            .find_image(name)
            .map_or_else(|| name.to_owned(), |i| i.name.clone())]),
        None if config.docker.images.is_empty() => Err(crate::input_error!(
            "no image to verify: give IMAGE, or configure `docker.images`"
        )),
        None => Ok(config
            .docker
            .images
            .iter()
            .map(|i| i.name.clone())
            .collect()),
    }
}

/// For each image and endpoint, whether it is there with the id most
/// endpoints have (the first endpoint's when they are split evenly).
fn presence(
    images: &[String],
    found: &[(EndpointConfig, Vec<Option<String>>)],
) -> Vec<PresenceRow> {
    let mut rows = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let ids: Vec<(&str, Option<&String>)> = found
            .iter()
            .map(|(c, ids)| (c.name.as_str(), ids.get(i).and_then(Option::as_ref)))
            .collect();
        let expected = most_common(ids.iter().filter_map(|(_, id)| *id));
        for (endpoint, id) in ids {
            let verdict = match id {
                None => "missing",
                Some(id) if Some(id) == expected => "present",
                Some(_) => "other digest",
            };
            rows.push(PresenceRow {
                image: image.clone(),
                endpoint: endpoint.to_owned(),
                id: id.cloned(),
                verdict,
            });
        }
    }
    rows
}

/// The value that comes most often; of those that tie, the first seen.
fn most_common<'a>(values: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    let mut counts: BTreeMap<&String, (usize, usize)> = BTreeMap::new();
    for (order, v) in values.enumerate() {
        let entry = counts.entry(v).or_insert((0, order));
        entry.0 += 1;
    }
    counts
        .into_iter()
        .max_by(|(_, (n1, o1)), (_, (n2, o2))| n1.cmp(n2).then(o2.cmp(o1)))
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str) -> EndpointConfig {
        EndpointConfig {
            name: name.into(),
            uri: "unix:///var/run/docker.sock".into(),
            maxjobs: 1,
            network_mode: None,
            timeout: Duration::from_secs(1),
            tls: None,
        }
    }

    fn check(found: &[(&str, Option<&str>)], expected: &[&str]) {
        let found: Vec<_> = found
            .iter()
            .map(|(name, id)| (endpoint(name), vec![id.map(str::to_owned)]))
            .collect();
        let rows = presence(&["img".to_owned()], &found);
        let verdicts: Vec<&str> = rows.iter().map(|r| r.verdict).collect();
        assert_eq!(verdicts, expected, "{found:?}");
    }

    #[test]
    fn an_image_is_present_with_the_id_most_endpoints_have() {
        check(&[("a", Some("x"))], &["present"]);
        check(&[("a", Some("x")), ("b", None)], &["present", "missing"]);
        check(
            &[("a", Some("x")), ("b", Some("y")), ("c", Some("y"))],
            &["other digest", "present", "present"],
        );
        check(
            &[("a", Some("x")), ("b", Some("y"))],
            &["present", "other digest"],
        );
        check(&[("a", None), ("b", None)], &["missing", "missing"]);
    }

    #[test]
    fn an_unknown_endpoint_is_an_input_error_naming_the_configured_ones() {
        let configured = [endpoint("build-1"), endpoint("build-2")];
        let err = choose_endpoints(&configured, Some("nope")).expect_err("unknown");
        assert!(crate::error::is_input_error(&err));
        assert_eq!(
            err.to_string(),
            "no endpoint is named `nope` (configured: build-1, build-2)"
        );
        let all = choose_endpoints(&configured, None).expect("all");
        assert_eq!(all.len(), 2);
        let one = choose_endpoints(&configured, Some("build-2")).expect("one");
        assert_eq!(one[0].name, "build-2");
    }
}
