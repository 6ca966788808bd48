//! The proof of a reproduction: every artifact of a rebuilt submit
//! compared with the original's by SHA-256, and for each job whose
//! artifacts differ, why: its build inputs were equal (the build itself is
//! not deterministic) or which of them differ. No I/O: it works on the
//! jobs as [`crate::db::listings::reproduce::built_jobs`] reads them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use uuid::Uuid;

use crate::db::listings::reproduce::BuiltJob;
use crate::db::models::JobStatus;
use crate::plan::build_key::{BuildKeyInputs, Difference};

/// How one artifact compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Identical,
    Differs,
    /// The original has it; the rebuild does not.
    OnlyOriginal,
    /// The rebuild has it; the original does not.
    OnlyRebuilt,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Identical => "identical",
            Verdict::Differs => "differs",
            Verdict::OnlyOriginal => "only in original",
            Verdict::OnlyRebuilt => "only in rebuild",
        }
    }
}

/// One artifact, by package, version and path under the staging directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactComparison {
    pub package: String,
    pub version: String,
    pub artifact: String,
    /// SHA-256 in the original, if it has the artifact.
    pub original: Option<String>,
    /// SHA-256 in the rebuild, if it has the artifact.
    pub rebuilt: Option<String>,
    pub verdict: Verdict,
}

/// Why a job's artifacts are not all identical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// Same build key inputs, different artifacts.
    NotDeterministic,
    /// These build key inputs differ (original before, rebuild after).
    InputsDiffer {
        differences: Vec<Difference>,
    },
    /// The rebuilt job did not succeed.
    RebuildFailed {
        status: JobStatus,
    },
    /// The package is in one submit's tree only.
    NotInRebuild,
    NotInOriginal,
}

/// A job whose artifacts are not all identical, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobFinding {
    pub package: String,
    pub version: String,
    pub original_job: Option<Uuid>,
    pub rebuilt_job: Option<Uuid>,
    #[serde(flatten)]
    pub cause: Cause,
}

/// The comparison of a rebuild with its original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proof {
    pub artifacts: Vec<ArtifactComparison>,
    pub findings: Vec<JobFinding>,
}

impl Proof {
    /// Whether every artifact is identical and every job rebuilt.
    pub fn identical(&self) -> bool {
        self.findings.is_empty()
            && self
                .artifacts
                .iter()
                .all(|a| a.verdict == Verdict::Identical)
    }

    /// How many artifacts have each verdict.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for a in &self.artifacts {
            *counts.entry(a.verdict.as_str()).or_default() += 1;
        }
        counts
    }
}

/// Compares the jobs of a rebuild with those of its original, matched by
/// package and version, in the original's order.
pub fn compare(original: &[BuiltJob], rebuilt: &[BuiltJob]) -> Proof {
    let key = |j: &BuiltJob| (j.package.clone(), j.version.clone());
    let rebuilt_by: BTreeMap<_, &BuiltJob> = rebuilt.iter().map(|j| (key(j), j)).collect();
    let original_keys: BTreeSet<_> = original.iter().map(key).collect();
    let mut proof = Proof {
        artifacts: Vec::new(),
        findings: Vec::new(),
    };
    for job in original {
        compare_job(Some(job), rebuilt_by.get(&key(job)).copied(), &mut proof);
    }
    for job in rebuilt.iter().filter(|j| !original_keys.contains(&key(j))) {
        compare_job(None, Some(job), &mut proof);
    }
    proof
}

fn compare_job(original: Option<&BuiltJob>, rebuilt: Option<&BuiltJob>, proof: &mut Proof) {
    let Some(named) = original.or(rebuilt) else {
        return;
    };
    let empty = BTreeMap::new();
    let a = original.map_or(&empty, |j| &j.artifacts);
    let b = rebuilt.map_or(&empty, |j| &j.artifacts);
    let paths: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut all_identical = true;
    for path in paths {
        let (before, after) = (a.get(path), b.get(path));
        let verdict = match (before, after) {
            (Some(x), Some(y)) if x == y => Verdict::Identical,
            (Some(_), Some(_)) => Verdict::Differs,
            (Some(_), None) => Verdict::OnlyOriginal,
            (None, _) => Verdict::OnlyRebuilt,
        };
        all_identical &= verdict == Verdict::Identical;
        proof.artifacts.push(ArtifactComparison {
            package: named.package.clone(),
            version: named.version.clone(),
            artifact: path.clone(),
            original: before.cloned(),
            rebuilt: after.cloned(),
            verdict,
        });
    }
    if let Some(cause) = cause(original, rebuilt, all_identical) {
        proof.findings.push(JobFinding {
            package: named.package.clone(),
            version: named.version.clone(),
            original_job: original.map(|j| j.uuid),
            rebuilt_job: rebuilt.map(|j| j.uuid),
            cause,
        });
    }
}

fn cause(
    original: Option<&BuiltJob>,
    rebuilt: Option<&BuiltJob>,
    all_identical: bool,
) -> Option<Cause> {
    let (original, rebuilt) = match (original, rebuilt) {
        (Some(o), Some(r)) => (o, r),
        (Some(_), None) => return Some(Cause::NotInRebuild),
        (None, _) => return Some(Cause::NotInOriginal),
    };
    let original_ok = matches!(original.status, JobStatus::Succeeded | JobStatus::Reused);
    if original_ok && rebuilt.status != JobStatus::Succeeded {
        return Some(Cause::RebuildFailed {
            status: rebuilt.status,
        });
    }
    if all_identical {
        return None;
    }
    if original.build_key == rebuilt.build_key {
        return Some(Cause::NotDeterministic);
    }
    let inputs =
        |j: &BuiltJob| serde_json::from_value::<BuildKeyInputs>(j.build_key_inputs.clone());
    let differences = match (inputs(original), inputs(rebuilt)) {
        (Ok(a), Ok(b)) => a.explain_difference(&b),
        // Inputs recorded in an older form: the keys differ, no more is known.
        _ => Vec::new(),
    };
    Some(Cause::InputsDiffer { differences })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::build_key::Field;

    fn inputs(script: &str) -> BuildKeyInputs {
        BuildKeyInputs {
            package: "a".into(),
            version: "1".into(),
            script_sha256: script.into(),
            image_digest: "sha256:i".into(),
            environment: BTreeMap::new(),
            sources: BTreeMap::new(),
            patches: BTreeMap::new(),
            dependencies: BTreeMap::new(),
        }
    }

    fn job(package: &str, inputs: &BuildKeyInputs, artifacts: &[(&str, &str)]) -> BuiltJob {
        BuiltJob {
            uuid: Uuid::new_v4(),
            package: package.into(),
            version: "1".into(),
            status: JobStatus::Succeeded,
            build_key: inputs.key(),
            build_key_inputs: serde_json::to_value(inputs).expect("json"),
            artifacts: artifacts
                .iter()
                .map(|(p, h)| (p.to_string(), h.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_same_artifacts_are_identical() {
        let i = inputs("s");
        let a = [job("a", &i, &[("a-1.pkg", "11")]), job("b", &i, &[])];
        let b = [job("a", &i, &[("a-1.pkg", "11")]), job("b", &i, &[])];
        let proof = compare(&a, &b);
        assert!(proof.identical(), "{proof:?}");
        assert_eq!(proof.artifacts.len(), 1);
        assert_eq!(proof.artifacts[0].verdict, Verdict::Identical);
    }

    #[test]
    fn different_content_with_equal_inputs_is_not_deterministic() {
        let i = inputs("s");
        let proof = compare(
            &[job("a", &i, &[("x", "11"), ("y", "22")])],
            &[job("a", &i, &[("x", "11"), ("y", "33")])],
        );
        assert!(!proof.identical());
        let verdicts: Vec<Verdict> = proof.artifacts.iter().map(|a| a.verdict).collect();
        assert_eq!(verdicts, [Verdict::Identical, Verdict::Differs]);
        assert_eq!(proof.findings.len(), 1);
        assert_eq!(proof.findings[0].cause, Cause::NotDeterministic);
    }

    #[test]
    fn different_inputs_are_named() {
        let proof = compare(
            &[job("a", &inputs("s1"), &[("x", "11")])],
            &[job("a", &inputs("s2"), &[("x", "22")])],
        );
        let Cause::InputsDiffer { differences } = &proof.findings[0].cause else {
            panic!("{proof:?}");
        };
        assert_eq!(differences.len(), 1);
        assert_eq!(differences[0].field, Field::Script);
    }

    #[test]
    fn artifacts_and_jobs_on_one_side_only() {
        let i = inputs("s");
        let mut failed = job("a", &i, &[]);
        failed.status = JobStatus::Failed;
        let proof = compare(
            &[job("a", &i, &[("x", "11")]), job("gone", &i, &[("g", "1")])],
            &[failed, job("new", &i, &[("n", "2")])],
        );
        let verdicts: Vec<(&str, Verdict)> = proof
            .artifacts
            .iter()
            .map(|a| (a.artifact.as_str(), a.verdict))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("x", Verdict::OnlyOriginal),
                ("g", Verdict::OnlyOriginal),
                ("n", Verdict::OnlyRebuilt)
            ]
        );
        let causes: Vec<&Cause> = proof.findings.iter().map(|f| &f.cause).collect();
        assert_eq!(
            causes,
            [
                &Cause::RebuildFailed {
                    status: JobStatus::Failed
                },
                &Cause::NotInRebuild,
                &Cause::NotInOriginal
            ]
        );
        assert!(!proof.identical());
    }
}
