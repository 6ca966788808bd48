//! `kiln submit`: the real binary building real package trees on the local
//! Docker engine with the test image, recording into a fresh PostgreSQL
//! database per test. Each test checks the records against what it knows
//! independently: the files in the staging directory, the tree `tree-of`
//! prints, the repository's commit, the containers left on the engine.
//!
//! Also: scripts failing by exit status and by `STATE:ERR` (their dependents
//! `dep_failed`, the rest still built), outputs refused for pointing outside,
//! bytes that are not UTF-8 in a log, Ctrl-C, `--fail-fast`, and bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln::db::models::jobs::Job;
use kiln::db::models::submits::SubmitStatus;
use kiln::db::models::JobStatus;
use sha2::Digest;

use crate::support::db::TestDb;
use crate::support::docker::{local_endpoint, test_image, SubmitContainers};
use crate::support::records::{self, JobRecord};
use crate::support::snapshot::{assert_snapshot, session};
use crate::support::{run, Sandbox};

/// A sandbox, a migrated database reached only through `kiln`, and the test image.
pub(crate) struct Fixture {
    pub(crate) sandbox: Sandbox,
    pub(crate) db: TestDb,
    pub(crate) image: String,
}

impl Fixture {
    /// `None` (after a note) when PostgreSQL or Docker is missing outside CI.
    pub(crate) fn new() -> Option<Fixture> {
        let image = test_image()?;
        let db = TestDb::new()?;
        let sandbox = Sandbox::new();
        let (out, _, stderr) = run(db.kiln(&sandbox).args(["db", "setup"]));
        assert!(out.status.success(), "kiln db setup failed: {stderr}");
        Some(Fixture { sandbox, db, image })
    }

    pub(crate) fn staging(&self) -> PathBuf {
        self.sandbox.path().join("staging")
    }

    /// `kiln --database-url URL --repo REPO submit ARGS... --hide-bars --staging-dir DIR`.
    pub(crate) fn submit_command(&self, repo: &Path, args: &[&str]) -> Command {
        let mut cmd = self.db.kiln(&self.sandbox);
        cmd.arg("--repo")
            .arg(repo)
            .arg("submit")
            .args(args)
            .arg("--hide-bars")
            .arg("--staging-dir")
            .arg(self.staging());
        cmd
    }

    /// Runs a submit to its end; returns exit code, stdout, stderr. Removes
    /// the submit's containers afterwards, whatever happened.
    pub(crate) fn submit(&self, repo: &Path, args: &[&str]) -> (i32, String, String) {
        let (out, stdout, stderr) = run(&mut self.submit_command(repo, args));
        self.remove_containers();
        let code = out
            .status
            .code()
            .expect("kiln exited (not killed by a signal)");
        assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
        (code, stdout, stderr)
    }

    /// Removes the containers of every recorded submit (normally there are
    /// none left: tests that expect so check it before).
    fn remove_containers(&self) {
        let mut conn = self.db.connect();
        for submit in records::submits(&mut conn) {
            drop(SubmitContainers {
                submit: submit.uuid,
            });
        }
    }
}

/// The containers on the engine that carry kiln's label and the submit's.
pub(crate) fn kiln_containers_of(submit: uuid::Uuid) -> Vec<String> {
    docker_ps(submit, &["-a"])
}

/// Those of them that run.
fn running_containers_of(submit: uuid::Uuid) -> Vec<String> {
    docker_ps(submit, &[])
}

fn docker_ps(submit: uuid::Uuid, extra: &[&str]) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-q", "--no-trunc"])
        .args(extra)
        .args(["--filter", "label=org.kiln.managed=true"])
        .arg("--filter")
        .arg(format!("label=org.kiln.submit={submit}"))
        .output()
        .expect("running docker ps");
    assert!(out.status.success(), "docker ps failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// A package repository of `files` in a git work tree with one commit.
pub(crate) fn git_repo(sandbox: &Sandbox, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = sandbox.path().join(name);
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent directory")).expect("mkdir");
        std::fs::write(path, content).expect("writing a repository file");
    }
    let git = |args: &[&str]| git(&root, args);
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "packages"]);
    root
}

/// Runs `git ARGS` in `dir` as a test user (it must succeed); its stdout, trimmed.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=kiln test",
            "-c",
            "user.email=test@kiln.invalid",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `git rev-parse HEAD` in `dir`.
pub(crate) fn head_commit(dir: &Path) -> String {
    git(dir, &["rev-parse", "HEAD"])
}

/// A `config.toml` for small test repositories: the test image as `busybox`,
/// scripts run by `/bin/sh`, one phase, and `extra` appended.
pub(crate) fn config_toml(image: &str, extra: &str) -> String {
    format!(
        r##"compatibility = 1
shebang = "#!/bin/sh"
available_phases = ["build"]
build_error_lines = 4

[docker]
images = [
    {{ name = "{image}", short_name = "busybox" }},
    {{ name = "kiln-no-such-image:never", short_name = "missing" }},
]
{extra}"##
    )
}

/// A `[docker.endpoints.NAME]` table for the local engine.
pub(crate) fn endpoint_toml(name: &str, maxjobs: usize) -> String {
    format!(
        "\n[docker.endpoints.{name}]\nuri = \"{}\"\nmaxjobs = {maxjobs}\n",
        local_endpoint().uri
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every regular file under `dir`, relative, `/`-separated.
pub(crate) fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return out;
    }
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walking a directory");
        if entry.file_type().is_file() || entry.file_type().is_symlink() {
            let rel = entry.path().strip_prefix(dir).expect("under dir");
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    out
}

fn status(job: &JobRecord) -> JobStatus {
    job.job.status
}

// ---------------------------------------------------------------------------
// The example tree
// ---------------------------------------------------------------------------

/// The tree `kiln tree-of --output json` prints: per node, its package and
/// direct dependencies (node, kind).
struct PrintedTree {
    packages: Vec<(String, String)>,
    dependencies: Vec<Vec<(usize, String)>>,
}

impl PrintedTree {
    fn node_of(&self, name: &str, version: &str) -> usize {
        self.packages
            .iter()
            .position(|(n, v)| n == name && v == version)
            .unwrap_or_else(|| panic!("{name} {version} is not in the printed tree"))
    }

    /// Every node below `node`, transitively.
    fn closure(&self, node: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = self.dependencies[node].iter().map(|(d, _)| *d).collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(self.dependencies[n].iter().map(|(d, _)| *d));
            }
        }
        seen
    }
}

fn printed_tree(fx: &Fixture, repo: &Path, args: &[&str]) -> PrintedTree {
    let mut cmd = fx.sandbox.kiln();
    cmd.arg("--repo")
        .arg(repo)
        .arg("tree-of")
        .args(args)
        .args(["--output", "json"]);
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "tree-of failed: {stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("tree-of prints JSON");
    let nodes = json["tree"]["packages"].as_array().expect("tree.packages");
    let mut packages = Vec::new();
    let mut dependencies = Vec::new();
    for node in nodes {
        packages.push((
            node["name"].as_str().expect("name").to_owned(),
            node["version"].as_str().expect("version").to_owned(),
        ));
        dependencies.push(
            node["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| {
                    (
                        d["node"].as_u64().expect("node") as usize,
                        d["kind"].as_str().expect("kind").to_owned(),
                    )
                })
                .collect(),
        );
    }
    PrintedTree {
        packages,
        dependencies,
    }
}

#[test]
fn builds_the_example_tree_and_records_everything() {
    let Some(fx) = Fixture::new() else { return };
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let cli_env = [("CURL_IDN", "no"), ("WITH_DOCS", "1")];
    let env_args: Vec<String> = cli_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["world", "-I", "busybox", "--write-log"];
    for e in &env_args {
        args.extend(["-E", e.as_str()]);
    }
    let tree = printed_tree(
        &fx,
        &examples,
        &[
            "world",
            "-I",
            "busybox",
            "-E",
            &env_args[0],
            "-E",
            &env_args[1],
        ],
    );
    // WITH_DOCS adds manpages, the busybox image static-init; CURL_IDN=no leaves libidn2 out.
    assert!(tree.packages.contains(&("manpages".into(), "6.05".into())));
    assert!(!tree.packages.iter().any(|(n, _)| n == "libidn2"));

    let (code, stdout, stderr) = fx.submit(&examples, &args);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let n = tree.packages.len();
    assert!(stdout.contains(&format!("{n} jobs: {n} built")), "{stdout}");
    assert_snapshot!("example_tree_summary", stdout);

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    assert_eq!(submit.status, SubmitStatus::Succeeded);
    let ended = submit.ended_at.expect("the submit's end is recorded");
    assert!(submit.started_at <= ended);
    assert!(
        stdout.starts_with(&format!("submit {}\n", submit.uuid)),
        "{stdout}"
    );
    assert_eq!(
        records::submit_commit(&mut conn, &submit),
        head_commit(&examples)
    );
    assert_eq!(
        records::env_of_submit(&mut conn, &submit),
        cli_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    );
    assert!(
        kiln_containers_of(submit.uuid).is_empty(),
        "containers left"
    );

    let jobs = records::jobs_of(&mut conn, &submit);
    assert_eq!(jobs.len(), n, "one job per package of the tree");
    let packages: BTreeSet<(String, String)> = jobs.iter().map(JobRecord::package).collect();
    assert_eq!(packages, tree.packages.iter().cloned().collect());

    // Every job succeeded, in order of time, in a container of the image.
    let image_id = {
        let out = Command::new("docker")
            .args(["image", "inspect", "-f", "{{.Id}}", &fx.image])
            .output()
            .expect("docker image inspect");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    for j in &jobs {
        let job = &j.job;
        assert_eq!(job.status, JobStatus::Succeeded, "{} {}", j.name, j.version);
        let started = job.started_at.expect("started_at");
        let finished = job.finished_at.expect("finished_at");
        assert!(submit.started_at <= job.queued_at, "{}", j.name);
        assert!(
            job.queued_at <= started && started <= finished,
            "{}: {job:?}",
            j.name
        );
        assert!(finished <= ended, "{}", j.name);
        assert_eq!(job.exit_status, Some(0));
        assert_eq!(job.error_message, None);
        assert!(
            job.container_id.as_deref().is_some_and(|c| c.len() == 64),
            "{job:?}"
        );
        assert!(job.endpoint_id.is_some());
        assert_eq!(job.image_digest.as_deref(), Some(image_id.as_str()));
    }

    // Artifacts: exactly the staged files, with their sizes and checksums.
    let staged_dir = fx.staging().join(submit.uuid.to_string());
    let staged = files_under(&staged_dir);
    let mut recorded_paths = BTreeSet::new();
    let mut artifacts_of_job: BTreeMap<i32, BTreeSet<i32>> = BTreeMap::new();
    for j in &jobs {
        let artifacts = records::artifacts_of(&mut conn, &j.job);
        let paths: Vec<&str> = artifacts.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(
            paths,
            [format!("{}-{}.tar.gz", j.name, j.version)],
            "artifacts of {}",
            j.name
        );
        for a in &artifacts {
            let bytes = std::fs::read(staged_dir.join(&a.path)).expect("reading a staged artifact");
            assert_eq!(a.size, bytes.len() as i64, "size of {}", a.path);
            assert_eq!(a.sha256, sha256_hex(&bytes), "sha256 of {}", a.path);
            assert!(
                recorded_paths.insert(a.path.clone()),
                "{} recorded twice",
                a.path
            );
        }
        artifacts_of_job.insert(j.job.id.0, artifacts.iter().map(|a| a.id.0).collect());
    }
    assert_eq!(staged, recorded_paths, "staged files vs recorded artifacts");

    // Inputs: the artifacts of every package below, transitively; direct
    // dependencies as the tree shows them.
    let job_of_node: Vec<&JobRecord> = tree
        .packages
        .iter()
        .map(|(name, version)| {
            jobs.iter()
                .find(|j| &j.name == name && &j.version == version)
                .expect("a job per node")
        })
        .collect();
    for j in &jobs {
        let node = tree.node_of(&j.name, &j.version);
        let expected: BTreeSet<i32> = tree
            .closure(node)
            .into_iter()
            .flat_map(|d| artifacts_of_job[&job_of_node[d].job.id.0].iter().copied())
            .collect();
        assert_eq!(
            records::input_artifacts_of(&mut conn, &j.job),
            expected,
            "input artifacts of {} {}",
            j.name,
            j.version
        );
        let direct: BTreeSet<(i32, String)> = tree.dependencies[node]
            .iter()
            .map(|(d, kind)| (job_of_node[*d].job.id.0, kind.clone()))
            .collect();
        assert_eq!(
            records::dependencies_of(&mut conn, &j.job),
            direct,
            "dependencies of {}",
            j.name
        );
    }
    let world = records::job_named(&jobs, "world");
    assert_eq!(
        records::input_artifacts_of(&mut conn, &world.job).len(),
        n - 1,
        "world gets every other artifact"
    );

    // Environments: the package's (as the repository defines it) and -E.
    let repo = kiln::repo::load(&examples).expect("loading the examples");
    for j in &jobs {
        let id = repo
            .packages()
            .find(&j.name, &j.version)
            .expect("the package is in the repository");
        let mut expected = repo.packages().get(id).environment.clone();
        expected.extend(cli_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(
            records::env_of_job(&mut conn, &j.job),
            expected,
            "environment of {}",
            j.name
        );
    }
    let sqlite = records::env_of_job(&mut conn, &records::job_named(&jobs, "sqlite").job);
    assert_eq!(sqlite["CFLAGS"], "-O2 -DSQLITE_OMIT_LOAD_EXTENSION");
    assert_eq!(sqlite["SQLITE_TEMP_STORE"], "2");
    let libc = records::env_of_job(&mut conn, &records::job_named(&jobs, "libc").job);
    assert_eq!(libc["CFLAGS"], "-O2");
    assert!(!libc.contains_key("PREFIX"));
    let make = records::env_of_job(&mut conn, &records::job_named(&jobs, "make-lite").job);
    assert_eq!(make["PREFIX"], "/usr");

    // Logs: chunks for every job, the size recorded, the same lines as the
    // file --write-log wrote.
    let log_dir = fx
        .sandbox
        .path()
        .join("data/kiln/logs")
        .join(submit.uuid.to_string());
    let log_files = files_under(&log_dir);
    assert_eq!(log_files.len(), n, "one log file per job: {log_files:?}");
    for j in &jobs {
        let lines = records::log_of(&mut conn, &j.job);
        assert!(!lines.is_empty(), "no log stored for {}", j.name);
        let raw: i64 = records::chunks_of(&mut conn, &j.job)
            .iter()
            .map(|c| i64::from(c.raw_bytes))
            .sum();
        assert_eq!(j.job.log_bytes, raw, "log size of {}", j.name);
        assert!(!j.job.log_truncated);
        let texts: Vec<String> = lines.iter().map(|l| l.text().into_owned()).collect();
        assert!(
            texts.iter().any(|l| l == "#KILN:STATE:OK"),
            "{}: {texts:?}",
            j.name
        );
        let file = log_files
            .iter()
            .find(|f| f.ends_with(&format!("-{}.log", j.job.uuid)))
            .unwrap_or_else(|| panic!("no log file for job {}", j.job.uuid));
        let written = std::fs::read(log_dir.join(file)).expect("reading a log file");
        let mut stored = Vec::new();
        for line in &lines {
            stored.extend_from_slice(&line.bytes);
            stored.push(b'\n');
        }
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&stored),
            "log file of {}",
            j.name
        );
    }
}

// ---------------------------------------------------------------------------
// Failing jobs
// ---------------------------------------------------------------------------

const PLAIN_BUILD: &str = r#"[phases.build]
script = '''
{{phase "build"}}
echo "building {{this.name}}"
mkdir -p /outputs
echo "{{this.name}} {{this.version}}" > "/outputs/{{this.name}}.txt"
'''
"#;

#[test]
fn failing_jobs_are_recorded_and_their_dependents_not_run() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, "");
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("pkg.toml", PLAIN_BUILD),
            (
                "by-status/pkg.toml",
                "name = \"by-status\"\nversion = \"1\"\n[phases.build]\nscript = '''\n{{phase \"compile\"}}\necho \"compiling\"\necho \"cc: internal error\" >&2\nexit 3\n'''\n",
            ),
            (
                "by-marker/pkg.toml",
                "name = \"by-marker\"\nversion = \"1\"\n[phases.build]\nscript = '''\n{{phase \"check\"}}\necho \"checking\"\n{{state \"ERR\" \"broken on purpose\"}}\nexit 0\n'''\n",
            ),
            ("above-status/pkg.toml", "name = \"above-status\"\nversion = \"1\"\n[dependencies]\nruntime = [\"by-status =1\"]\n"),
            ("above-marker/pkg.toml", "name = \"above-marker\"\nversion = \"1\"\n[dependencies]\nbuild = [\"by-marker =1\"]\n"),
            ("fine/pkg.toml", "name = \"fine\"\nversion = \"1\"\n"),
            ("fine-top/pkg.toml", "name = \"fine-top\"\nversion = \"1\"\n[dependencies]\nruntime = [\"fine =1\"]\n"),
            (
                "root/pkg.toml",
                "name = \"root\"\nversion = \"1\"\n[dependencies]\nruntime = [\"above-status =1\", \"above-marker =1\", \"fine-top =1\"]\n",
            ),
        ],
    );
    let (code, stdout, stderr) = fx.submit(&repo, &["root", "-I", "busybox"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    assert_eq!(submit.status, SubmitStatus::Failed);
    assert!(submit.ended_at.is_some());
    let jobs = records::jobs_of(&mut conn, &submit);
    let by = |name| records::job_named(&jobs, name);

    let s = &by("by-status").job;
    assert_eq!(s.status, JobStatus::Failed);
    assert_eq!(s.exit_status, Some(3));
    assert_eq!(s.failed_phase.as_deref(), Some("compile"));
    let message = s.error_message.as_deref().expect("a message");
    assert!(message.contains("exit status 3"), "{message}");
    assert!(s.started_at.is_some() && s.finished_at.is_some());

    let m = &by("by-marker").job;
    assert_eq!(m.status, JobStatus::Failed);
    assert_eq!(m.exit_status, Some(0));
    assert_eq!(m.failed_phase.as_deref(), Some("check"));
    assert_eq!(m.error_message.as_deref(), Some("broken on purpose"));

    for name in ["above-status", "above-marker", "root"] {
        let job = &by(name).job;
        assert_eq!(job.status, JobStatus::DepFailed, "{name}");
        assert_eq!(job.started_at, None, "{name} never started");
        assert_eq!(job.container_id, None, "{name} had no container");
        assert!(job.finished_at.is_some(), "{name}");
    }
    for name in ["fine", "fine-top"] {
        let job = &by(name).job;
        assert_eq!(job.status, JobStatus::Succeeded, "{name}");
        assert_eq!(records::artifacts_of(&mut conn, job).len(), 1, "{name}");
    }
    let staged = files_under(&fx.staging().join(submit.uuid.to_string()));
    assert_eq!(
        staged,
        BTreeSet::from(["fine.txt".to_owned(), "fine-top.txt".to_owned()])
    );

    // The summary: each failed job with phase, message and last lines.
    assert!(stdout.contains(&s.uuid.to_string()), "{stdout}");
    assert!(stdout.contains(&m.uuid.to_string()), "{stdout}");
    assert_snapshot!("failed_jobs_summary", last_lines_sorted(&stdout));
    assert!(
        kiln_containers_of(submit.uuid).is_empty(),
        "containers left"
    );
}

/// The summary with the last log lines of each failed job (indented by
/// four spaces) sorted: the engine does not keep the order of a script's
/// stdout and stderr lines between each other.
fn last_lines_sorted(summary: &str) -> String {
    let mut out = String::new();
    let mut block: Vec<&str> = Vec::new();
    for line in summary.lines() {
        if line.starts_with("    ") {
            block.push(line);
            continue;
        }
        block.sort_unstable();
        for kept in block.drain(..) {
            out.push_str(kept);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    block.sort_unstable();
    for kept in block {
        out.push_str(kept);
        out.push('\n');
    }
    out
}

#[test]
fn outputs_linking_outside_are_refused() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, "");
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            (
                "evil/pkg.toml",
                "name = \"evil\"\nversion = \"1\"\n[phases.build]\nscript = '''\nmkdir -p /outputs/sub\necho harmless > /outputs/fine.txt\nln -s /etc/passwd /outputs/evil\nln -s ../../outside /outputs/sub/up\n'''\n",
            ),
        ],
    );
    let passwd_before = std::fs::read("/etc/passwd").ok();
    let (code, stdout, stderr) = fx.submit(&repo, &["evil", "-I", "busybox"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    let jobs = records::jobs_of(&mut conn, &submit);
    let job = &records::job_named(&jobs, "evil").job;
    assert_eq!(job.status, JobStatus::Failed);
    let message = job.error_message.as_deref().expect("a message");
    for entry in ["evil", "sub/up"] {
        assert!(
            message.contains(entry),
            "the message names `{entry}`: {message}"
        );
    }
    assert!(message.contains("/etc/passwd"), "{message}");
    assert!(
        stdout.contains(message),
        "the summary shows the message: {stdout}"
    );
    assert!(records::artifacts_of(&mut conn, job).is_empty());

    // Nothing links out of the staging directory, nothing landed beside it.
    let staging = fx.staging();
    for entry in walkdir::WalkDir::new(&staging) {
        let entry = entry.expect("walking the staging directory");
        assert!(
            !entry.path_is_symlink(),
            "a link was written: {}",
            entry.path().display()
        );
    }
    let top: BTreeSet<String> = std::fs::read_dir(&staging)
        .expect("the staging directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(top, BTreeSet::from([submit.uuid.to_string()]));
    assert_eq!(
        files_under(&staging.join(submit.uuid.to_string())),
        BTreeSet::new(),
        "the files extracted before the refused entries were removed"
    );
    assert!(!fx.sandbox.path().join("outside").exists());
    assert_eq!(std::fs::read("/etc/passwd").ok(), passwd_before);
}

#[test]
fn bytes_that_are_not_utf8_are_kept_in_the_log() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, "");
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            (
                "bytes/pkg.toml",
                "name = \"bytes\"\nversion = \"1\"\n[phases.build]\nscript = '''\nprintf 'before\\n'\nprintf '\\377\\376 bytes\\n'\nprintf 'after\\n'\nmkdir -p /outputs\necho ok > /outputs/ok.txt\n'''\n",
            ),
        ],
    );
    let (code, stdout, stderr) = fx.submit(&repo, &["bytes", "-I", "busybox"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    let jobs = records::jobs_of(&mut conn, &submit);
    let job = &records::job_named(&jobs, "bytes").job;
    assert_eq!(job.status, JobStatus::Succeeded);
    let lines: Vec<Vec<u8>> = records::log_of(&mut conn, job)
        .into_iter()
        .map(|l| l.bytes)
        .collect();
    let expected: Vec<Vec<u8>> = vec![
        b"before".to_vec(),
        b"\xff\xfe bytes".to_vec(),
        b"after".to_vec(),
    ];
    assert_eq!(lines, expected);
}

/// Each package checks that the artifacts of everything below it are in
/// /inputs (named in `meta.needs`) and writes its own.
const CHECKING_BUILD: &str = r#"[meta]
needs = ""
[phases.build]
script = '''
for dep in {{this.meta.needs}}; do
    [ -f "/inputs/$dep.txt" ] || { echo "missing /inputs/$dep.txt"; exit 1; }
done
mkdir -p /outputs
echo "{{this.name}}" > "/outputs/{{this.name}}.txt"
'''
"#;

/// A package of the test repositories: name, `meta.needs`, runtime dependencies.
fn package_toml(name: &str, needs: &str, dependencies: &[&str]) -> String {
    let deps: Vec<String> = dependencies.iter().map(|d| format!("\"{d} =1\"")).collect();
    format!(
        "name = \"{name}\"\nversion = \"1\"\n[meta]\nneeds = \"{needs}\"\n[dependencies]\nruntime = [{}]\n",
        deps.join(", ")
    )
}

#[test]
fn jobs_spread_over_two_endpoints_get_their_inputs() {
    let Some(fx) = Fixture::new() else { return };
    let endpoints = format!(
        "{}{}",
        endpoint_toml("first", 1),
        endpoint_toml("second", 1)
    );
    let config = config_toml(&fx.image, &endpoints);
    let packages = [
        ("a", package_toml("a", "", &[])),
        ("b", package_toml("b", "", &[])),
        ("c", package_toml("c", "", &[])),
        ("d", package_toml("d", "", &[])),
        ("ab", package_toml("ab", "a b", &["a", "b"])),
        ("cd", package_toml("cd", "c d", &["c", "d"])),
        ("top", package_toml("top", "a b c d ab cd", &["ab", "cd"])),
    ];
    let paths: Vec<String> = packages
        .iter()
        .map(|(n, _)| format!("{n}/pkg.toml"))
        .collect();
    let mut files: Vec<(&str, &str)> = vec![("config.toml", &config), ("pkg.toml", CHECKING_BUILD)];
    files.extend(
        paths
            .iter()
            .zip(&packages)
            .map(|(p, (_, t))| (p.as_str(), t.as_str())),
    );
    let repo = git_repo(&fx.sandbox, "repo", &files);
    let (code, stdout, stderr) = fx.submit(&repo, &["top", "-I", "busybox"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    let jobs = records::jobs_of(&mut conn, &submit);
    assert_eq!(jobs.len(), 7);
    assert!(jobs.iter().all(|j| status(j) == JobStatus::Succeeded));
    let used: BTreeSet<i32> = jobs
        .iter()
        .map(|j| j.job.endpoint_id.expect("an endpoint").0)
        .collect();
    assert_eq!(used.len(), 2, "both endpoints built: {jobs:#?}");
    for name in ["first", "second"] {
        assert!(
            stdout.contains(&format!(" {name} ")),
            "{name} in the summary: {stdout}"
        );
    }
    let top = &records::job_named(&jobs, "top").job;
    assert_eq!(records::input_artifacts_of(&mut conn, top).len(), 6);
    assert!(
        kiln_containers_of(submit.uuid).is_empty(),
        "containers left"
    );
}

// ---------------------------------------------------------------------------
// Large and unusual outputs
// ---------------------------------------------------------------------------

/// Files `many` writes: 100 directories of 1,000 files, each holding its number.
const MANY_FILES: usize = 100_000;

/// A script writing `/outputs/d<D>/f<I>` for MANY_FILES files (one awk
/// process: a shell loop is far slower on some storage drivers).
const MANY_SCRIPT: &str = r#"awk 'BEGIN { for (d = 0; d < 100; d++) { system("mkdir -p /outputs/d" d); for (i = 0; i < 1000; i++) { f = "/outputs/d" d "/f" i; print d * 1000 + i > f; close(f) } } }'"#;

#[test]
fn a_job_with_100000_outputs_and_a_dependent_taking_them_all() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, "");
    let many = format!(
        "name = \"many\"\nversion = \"1\"\n[phases.build]\nscript = '''\n{MANY_SCRIPT}\n'''\n"
    );
    // More inputs than one statement can link (2 columns: 32,767 rows).
    let user = format!(
        "name = \"user\"\nversion = \"1\"\n[dependencies]\nruntime = [\"many =1\"]\n[phases.build]\nscript = '''\nn=$(find /inputs -type f | wc -l)\n[ \"$n\" -eq {MANY_FILES} ] || {{ echo \"$n inputs\"; exit 1; }}\n[ \"$(cat /inputs/d42/f7)\" = 42007 ] || exit 1\necho ok > /outputs/user.txt\n'''\n"
    );
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("many/pkg.toml", &many),
            ("user/pkg.toml", &user),
        ],
    );
    let started = Instant::now();
    let (code, stdout, stderr) = fx.submit(&repo, &["user", "-I", "busybox"]);
    eprintln!(
        "100,000 outputs and as many inputs: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    assert_eq!(submit.status, SubmitStatus::Succeeded);
    let jobs = records::jobs_of(&mut conn, &submit);
    let many = &records::job_named(&jobs, "many").job;
    let user = &records::job_named(&jobs, "user").job;
    assert!(jobs.iter().all(|j| status(j) == JobStatus::Succeeded));
    let artifacts = records::artifacts_of(&mut conn, many);
    let recorded: BTreeSet<String> = artifacts.iter().map(|a| a.path.clone()).collect();
    let expected: BTreeSet<String> = (0..MANY_FILES)
        .map(|n| format!("d{}/f{}", n / 1000, n % 1000))
        .collect();
    assert_eq!(artifacts.len(), MANY_FILES, "every output is recorded once");
    assert_eq!(recorded, expected);
    let staged_dir = fx.staging().join(submit.uuid.to_string());
    let mut staged = files_under(&staged_dir);
    assert!(staged.remove("user.txt"));
    assert_eq!(
        staged, recorded,
        "staging holds exactly the recorded artifacts"
    );
    for a in artifacts.iter().step_by(9973) {
        let bytes = std::fs::read(staged_dir.join(&a.path)).expect("reading an artifact");
        assert_eq!(a.sha256, sha256_hex(&bytes), "{}", a.path);
    }
    let inputs = records::input_artifacts_of(&mut conn, user);
    assert_eq!(
        inputs.len(),
        MANY_FILES,
        "every artifact is an input of user"
    );
    assert_eq!(
        inputs,
        artifacts.iter().map(|a| a.id.0).collect::<BTreeSet<_>>()
    );
    assert!(
        kiln_containers_of(submit.uuid).is_empty(),
        "containers left"
    );
}

#[test]
fn links_holes_and_odd_names_in_outputs() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, "");
    let lib = r#"name = "lib"
version = "1"
[phases.build]
script = '''
mkdir -p /outputs/lib
echo elf > /outputs/lib/libfoo.so.1
ln -s libfoo.so.1 /outputs/lib/libfoo.so
ln -s lib/libfoo.so /outputs/current.so
dd if=/dev/zero of=/outputs/sparse.img bs=1 count=0 seek=67108864 2>/dev/null
printf 'data' >> /outputs/sparse.img
printf odd > "/outputs/$(printf 'new\nline\033[31m')"
'''
"#;
    let user = r#"name = "user"
version = "1"
[dependencies]
runtime = ["lib =1"]
[phases.build]
script = '''
[ "$(cat /inputs/lib/libfoo.so)" = elf ] || { echo "no libfoo.so"; exit 1; }
[ "$(cat /inputs/current.so)" = elf ] || { echo "no current.so"; exit 1; }
[ "$(wc -c < /inputs/sparse.img)" -eq 67108868 ] || { echo "sparse.img"; exit 1; }
echo ok > /outputs/user.txt
'''
"#;
    let to_dir = r#"name = "to-dir"
version = "1"
[phases.build]
script = '''
mkdir -p /outputs/d
echo fine > /outputs/fine.txt
echo inside > /outputs/d/inside.txt
ln -s d /outputs/to-dir
'''
"#;
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("lib/pkg.toml", lib),
            ("user/pkg.toml", user),
            ("to-dir/pkg.toml", to_dir),
        ],
    );
    let (code, stdout, stderr) = fx.submit(&repo, &["user", "-I", "busybox"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    let jobs = records::jobs_of(&mut conn, &submit);
    let lib = &records::job_named(&jobs, "lib").job;
    let odd_name = "new\nline\u{1b}[31m";

    // Links to files are artifacts with the content they point to, and
    // reach the dependent; the odd name is recorded as it is.
    let artifacts: BTreeMap<String, (i64, String)> = records::artifacts_of(&mut conn, lib)
        .into_iter()
        .map(|a| (a.path, (a.size, a.sha256)))
        .collect();
    let elf = (4, sha256_hex(b"elf\n"));
    for path in ["lib/libfoo.so.1", "lib/libfoo.so", "current.so"] {
        assert_eq!(artifacts.get(path), Some(&elf), "{path}: {artifacts:?}");
    }
    assert_eq!(artifacts.get(odd_name), Some(&(3, sha256_hex(b"odd"))));
    assert_eq!(artifacts.get("sparse.img").map(|a| a.0), Some(67_108_868));
    let user = &records::job_named(&jobs, "user").job;
    assert_eq!(
        records::input_artifacts_of(&mut conn, user).len(),
        artifacts.len()
    );

    // The sparse file keeps its holes where the staging file system can.
    use std::os::unix::fs::MetadataExt;
    let staged = fx.staging().join(submit.uuid.to_string());
    let sparse = std::fs::metadata(staged.join("sparse.img")).expect("the staged file");
    assert_eq!(sparse.len(), 67_108_868);
    let probe = std::fs::File::create(staged.join("probe")).expect("a probe");
    probe.set_len(1 << 20).expect("extending the probe");
    if probe.metadata().expect("meta").blocks() * 512 < 1 << 20 {
        assert!(
            sparse.blocks() * 512 < 1 << 20,
            "{} bytes allocated for a sparse file",
            sparse.blocks() * 512
        );
    }
    std::fs::remove_file(staged.join("probe")).expect("removing the probe");

    // Tables show the odd name escaped, each row on one line.
    let (out, text, stderr) = run(fx
        .db
        .kiln(&fx.sandbox)
        .args(["db", "job", &lib.uuid.to_string()])
        .env("COLUMNS", "200"));
    assert!(out.status.success(), "{stderr}");
    assert!(text.contains("new\\nline\\u{1b}[31m"), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    let (out, text, stderr) = run(fx
        .db
        .kiln(&fx.sandbox)
        .args(["db", "artifacts", "--limit", "0"])
        .env("COLUMNS", "200"));
    assert!(out.status.success(), "{stderr}");
    assert!(text.contains("new\\nline\\u{1b}[31m"), "{text}");
    // A header, its underline, and one line per artifact (lib's and user's).
    assert_eq!(text.lines().count(), 2 + artifacts.len() + 1, "{text}");

    // A link to a directory is refused by name, and the job leaves nothing.
    let (code, stdout, stderr) = fx.submit(&repo, &["to-dir", "-I", "busybox"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let second = records::submits(&mut conn).pop().expect("a second submit");
    let jobs = records::jobs_of(&mut conn, &second);
    let job = &records::job_named(&jobs, "to-dir").job;
    assert_eq!(job.status, JobStatus::Failed);
    let message = job.error_message.as_deref().expect("a message");
    assert!(
        message.contains("`outputs/to-dir`") && message.contains("directory"),
        "{message}"
    );
    assert!(records::artifacts_of(&mut conn, job).is_empty());
    assert_eq!(
        files_under(&fx.staging().join(second.uuid.to_string())),
        BTreeSet::new(),
        "staging holds only recorded artifacts"
    );
}

#[test]
fn a_long_line_without_newline_is_stored_in_bounded_pieces() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, "");
    let loud = r#"name = "loud"
version = "1"
[phases.build]
script = '''
head -c 1000000 /dev/zero | tr '\0' x >&2
echo done
'''
"#;
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[("config.toml", &config), ("loud/pkg.toml", loud)],
    );
    let (code, stdout, stderr) = fx.submit(&repo, &["loud", "-I", "busybox"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    let jobs = records::jobs_of(&mut conn, &submit);
    let job = &records::job_named(&jobs, "loud").job;
    let lines = records::log_of(&mut conn, job);
    let (long, rest): (Vec<_>, Vec<_>) = lines
        .iter()
        .partition(|l| l.source == kiln::log::Source::Stderr);
    let bound = kiln::log::lines::DEFAULT_MAX_LINE;
    assert!(
        long.iter().all(|l| l.bytes.len() <= bound),
        "a piece longer than the bound"
    );
    assert_eq!(
        long.len(),
        1_000_000usize.div_ceil(bound),
        "pieces of {:?} bytes",
        long.iter()
            .map(|l| (l.bytes.len(), l.cut))
            .collect::<Vec<_>>()
    );
    assert!(long[..long.len() - 1].iter().all(|l| l.cut));
    let joined: Vec<u8> = long.iter().flat_map(|l| l.bytes.iter().copied()).collect();
    assert_eq!(joined, vec![b'x'; 1_000_000]);
    assert_eq!(
        rest.iter()
            .map(|l| l.text().into_owned())
            .collect::<Vec<_>>(),
        ["done"]
    );
}

// ---------------------------------------------------------------------------
// Stopping early
// ---------------------------------------------------------------------------

#[test]
fn ctrl_c_cancels_the_submit_and_removes_its_containers() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, &endpoint_toml("solo", 1));
    let sleeper = "[phases.build]\nscript = '''\necho \"sleeping\"\nsleep 60\n'''\n";
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("pkg.toml", sleeper),
            ("one/pkg.toml", "name = \"one\"\nversion = \"1\"\n"),
            ("two/pkg.toml", "name = \"two\"\nversion = \"1\"\n"),
            ("top/pkg.toml", "name = \"top\"\nversion = \"1\"\n[dependencies]\nruntime = [\"one =1\", \"two =1\"]\n"),
        ],
    );
    let mut child = fx
        .submit_command(&repo, &["top", "-I", "busybox"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting kiln");

    // Wait until a job runs and its script has printed.
    let mut conn = fx.db.connect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let running: Job = loop {
        assert!(Instant::now() < deadline, "no job started within 60 s");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("kiln ended early with {status}");
        }
        let submits = records::submits(&mut conn);
        if let Some(submit) = submits.first() {
            let jobs = records::jobs_of(&mut conn, submit);
            if let Some(j) = jobs.iter().find(|j| status(j) == JobStatus::Running) {
                if !records::chunks_of(&mut conn, &j.job).is_empty() {
                    break j.job.clone();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let submit = records::only_submit(&mut conn);
    let _guard = SubmitContainers {
        submit: submit.uuid,
    };
    assert_eq!(running_containers_of(submit.uuid).len(), 1, "one job runs");

    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("sending SIGINT");
    let exit = loop {
        if let Some(status) = child.try_wait().expect("waiting for kiln") {
            break status;
        }
        if sent.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("kiln did not exit within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("kiln's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        exit.code(),
        Some(130),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        kiln_containers_of(submit.uuid).is_empty(),
        "containers left"
    );

    let submit = records::only_submit(&mut conn);
    assert_eq!(submit.status, SubmitStatus::Cancelled);
    assert!(submit.ended_at.is_some());
    let jobs = records::jobs_of(&mut conn, &submit);
    for j in &jobs {
        assert_eq!(status(j), JobStatus::Cancelled, "{}", j.name);
        assert!(j.job.finished_at.is_some(), "{}", j.name);
        if j.job.id == running.id {
            assert!(j.job.started_at.is_some());
        } else {
            assert_eq!(j.job.started_at, None, "{} never started", j.name);
            assert_eq!(j.job.container_id, None, "{} had no container", j.name);
        }
    }
    assert!(stdout.contains("3 jobs: 3 cancelled"), "{stdout}");
}

#[test]
fn fail_fast_starts_no_job_after_a_failure() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, &endpoint_toml("solo", 1));
    // With one slot, `bad` goes first: it has the longest chain above it.
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("pkg.toml", PLAIN_BUILD),
            ("bad/pkg.toml", "name = \"bad\"\nversion = \"1\"\n[phases.build]\nscript = \"exit 1\"\n"),
            ("mid/pkg.toml", "name = \"mid\"\nversion = \"1\"\n[dependencies]\nruntime = [\"bad =1\"]\n"),
            ("x1/pkg.toml", "name = \"x1\"\nversion = \"1\"\n"),
            ("x2/pkg.toml", "name = \"x2\"\nversion = \"1\"\n"),
            ("x3/pkg.toml", "name = \"x3\"\nversion = \"1\"\n"),
            (
                "top/pkg.toml",
                "name = \"top\"\nversion = \"1\"\n[dependencies]\nruntime = [\"mid =1\", \"x1 =1\", \"x2 =1\", \"x3 =1\"]\n",
            ),
        ],
    );
    let (code, stdout, stderr) = fx.submit(&repo, &["top", "-I", "busybox", "--fail-fast"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    assert_eq!(submit.status, SubmitStatus::Failed);
    let jobs = records::jobs_of(&mut conn, &submit);
    let by = |name| records::job_named(&jobs, name);
    assert_eq!(status(by("bad")), JobStatus::Failed);
    for name in ["mid", "top"] {
        assert_eq!(status(by(name)), JobStatus::DepFailed, "{name}");
    }
    let bad_end = by("bad").job.finished_at.expect("bad finished");
    for name in ["x1", "x2", "x3"] {
        let job = &by(name).job;
        assert_eq!(job.status, JobStatus::Cancelled, "{name}");
        assert_eq!(job.started_at, None, "{name} never started");
        assert!(job.finished_at.is_some_and(|t| t >= bad_end), "{name}");
    }
    assert!(files_under(&fx.staging().join(submit.uuid.to_string())).is_empty());

    // Without --fail-fast the independent jobs are built.
    let (code, _, _) = fx.submit(&repo, &["top", "-I", "busybox"]);
    assert_eq!(code, 1);
    let second = records::submits(&mut conn).pop().expect("a second submit");
    let jobs = records::jobs_of(&mut conn, &second);
    for name in ["x1", "x2", "x3"] {
        assert_eq!(
            status(records::job_named(&jobs, name)),
            JobStatus::Succeeded,
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------
// Refused before anything runs
// ---------------------------------------------------------------------------

#[test]
fn bad_input_exits_2_before_anything_is_recorded() {
    let Some(fx) = Fixture::new() else { return };
    let extra = "\n[containers]\ncheck_env_names = true\nallowed_env = [\"ALLOWED\"]\n";
    let config = config_toml(&fx.image, extra);
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("pkg.toml", PLAIN_BUILD),
            ("ok/pkg.toml", "name = \"ok\"\nversion = \"1\"\n"),
            (
                "leaky/pkg.toml",
                "name = \"leaky\"\nversion = \"1\"\n[environment]\nSECRET_SAUCE = \"1\"\n",
            ),
        ],
    );
    let cases: &[&[&str]] = &[
        &["ok", "-I", "nosuch"],
        &["nosuch", "-I", "busybox"],
        &["ok", "2", "-I", "busybox"],
        &["ok", "-I", "busybox", "--endpoint", "nowhere"],
        &["ok", "-I", "busybox", "-E", "FORBIDDEN=1"],
        &["leaky", "-I", "busybox"],
        &["ok", "-I", "busybox", "-E", "not-a-name=1"],
    ];
    let mut transcript = String::new();
    for args in cases {
        let (code, stdout, stderr) = fx.submit(&repo, args);
        assert_eq!(code, 2, "{args:?}: stdout:\n{stdout}\nstderr:\n{stderr}");
        let stderr = stderr.replace(&repo.display().to_string(), "REPO");
        transcript += &session(&[&["submit"], *args].concat(), code, &stdout, &stderr);
    }
    assert_snapshot!("bad_input", transcript);
    // An allowed variable passes the same check and builds.
    let (code, stdout, stderr) = fx.submit(&repo, &["ok", "-I", "busybox", "-E", "ALLOWED=yes"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let mut conn = fx.db.connect();
    assert_eq!(
        records::submits(&mut conn).len(),
        1,
        "only the good submit was recorded"
    );
}

#[test]
fn a_missing_image_names_endpoint_and_image() {
    let Some(fx) = Fixture::new() else { return };
    let config = config_toml(&fx.image, &endpoint_toml("builder", 2));
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("pkg.toml", PLAIN_BUILD),
            ("ok/pkg.toml", "name = \"ok\"\nversion = \"1\"\n"),
        ],
    );
    let (code, stdout, stderr) = fx.submit(&repo, &["ok", "-I", "missing"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    // What the engine says of the pull depends on its network: cut it off.
    let said = stderr
        .split_inclusive("could not be pulled: ")
        .next()
        .unwrap_or_default();
    assert_snapshot!("missing_image", format!("{said}[the engine's reason]"));
    let mut conn = fx.db.connect();
    assert!(
        records::submits(&mut conn).is_empty(),
        "nothing was submitted"
    );
}

/// An endpoint that does not answer is reported and recorded unhealthy,
/// and the submit builds on the others; `--require-all-endpoints` refuses
/// to start; with no endpoint answering, the error names each.
#[test]
fn a_submit_starts_with_the_endpoints_that_answer() {
    let Some(fx) = Fixture::new() else { return };
    let dead = fx.sandbox.path().join("no-engine.sock");
    let endpoints = format!(
        "{}\n[docker.endpoints.gone]\nuri = \"unix://{}\"\nmaxjobs = 1\ntimeout = 2\n",
        endpoint_toml("local", 1),
        dead.display()
    );
    let config = config_toml(&fx.image, &endpoints);
    let a = package_toml("a", "", &[]);
    let repo = git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("pkg.toml", CHECKING_BUILD),
            ("a/pkg.toml", &a),
        ],
    );
    let (code, stdout, stderr) = fx.submit(&repo, &["a", "-I", "busybox"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("endpoint `gone`"), "{stderr}");
    let mut transcript = session(&["submit", "a", "-I", "busybox"], code, "", &stderr);
    let (out, listed, _) = run(fx
        .db
        .kiln(&fx.sandbox)
        .args(["db", "endpoints", "-o", "json"]));
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("JSON");
    let health = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .map(|r| r["healthy"].clone())
    };
    assert_eq!(health("gone"), Some(false.into()), "{listed}");
    assert_eq!(health("local"), Some(true.into()), "{listed}");

    let before = records::submits(&mut fx.db.connect()).len();
    for args in [
        &["a", "-I", "busybox", "--require-all-endpoints"][..],
        &["a", "-I", "busybox", "--endpoint", "gone"],
    ] {
        let (code, _, stderr) = fx.submit(&repo, args);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("endpoint `gone`"), "{stderr}");
        transcript += &session(&[&["submit"], args].concat(), code, "", &stderr);
    }
    assert_snapshot!("endpoints_that_do_not_answer", transcript);
    assert_eq!(
        records::submits(&mut fx.db.connect()).len(),
        before,
        "nothing recorded"
    );
}
