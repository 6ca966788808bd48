//! A job's container as typed states: [`Created`] (inputs can be uploaded),
//! [`Running`] (its output streams as lines; it can be stopped),
//! [`Finished`] (it has an exit status; `/outputs` can be downloaded). A
//! state change consumes the container, so outputs cannot be read before the
//! script ran, nor a container started twice.
//!
//! Removal is explicit ([`Container::remove`]): a container that is dropped
//! without it stays on the endpoint, which is what keeping a failed job's
//! container for debugging means. [`Endpoint::list_kiln_containers`] finds
//! containers left behind by a kiln that died.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncRead;
use uuid::Uuid;

use super::logs::{short, LogStream};
use super::upload::{UploadError, UploadSet};
use super::{Endpoint, EndpointError, LABEL_JOB, LABEL_MANAGED, LABEL_SUBMIT};

/// The script's path inside the container; the container runs it directly,
/// so that its shebang picks the interpreter.
pub const SCRIPT_PATH: &str = "/script";
/// Where the script writes its results.
pub const OUTPUTS_PATH: &str = "/outputs";

/// What a job's container is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub image: String,
    pub submit: Uuid,
    pub job: Uuid,
    /// Environment variables, in order; names must be unique.
    pub env: Vec<(String, String)>,
    /// The working directory of the script.
    pub working_dir: String,
}

impl ContainerSpec {
    /// A container of `image` for a job, with no environment, working in `/`.
    pub fn new(image: impl Into<String>, submit: Uuid, job: Uuid) -> Self {
        Self {
            image: image.into(),
            submit,
            job,
            env: Vec::new(),
            working_dir: "/".into(),
        }
    }

    /// The labels that mark the container as kiln's.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_SUBMIT.to_owned(), self.submit.to_string()),
            (LABEL_JOB.to_owned(), self.job.to_string()),
        ])
    }

    fn body(&self, network_mode: Option<String>) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: Some(vec![SCRIPT_PATH.to_owned()]),
            cmd: None,
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            working_dir: Some(self.working_dir.clone()),
            labels: Some(self.labels()),
            attach_stdin: Some(false),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            open_stdin: Some(false),
            host_config: Some(HostConfig {
                network_mode,
                auto_remove: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// How to remove a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Kill it first if it runs.
    Force,
    /// Only if it is not running.
    IfStopped,
}

/// The exit status of a container's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus(pub i64);

impl ExitStatus {
    pub fn code(self) -> i64 {
        self.0
    }

    pub fn success(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

/// State: created, not started; inputs can be uploaded.
#[derive(Debug)]
pub struct Created;

/// State: started; its output is being streamed.
#[derive(Debug)]
pub struct Running;

/// State: the script ended.
#[derive(Debug)]
pub struct Finished {
    exit: ExitStatus,
    message: Option<String>,
}

/// A job's container on an endpoint, in state `S`.
#[derive(Debug)]
pub struct Container<S> {
    endpoint: Endpoint,
    id: String,
    job: Uuid,
    state: S,
}

pub(super) async fn create(
    endpoint: &Endpoint,
    spec: &ContainerSpec,
) -> Result<Container<Created>, EndpointError> {
    let response = endpoint
        .docker
        .create_container(None, spec.body(endpoint.network_mode.clone()))
        .await
        .map_err(endpoint.docker_err(format!(
            "creating the container of job {} from image `{}`",
            spec.job, spec.image
        )))?;
    for warning in &response.warnings {
        tracing::warn!(endpoint = %endpoint.name, container = %short(&response.id), "{warning}");
    }
    Ok(Container {
        endpoint: endpoint.clone(),
        id: response.id,
        job: spec.job,
        state: Created,
    })
}

impl<S> Container<S> {
    /// The container's full id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The job the container runs.
    pub fn job(&self) -> Uuid {
        self.job
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Removes the container.
    pub async fn remove(self, removal: Removal) -> Result<(), EndpointError> {
        self.endpoint.remove_container(&self.id, removal).await
    }

    /// Leaves the container on the endpoint (for debugging) and returns its id.
    pub fn keep(self) -> String {
        self.id
    }
}

impl Container<Created> {
    /// Uploads files into the container as one tar stream (see [`UploadSet`]).
    pub async fn upload(&self, files: UploadSet) -> Result<(), EndpointError> {
        let upload_err = |source| EndpointError::Upload {
            endpoint: self.endpoint.name.clone(),
            container: short(&self.id).to_owned(),
            source,
        };
        let (stream, writer) = files.into_stream();
        let options = UploadToContainerOptionsBuilder::new().path("/").build();
        let sent = self
            .endpoint
            .streaming
            .upload_to_container(&self.id, Some(options), bollard::body_try_stream(stream))
            .await;
        let written = writer.await.map_err(|e| upload_err(UploadError::Task(e)))?;
        match (written, sent) {
            // A file that could not be read explains a failed request best.
            (Err(e), _) if !matches!(e, UploadError::Closed) => Err(upload_err(e)),
            (_, Err(e)) => Err(self
                .endpoint
                .docker_err(format!("uploading inputs to container {}", short(&self.id)))(
                e,
            )),
            (Err(e), Ok(())) => Err(upload_err(e)),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    /// Starts the container. Its output is attached before it starts, so the
    /// [`LogStream`] misses nothing. The attachment takes the live stream
    /// only: with `logs`, the engine replays its log file after attaching,
    /// and whatever the container wrote between its start and that replay
    /// would arrive twice.
    pub async fn start(self) -> Result<(Container<Running>, LogStream), EndpointError> {
        let options = AttachContainerOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false)
            .build();
        let attached = self
            .endpoint
            .streaming
            .attach_container(&self.id, Some(options))
            .await
            .map_err(
                self.endpoint
                    .docker_err(format!("attaching to container {}", short(&self.id))),
            )?;
        self.endpoint
            .docker
            .start_container(&self.id, None)
            .await
            .map_err(
                self.endpoint
                    .docker_err(format!("starting container {}", short(&self.id))),
            )?;
        let logs = LogStream::new(
            self.endpoint.name.clone(),
            self.id.clone(),
            attached.output,
            attached.input,
        );
        Ok((
            Container {
                endpoint: self.endpoint,
                id: self.id,
                job: self.job,
                state: Running,
            },
            logs,
        ))
    }
}

impl Container<Running> {
    /// Stops the container: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&self, grace: Duration) -> Result<(), EndpointError> {
        self.endpoint.stop_container(&self.id, grace).await
    }

    /// Waits for the script to end. A non-zero exit status is a result of
    /// the script, not an error: it is in the [`Finished`] state.
    pub async fn wait(self) -> Result<Container<Finished>, EndpointError> {
        let options = WaitContainerOptionsBuilder::new()
            .condition("not-running")
            .build();
        let mut waiting = self
            .endpoint
            .streaming
            .wait_container(&self.id, Some(options));
        let (exit, message) = match waiting.next().await {
            Some(Ok(response)) => (
                ExitStatus(response.status_code),
                response
                    .error
                    .and_then(|e| e.message)
                    .filter(|m| !m.is_empty()),
            ),
            // bollard reports a non-zero exit as an error value carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { error, code })) => {
                (ExitStatus(code), Some(error).filter(|m| !m.is_empty()))
            }
            Some(Err(e)) => {
                return Err(self
                    .endpoint
                    .docker_err(format!("waiting for container {}", short(&self.id)))(
                    e,
                ))
            }
            None => {
                return Err(EndpointError::NoExitStatus {
                    endpoint: self.endpoint.name.clone(),
                    container: short(&self.id).to_owned(),
                })
            }
        };
        Ok(Container {
            endpoint: self.endpoint,
            id: self.id,
            job: self.job,
            state: Finished { exit, message },
        })
    }
}

impl Container<Finished> {
    pub fn exit_status(&self) -> ExitStatus {
        self.state.exit
    }

    /// What the engine said about the exit, when it said anything (such as
    /// why the script could not be run).
    pub fn exit_message(&self) -> Option<&str> {
        self.state.message.as_deref()
    }

    /// `/outputs` as a tar stream; its entries are named `outputs/...`.
    pub fn download_outputs(&self) -> impl AsyncRead + Send + Unpin + 'static {
        let options = DownloadFromContainerOptionsBuilder::new()
            .path(OUTPUTS_PATH)
            .build();
        let endpoint = self.endpoint.name.clone();
        let container = short(&self.id).to_owned();
        let stream = self
            .endpoint
            .streaming
            .download_from_container(&self.id, Some(options))
            .map_err(move |source| {
                // Carried whole, so that an engine failure is known as one.
                std::io::Error::other(EndpointError::Docker {
                    endpoint: endpoint.clone(),
                    action: format!("downloading {OUTPUTS_PATH} of container {container}"),
                    source,
                })
            });
        tokio_util::io::StreamReader::new(Box::pin(stream))
    }
}
