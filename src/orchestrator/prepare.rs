//! The first step of a submit: from the plan to the jobs as they will be
//! recorded and run. Each job's environment, the submit's secrets, each
//! rendered script, and each build key over what really goes into the
//! job: the rendered script, the image digest, the environment (a secret
//! by its keyed hash), the SHA-256 of each source's and patch's content,
//! and the keys of the dependencies.
//!
//! Pure: the files' hashes come in as [`FileHashes`], computed before by
//! [`hash_input_files`] (the one function here that reads files, meant for
//! `spawn_blocking`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use rayon::prelude::*;
use uuid::Uuid;

use super::JobSpec;
use crate::config::Config;
use crate::db::models::JobId;
use crate::package::script::ScriptRenderer;
use crate::package::{DependencyKind, HashKind, Package, PackageSet};
use crate::plan::build_key::{BuildKeyInputs, SecretHasher, MISSING};
use crate::plan::Plan;
use crate::repo::git::GitState;
use crate::secrets::Secrets;

/// A job as prepared before anything is recorded.
#[derive(Debug, Clone)]
pub struct PreparedJob {
    /// What the run needs (its `id` is set once the job is recorded).
    pub spec: JobSpec,
    /// The script as recorded: secrets masked.
    pub recorded_script: String,
    /// The environment as recorded: secrets masked.
    pub recorded_env: Vec<(String, String)>,
    pub inputs: BuildKeyInputs,
    pub build_key: String,
    /// The kind of each of `spec.dependencies`.
    pub kinds: Vec<DependencyKind>,
}

/// SHA-256 (hex) of the content of each source and patch file, by path;
/// [`MISSING`] for a file that is not there.
pub type FileHashes = HashMap<PathBuf, String>;

/// A file whose content goes into a job, and its SHA-256 when it is
/// already known (a source verified against a declared SHA-256 moments
/// ago need not be read again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFileRef {
    pub path: PathBuf,
    pub known_sha256: Option<String>,
}

/// What the preparation needs besides the plan.
pub struct Preparation<'a> {
    pub config: &'a Config,
    pub packages: &'a PackageSet,
    pub plan: &'a Plan,
    pub repo_root: &'a Path,
    pub renderer: &'a ScriptRenderer,
    /// The `-E` variables.
    pub cli_env: &'a BTreeMap<String, String>,
    pub git: &'a GitState,
    /// The digest the build image resolved to.
    pub image_digest: &'a str,
    pub files: &'a FileHashes,
    pub secrets: &'a Secrets,
    pub hasher: &'a SecretHasher,
}

/// Every job's environment, in build order: the package's, then the
/// command line's, then the configured git variables.
pub fn job_environments(
    config: &Config,
    packages: &PackageSet,
    plan: &Plan,
    cli: &BTreeMap<String, String>,
    git: &GitState,
) -> Vec<BTreeMap<String, String>> {
    plan.serial_buildorder()
        .iter()
        .map(|&n| {
            let mut env = plan.package(packages, n).environment.clone();
            env.extend(cli.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let Some(name) = &config.containers.git_author {
                env.insert(name.clone(), git.author.clone());
            }
            if let Some(name) = &config.containers.git_commit_hash {
                env.insert(name.clone(), git.commit.clone());
            }
            env
        })
        .collect()
}

/// The submit's secrets: the `secret_env` variables, with the values that
/// the packages of the plan, the command line and the final job
/// environments give them.
pub fn submit_secrets(
    config: &Config,
    packages: &PackageSet,
    plan: &Plan,
    cli: &BTreeMap<String, String>,
    jobs: &[BTreeMap<String, String>],
) -> Result<Secrets> {
    let own = plan
        .node_ids()
        .map(|n| &plan.package(packages, n).environment);
    Secrets::new(&config.secret_env, own.chain([cli]).chain(jobs))
        .context("preparing the scrubbing of secret values")
}

/// The source and patch files of every package of the plan. With
/// `verified`, a source whose declared hash is a SHA-256 has been checked
/// against it, so that hash is its content's.
pub fn input_files(
    config: &Config,
    packages: &PackageSet,
    plan: &Plan,
    repo_root: &Path,
    verified: bool,
) -> Result<Vec<InputFileRef>> {
    let mut out = Vec::new();
    for &node in plan.serial_buildorder() {
        let package = plan.package(packages, node);
        for (key, source) in &package.sources {
            let known = (verified && source.hash.kind == HashKind::Sha256)
                .then(|| source.hash.hash.clone());
            out.push(InputFileRef {
                path: crate::store::sources::source_path(config, package, key)?,
                known_sha256: known,
            });
        }
        for rel in &package.patches {
            out.push(InputFileRef {
                path: repo_root.join(rel),
                known_sha256: None,
            });
        }
    }
    Ok(out)
}

/// SHA-256 of the content of each file (several at once); a missing file
/// is [`MISSING`], any other failure to read one is an error naming it.
/// Blocking.
pub fn hash_input_files(files: Vec<InputFileRef>) -> Result<FileHashes> {
    files
        .into_par_iter()
        .map(|file| {
            let hash = match file.known_sha256 {
                Some(known) => known,
                None => match crate::store::sources::hash_file(&file.path, HashKind::Sha256) {
                    Ok(hash) => hash,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => MISSING.to_owned(),
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("hashing {}", file.path.display())))
                    }
                },
            };
            Ok((file.path, hash))
        })
        .collect()
}

/// Renders every job's script and computes its build key, in build order.
/// Problems that stop the submit (a script that does not render, a
/// variable not allowed) are all returned at once.
pub fn prepare_jobs(
    p: &Preparation<'_>,
    environments: Vec<BTreeMap<String, String>>,
) -> std::result::Result<Vec<PreparedJob>, Vec<String>> {
    let order = p.plan.serial_buildorder();
    let mut index_of = vec![usize::MAX; p.plan.len()];
    for (i, node) in order.iter().enumerate() {
        index_of[node.index()] = i;
    }
    let mut prepared: Vec<PreparedJob> = Vec::with_capacity(order.len());
    let mut problems = Vec::new();
    for (&node_id, env) in order.iter().zip(environments) {
        let package = p.plan.package(p.packages, node_id);
        problems.extend(disallowed_variables(p.config, package, &env));
        let script = match p.renderer.render(package) {
            Ok(s) => s.into_string(),
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        for phase in p.renderer.unknown_phases(package) {
            tracing::warn!(
                "{}: phase `{phase}` is not in available_phases and is left out of the script",
                package.id_string()
            );
        }
        let node = p.plan.node(node_id);
        let dependencies: Vec<usize> = node
            .dependencies
            .iter()
            .map(|e| index_of[e.to.index()])
            .collect();
        if !problems.is_empty() {
            // Keys are of no use once the submit cannot start; a
            // dependency whose script failed has no entry to refer to.
            continue;
        }
        let sources: Vec<(String, PathBuf)> = match source_files(p.config, package) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let patches: Vec<(String, PathBuf)> = package
            .patches
            .iter()
            .map(|rel| (rel.clone(), p.repo_root.join(rel)))
            .collect();
        let inputs = BuildKeyInputs {
            package: package.name.to_string(),
            version: package.version.to_string(),
            script_sha256: p.hasher.script(&script, p.secrets),
            image_digest: p.image_digest.to_owned(),
            environment: p.hasher.environment(&env, p.secrets),
            sources: package
                .sources
                .keys()
                .zip(&sources)
                .map(|(key, (_, path))| (key.clone(), file_hash(p.files, path)))
                .collect(),
            patches: patches
                .iter()
                .map(|(rel, path)| (rel.clone(), file_hash(p.files, path)))
                .collect(),
            dependencies: dependencies
                .iter()
                .map(|&d| {
                    let dep = &prepared[d];
                    (
                        format!("{} {}", dep.spec.package, dep.spec.version),
                        dep.build_key.clone(),
                    )
                })
                .collect(),
        };
        prepared.push(PreparedJob {
            recorded_script: p.secrets.scrub(&script),
            recorded_env: env
                .iter()
                .map(|(k, v)| (k.clone(), p.secrets.mask(k, v)))
                .collect(),
            build_key: inputs.key(),
            inputs,
            kinds: node.dependencies.iter().map(|e| e.kind).collect(),
            spec: JobSpec {
                id: JobId(0),
                uuid: Uuid::new_v4(),
                package: package.name.to_string(),
                version: package.version.to_string(),
                script,
                env: env.into_iter().collect(),
                sources,
                patches,
                dependencies,
            },
        });
    }
    if problems.is_empty() {
        Ok(prepared)
    } else {
        Err(problems)
    }
}

/// The variables of a job that `containers.allowed_env` does not allow,
/// when `containers.check_env_names` asks for the check.
fn disallowed_variables(
    config: &Config,
    package: &Package,
    env: &BTreeMap<String, String>,
) -> Vec<String> {
    if !config.containers.check_env_names {
        return Vec::new();
    }
    env.keys()
        .filter(|name| !config.containers.allowed_env.iter().any(|a| a == *name))
        .map(|name| {
            format!(
                "{}: variable `{name}` is not in containers.allowed_env (containers.check_env_names is true)",
                package.id_string()
            )
        })
        .collect()
}

/// Each source of a package as (`<key>.source`, file in the source cache).
fn source_files(
    config: &Config,
    package: &Package,
) -> std::result::Result<Vec<(String, PathBuf)>, crate::store::PathError> {
    package
        .sources
        .keys()
        .map(|key| {
            let path = crate::store::sources::source_path(config, package, key)?;
            Ok((format!("{key}.source"), path))
        })
        .collect()
}

/// A file's hash; one that was not hashed counts as missing (it was not
/// among the files [`input_files`] listed, which cannot happen).
fn file_hash(files: &FileHashes, path: &Path) -> String {
    files
        .get(path)
        .cloned()
        .unwrap_or_else(|| MISSING.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Environment, LoadOptions};
    use crate::package::testing::package;
    use crate::package::{Source, SourceHash, Target};

    /// A configuration from `config.toml` text, in a directory of its own.
    fn config(text: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.toml"), text).expect("config.toml");
        let options = LoadOptions {
            repo_root: Some(dir.path().to_owned()),
            user_file: None,
            ..LoadOptions::default()
        };
        let env = Environment::from_pairs(Vec::<(String, String)>::new(), dir.path());
        let config = Config::load_with(&options, &env).expect("a valid configuration");
        (dir, config)
    }

    const CONFIG: &str = "compatibility = 1\nshebang = \"#!/bin/sh\"\navailable_phases = [\"build\"]\nsecret_env = [\"TOKEN\"]\n[docker]\nimages = [ { name = \"img\" } ]\n";

    /// leaf (a source, an environment) <- root.
    fn packages() -> PackageSet {
        let mut leaf = package("leaf", "1", &[], &[]);
        leaf.sources.insert(
            "src".into(),
            Source {
                url: "https://example.invalid/leaf.tar".into(),
                hash: SourceHash {
                    kind: HashKind::Sha256,
                    hash: "ab".repeat(32),
                },
                download_manually: false,
            },
        );
        leaf.environment.insert("OPT".into(), "1".into());
        PackageSet::new(vec![leaf, package("root", "1", &["leaf =1"], &[])]).0
    }

    /// The jobs prepared with the `-E` variables and the leaf source's
    /// content hash given.
    fn prepared(config: &Config, cli: &[(&str, &str)], source_sha: &str) -> Vec<PreparedJob> {
        try_prepare(config, cli, source_sha).expect("prepared")
    }

    fn try_prepare(
        config: &Config,
        cli: &[(&str, &str)],
        source_sha: &str,
    ) -> std::result::Result<Vec<PreparedJob>, Vec<String>> {
        let set = packages();
        let root = set.find("root", "1").expect("root");
        let cli: BTreeMap<String, String> = cli
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let plan = Plan::new(
            &set,
            root,
            &Target {
                image: None,
                env: &cli,
            },
        )
        .expect("a plan");
        let git = GitState {
            commit: "c".repeat(40),
            author: "A <a@b>".into(),
            changes: None,
        };
        let environments = job_environments(config, &set, &plan, &cli, &git);
        let secrets = submit_secrets(config, &set, &plan, &cli, &environments).expect("secrets");
        let files: FileHashes = input_files(config, &set, &plan, Path::new("/repo"), false)
            .expect("files")
            .into_iter()
            .map(|f| (f.path, source_sha.to_owned()))
            .collect();
        let renderer =
            ScriptRenderer::new(crate::package::script::ScriptSettings::from_config(config));
        let hasher = SecretHasher::new(&[9; 32]);
        let p = Preparation {
            config,
            packages: &set,
            plan: &plan,
            repo_root: Path::new("/repo"),
            renderer: &renderer,
            cli_env: &cli,
            git: &git,
            image_digest: "sha256:img",
            files: &files,
            secrets: &secrets,
            hasher: &hasher,
        };
        prepare_jobs(&p, environments)
    }

    #[test]
    fn keys_follow_the_content_that_goes_in() {
        let (_dir, config) = config(CONFIG);
        let base = prepared(&config, &[("X", "1")], &"11".repeat(32));
        assert_eq!(
            base.iter()
                .map(|j| j.spec.package.as_str())
                .collect::<Vec<_>>(),
            ["leaf", "root"]
        );
        let leaf = &base[0];
        // The content's hash, not the declared one.
        assert_eq!(leaf.inputs.sources["src"], "11".repeat(32));
        assert_eq!(leaf.inputs.environment["OPT"], "1");
        assert_eq!(leaf.inputs.image_digest, "sha256:img");
        assert_eq!(base[1].inputs.dependencies["leaf 1"], leaf.build_key);
        assert_eq!(base[1].spec.dependencies, vec![0]);
        // Same inputs, same keys.
        let again = prepared(&config, &[("X", "1")], &"11".repeat(32));
        assert_eq!(again[1].build_key, base[1].build_key);
        // Another source content: the leaf and everything above it change.
        let other = prepared(&config, &[("X", "1")], &"22".repeat(32));
        assert_ne!(other[0].build_key, base[0].build_key);
        assert_ne!(other[1].build_key, base[1].build_key);
        let why: Vec<String> = base[1]
            .inputs
            .explain_difference(&other[1].inputs)
            .iter()
            .map(|d| d.field.to_string())
            .collect();
        assert_eq!(why, ["dependency leaf 1"]);
    }

    #[test]
    fn a_secret_enters_as_a_keyed_hash_and_is_recorded_masked() {
        let (_dir, config) = config(CONFIG);
        let one = prepared(&config, &[("TOKEN", "s3cr3t-one")], &"11".repeat(32));
        let two = prepared(&config, &[("TOKEN", "s3cr3t-two")], &"11".repeat(32));
        assert_ne!(
            one[0].build_key, two[0].build_key,
            "a changed secret changes the key"
        );
        for job in &one {
            let recorded = serde_json::to_string(&job.inputs).expect("json");
            assert!(!recorded.contains("s3cr3t"), "{recorded}");
            assert!(job.inputs.environment["TOKEN"].starts_with("hmac-sha256:"));
            let env: BTreeMap<_, _> = job.recorded_env.iter().cloned().collect();
            assert!(!env["TOKEN"].contains("s3cr3t"), "{env:?}");
            // The container gets the value.
            assert!(job
                .spec
                .env
                .contains(&("TOKEN".into(), "s3cr3t-one".into())));
        }
    }

    #[test]
    fn variables_not_allowed_are_all_reported() {
        let (_dir, config) = config(&format!(
            "{CONFIG}[containers]\ncheck_env_names = true\nallowed_env = [\"OPT\"]\n"
        ));
        let problems = try_prepare(&config, &[("X", "1")], &"11".repeat(32)).expect_err("refused");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems.iter().all(|p| p.contains("variable `X`")),
            "{problems:?}"
        );
    }
}
