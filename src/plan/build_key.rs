//! Build keys: a hash over everything that can change a job's output, so
//! that an earlier artifact is only reused when nothing that went into it
//! changed, and so that kiln can say, field by field, why two keys differ.
//!
//! The inputs are recorded, so a value that would show a secret (a secret
//! variable's value, a value or script holding one) enters them as its
//! keyed hash ([`SecretHasher`]): equal secrets give equal keys, a changed
//! secret a changed key, and the record reveals nothing of the value.

use std::collections::BTreeMap;
use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::Secrets;

/// Everything a build key is computed from, as recorded with each job
/// (`jobs.build_key_inputs`). Maps are ordered, so the JSON is canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildKeyInputs {
    pub package: String,
    pub version: String,
    /// SHA-256 of the rendered script; its keyed hash
    /// ([`SecretHasher::digest`]) when the script holds a secret.
    pub script_sha256: String,
    /// The digest (image id) the build image resolved to.
    pub image_digest: String,
    /// The job's environment; a value that would show a secret is its
    /// keyed hash ([`SecretHasher::digest`]).
    pub environment: BTreeMap<String, String>,
    /// SHA-256 of each source file's content as uploaded (not its
    /// declared hash), by source key; [`MISSING`] for a file that is absent.
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

    /// Why `self` (the earlier) and `other` (the later) have different
    /// keys: one [`Difference`] per field that differs. Empty when they
    /// are equal.
    pub fn explain_difference(&self, other: &BuildKeyInputs) -> Vec<Difference> {
        let mut out = Vec::new();
        let mut scalar = |field: Field, a: &str, b: &str| {
            if a != b {
                out.push(Difference {
                    field,
                    before: Some(a.to_owned()),
                    after: Some(b.to_owned()),
                });
            }
        };
        scalar(Field::Package, &self.package, &other.package);
        scalar(Field::Version, &self.version, &other.version);
        scalar(Field::Script, &self.script_sha256, &other.script_sha256);
        scalar(Field::ImageDigest, &self.image_digest, &other.image_digest);
        diff_maps(
            Field::Environment,
            &self.environment,
            &other.environment,
            &mut out,
        );
        diff_maps(Field::Source, &self.sources, &other.sources, &mut out);
        diff_maps(Field::Patch, &self.patches, &other.patches, &mut out);
        diff_maps(
            Field::Dependency,
            &self.dependencies,
            &other.dependencies,
            &mut out,
        );
        out
    }
}

/// A field of [`BuildKeyInputs`]; the map fields name their entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "field", content = "name", rename_all = "snake_case")]
pub enum Field {
    Package,
    Version,
    Script,
    ImageDigest,
    Environment(String),
    Source(String),
    Patch(String),
    /// A dependency by `name version`: its build key changed.
    Dependency(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Package => f.write_str("package name"),
            Field::Version => f.write_str("version"),
            Field::Script => f.write_str("script"),
            Field::ImageDigest => f.write_str("image digest"),
            Field::Environment(name) => write!(f, "environment variable {name}"),
            Field::Source(key) => write!(f, "source {key}"),
            Field::Patch(path) => write!(f, "patch {path}"),
            Field::Dependency(dep) => write!(f, "dependency {dep}"),
        }
    }
}

/// One field whose value differs between two jobs' build key inputs;
/// `None` where one side has no such entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    #[serde(flatten)]
    pub field: Field,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".to_owned());
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            side(&self.before),
            side(&self.after)
        )
    }
}

fn diff_maps(
    make: fn(String) -> Field,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    out: &mut Vec<Difference>,
) {
    for (key, va) in a {
        if b.get(key) != Some(va) {
            out.push(Difference {
                field: make(key.clone()),
                before: Some(va.clone()),
                after: b.get(key).cloned(),
            });
        }
    }
    for (key, vb) in b {
        if !a.contains_key(key) {
            out.push(Difference {
                field: make(key.clone()),
                before: None,
                after: Some(vb.clone()),
            });
        }
    }
}

/// The hash of a source or patch whose file is missing: the job will fail
/// when it uploads it, and no earlier job can have had it.
pub const MISSING: &str = "missing";

/// SHA-256 of bytes, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a keyed hash starts with in the recorded inputs.
pub const KEYED_PREFIX: &str = "hmac-sha256:";

/// Keyed hashes (HMAC-SHA256) of secret values for build key inputs, with
/// a key kept by the database (`hash_keys`): every submit to one database
/// hashes an equal value equally, and without the key a recorded hash
/// tells nothing of the value.
pub struct SecretHasher {
    mac: Hmac<Sha256>,
}

impl SecretHasher {
    pub fn new(key: &[u8]) -> Self {
        // HMAC takes a key of any length.
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        Self { mac }
    }

    /// `hmac-sha256:` and the hex HMAC of `what` (the variable's name, or
    /// `script`) and `value`: the same value under another name hashes
    /// differently.
    pub fn digest(&self, what: &str, value: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(&(what.len() as u64).to_be_bytes());
        mac.update(what.as_bytes());
        mac.update(value);
        format!("{KEYED_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// A job's environment as it enters the inputs: a value that would show
    /// a secret is its keyed hash, the others are kept.
    pub fn environment(
        &self,
        env: &BTreeMap<String, String>,
        secrets: &Secrets,
    ) -> BTreeMap<String, String> {
        env.iter()
            .map(|(name, value)| {
                let recorded = if secrets.reveals(name, value) {
                    self.digest(name, value.as_bytes())
                } else {
                    value.clone()
                };
                (name.clone(), recorded)
            })
            .collect()
    }

    /// The script's hash in the inputs: its SHA-256, or its keyed hash when
    /// it holds a secret (a plain hash of a script known but for the secret
    /// would let the secret be guessed).
    pub fn script(&self, script: &str, secrets: &Secrets) -> String {
        if secrets.contains_secret(script) {
            self.digest("script", script.as_bytes())
        } else {
            sha256_hex(script.as_bytes())
        }
    }
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
    fn keyed_hashes() {
        let a = SecretHasher::new(&[1; 32]);
        let b = SecretHasher::new(&[2; 32]);
        // (hasher, name, value) on each side, and whether the digests are equal.
        type Side<'a> = (&'a SecretHasher, &'a str, &'a [u8]);
        let cases: &[(Side, Side, bool)] = &[
            // Same key, name and value: equal, so builds stay reusable.
            ((&a, "TOKEN", b"s3cr3t"), (&a, "TOKEN", b"s3cr3t"), true),
            // A changed secret changes the hash.
            ((&a, "TOKEN", b"s3cr3t"), (&a, "TOKEN", b"s3cr3u"), false),
            // Another database's key hashes differently.
            ((&a, "TOKEN", b"s3cr3t"), (&b, "TOKEN", b"s3cr3t"), false),
            ((&a, "TOKEN", b"s3cr3t"), (&a, "OTHER", b"s3cr3t"), false),
            // The name's length is hashed: no shifting of bytes between the two.
            ((&a, "AB", b"C"), (&a, "A", b"BC"), false),
        ];
        for ((h1, n1, v1), (h2, n2, v2), equal) in cases {
            let (d1, d2) = (h1.digest(n1, v1), h2.digest(n2, v2));
            assert_eq!(d1 == d2, *equal, "{n1}={v1:?} vs {n2}={v2:?}");
            assert!(d1.starts_with(KEYED_PREFIX), "{d1}");
            assert_eq!(d1.len(), KEYED_PREFIX.len() + 64);
            assert!(!d1.contains("s3cr3t"));
        }
    }

    #[test]
    fn secrets_enter_the_inputs_as_keyed_hashes() {
        let names = vec!["TOKEN".to_owned()];
        let given: BTreeMap<String, String> = [
            ("TOKEN".to_owned(), "s3cr3t".to_owned()),
            ("URL".to_owned(), "https://me:s3cr3t@host/".to_owned()),
            ("CFLAGS".to_owned(), "-O2".to_owned()),
        ]
        .into();
        let secrets = Secrets::new(&names, [&given]).expect("secrets");
        let hasher = SecretHasher::new(&[7; 32]);
        let env = hasher.environment(&given, &secrets);
        assert_eq!(env["TOKEN"], hasher.digest("TOKEN", b"s3cr3t"));
        assert_eq!(env["URL"], hasher.digest("URL", b"https://me:s3cr3t@host/"));
        assert_eq!(env["CFLAGS"], "-O2");
        let plain = "#!/bin/sh\nmake\n";
        assert_eq!(hasher.script(plain, &secrets), sha256_hex(plain.as_bytes()));
        let holding = "#!/bin/sh\ncurl -u me:s3cr3t\n";
        assert_eq!(
            hasher.script(holding, &secrets),
            hasher.digest("script", holding.as_bytes())
        );
        let json = serde_json::to_string(&env).expect("json");
        assert!(!json.contains("s3cr3t"), "{json}");
    }

    #[test]
    fn every_field_changes_the_key_and_is_explained() {
        type Change = fn(&mut BuildKeyInputs);
        let changes: &[(&str, Change)] = &[
            ("version: 1.3 -> 1.4", |i| i.version = "1.4".into()),
            ("image digest: sha256:abc -> sha256:def", |i| {
                i.image_digest = "sha256:def".into()
            }),
            ("environment variable CFLAGS: -O2 -> -O3", |i| {
                i.environment.insert("CFLAGS".into(), "-O3".into());
            }),
            ("patch p/fix.patch: (absent) -> 22", |i| {
                i.patches.insert("p/fix.patch".into(), "22".into());
            }),
            ("dependency libc 2.0: ", |i| {
                i.dependencies.insert("libc 2.0".into(), "33".into());
            }),
        ];
        for (expected, change) in changes {
            let mut changed = inputs();
            change(&mut changed);
            assert_ne!(changed.key(), inputs().key(), "{expected}");
            let why = inputs().explain_difference(&changed);
            assert_eq!(why.len(), 1, "{why:?}");
            let why = why[0].to_string();
            assert!(
                why.starts_with(expected),
                "{why} does not start with {expected}"
            );
        }
    }
}
