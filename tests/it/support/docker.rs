//! Docker for the integration tests: the test image (made on demand by
//! `scripts/make-test-image.sh`), the local endpoint's configuration, and
//! removal of the containers a test made, even when it fails.
//!
//! Without a usable Docker engine, tests skip with a printed note; under
//! `CI=true` they fail instead.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use kiln::config::EndpointConfig;

use super::in_ci;

/// The image tests run, unless `KILN_TEST_IMAGE` names another.
pub const DEFAULT_TEST_IMAGE: &str = "kiln-busybox:latest";

/// The test image's tag, made first when it does not exist. `None` (after a
/// printed note) when Docker is not usable outside CI; a panic under CI.
pub fn test_image() -> Option<String> {
    static IMAGE: OnceLock<Option<String>> = OnceLock::new();
    IMAGE.get_or_init(make_test_image).clone()
}

fn unusable(why: String) -> Option<String> {
    if in_ci() {
        panic!("CI=true, but Docker is not usable for the tests: {why}");
    }
    eprintln!("note: skipping a Docker test: {why}");
    None
}

fn make_test_image() -> Option<String> {
    let tag = std::env::var("KILN_TEST_IMAGE").unwrap_or_else(|_| DEFAULT_TEST_IMAGE.into());
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return unusable(format!(
                "`docker version` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
        Err(e) => return unusable(format!("cannot run `docker`: {e}")),
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-image.sh");
    match Command::new("sh").arg(&script).arg(&tag).output() {
        Ok(out) if out.status.success() => Some(tag),
        Ok(out) => unusable(format!(
            "{} {tag} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => unusable(format!("cannot run {}: {e}", script.display())),
    }
}

/// The local engine as an endpoint named `it-local`.
pub fn local_endpoint() -> EndpointConfig {
    let uri = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    EndpointConfig {
        name: "it-local".into(),
        uri,
        maxjobs: 1,
        network_mode: None,
        timeout: Duration::from_secs(30),
        tls: None,
    }
}

/// Removes every container labelled with a submit when dropped, so that a
/// failing test leaves nothing behind.
pub struct SubmitContainers {
    pub submit: uuid::Uuid,
}

impl SubmitContainers {
    pub fn new() -> Self {
        Self {
            submit: uuid::Uuid::new_v4(),
        }
    }

    /// The ids of the containers that carry this submit's label.
    pub fn ids(&self) -> Vec<String> {
        let filter = format!("label=org.kiln.submit={}", self.submit);
        let out = Command::new("docker")
            .args(["ps", "-aq", "--no-trunc", "--filter", &filter])
            .output()
            .expect("running docker ps");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for SubmitContainers {
    fn drop(&mut self) {
        let ids = self.ids();
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .output();
        }
    }
}
