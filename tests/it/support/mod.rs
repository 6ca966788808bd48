//! Test support: running the `kiln` binary in an isolated environment.

#![allow(dead_code)]

pub mod cluster;
pub mod docker;
pub mod engine;
pub mod http;
pub mod repo;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether the tests run in CI, where missing services are failures.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// An isolated home for one test: its own XDG directories, so that no test
/// sees the user's configuration or data, nor another test's.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kiln-it-")
            .tempdir()
            .expect("creating a temporary directory");
        for sub in ["config", "data", "cache", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("creating sandbox directories");
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `kiln` command with this sandbox's environment (no `KILN_*`
    /// variables, no `$COLUMNS`: tables take the width they need).
    pub fn kiln(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KILN_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("HOME", self.path().join("home"))
            .env("NO_COLOR", "1")
            .env_remove("COLUMNS")
            .current_dir(self.path());
        cmd
    }

    /// The user's configuration file of this sandbox.
    pub fn user_config(&self) -> PathBuf {
        self.path().join("config/kiln/config.toml")
    }
}

/// Runs a command and returns its output, stdout and stderr as text.
pub fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().expect("running kiln");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

pub mod db;
pub mod records;
