//! Docker endpoints: connecting, checking engine versions, images,
//! containers, tar streams in and out, log streams. The only user of bollard:
//! nothing outside this module names a bollard type.
//!
//! A job's container goes through typed states (see [`container`]):
//! [`Container<Created>`] takes its inputs, starts into
//! [`Container<Running>`] with a [`LogStream`], and waits into
//! [`Container<Finished>`], the only state from which `/outputs` can be read.
//! Every container carries the labels [`LABEL_MANAGED`], [`LABEL_SUBMIT`] and
//! [`LABEL_JOB`], so that kiln finds its own containers (and only those) for
//! cleanup.
//!
//! Two clients share one connection setup: one with the endpoint's timeout
//! for short requests (version, inspect, create, start, stop), one with a
//! long timeout for requests whose answer may take as long as a build
//! (uploads, attaching, waiting, downloads, and removal: deleting a container
//! that holds many files takes long). Cancelling a long request is the
//! caller's business (drop the future, stop the container).

pub mod container;
pub mod logs;
pub mod system;
pub mod upload;
pub mod version;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use uuid::Uuid;

use crate::config::{EndpointConfig, TlsConfig};

pub use container::{Container, ContainerSpec, Created, ExitStatus, Finished, Removal, Running};
pub use logs::LogStream;
pub use system::{EngineImage, EngineStats};
pub use upload::{UploadError, UploadSet};
pub use version::{AllowedVersions, EngineInfo, VersionKind, VersionRefusal};

/// The label every kiln container carries, with the value `true`.
pub const LABEL_MANAGED: &str = "org.kiln.managed";
/// The label naming the submit (its UUID) a container belongs to.
pub const LABEL_SUBMIT: &str = "org.kiln.submit";
/// The label naming the job (its UUID) a container runs.
pub const LABEL_JOB: &str = "org.kiln.job";

/// How long a request of the long-running kind may wait for its answer.
const STREAMING_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// What can go wrong talking to an endpoint. Every message names the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "endpoint `{endpoint}`: unsupported URI `{uri}` (expected unix://, http:// or https://)"
    )]
    UnsupportedUri { endpoint: String, uri: String },
    #[error("endpoint `{endpoint}`: an https:// URI needs `tls = {{ ca, cert, key }}`")]
    MissingTls { endpoint: String },
    #[error("endpoint `{endpoint}`: cannot set up a connection to `{uri}`")]
    Connect {
        endpoint: String,
        uri: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("endpoint `{endpoint}`: TLS with {uri} failed: {failure}")]
    Tls {
        endpoint: String,
        uri: String,
        failure: TlsFailure,
    },
    #[error("endpoint `{endpoint}` did not answer within {} while {action}", humantime::format_duration(*timeout))]
    Timeout {
        endpoint: String,
        action: String,
        timeout: Duration,
    },
    #[error("endpoint `{endpoint}` (engine {}, API {}): {refusal}", info.engine_version, info.api_version)]
    VersionNotAllowed {
        endpoint: String,
        info: Box<EngineInfo>,
        refusal: VersionRefusal,
    },
    #[error("image `{image}` is not on endpoint `{endpoint}` and could not be pulled: {reason}")]
    ImageMissing {
        endpoint: String,
        image: String,
        reason: String,
    },
    #[error("endpoint `{endpoint}`: {action}")]
    Docker {
        endpoint: String,
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("endpoint `{endpoint}`: uploading inputs to container {container}")]
    Upload {
        endpoint: String,
        container: String,
        #[source]
        source: UploadError,
    },
    #[error("endpoint `{endpoint}`: container {container} ended without an exit status")]
    NoExitStatus { endpoint: String, container: String },
}

impl EndpointError {
    /// Whether the error comes from the configuration or the inputs the user
    /// gave (and so is theirs to fix), rather than from the engine.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            EndpointError::UnsupportedUri { .. }
                | EndpointError::MissingTls { .. }
                | EndpointError::Upload {
                    source: UploadError::InvalidPath(_) | UploadError::Collision { .. },
                    ..
                }
        )
    }

    /// Whether the engine failed (it could not be reached, reset the
    /// connection, did not answer in time, answered with a server error,
    /// or lost a container kiln made), rather than refusing what it was
    /// asked: what failed this way may well succeed on another engine.
    pub fn is_engine_failure(&self) -> bool {
        match self {
            EndpointError::Connect { .. }
            | EndpointError::Timeout { .. }
            | EndpointError::NoExitStatus { .. } => true,
            EndpointError::Docker { source, .. } => match source {
                bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                    *status_code >= 500 || *status_code == 404
                }
                bollard::errors::Error::JsonDataError { .. }
                | bollard::errors::Error::JsonSerdeError { .. } => false,
                _ => true,
            },
            EndpointError::Upload { source, .. } => matches!(
                source,
                UploadError::Write(_) | UploadError::Closed | UploadError::Task(_)
            ),
            EndpointError::UnsupportedUri { .. }
            | EndpointError::MissingTls { .. }
            | EndpointError::Tls { .. }
            | EndpointError::VersionNotAllowed { .. }
            | EndpointError::ImageMissing { .. } => false,
        }
    }

    /// Whether the engine answered "no such thing" (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            EndpointError::Docker {
                source: bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                },
                ..
            }
        )
    }
}

/// The engine failure ([`EndpointError::is_engine_failure`]) that caused
/// `err`, if one did: found among its causes, also inside the I/O errors
/// that carry one (a download read as a stream).
pub fn engine_failure(err: &anyhow::Error) -> Option<&EndpointError> {
    err.chain().find_map(engine_failure_in)
}

fn engine_failure_in<'e>(
    cause: &'e (dyn std::error::Error + 'static),
) -> Option<&'e EndpointError> {
    if let Some(endpoint) = cause.downcast_ref::<EndpointError>() {
        return endpoint.is_engine_failure().then_some(endpoint);
    }
    // An I/O error's `source` skips the error it carries: look inside.
    let inner = cause.downcast_ref::<std::io::Error>()?.get_ref()?;
    engine_failure_in(inner).or_else(|| inner.source().and_then(engine_failure_in))
}

/// Why a TLS handshake with an endpoint failed, said in terms of its
/// `tls = { ca, cert, key }` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// The engine's certificate is not signed by the configured CA, or not
    /// valid for the address.
    ServerNotVerified {
        ca: PathBuf,
        detail: String,
    },
    /// The engine refused the client certificate.
    ClientRefused {
        cert: PathBuf,
        detail: String,
    },
    Other {
        detail: String,
    },
}

impl std::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsFailure::ServerNotVerified { ca, detail } => write!(
                f,
                "the engine's certificate could not be verified with the CA `{}` ({detail})",
                ca.display()
            ),
            TlsFailure::ClientRefused { cert, detail } => write!(
                f,
                "the engine refused the client certificate `{}` ({detail})",
                cert.display()
            ),
            TlsFailure::Other { detail } => f.write_str(detail),
        }
    }
}

impl TlsFailure {
    /// What a TLS error of the handshake means for the endpoint's files.
    fn of(error: &rustls::Error, tls: &TlsConfig) -> TlsFailure {
        use rustls::AlertDescription as Alert;
        let detail = error.to_string();
        match error {
            rustls::Error::InvalidCertificate(_) => TlsFailure::ServerNotVerified {
                ca: tls.ca.clone(),
                detail,
            },
            rustls::Error::AlertReceived(
                Alert::BadCertificate
                | Alert::UnknownCA
                | Alert::CertificateRequired
                | Alert::CertificateUnknown
                | Alert::CertificateExpired
                | Alert::CertificateRevoked
                | Alert::UnsupportedCertificate
                | Alert::AccessDenied,
            ) => TlsFailure::ClientRefused {
                cert: tls.cert.clone(),
                detail,
            },
            _ => TlsFailure::Other { detail },
        }
    }
}

/// The error of a failed first request to an endpoint: a TLS failure said
/// as such, else the engine's error.
fn negotiation_error(config: &EndpointConfig, source: bollard::errors::Error) -> EndpointError {
    let tls_failure = config
        .tls
        .as_ref()
        .and_then(|tls| Some(TlsFailure::of(tls_cause(&source)?, tls)));
    match tls_failure {
        Some(failure) => EndpointError::Tls {
            endpoint: config.name.clone(),
            uri: config.uri.clone(),
            failure,
        },
        None => EndpointError::Docker {
            endpoint: config.name.clone(),
            action: format!("negotiating the API version with {}", config.uri),
            source,
        },
    }
}

/// The TLS error somewhere in the chain of `error`'s causes. An I/O error
/// is looked into (its `source` skips the error it wraps).
fn tls_cause<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// A connected Docker endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint {
    name: String,
    uri: String,
    timeout: Duration,
    network_mode: Option<String>,
    /// For short requests, with the endpoint's timeout.
    docker: Docker,
    /// For requests that last as long as a build.
    streaming: Docker,
}

/// A container kiln created, as found on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KilnContainer {
    pub id: String,
    pub name: Option<String>,
    pub image: Option<String>,
    /// Docker's state: `created`, `running`, `exited`, ...
    pub state: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// From the labels; `None` when a label is missing or not a UUID.
    pub submit: Option<Uuid>,
    pub job: Option<Uuid>,
}

impl Endpoint {
    /// Connects to the endpoint and negotiates the API version (engines
    /// older than bollard's default speak an older API), within the
    /// endpoint's timeout.
    pub async fn connect(config: &EndpointConfig) -> Result<Endpoint, EndpointError> {
        let endpoint = config.name.clone();
        let uri = config.uri.clone();
        let secs = config.timeout.as_secs().max(1);
        let connect_err = |source| EndpointError::Connect {
            endpoint: endpoint.clone(),
            uri: uri.clone(),
            source,
        };
        let docker = match uri.split_once("://").map(|(scheme, _)| scheme) {
            Some("unix") => {
                Docker::connect_with_unix(&uri, secs, API_DEFAULT_VERSION).map_err(connect_err)?
            }
            Some("http") | Some("tcp") => {
                Docker::connect_with_http(&uri, secs, API_DEFAULT_VERSION).map_err(connect_err)?
            }
            Some("https") => {
                let tls = config
                    .tls
                    .as_ref()
                    .ok_or_else(|| EndpointError::MissingTls {
                        endpoint: endpoint.clone(),
                    })?;
                Docker::connect_with_ssl(
                    &uri,
                    &tls.key,
                    &tls.cert,
                    &tls.ca,
                    secs,
                    API_DEFAULT_VERSION,
                )
                .map_err(connect_err)?
            }
            _ => {
                return Err(EndpointError::UnsupportedUri {
                    endpoint,
                    uri: uri.clone(),
                })
            }
        };
        let docker = match tokio::time::timeout(config.timeout, docker.negotiate_version()).await {
            Ok(Ok(docker)) => docker,
            Ok(Err(bollard::errors::Error::RequestTimeoutError)) | Err(_) => {
                return Err(EndpointError::Timeout {
                    endpoint,
                    action: format!("negotiating the API version with {uri}"),
                    timeout: config.timeout,
                })
            }
            Ok(Err(source)) => return Err(negotiation_error(config, source)),
        };
        let streaming = docker.clone().with_timeout(STREAMING_TIMEOUT);
        Ok(Endpoint {
            name: config.name.clone(),
            uri: config.uri.clone(),
            timeout: config.timeout,
            network_mode: config.network_mode.clone(),
            docker,
            streaming,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The API version kiln speaks with this endpoint, e.g. `1.41`.
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    fn docker_err(
        &self,
        action: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> EndpointError + '_ {
        let action = action.into();
        move |source| match source {
            bollard::errors::Error::RequestTimeoutError => EndpointError::Timeout {
                endpoint: self.name.clone(),
                action,
                timeout: self.timeout,
            },
            source => EndpointError::Docker {
                endpoint: self.name.clone(),
                action,
                source,
            },
        }
    }

    /// Whether the engine answers, within the endpoint's timeout: how long
    /// its answer took.
    pub async fn ping(&self) -> Result<Duration, EndpointError> {
        let started = std::time::Instant::now();
        match tokio::time::timeout(self.timeout, self.docker.ping()).await {
            Ok(answer) => answer.map_err(self.docker_err("pinging the engine"))?,
            Err(_) => {
                return Err(EndpointError::Timeout {
                    endpoint: self.name.clone(),
                    action: "pinging the engine".into(),
                    timeout: self.timeout,
                })
            }
        };
        Ok(started.elapsed())
    }

    /// The endpoint's reply timeout (its configured `timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Asks the engine for its versions and checks them against `allowed`.
    /// When a version is not allowed, the error still carries what the
    /// engine reported, so that it can be recorded.
    pub async fn check(&self, allowed: &AllowedVersions) -> Result<EngineInfo, EndpointError> {
        let v = self
            .docker
            .version()
            .await
            .map_err(self.docker_err("asking for the engine version"))?;
        let info = EngineInfo {
            engine_version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            min_api_version: v.min_api_version,
            negotiated_api_version: self.api_version(),
            os: v.os,
            arch: v.arch,
            kernel_version: v.kernel_version,
        };
        match allowed.verify(&info) {
            Ok(()) => Ok(info),
            Err(refusal) => Err(EndpointError::VersionNotAllowed {
                endpoint: self.name.clone(),
                info: Box::new(info),
                refusal,
            }),
        }
    }

    /// The image's id (`sha256:...`, the digest of its configuration, which
    /// names its exact content), or `None` when the endpoint does not have it.
    pub async fn image_digest(&self, image: &str) -> Result<Option<String>, EndpointError> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(inspect.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.docker_err(format!("inspecting image `{image}`"))(e)),
        }
    }

    /// The image's id; pulls the image first when the endpoint does not have
    /// it. A missing image that cannot be pulled is [`EndpointError::ImageMissing`].
    pub async fn ensure_image(&self, image: &str) -> Result<String, EndpointError> {
        if let Some(digest) = self.image_digest(image).await? {
            return Ok(digest);
        }
        tracing::info!(endpoint = %self.name, image, "pulling image");
        let options = CreateImageOptionsBuilder::new().from_image(image).build();
        let mut progress = self.streaming.create_image(Some(options), None, None);
        while let Some(item) = progress.next().await {
            if let Err(e) = item {
                return Err(EndpointError::ImageMissing {
                    endpoint: self.name.clone(),
                    image: image.to_owned(),
                    reason: pull_reason(&e),
                });
            }
        }
        self.image_digest(image)
            .await?
            .ok_or_else(|| EndpointError::ImageMissing {
                endpoint: self.name.clone(),
                image: image.to_owned(),
                reason: "the pull finished but the image is still not there".into(),
            })
    }

    /// Creates a job's container (not started).
    pub async fn create_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<Container<Created>, EndpointError> {
        container::create(self, spec).await
    }

    /// Every container on this endpoint that carries kiln's label, running or not.
    pub async fn list_kiln_containers(&self) -> Result<Vec<KilnContainer>, EndpointError> {
        let filters = HashMap::from([("label", vec![format!("{LABEL_MANAGED}=true")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(self.docker_err("listing kiln's containers"))?;
        Ok(summaries
            .into_iter()
            .filter_map(|s| {
                let labels = s.labels.unwrap_or_default();
                if labels.get(LABEL_MANAGED).map(String::as_str) != Some("true") {
                    return None;
                }
                let uuid_label = |key| labels.get(key).and_then(|v| Uuid::parse_str(v).ok());
                Some(KilnContainer {
                    id: s.id?,
                    name: s
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_owned()),
                    image: s.image,
                    state: s.state.map(|st| st.to_string()),
                    created: s.created.and_then(|t| DateTime::from_timestamp(t, 0)),
                    submit: uuid_label(LABEL_SUBMIT),
                    job: uuid_label(LABEL_JOB),
                })
            })
            .collect())
    }

    /// Stops a container by id: SIGTERM, then SIGKILL after `grace`. A
    /// container that is already gone or stopped is not an error.
    pub async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), EndpointError> {
        let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::new().t(secs).build();
        // Stopping waits up to `grace` for the container: allow for it.
        let docker = self.docker.clone().with_timeout(self.timeout + grace);
        match docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(self
                .docker_err(format!("stopping container {}", logs::short(id)))(
                e
            )),
        }
    }

    /// Removes a container by id. A container that is already gone is not an error.
    pub async fn remove_container(&self, id: &str, removal: Removal) -> Result<(), EndpointError> {
        let options = RemoveContainerOptionsBuilder::new()
            .force(removal == Removal::Force)
            .v(true)
            .build();
        match self.streaming.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self
                .docker_err(format!("removing container {}", logs::short(id)))(
                e
            )),
        }
    }
}

/// Why a pull failed, in a line.
fn pull_reason(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(uri: &str) -> EndpointConfig {
        EndpointConfig {
            name: "test-endpoint".into(),
            uri: uri.into(),
            maxjobs: 1,
            network_mode: None,
            timeout: Duration::from_secs(1),
            tls: None,
        }
    }

    #[test]
    fn engine_failures_are_found_among_the_causes() {
        let server = |status_code| EndpointError::Docker {
            endpoint: "e".into(),
            action: "creating a container".into(),
            source: bollard::errors::Error::DockerResponseServerError {
                status_code,
                message: "boom".into(),
            },
        };
        let cases: Vec<(anyhow::Error, bool)> = vec![
            (
                anyhow::Error::new(server(500)).context("running job x"),
                true,
            ),
            (anyhow::Error::new(server(503)), true),
            (anyhow::Error::new(server(404)), true),
            (anyhow::Error::new(server(400)), false),
            (anyhow::Error::new(server(409)), false),
            (
                anyhow::Error::new(EndpointError::Timeout {
                    endpoint: "e".into(),
                    action: "waiting".into(),
                    timeout: Duration::from_secs(1),
                }),
                true,
            ),
            (
                anyhow::Error::new(EndpointError::Upload {
                    endpoint: "e".into(),
                    container: "c".into(),
                    source: UploadError::NotAFile("/x".into()),
                }),
                false,
            ),
            // A download read as a stream: the failure travels inside an
            // I/O error, itself inside another error's source.
            (
                anyhow::Error::new(std::io::Error::other(server(502)))
                    .context("collecting the outputs of job x"),
                true,
            ),
            (anyhow::anyhow!("the disk is full"), false),
        ];
        for (err, want) in cases {
            assert_eq!(engine_failure(&err).is_some(), want, "{err:#}");
        }
    }

    #[test]
    fn tls_failures_name_the_file_to_check() {
        use rustls::{AlertDescription as Alert, CertificateError};
        let tls = TlsConfig {
            ca: "/etc/kiln/ca.pem".into(),
            cert: "/etc/kiln/cert.pem".into(),
            key: "/etc/kiln/key.pem".into(),
        };
        let cases: Vec<(rustls::Error, &str)> = vec![
            (
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                "the engine's certificate could not be verified with the CA `/etc/kiln/ca.pem`",
            ),
            (
                rustls::Error::AlertReceived(Alert::BadCertificate),
                "the engine refused the client certificate `/etc/kiln/cert.pem`",
            ),
            (
                rustls::Error::AlertReceived(Alert::UnknownCA),
                "the engine refused the client certificate `/etc/kiln/cert.pem`",
            ),
            (
                rustls::Error::AlertReceived(Alert::HandshakeFailure),
                "received fatal alert: HandshakeFailure",
            ),
        ];
        for (error, expected) in cases {
            let said = TlsFailure::of(&error, &tls).to_string();
            assert!(said.starts_with(expected), "{error:?}: {said}");
            assert!(said.contains(&error.to_string()), "{error:?}: {said}");
            let io = std::io::Error::new(std::io::ErrorKind::InvalidData, error.clone());
            let io = std::io::Error::other(io);
            assert_eq!(tls_cause(&io), Some(&error), "found inside I/O errors");
        }
    }

    #[tokio::test]
    async fn connection_errors_name_the_endpoint() {
        // A TCP port that accepts connections but never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding");
        let silent_uri = format!("http://{}", silent.local_addr().expect("address"));
        // A port nobody listens on.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding");
        let closed_uri = format!("http://{}", closed.local_addr().expect("address"));
        drop(closed);
        let mut https_with_missing_files = config("https://127.0.0.1:2376");
        https_with_missing_files.tls = Some(TlsConfig {
            ca: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        });

        type Check = fn(&EndpointError) -> bool;
        let cases: Vec<(EndpointConfig, Check, bool)> = vec![
            (
                config("ssh://builder"),
                |e| matches!(e, EndpointError::UnsupportedUri { .. }),
                true,
            ),
            (
                config("no scheme"),
                |e| matches!(e, EndpointError::UnsupportedUri { .. }),
                true,
            ),
            (
                config("https://127.0.0.1:2376"),
                |e| matches!(e, EndpointError::MissingTls { .. }),
                true,
            ),
            (
                https_with_missing_files,
                |e| matches!(e, EndpointError::Connect { .. }),
                false,
            ),
            (
                config("unix:///nonexistent/docker.sock"),
                |e| matches!(e, EndpointError::Connect { .. }),
                false,
            ),
            (
                config(&closed_uri),
                |e| matches!(e, EndpointError::Docker { .. }),
                false,
            ),
            (
                config(&silent_uri),
                |e| matches!(e, EndpointError::Timeout { .. }),
                false,
            ),
        ];
        for (config, expected, input) in cases {
            let started = std::time::Instant::now();
            let got = Endpoint::connect(&config).await;
            let err = got.expect_err(&config.uri);
            assert!(expected(&err), "{}: {err:?}", config.uri);
            assert_eq!(err.is_input(), input, "{}: {err}", config.uri);
            assert!(err.to_string().contains("`test-endpoint`"), "{err}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{} took too long",
                config.uri
            );
        }
    }
}
