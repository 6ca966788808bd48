//! Many kiln processes and many endpoints: the capacity of an endpoint is
//! shared by every kiln that uses the database, and a job whose engine
//! fails under it is tried again elsewhere.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kiln::db::models::JobStatus;

use crate::submit::{config_toml, endpoint_toml, git_repo, Fixture};
use crate::support::engine::SecondEngine;
use crate::support::{records, run};

/// A repository of `roots` packages, each with `leaves` dependencies; every
/// job sleeps `seconds` and writes one artifact.
fn fan_repo(
    fx: &Fixture,
    endpoints: &str,
    roots: &[&str],
    leaves: usize,
    seconds: f32,
) -> std::path::PathBuf {
    let config = config_toml(&fx.image, endpoints);
    let build = format!(
        r#"[phases.build]
script = '''
sleep {seconds}
mkdir -p /outputs
echo "{{{{this.name}}}}" > "/outputs/{{{{this.name}}}}.txt"
'''
"#
    );
    let mut files = vec![
        ("config.toml".to_owned(), config),
        ("pkg.toml".to_owned(), build),
    ];
    for root in roots {
        let mut deps = Vec::new();
        for leaf in 0..leaves {
            let name = format!("{root}-leaf{leaf}");
            files.push((
                format!("{name}/pkg.toml"),
                format!("name = \"{name}\"\nversion = \"1\"\n"),
            ));
            deps.push(format!("\"{name} =1\""));
        }
        files.push((
            format!("{root}/pkg.toml"),
            format!(
                "name = \"{root}\"\nversion = \"1\"\n[dependencies]\nruntime = [{}]\n",
                deps.join(", ")
            ),
        ));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    git_repo(&fx.sandbox, "repo", &files)
}

/// Samples, until stopped, the submits of the kiln containers running on
/// the local engine.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Vec<String>>>,
}

impl Sampler {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let out = Command::new("docker")
                    .args(["ps", "--filter", "label=org.kiln.managed=true"])
                    .args(["--format", "{{.Label \"org.kiln.submit\"}}"])
                    .output()
                    .expect("running docker ps");
                samples.push(
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .map(str::to_owned)
                        .collect(),
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        Self { stop, thread }
    }

    /// The most containers of `submits` that ran at once.
    fn most_at_once(self, submits: &BTreeSet<String>) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.thread.join().expect("the sampler");
        samples
            .iter()
            .map(|s| s.iter().filter(|submit| submits.contains(*submit)).count())
            .max()
            .unwrap_or(0)
    }
}

fn spawn_submit(fx: &Fixture, repo: &Path, root: &str) -> std::process::Child {
    fx.submit_command(repo, &[root, "-I", "busybox"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting kiln")
}

#[test]
fn concurrent_submits_share_an_endpoint_s_maxjobs() {
    let Some(fx) = Fixture::new() else { return };
    let roots = ["one", "two", "three"];
    let repo = fan_repo(&fx, &endpoint_toml("shared", 2), &roots, 9, 1.0);
    let sampler = Sampler::start();
    let children: Vec<_> = roots.iter().map(|r| spawn_submit(&fx, &repo, r)).collect();
    for child in children {
        let out = child.wait_with_output().expect("waiting for kiln");
        assert!(
            out.status.success(),
            "stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut conn = fx.db.connect();
    let submits = records::submits(&mut conn);
    assert_eq!(submits.len(), 3);
    let uuids: BTreeSet<String> = submits.iter().map(|s| s.uuid.to_string()).collect();
    let most = sampler.most_at_once(&uuids);
    assert!(
        most <= 2,
        "{most} kiln containers ran at once on a maxjobs = 2 endpoint"
    );
    assert!(most >= 1, "the sampler saw no container");
    let mut jobs = 0;
    for submit in &submits {
        for job in records::jobs_of(&mut conn, submit) {
            assert_eq!(
                job.job.status,
                kiln::db::models::JobStatus::Succeeded,
                "{job:?}"
            );
            jobs += 1;
        }
    }
    assert_eq!(jobs, 30);
}

/// The ids of kiln's containers running on `engine`.
fn running_on(engine: &SecondEngine) -> Vec<String> {
    let out = engine
        .docker()
        .args(["ps", "-q", "--filter", "label=org.kiln.managed=true"])
        .output()
        .expect("running docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// A fan of 20 jobs of 3 s each on the local engine (`first`) and a second
/// one (`second`, with a short timeout); `fail` is done to the second
/// engine once a job runs there. Every job must succeed on the first, the
/// jobs the second engine held show two attempts, the second is recorded
/// unhealthy, and no container is left on the first.
fn a_failing_engine_costs_a_retry(fail: impl FnOnce(&SecondEngine)) {
    let Some(fx) = Fixture::new() else { return };
    let Some(second) = SecondEngine::start() else {
        return;
    };
    let endpoints = format!(
        "{}{}timeout = 3\n",
        endpoint_toml("first", 2),
        second.endpoint_toml("second", 2)
    );
    let repo = fan_repo(&fx, &endpoints, &["fan"], 19, 3.0);
    let child = spawn_submit(&fx, &repo, "fan");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while running_on(&second).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no job ran on the second engine"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    fail(&second);
    let out = child.wait_with_output().expect("waiting for kiln");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    assert!(
        stderr.contains("endpoint `second`") && stderr.contains("trying again elsewhere"),
        "{stderr}"
    );

    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    let jobs = records::jobs_of(&mut conn, &submit);
    assert_eq!(jobs.len(), 20);
    let mut retried = 0;
    for job in &jobs {
        assert_eq!(job.job.status, JobStatus::Succeeded, "{job:?}");
        let (shown, listed, _) = run(fx.db.kiln(&fx.sandbox).args([
            "db",
            "job",
            &job.job.uuid.to_string(),
            "-o",
            "json",
        ]));
        assert!(shown.status.success());
        let detail: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
        let attempts = detail["attempts"].as_array().expect("attempts").clone();
        let last = attempts.last().expect("an attempt");
        assert_eq!(last["outcome"], "succeeded", "{listed}");
        assert_eq!(last["endpoint"], detail["endpoint"], "{listed}");
        if attempts.len() > 1 {
            retried += 1;
            assert_eq!(attempts.len(), 2, "{listed}");
            assert_eq!(attempts[0]["endpoint"], "second", "{listed}");
            assert_eq!(attempts[0]["outcome"], "engine_failed", "{listed}");
            assert_eq!(last["endpoint"], "first", "{listed}");
        }
    }
    assert!(retried >= 1, "no job was tried again");
    let (_, listed, _) = run(fx
        .db
        .kiln(&fx.sandbox)
        .args(["db", "endpoints", "-o", "json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&listed).expect("JSON");
    let second_row = rows
        .iter()
        .find(|r| r["name"] == "second")
        .expect("second recorded");
    assert_eq!(second_row["healthy"], false, "{listed}");
    assert!(
        crate::submit::kiln_containers_of(submit.uuid).is_empty(),
        "containers left on the first engine"
    );
}

#[test]
fn a_killed_engine_costs_a_retry_not_the_submit() {
    a_failing_engine_costs_a_retry(SecondEngine::kill);
}

#[test]
fn a_frozen_engine_costs_a_retry_not_the_submit() {
    a_failing_engine_costs_a_retry(|engine| {
        engine.freeze();
    });
}
