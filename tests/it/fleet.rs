//! Many kiln processes and many endpoints: the capacity of an endpoint is
//! shared by every kiln that uses the database, and a job whose engine
//! fails under it is tried again elsewhere.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::submit::{config_toml, endpoint_toml, git_repo, Fixture};
use crate::support::records;

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
