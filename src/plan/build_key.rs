//! Build keys: a hash over everything that can change a job's output, so
//! that an earlier artifact is only reused when nothing that went into it
//! changed, and so that kiln can say, field by field, why two keys differ.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Everything a build key is computed from, as recorded with each job
/// (`jobs.build_key_inputs`). Maps are ordered, so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildKeyInputs {
    pub package: String,
    pub version: String,
    /// SHA-256 of the rendered script.
    pub script_sha256: String,
    /// The digest (image id) the build image resolved to.
    pub image_digest: String,
    /// The job's environment.
    pub environment: BTreeMap<String, String>,
    /// SHA-256 of each source, by source key.
    pub sources: BTreeMap<String, String>,
    /// SHA-256 of each patch, by repository-relative path.
    pub patches: BTreeMap<String, String>,
    /// The build key of each dependency, by `name version`.
    pub dependencies: BTreeMap<String, String>,
}

impl BuildKeyInputs {
    /// The build key: SHA-256 (hex) of the canonical JSON of the inputs.
    pub fn key(&self) -> String {
        // Serializing strings and ordered maps cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(json))
    }

    /// Why `self` and `other` have different keys: one line per field that
    /// differs, naming the field and both values. Empty when they are equal.
    pub fn explain_difference(&self, other: &BuildKeyInputs) -> Vec<String> {
        let mut out = Vec::new();
        let mut scalar = |name: &str, a: &str, b: &str| {
            if a != b {
                out.push(format!("{name}: {a} -> {b}"));
            }
        };
        scalar("package", &self.package, &other.package);
        scalar("version", &self.version, &other.version);
        scalar("script_sha256", &self.script_sha256, &other.script_sha256);
        scalar("image_digest", &self.image_digest, &other.image_digest);
        diff_maps(
            "environment",
            &self.environment,
            &other.environment,
            &mut out,
        );
        diff_maps("sources", &self.sources, &other.sources, &mut out);
        diff_maps("patches", &self.patches, &other.patches, &mut out);
        diff_maps(
            "dependencies",
            &self.dependencies,
            &other.dependencies,
            &mut out,
        );
        out
    }
}

fn diff_maps(
    name: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    out: &mut Vec<String>,
) {
    for (key, va) in a {
        match b.get(key) {
            None => out.push(format!("{name}.{key}: {va} -> (absent)")),
            Some(vb) if vb != va => out.push(format!("{name}.{key}: {va} -> {vb}")),
            Some(_) => {}
        }
    }
    for (key, vb) in b {
        if !a.contains_key(key) {
            out.push(format!("{name}.{key}: (absent) -> {vb}"));
        }
    }
}

/// SHA-256 of bytes, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> BuildKeyInputs {
        BuildKeyInputs {
            package: "zlib".into(),
            version: "1.3".into(),
            script_sha256: sha256_hex(b"#!/bin/sh\n"),
            image_digest: "sha256:abc".into(),
            environment: [("CFLAGS".to_string(), "-O2".to_string())].into(),
            sources: [("src".to_string(), "00".repeat(32))].into(),
            patches: BTreeMap::new(),
            dependencies: [("libc 2.0".to_string(), "11".repeat(32))].into(),
        }
    }

    #[test]
    fn equal_inputs_give_equal_keys() {
        assert_eq!(inputs().key(), inputs().key());
        assert_eq!(inputs().key().len(), 64);
        assert!(inputs().explain_difference(&inputs()).is_empty());
    }

    #[test]
    fn every_field_changes_the_key_and_is_explained() {
        type Change = fn(&mut BuildKeyInputs);
        let changes: &[(&str, Change)] = &[
            ("version: 1.3 -> 1.4", |i| i.version = "1.4".into()),
            ("image_digest: sha256:abc -> sha256:def", |i| {
                i.image_digest = "sha256:def".into()
            }),
            ("environment.CFLAGS: -O2 -> -O3", |i| {
                i.environment.insert("CFLAGS".into(), "-O3".into());
            }),
            ("patches.p/fix.patch: (absent) -> 22", |i| {
                i.patches.insert("p/fix.patch".into(), "22".into());
            }),
            ("dependencies.libc 2.0: ", |i| {
                i.dependencies.insert("libc 2.0".into(), "33".into());
            }),
        ];
        for (expected, change) in changes {
            let mut changed = inputs();
            change(&mut changed);
            assert_ne!(changed.key(), inputs().key(), "{expected}");
            let why = inputs().explain_difference(&changed);
            assert_eq!(why.len(), 1, "{why:?}");
            assert!(
                why[0].starts_with(expected),
                "{} does not start with {expected}",
                why[0]
            );
        }
    }
}
