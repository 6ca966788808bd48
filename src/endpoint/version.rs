//! What an endpoint's engine reports about itself, and the check against the
//! engine and API versions a configuration allows (`docker.docker_versions`,
//! `docker.docker_api_versions`). The check is pure.

use std::fmt;

use crate::config::DockerConfig;

/// The versions and platform an engine reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineInfo {
    /// The engine's version, e.g. `20.10.24+dfsg1`.
    pub engine_version: String,
    /// The newest API version the engine speaks, e.g. `1.41`.
    pub api_version: String,
    /// The oldest API version the engine speaks.
    pub min_api_version: Option<String>,
    /// The API version kiln talks to it with, after negotiation.
    pub negotiated_api_version: String,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub kernel_version: Option<String>,
}

/// Which version a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKind {
    Engine,
    Api,
}

impl fmt::Display for VersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionKind::Engine => "engine version",
            VersionKind::Api => "API version",
        })
    }
}

/// The versions a configuration allows; `None` allows any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedVersions {
    pub engine: Option<Vec<String>>,
    pub api: Option<Vec<String>>,
}

impl From<&DockerConfig> for AllowedVersions {
    fn from(config: &DockerConfig) -> Self {
        Self {
            engine: config.docker_versions.clone(),
            api: config.docker_api_versions.clone(),
        }
    }
}

/// A version an engine reported that the configuration does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRefusal {
    pub kind: VersionKind,
    pub found: String,
    pub allowed: Vec<String>,
}

impl fmt::Display for VersionRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} is not allowed (allowed: {})",
            self.kind,
            self.found,
            self.allowed.join(", ")
        )
    }
}

impl AllowedVersions {
    /// Whether the engine's versions are allowed. Versions match exactly.
    pub fn verify(&self, info: &EngineInfo) -> Result<(), VersionRefusal> {
        let checks = [
            (VersionKind::Engine, &self.engine, &info.engine_version),
            (VersionKind::Api, &self.api, &info.api_version),
        ];
        for (kind, allowed, found) in checks {
            if let Some(allowed) = allowed {
                if !allowed.iter().any(|a| a == found) {
                    return Err(VersionRefusal {
                        kind,
                        found: found.clone(),
                        allowed: allowed.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(engine: &str, api: &str) -> EngineInfo {
        EngineInfo {
            engine_version: engine.into(),
            api_version: api.into(),
            min_api_version: None,
            negotiated_api_version: api.into(),
            os: None,
            arch: None,
            kernel_version: None,
        }
    }

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn version_checks() {
        let cases: &[(AllowedVersions, (&str, &str), Option<VersionKind>)] = &[
            (AllowedVersions::default(), ("20.10.24", "1.41"), None),
            (
                AllowedVersions {
                    engine: list(&["20.10.24", "24.0.0"]),
                    api: None,
                },
                ("20.10.24", "1.41"),
                None,
            ),
            (
                AllowedVersions {
                    engine: list(&["24.0.0"]),
                    api: None,
                },
                ("20.10.24", "1.41"),
                Some(VersionKind::Engine),
            ),
            (
                AllowedVersions {
                    engine: None,
                    api: list(&["1.41"]),
                },
                ("20.10.24", "1.41"),
                None,
            ),
            (
                AllowedVersions {
                    engine: None,
                    api: list(&["1.43", "1.44"]),
                },
                ("20.10.24", "1.41"),
                Some(VersionKind::Api),
            ),
            (
                AllowedVersions {
                    engine: list(&[]),
                    api: None,
                },
                ("20.10.24", "1.41"),
                Some(VersionKind::Engine),
            ),
            // No prefix matching: 20.10 does not allow 20.10.24.
            (
                AllowedVersions {
                    engine: list(&["20.10"]),
                    api: None,
                },
                ("20.10.24", "1.41"),
                Some(VersionKind::Engine),
            ),
        ];
        for (allowed, (engine, api), refused) in cases {
            let got = allowed.verify(&info(engine, api)).err().map(|r| r.kind);
            assert_eq!(got, *refused, "{allowed:?} for {engine}/{api}");
        }
    }

    #[test]
    fn refusal_names_versions() {
        let allowed = AllowedVersions {
            engine: list(&["24.0.0", "25.0.1"]),
            api: None,
        };
        let refusal = allowed
            .verify(&info("20.10.24", "1.41"))
            .expect_err("refused");
        assert_eq!(
            refusal.to_string(),
            "engine version 20.10.24 is not allowed (allowed: 24.0.0, 25.0.1)"
        );
    }
}
