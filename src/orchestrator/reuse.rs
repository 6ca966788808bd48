//! The second step of a submit: which jobs are built and which reuse the
//! artifacts of an earlier job with the same build key.
//!
//! For every job that may be reused, the newest few succeeded jobs with its
//! key are looked up in one query ([`Job::reuse_candidates`]); the newest
//! of them whose artifacts are all still present with their recorded
//! SHA-256 (in its submit's staging directory or a release store) is the
//! source, and its artifacts are placed in the new submit's staging
//! directory ([`crate::store::reuse`]). Then [`decide`] (pure) settles each
//! job in build order: a job is reused only when every job it depends on
//! is reused too, so that a reused job's inputs are exactly the artifacts
//! its source was built from.
//!
//! A running job is never a source: only succeeded jobs are candidates.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rayon::prelude::*;
use uuid::Uuid;

use super::prepare::PreparedJob;
use crate::db::models::jobs::{EarlierArtifact, Job, ReuseCandidate};
use crate::db::models::JobId;
use crate::db::{self, Pool};
use crate::store::reuse::{self as take, ArtifactProblem};
use crate::store::{RelPath, Sha256Digest};

/// How many earlier jobs of one build key are tried, newest first.
const CANDIDATES_PER_KEY: i64 = 3;

/// What the user asked of reuse.
#[derive(Debug, Clone, Default)]
pub struct ReuseOptions {
    /// `--no-reuse`: build everything.
    pub disabled: bool,
    /// `--rebuild NAME`: build these packages even when they could be reused.
    pub rebuild: BTreeSet<String>,
}

impl ReuseOptions {
    /// Whether a job of `package` may be reused at all.
    pub fn may_reuse(&self, package: &str) -> bool {
        !self.disabled && !self.rebuild.contains(package)
    }
}

/// Where earlier artifacts may be found.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The staging root: each submit's artifacts are under `<root>/<uuid>/`.
    pub staging: PathBuf,
    /// `<releases_root>/<store>/` holds each release store's artifacts.
    pub releases_root: PathBuf,
}

/// Whether a job is built, and why; or which job it reuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Build(BuildReason),
    Reuse(ReusedFrom),
}

impl Decision {
    pub fn reused(&self) -> Option<&ReusedFrom> {
        match self {
            Decision::Reuse(from) => Some(from),
            Decision::Build(_) => None,
        }
    }
}

/// The earlier job a job takes its artifacts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReusedFrom {
    pub job: JobId,
    pub uuid: Uuid,
    pub artifacts: Vec<EarlierArtifact>,
}

/// Why a job is built rather than reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildReason {
    /// `--no-reuse`.
    ReuseOff,
    /// `--rebuild NAME`.
    RebuildAsked,
    /// No earlier job succeeded with the same build key.
    NoEarlierBuild,
    /// A job it depends on is built in this submit.
    DependencyBuilt { package: String, version: String },
    /// The newest earlier job with its key lost an artifact.
    ArtifactUnusable {
        job: Uuid,
        path: String,
        problem: ArtifactProblem,
    },
}

impl fmt::Display for BuildReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildReason::ReuseOff => f.write_str("--no-reuse"),
            BuildReason::RebuildAsked => f.write_str("--rebuild"),
            BuildReason::NoEarlierBuild => f.write_str("no earlier build with the same build key"),
            BuildReason::DependencyBuilt { package, version } => {
                write!(f, "its dependency {package} {version} is built")
            }
            BuildReason::ArtifactUnusable { job, path, problem } => write!(
                f,
                "earlier artifact {} of job {} {problem}",
                crate::error::escape_controls(path),
                short(job)
            ),
        }
    }
}

/// A job id as messages show it: its short form
/// ([`crate::ui::tabular::short_uuid`]) and an ellipsis.
pub fn short(uuid: &Uuid) -> String {
    format!("{}…", crate::ui::tabular::short_uuid(uuid))
}

/// What the look at the earlier jobs of one job's key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Not looked for (`--no-reuse`, `--rebuild`).
    NotLooked,
    /// No succeeded job with the key.
    Nothing,
    /// This one's artifacts are all there (and placed, unless it was a dry run).
    Usable(ReusedFrom),
    /// The newest one lost an artifact (and so did any older one).
    Unusable {
        job: Uuid,
        path: String,
        problem: ArtifactProblem,
    },
}

/// Settles every job, in build order (`dependencies[i]` are indices
/// below `i`): reused when its earlier job is usable and every job it
/// depends on is reused. The reason of a built job is its own first (the
/// flags, no earlier build of its key, an unusable artifact), and only
/// then a dependency that is built.
pub fn decide(jobs: &[PreparedJob], options: &ReuseOptions, found: Vec<Found>) -> Vec<Decision> {
    let mut out: Vec<Decision> = Vec::with_capacity(jobs.len());
    for (job, found) in jobs.iter().zip(found) {
        let built_dependency = job
            .spec
            .dependencies
            .iter()
            .find(|&&d| matches!(out[d], Decision::Build(_)));
        let decision = match found {
            _ if options.disabled => Decision::Build(BuildReason::ReuseOff),
            _ if options.rebuild.contains(&job.spec.package) => {
                Decision::Build(BuildReason::RebuildAsked)
            }
            Found::Nothing | Found::NotLooked => Decision::Build(BuildReason::NoEarlierBuild),
            Found::Unusable { job, path, problem } => {
                Decision::Build(BuildReason::ArtifactUnusable { job, path, problem })
            }
            Found::Usable(from) => match built_dependency {
                Some(&d) => Decision::Build(BuildReason::DependencyBuilt {
                    package: jobs[d].spec.package.clone(),
                    version: jobs[d].spec.version.clone(),
                }),
                None => Decision::Reuse(from),
            },
        };
        out.push(decision);
    }
    out
}

/// Decides which jobs are reused. With `place_into` (the new submit's
/// staging directory), the artifacts of every reused job are placed there;
/// without it (a dry run), they are only checked.
pub async fn find_reuse(
    pool: &Pool,
    stores: &Stores,
    jobs: &[PreparedJob],
    options: &ReuseOptions,
    place_into: Option<PathBuf>,
) -> Result<Vec<Decision>> {
    let keys: Vec<String> = jobs
        .iter()
        .filter(|j| options.may_reuse(&j.spec.package))
        .map(|j| j.build_key.clone())
        .collect();
    let candidates = match keys.is_empty() {
        true => Vec::new(),
        false => {
            db::run(pool, "looking up earlier builds to reuse", move |conn| {
                Ok(Job::reuse_candidates(conn, &keys, CANDIDATES_PER_KEY)?)
            })
            .await?
        }
    };
    let mut by_key: HashMap<String, Vec<ReuseCandidate>> = HashMap::new();
    for candidate in candidates {
        by_key
            .entry(candidate.build_key.clone())
            .or_default()
            .push(candidate);
    }
    // `None` for a job not to be reused.
    let per_job: Vec<Option<Vec<ReuseCandidate>>> = jobs
        .iter()
        .map(|j| {
            options
                .may_reuse(&j.spec.package)
                .then(|| by_key.get(&j.build_key).cloned().unwrap_or_default())
        })
        .collect();
    let stores = stores.clone();
    let dest = place_into.clone();
    let found = tokio::task::spawn_blocking(move || {
        per_job
            .par_iter()
            .map(|candidates| match candidates {
                None => Found::NotLooked,
                Some(candidates) => look_at(candidates, &stores, dest.as_deref()),
            })
            .collect::<Vec<Found>>()
    })
    .await?;
    let placed: Vec<Option<ReusedFrom>> = found
        .iter()
        .map(|f| match f {
            Found::Usable(from) => Some(from.clone()),
            _ => None,
        })
        .collect();
    let decisions = decide(jobs, options, found);
    if let Some(dir) = place_into {
        // Placed for a job that is built after all (a dependency is):
        // the build's own outputs go there instead.
        let unused: Vec<ReusedFrom> = placed
            .into_iter()
            .zip(&decisions)
            .filter_map(|(p, d)| p.filter(|_| d.reused().is_none()))
            .collect();
        tokio::task::spawn_blocking(move || {
            for from in unused {
                remove_placed(&from.artifacts, &dir);
            }
        })
        .await?;
    }
    Ok(decisions)
}

/// The newest of `candidates` whose artifacts are all there, placed into
/// `dest` when given. Blocking.
fn look_at(candidates: &[ReuseCandidate], stores: &Stores, dest: Option<&Path>) -> Found {
    let mut first_problem = None;
    for candidate in candidates {
        match take_all(candidate, stores, dest) {
            Ok(()) => {
                return Found::Usable(ReusedFrom {
                    job: candidate.job_id,
                    uuid: candidate.uuid,
                    artifacts: candidate.artifacts.clone(),
                })
            }
            Err((path, problem)) => {
                first_problem.get_or_insert(Found::Unusable {
                    job: candidate.uuid,
                    path,
                    problem,
                });
            }
        }
    }
    first_problem.unwrap_or(Found::Nothing)
}

/// Takes every artifact of `candidate` (into `dest`, when given); on the
/// first that cannot be taken, removes those placed and says which.
fn take_all(
    candidate: &ReuseCandidate,
    stores: &Stores,
    dest: Option<&Path>,
) -> std::result::Result<(), (String, ArtifactProblem)> {
    for (i, artifact) in candidate.artifacts.iter().enumerate() {
        let taken = locations(candidate, artifact, stores).and_then(|(rel, locations)| {
            let expected = Sha256Digest::from_hex(&artifact.sha256).ok_or_else(|| {
                ArtifactProblem::Unusable(format!(
                    "recorded SHA-256 `{}` is not valid",
                    artifact.sha256
                ))
            })?;
            let target = dest.map(|d| rel.under(d));
            take::take(&locations, &expected, target.as_deref())
        });
        if let Err(problem) = taken {
            if let Some(dest) = dest {
                remove_placed(&candidate.artifacts[..i], dest);
            }
            return Err((artifact.path.clone(), problem));
        }
    }
    Ok(())
}

/// Where an earlier artifact may be: its submit's staging directory, those
/// of the submits that reused it, then each release store it was released
/// into.
fn locations(
    candidate: &ReuseCandidate,
    artifact: &EarlierArtifact,
    stores: &Stores,
) -> std::result::Result<(RelPath, Vec<PathBuf>), ArtifactProblem> {
    let bad = |e: &dyn std::fmt::Display| ArtifactProblem::Unusable(e.to_string());
    let rel = RelPath::new(&artifact.path).map_err(|e| bad(&e))?;
    let mut out = Vec::new();
    for submit in std::iter::once(&candidate.submit_uuid).chain(&candidate.reused_in) {
        let dir = crate::store::paths::under_root(&stores.staging, &[&submit.to_string()])
            .map_err(|e| bad(&e))?;
        out.push(rel.under(&dir));
    }
    for store in &artifact.stores {
        if let Ok(dir) = crate::store::paths::under_root(&stores.releases_root, &[store]) {
            out.push(rel.under(&dir));
        }
    }
    Ok((rel, out))
}

fn remove_placed(artifacts: &[EarlierArtifact], dest: &Path) {
    for artifact in artifacts {
        if let Ok(rel) = RelPath::new(&artifact.path) {
            take::remove(&rel.under(dest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::build_key::BuildKeyInputs;

    fn job(name: &str, dependencies: Vec<usize>) -> PreparedJob {
        let inputs = BuildKeyInputs {
            package: name.into(),
            version: "1".into(),
            script_sha256: String::new(),
            image_digest: String::new(),
            environment: Default::default(),
            sources: Default::default(),
            patches: Default::default(),
            dependencies: Default::default(),
        };
        PreparedJob {
            spec: super::super::JobSpec {
                id: JobId(0),
                uuid: Uuid::nil(),
                package: name.into(),
                version: "1".into(),
                script: String::new(),
                env: Vec::new(),
                sources: Vec::new(),
                patches: Vec::new(),
                dependencies,
            },
            recorded_script: String::new(),
            recorded_env: Vec::new(),
            build_key: inputs.key(),
            inputs,
            kinds: Vec::new(),
        }
    }

    fn usable(id: i32) -> Found {
        Found::Usable(ReusedFrom {
            job: JobId(id),
            uuid: Uuid::nil(),
            artifacts: Vec::new(),
        })
    }

    /// What `decide` makes of each job, shortly: `reuse` or the reason's words.
    fn check(options: ReuseOptions, found: Vec<Found>, expected: &[&str]) {
        // a <- b <- c, and d alone.
        let jobs = vec![
            job("a", vec![]),
            job("b", vec![0]),
            job("c", vec![1]),
            job("d", vec![]),
        ];
        let got: Vec<String> = decide(&jobs, &options, found)
            .iter()
            .map(|d| match d {
                Decision::Reuse(_) => "reuse".to_owned(),
                Decision::Build(reason) => reason.to_string(),
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_job_is_reused_only_when_everything_below_it_is() {
        let missing = Found::Unusable {
            job: Uuid::nil(),
            path: "a.pkg".into(),
            problem: ArtifactProblem::Missing,
        };
        let all = || vec![usable(1), usable(2), usable(3), usable(4)];
        check(
            ReuseOptions::default(),
            all(),
            &["reuse", "reuse", "reuse", "reuse"],
        );
        check(
            ReuseOptions::default(),
            vec![Found::Nothing, usable(2), usable(3), usable(4)],
            &[
                "no earlier build with the same build key",
                "its dependency a 1 is built",
                "its dependency b 1 is built",
                "reuse",
            ],
        );
        check(
            ReuseOptions::default(),
            vec![usable(1), missing, usable(3), Found::Nothing],
            &[
                "reuse",
                "earlier artifact a.pkg of job 00000000… is missing",
                "its dependency b 1 is built",
                "no earlier build with the same build key",
            ],
        );
        let rebuild_b = ReuseOptions {
            disabled: false,
            rebuild: ["b".to_owned()].into(),
        };
        check(
            rebuild_b,
            vec![usable(1), Found::NotLooked, usable(3), usable(4)],
            &["reuse", "--rebuild", "its dependency b 1 is built", "reuse"],
        );
        let off = ReuseOptions {
            disabled: true,
            rebuild: BTreeSet::new(),
        };
        check(off, all(), &["--no-reuse"; 4]);
    }
}
