//! What an engine says of itself and what it holds, for `kiln endpoint`:
//! the round trip of a ping, its system information, its images. Each
//! answer is a kiln type; nothing here decides what to do with it.

use bollard::query_parameters::ListImagesOptionsBuilder;
use chrono::{DateTime, Utc};

use super::{Endpoint, EndpointError};

/// What an engine reports of its machine (`docker info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStats {
    /// Containers in any state, and those running.
    pub containers: Option<i64>,
    pub containers_running: Option<i64>,
    pub images: Option<i64>,
    pub cpus: Option<i64>,
    /// Total memory in bytes.
    pub memory_bytes: Option<i64>,
    pub operating_system: Option<String>,
    pub kernel_version: Option<String>,
    pub architecture: Option<String>,
    /// The engine's clock, as it reports it.
    pub system_time: Option<String>,
}

/// An image an engine holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineImage {
    /// `sha256:...`, the digest of the image's configuration.
    pub id: String,
    /// Its names (`busybox:latest`); empty for an untagged image.
    pub tags: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    pub size_bytes: i64,
}

impl Endpoint {
    /// The engine's system information.
    pub async fn stats(&self) -> Result<EngineStats, EndpointError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(self.docker_err("asking for the engine's system information"))?;
        Ok(EngineStats {
            containers: info.containers,
            containers_running: info.containers_running,
            images: info.images,
            cpus: info.ncpu,
            memory_bytes: info.mem_total,
            operating_system: info.operating_system,
            kernel_version: info.kernel_version,
            architecture: info.architecture,
            system_time: info.system_time,
        })
    }

    /// Every image the engine holds (not the intermediate layers).
    pub async fn list_images(&self) -> Result<Vec<EngineImage>, EndpointError> {
        let options = ListImagesOptionsBuilder::new().all(false).build();
        let summaries = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(self.docker_err("listing images"))?;
        Ok(summaries
            .into_iter()
            .map(|s| EngineImage {
                id: s.id,
                tags: s
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                created: DateTime::from_timestamp(s.created, 0),
                size_bytes: s.size,
            })
            .collect())
    }
}
