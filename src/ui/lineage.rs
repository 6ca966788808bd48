//! `kiln db lineage` as the user reads it: what went into an artifact as
//! an indented tree (or a nested JSON tree), what was built from it as
//! tables, and either as a Graphviz graph.
//!
//! A job that comes again in a tree is marked `(*)` (in JSON,
//! `"shown_above": true`) instead of repeating its inputs, so the output
//! grows with the number of edges, not the number of paths. Text cells go
//! through [`table_cell`], so no recorded value can steer the terminal.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use serde::Serialize;
use uuid::Uuid;

use super::tabular::{human_size, short_time_opt, short_uuid, table, table_cell, DisplayNames};
use super::tree::{dot_quote, REPEAT_MARK};
use crate::db::listings::jobs::EnvVar;
use crate::db::listings::lineage::{
    ArtifactFacts, ChainStep, DescendantJob, Descendants, FoundRelease, JobFacts, JobLineage,
    Lineage, ReusedFrom,
};
use crate::db::models::{ArtifactId, JobId};

/// Digits of a SHA-256 or commit a text shows.
const SHORT_HASH: usize = 12;

fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(SHORT_HASH)]
}

/// An image digest for text: `sha256:` and 12 digits.
fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", short_hash(hex)),
        None => short_hash(digest).to_owned(),
    }
}

// ---------------------------------------------------------------------------
// What went into it: text
// ---------------------------------------------------------------------------

/// The lineage as an indented tree: the artifact asked about, its job with
/// what it was built from, then each input artifact with its job, and so on.
pub fn tree_text(lineage: &Lineage, names: &DisplayNames) -> String {
    let mut out = String::new();
    if let Some(artifact) = &lineage.artifact {
        let _ = writeln!(out, "artifact {}", artifact_line(artifact));
    }
    let mut shown = HashSet::new();
    write_job(&mut out, lineage, lineage.root, "", &mut shown, names);
    out
}

fn artifact_line(a: &ArtifactFacts) -> String {
    format!(
        "{}  sha256 {}  {}",
        table_cell(&a.path),
        short_hash(&a.sha256),
        human_size(a.size)
    )
}

/// Writes job `id` at `prefix`: its header, its facts and (the first time
/// it is shown) its inputs, each followed by the job that made it.
fn write_job(
    out: &mut String,
    lineage: &Lineage,
    id: JobId,
    prefix: &str,
    shown: &mut HashSet<JobId>,
    names: &DisplayNames,
) {
    let Some(node) = lineage.jobs.get(&id) else {
        let _ = writeln!(out, "{prefix}job (not recorded)");
        return;
    };
    let first = shown.insert(id);
    let repeat = if !first && !node.inputs.is_empty() {
        format!(" {REPEAT_MARK}")
    } else {
        String::new()
    };
    let _ = writeln!(out, "{prefix}job {}{repeat}", job_header(&node.job));
    if !first {
        return;
    }
    for (label, value) in job_facts(node, names) {
        let _ = writeln!(out, "{prefix}    {label:<7} {value}");
    }
    for (i, input) in node.inputs.iter().enumerate() {
        let last = i + 1 == node.inputs.len();
        let (branch, more) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let _ = writeln!(out, "{prefix}{branch}{}", artifact_line(input));
        write_job(
            out,
            lineage,
            input.job_id,
            &format!("{prefix}{more}"),
            shown,
            names,
        );
    }
}

fn job_header(job: &JobFacts) -> String {
    format!(
        "{}  {}@{}  {}  {}",
        short_uuid(&job.uuid),
        table_cell(&job.package_name),
        table_cell(&job.package_version),
        job.status,
        short_time_opt(&job.finished_at)
    )
}

/// The labelled facts of a job, in the order the tree shows them.
fn job_facts(node: &JobLineage, names: &DisplayNames) -> Vec<(&'static str, String)> {
    let job = &node.job;
    let mut facts = Vec::new();
    if let Some(from) = &node.reused_from {
        facts.push(("reused", reused_text(from)));
    }
    facts.push((
        "submit",
        submit_text(job.submit_uuid, &job.commit, job.repo_dirty),
    ));
    let digest = job.image_digest.as_deref().map(short_digest);
    facts.push((
        "image",
        format!(
            "{}  {}",
            table_cell(names.image(&job.image)),
            digest.as_deref().unwrap_or("(digest not recorded)")
        ),
    ));
    for (kind, map) in [("source", &node.sources), ("patch", &node.patches)] {
        for (name, sha256) in map {
            facts.push((
                kind,
                format!("{}  sha256 {}", table_cell(name), short_hash(sha256)),
            ));
        }
    }
    facts.extend(node.env.iter().map(|e| ("env", env_text(e))));
    facts
}

fn reused_text(from: &ReusedFrom) -> String {
    format!(
        "job {} (submit {}, commit {})",
        short_uuid(&from.uuid),
        short_uuid(&from.submit_uuid),
        short_hash(&from.commit)
    )
}

fn submit_text(submit: Uuid, commit: &str, dirty: bool) -> String {
    let state = if dirty {
        "with uncommitted changes"
    } else {
        "clean"
    };
    format!(
        "{}  commit {} ({state})",
        short_uuid(&submit),
        short_hash(commit)
    )
}

fn env_text(var: &EnvVar) -> String {
    format!("{}={}", table_cell(&var.name), table_cell(&var.value))
}

// ---------------------------------------------------------------------------
// What went into it: JSON
// ---------------------------------------------------------------------------

/// The document of `db lineage --output json`.
#[derive(Debug, Serialize)]
pub struct TreeJson<'a> {
    /// The artifact asked about; null when a job was.
    pub artifact: Option<&'a ArtifactFacts>,
    pub job: JobJson<'a>,
}

/// A job of the JSON tree: in full the first time, then by reference.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum JobJson<'a> {
    Full {
        #[serde(flatten)]
        job: &'a JobLineage,
        inputs: Vec<InputJson<'a>>,
    },
    /// A job whose inputs were shown above.
    Shown {
        uuid: Uuid,
        package_name: &'a str,
        package_version: &'a str,
        shown_above: bool,
    },
    /// An input whose job is not recorded (never written by kiln).
    Missing { shown_above: bool },
}

/// An input artifact with the job that made it.
#[derive(Debug, Serialize)]
pub struct InputJson<'a> {
    #[serde(flatten)]
    pub artifact: &'a ArtifactFacts,
    pub job: JobJson<'a>,
}

/// The lineage as a nested JSON tree.
pub fn tree_json(lineage: &Lineage) -> TreeJson<'_> {
    let mut shown = HashSet::new();
    TreeJson {
        artifact: lineage.artifact.as_ref(),
        job: job_json(lineage, lineage.root, &mut shown),
    }
}

fn job_json<'a>(lineage: &'a Lineage, id: JobId, shown: &mut HashSet<JobId>) -> JobJson<'a> {
    let Some(node) = lineage.jobs.get(&id) else {
        return JobJson::Missing { shown_above: false };
    };
    if !shown.insert(id) {
        return JobJson::Shown {
            uuid: node.job.uuid,
            package_name: &node.job.package_name,
            package_version: &node.job.package_version,
            shown_above: true,
        };
    }
    let inputs = node
        .inputs
        .iter()
        .map(|artifact| InputJson {
            artifact,
            job: job_json(lineage, artifact.job_id, shown),
        })
        .collect();
    JobJson::Full { job: node, inputs }
}

// ---------------------------------------------------------------------------
// What was built from it
// ---------------------------------------------------------------------------

/// How a job of the reverse lineage is linked to the start.
fn link(job: &DescendantJob) -> &'static str {
    match (job.start, &job.reused_from) {
        (true, _) => "start",
        (false, Some(_)) => "reuse",
        (false, None) => "input",
    }
}

/// The reverse lineage as text: one row per artifact of each job, then
/// the current releases.
pub fn descendants_text(d: &Descendants) -> String {
    let rows = d.jobs.iter().flat_map(|job| {
        let cells = job_cells(job);
        let none = (job.artifacts.is_empty()).then(|| {
            let mut row = cells.clone();
            row.extend(["-".to_owned(), "-".to_owned(), "-".to_owned()]);
            row
        });
        job.artifacts
            .iter()
            .map(move |a| {
                let mut row = cells.clone();
                let placed: Vec<String> = a
                    .releases
                    .iter()
                    .map(|p| format!("{}:{}", p.store, p.path))
                    .collect();
                row.extend([
                    a.artifact.path.clone(),
                    short_hash(&a.artifact.sha256).to_owned(),
                    if placed.is_empty() {
                        "-".to_owned()
                    } else {
                        placed.join(", ")
                    },
                ]);
                row
            })
            .chain(none)
    });
    let mut out = table(
        &[
            "LINK", "JOB", "PACKAGE", "STATUS", "SUBMIT", "COMMIT", "ARTIFACT", "SHA256",
            "RELEASED",
        ],
        rows,
    );
    out.push_str("\ncurrent releases:\n");
    if d.releases.is_empty() {
        out.push_str("  (none)\n");
    } else {
        out.push_str(&releases_text(&d.releases));
    }
    out
}

fn job_cells(job: &DescendantJob) -> Vec<String> {
    let j = &job.job;
    vec![
        link(job).to_owned(),
        short_uuid(&j.uuid),
        format!("{}@{}", j.package_name, j.package_version),
        j.status.to_string(),
        short_uuid(&j.submit_uuid),
        short_hash(&j.commit).to_owned(),
    ]
}

/// The current releases found, as a table with the chain that led to each.
pub fn releases_text(releases: &[FoundRelease]) -> String {
    table(
        &[
            "STORE", "PATH", "PACKAGE", "SHA256", "RELEASED", "JOB", "VIA",
        ],
        releases.iter().map(|r| {
            vec![
                r.store.clone(),
                r.path.clone(),
                format!("{}@{}", r.package_name, r.package_version),
                short_hash(&r.sha256).to_owned(),
                short_time_opt(&Some(r.released_at)),
                short_uuid(&r.job_uuid),
                chain_text(&r.via),
            ]
        }),
    )
}

/// A chain as `openssl@3.1.4 > libcurl@8.4.0 > curl@8.4.0`, reused jobs marked.
fn chain_text(chain: &[ChainStep]) -> String {
    if chain.is_empty() {
        return "-".to_owned();
    }
    chain
        .iter()
        .map(|s| {
            let reused = if s.status == crate::db::models::JobStatus::Reused {
                " (reused)"
            } else {
                ""
            };
            format!("{}@{}{reused}", s.package_name, s.package_version)
        })
        .collect::<Vec<_>>()
        .join(" > ")
}

// ---------------------------------------------------------------------------
// Graphviz
// ---------------------------------------------------------------------------

/// A Graphviz graph being written: nodes once each, edges in order.
#[derive(Default)]
struct Dot {
    nodes: BTreeSet<String>,
    edges: BTreeSet<(String, String, String)>,
    lines: Vec<String>,
}

impl Dot {
    fn node(&mut self, id: String, attributes: String) {
        if self.nodes.insert(id.clone()) {
            self.lines.push(format!("  {id} [{attributes}];"));
        }
    }

    fn job(&mut self, uuid: Uuid, package: &str, version: &str) -> String {
        let id = dot_quote(&format!("job {uuid}"));
        let name = format!("{package}@{version}");
        let label = label_of(&[&name, &short_uuid(&uuid)]);
        self.node(id.clone(), format!("label={label}"));
        id
    }

    fn artifact(&mut self, a: &ArtifactFacts) -> String {
        let id = dot_quote(&format!("artifact {}", a.id));
        let label = label_of(&[&a.path, short_hash(&a.sha256)]);
        self.node(id.clone(), format!("shape=ellipse, label={label}"));
        id
    }

    fn release(&mut self, store: &str, path: &str) -> String {
        let id = dot_quote(&format!("release {store}/{path}"));
        let label = label_of(&[store, path]);
        self.node(id.clone(), format!("shape=note, label={label}"));
        id
    }

    /// The node of a reused job's source, which the lineage does not walk.
    fn node_for_source(&mut self, from: &ReusedFrom) -> String {
        let id = dot_quote(&format!("job {}", from.uuid));
        let label = label_of(&[&format!("job {}", short_uuid(&from.uuid))]);
        self.node(id.clone(), format!("style=dashed, label={label}"));
        id
    }

    /// An edge, once: an artifact that two jobs took is built once.
    fn edge(&mut self, from: &str, to: &str, label: &str, style: &str) {
        let key = (from.to_owned(), to.to_owned(), label.to_owned());
        if self.edges.insert(key) {
            let line = format!("  {from} -> {to} [label={}{style}];", dot_quote(label));
            self.lines.push(line);
        }
    }

    fn finish(self) -> String {
        let mut out = String::from(
            "digraph lineage {\n  // boxes: jobs; ellipses: artifacts; notes: current releases\n  node [shape=box];\n",
        );
        for line in self.lines {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("}\n");
        out
    }
}

/// A label of several lines, each with its control characters escaped
/// ([`table_cell`]), joined by Graphviz's `\n`.
fn label_of(lines: &[&str]) -> String {
    let quoted: Vec<String> = lines
        .iter()
        .map(|line| {
            let q = dot_quote(&table_cell(line));
            q[1..q.len() - 1].to_owned()
        })
        .collect();
    format!("\"{}\"", quoted.join("\\n"))
}

/// What went into it, as a graph: artifacts go into jobs (`input of`),
/// jobs make artifacts (`built`), a reused job's source is linked to it.
pub fn tree_dot(lineage: &Lineage) -> String {
    let mut dot = Dot::default();
    let mut ids: HashMap<JobId, String> = HashMap::new();
    for (&id, node) in &lineage.jobs {
        let j = &node.job;
        ids.insert(id, dot.job(j.uuid, &j.package_name, &j.package_version));
    }
    if let (Some(artifact), Some(root)) = (&lineage.artifact, ids.get(&lineage.root)) {
        let a = dot.artifact(artifact);
        dot.edge(root, &a, "built", "");
    }
    for (id, node) in &lineage.jobs {
        let Some(job) = ids.get(id) else { continue };
        for input in &node.inputs {
            let a = dot.artifact(input);
            if let Some(maker) = ids.get(&input.job_id) {
                dot.edge(maker, &a, "built", "");
            }
            dot.edge(&a, job, "input of", "");
        }
        if let Some(from) = &node.reused_from {
            let source = dot.node_for_source(from);
            dot.edge(&source, job, "reused", ", style=dashed");
        }
    }
    dot.finish()
}

/// What was built from it, as a graph: `inputs` are the (job id, artifact
/// id) input edges among its jobs and artifacts.
pub fn descendants_dot(d: &Descendants, inputs: &[(JobId, ArtifactId)]) -> String {
    let mut dot = Dot::default();
    let mut jobs: HashMap<JobId, String> = HashMap::new();
    let mut artifacts: HashMap<ArtifactId, String> = HashMap::new();
    let by_uuid: HashMap<Uuid, String> = d
        .jobs
        .iter()
        .map(|j| {
            let f = &j.job;
            (f.uuid, dot.job(f.uuid, &f.package_name, &f.package_version))
        })
        .collect();
    for job in &d.jobs {
        let Some(id) = by_uuid.get(&job.job.uuid).cloned() else {
            continue;
        };
        for a in &job.artifacts {
            let node = dot.artifact(&a.artifact);
            dot.edge(&id, &node, "built", "");
            for place in &a.releases {
                let release = dot.release(&place.store, &place.path);
                dot.edge(&node, &release, "released", "");
            }
            artifacts.insert(a.artifact.id, node);
        }
        if let Some(source) = job.reused_from.as_ref().and_then(|f| by_uuid.get(&f.uuid)) {
            dot.edge(source, &id, "reused", ", style=dashed");
        }
        jobs.insert(job.job.id, id);
    }
    for (job, artifact) in inputs {
        if let (Some(j), Some(a)) = (jobs.get(job), artifacts.get(artifact)) {
            dot.edge(a, j, "input of", "");
        }
    }
    dot.finish()
}

/// The releases found, as a graph: each chain of jobs, and the release at its end.
pub fn releases_dot(releases: &[FoundRelease]) -> String {
    let mut dot = Dot::default();
    for r in releases {
        let ids: Vec<String> = r
            .via
            .iter()
            .map(|s| dot.job(s.job_uuid, &s.package_name, &s.package_version))
            .collect();
        for pair in ids.windows(2) {
            dot.edge(&pair[0], &pair[1], "built into", "");
        }
        let maker = dot.job(r.job_uuid, &r.package_name, &r.package_version);
        let release = dot.release(&r.store, &r.path);
        dot.edge(&maker, &release, "released", "");
    }
    dot.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::db::listings::lineage::{DescendantArtifact, Placement};
    use crate::db::models::JobStatus;

    fn uuid(n: u8) -> Uuid {
        Uuid::from_bytes([n; 16])
    }

    fn facts(id: i32, package: &str, status: JobStatus) -> JobFacts {
        JobFacts {
            id: JobId(id),
            uuid: uuid(id as u8),
            package_name: package.into(),
            package_version: "1".into(),
            status,
            submit_uuid: uuid(0xaa),
            commit: "0a".repeat(20),
            repo_dirty: false,
            image: "kiln-busybox:latest".into(),
            image_digest: Some(format!("sha256:{}", "d".repeat(64))),
            finished_at: DateTime::<Utc>::from_timestamp(1_800_000_000, 0),
            reused_job_id: None,
        }
    }

    fn artifact(id: i32, job: i32, path: &str) -> ArtifactFacts {
        ArtifactFacts {
            id: ArtifactId(id),
            job_id: JobId(job),
            path: path.into(),
            size: 2048,
            sha256: format!("{id:02}").repeat(32),
        }
    }

    /// c (job 3) took a (job 1) and b (job 2); b took a.
    fn abc() -> Lineage {
        let node = |id, package, inputs: Vec<ArtifactFacts>| JobLineage {
            job: facts(id, package, JobStatus::Succeeded),
            reused_from: None,
            sources: BTreeMap::from([("src".to_owned(), "5".repeat(64))]),
            patches: BTreeMap::new(),
            env: vec![EnvVar {
                name: "X".into(),
                value: "1".into(),
            }],
            inputs,
        };
        let a = artifact(11, 1, "a.txt");
        let b = artifact(12, 2, "b.txt");
        Lineage {
            artifact: Some(artifact(13, 3, "c.txt")),
            root: JobId(3),
            jobs: BTreeMap::from([
                (JobId(1), node(1, "a", vec![])),
                (JobId(2), node(2, "b", vec![a.clone()])),
                (JobId(3), node(3, "c", vec![a, b])),
            ]),
        }
    }

    #[test]
    fn trees_show_each_job_once() {
        let text = tree_text(&abc(), &DisplayNames::default());
        let expected = "\
artifact c.txt  sha256 131313131313  2.0 KiB
job 03030303  c@1  succeeded  2027-01-15 08:00
    submit  aaaaaaaa  commit 0a0a0a0a0a0a (clean)
    image   kiln-busybox:latest  sha256:dddddddddddd
    source  src  sha256 555555555555
    env     X=1
├── a.txt  sha256 111111111111  2.0 KiB
│   job 01010101  a@1  succeeded  2027-01-15 08:00
│       submit  aaaaaaaa  commit 0a0a0a0a0a0a (clean)
│       image   kiln-busybox:latest  sha256:dddddddddddd
│       source  src  sha256 555555555555
│       env     X=1
└── b.txt  sha256 121212121212  2.0 KiB
    job 02020202  b@1  succeeded  2027-01-15 08:00
        submit  aaaaaaaa  commit 0a0a0a0a0a0a (clean)
        image   kiln-busybox:latest  sha256:dddddddddddd
        source  src  sha256 555555555555
        env     X=1
    └── a.txt  sha256 111111111111  2.0 KiB
        job 01010101  a@1  succeeded  2027-01-15 08:00
";
        assert_eq!(text, expected);
    }

    #[test]
    fn repeated_jobs_with_inputs_are_marked() {
        // d (4) took b and c, both of which took a: b's inputs are not repeated.
        let mut lineage = abc();
        let d = JobLineage {
            job: facts(4, "d", JobStatus::Succeeded),
            reused_from: None,
            sources: BTreeMap::new(),
            patches: BTreeMap::new(),
            env: vec![],
            inputs: vec![artifact(12, 2, "b.txt"), artifact(13, 3, "c.txt")],
        };
        lineage.jobs.insert(JobId(4), d);
        lineage.root = JobId(4);
        lineage.artifact = None;
        let text = tree_text(&lineage, &DisplayNames::default());
        assert_eq!(text.matches("job 02020202  b@1").count(), 2, "{text}");
        assert!(
            text.contains("job 02020202  b@1  succeeded  2027-01-15 08:00 (*)"),
            "{text}"
        );
        // a has no inputs: shown again without a mark.
        assert!(
            !text.contains("a@1  succeeded  2027-01-15 08:00 (*)"),
            "{text}"
        );
    }

    #[test]
    fn json_nests_and_refers_to_repeats() {
        let lineage = abc();
        let doc = serde_json::to_value(tree_json(&lineage)).expect("serializes");
        assert_eq!(doc["artifact"]["path"], "c.txt");
        assert_eq!(doc["job"]["package_name"], "c");
        assert_eq!(doc["job"]["commit"], "0a".repeat(20));
        assert_eq!(doc["job"]["sources"]["src"], "5".repeat(64));
        assert_eq!(doc["job"]["env"][0]["name"], "X");
        let inputs = doc["job"]["inputs"].as_array().expect("inputs");
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[0]["path"], "a.txt");
        assert_eq!(inputs[0]["job"]["package_name"], "a");
        assert_eq!(inputs[0]["job"]["inputs"], serde_json::json!([]));
        // b's input a was shown above.
        let again = &inputs[1]["job"]["inputs"][0]["job"];
        assert_eq!(again["shown_above"], true);
        assert_eq!(again["uuid"], uuid(1).to_string());
        assert!(again.get("inputs").is_none());
    }

    #[test]
    fn dot_has_jobs_artifacts_and_edges() {
        let dot = tree_dot(&abc());
        assert!(dot.starts_with("digraph lineage {\n"), "{dot}");
        assert!(dot.ends_with("}\n"), "{dot}");
        assert_eq!(dot.matches("shape=ellipse").count(), 3, "{dot}");
        assert_eq!(dot.matches("label=\"input of\"").count(), 3, "{dot}");
        // a.txt went into b and c, and was built once.
        assert_eq!(dot.matches("-> \"artifact 11\"").count(), 1, "{dot}");
        assert!(
            dot.contains(&format!(
                "\"job {}\" -> \"artifact 13\" [label=\"built\"];",
                uuid(3)
            )),
            "{dot}"
        );
    }

    #[test]
    fn labels_escape_quotes_and_control_characters() {
        assert_eq!(label_of(&["a\"b", "c\u{1b}"]), "\"a\\\"b\\nc\\\\u{1b}\"");
    }

    fn release(job: &JobFacts, chain: &[&JobFacts]) -> FoundRelease {
        FoundRelease {
            artifact_id: ArtifactId(13),
            job_id: job.id,
            store: "stable".into(),
            path: "c.txt".into(),
            package_name: job.package_name.clone(),
            package_version: job.package_version.clone(),
            sha256: "13".repeat(32),
            released_at: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("valid"),
            released_by: "ann".into(),
            job_uuid: job.uuid,
            via: chain
                .iter()
                .map(|j| ChainStep {
                    job_uuid: j.uuid,
                    package_name: j.package_name.clone(),
                    package_version: j.package_version.clone(),
                    status: j.status,
                })
                .collect(),
        }
    }

    #[test]
    fn releases_show_their_chain() {
        let a = facts(1, "a", JobStatus::Reused);
        let c = facts(3, "c", JobStatus::Succeeded);
        let text = releases_text(&[release(&c, &[&a, &c])]);
        assert!(text.contains("a@1 (reused) > c@1"), "{text}");
        assert!(text.contains("stable"), "{text}");
        let dot = releases_dot(&[release(&c, &[&a, &c])]);
        assert!(dot.contains("label=\"built into\""), "{dot}");
        assert!(dot.contains("shape=note"), "{dot}");
    }

    #[test]
    fn descendants_list_each_artifact_with_its_releases() {
        let a = facts(1, "a", JobStatus::Succeeded);
        let c = facts(3, "c", JobStatus::Succeeded);
        let d = Descendants {
            jobs: vec![
                DescendantJob {
                    job: a.clone(),
                    reused_from: None,
                    start: true,
                    artifacts: vec![DescendantArtifact {
                        artifact: artifact(11, 1, "a.txt"),
                        releases: vec![],
                    }],
                },
                DescendantJob {
                    job: c.clone(),
                    reused_from: None,
                    start: false,
                    artifacts: vec![DescendantArtifact {
                        artifact: artifact(13, 3, "c.txt"),
                        releases: vec![Placement {
                            store: "stable".into(),
                            path: "c.txt".into(),
                        }],
                    }],
                },
            ],
            releases: vec![release(&c, &[&a, &c])],
        };
        let text = descendants_text(&d);
        let lines: Vec<&str> = text.lines().map(str::trim_start).collect();
        assert!(
            lines[2].starts_with("start") && lines[2].contains("a.txt"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("input") && lines[3].contains("stable:c.txt"),
            "{text}"
        );
        assert!(text.contains("current releases:"), "{text}");
        let dot = descendants_dot(&d, &[(JobId(3), ArtifactId(11))]);
        assert!(
            dot.contains(&format!(
                "\"artifact 11\" -> \"job {}\" [label=\"input of\"];",
                uuid(3)
            )),
            "{dot}"
        );
        assert!(dot.contains("label=\"released\""), "{dot}");
    }
}
