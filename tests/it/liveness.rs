//! A running submit and its database: the database restarting under it, or
//! staying away, with real PostgreSQL clusters of the tests' own (stopped as
//! a crash would stop them) and the local Docker engine.
//!
//! A live submit is never recorded `lost` by another kiln, its records are
//! all written once the database is back (with the times things happened,
//! not the times they were written), Ctrl-C works while the database is
//! down, and an outage longer than `database_outage_timeout` ends the
//! submit with its containers removed and its records left for the next
//! run to close. A record the database refuses in the middle of a run stops
//! it the same way, with every job ended.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use kiln::db::lease::HEARTBEAT;
use kiln::db::models::liveness::{self, Owner};
use kiln::db::models::submits::{NewSubmit, Submit, SubmitStatus};
use kiln::db::models::JobStatus;

use crate::submit::{config_toml, endpoint_toml, git_repo, kiln_containers_of};
use crate::support::cluster::PrivateCluster;
use crate::support::db::TestDb;
use crate::support::docker::{test_image, SubmitContainers};
use crate::support::records;
use crate::support::{run, Sandbox};

/// A sandbox, a private cluster set up for kiln, the test image, and a
/// repository of `files` with a `config.toml` (one endpoint, `maxjobs`).
struct Outage {
    sandbox: Sandbox,
    cluster: PrivateCluster,
    repo: PathBuf,
    /// `database_outage_timeout`, when not the default.
    outage_timeout: Option<u32>,
}

impl Outage {
    fn new(maxjobs: usize, outage_timeout: Option<u32>, files: &[(&str, &str)]) -> Option<Outage> {
        let image = test_image()?;
        let cluster = PrivateCluster::start()?;
        let sandbox = Sandbox::new();
        let config = config_toml(&image, &endpoint_toml("solo", maxjobs));
        let mut all = vec![("config.toml", config.as_str())];
        all.extend_from_slice(files);
        let repo = git_repo(&sandbox, "repo", &all);
        let outage = Outage {
            sandbox,
            cluster,
            repo,
            outage_timeout,
        };
        let (out, _, stderr) = run(outage.kiln().args(["db", "setup"]));
        assert!(out.status.success(), "kiln db setup failed: {stderr}");
        Some(outage)
    }

    fn kiln(&self) -> Command {
        let mut cmd = self.sandbox.kiln();
        cmd.arg("--database-url").arg(self.cluster.url());
        if let Some(secs) = self.outage_timeout {
            cmd.env("KILN_DATABASE_OUTAGE_TIMEOUT", secs.to_string());
        }
        cmd
    }

    fn submit_command(&self, package: &str) -> Command {
        let mut cmd = self.kiln();
        cmd.arg("--repo")
            .arg(&self.repo)
            .args(["submit", package, "-I", "busybox", "--hide-bars"])
            .arg("--staging-dir")
            .arg(self.sandbox.path().join("staging"));
        cmd
    }

    fn spawn_submit(&self, package: &str) -> Child {
        self.submit_command(package)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting kiln")
    }

    /// Waits until `n` jobs of the only submit run; returns its UUID.
    fn wait_for_running(&self, child: &mut Child, n: usize) -> uuid::Uuid {
        let mut conn = self.cluster.connect();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(
                Instant::now() < deadline,
                "{n} jobs did not start within 60 s"
            );
            if let Ok(Some(status)) = child.try_wait() {
                panic!("kiln ended early with {status}");
            }
            if let Some(submit) = records::submits(&mut conn).first() {
                let jobs = records::jobs_of(&mut conn, submit);
                let running = jobs
                    .iter()
                    .filter(|j| j.job.status == JobStatus::Running)
                    .count();
                if running >= n {
                    return submit.uuid;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn submit_record(&self, uuid: uuid::Uuid) -> Submit {
        let mut conn = self.cluster.connect();
        Submit::find_by_uuid(&mut conn, uuid)
            .expect("reading the submit")
            .expect("the submit is recorded")
    }
}

/// Waits for `child` at most `limit`; kills it and fails past that.
fn wait_at_most(child: Child, limit: Duration, what: &str) -> (i32, String, String) {
    let mut child = child;
    let start = Instant::now();
    loop {
        if child.try_wait().expect("waiting for kiln").is_some() {
            break;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("kiln's output");
            panic!(
                "{what}: kiln did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("kiln's output");
    let code = out
        .status
        .code()
        .expect("kiln exited (not killed by a signal)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
    (code, stdout, stderr)
}

const SLEEPER: &str = "[phases.build]\nscript = '''\necho \"sleeping\"\nsleep \"$NAP\"\necho \"{{this.name}}\" > /outputs/{{this.name}}.txt\n'''\n";

fn sleeper(name: &str, secs: u32) -> String {
    format!("name = \"{name}\"\nversion = \"1\"\n[environment]\nNAP = \"{secs}\"\n")
}

/// `top`, which needs `a` and `b`, each sleeping `nap` seconds, and `quick`
/// on its own.
struct PairTree {
    packages: Vec<(&'static str, String)>,
}

fn pair_tree(nap: u32) -> PairTree {
    let top = "name = \"top\"\nversion = \"1\"\n[environment]\nNAP = \"0\"\n[dependencies]\nruntime = [\"a =1\", \"b =1\"]\n";
    PairTree {
        packages: vec![
            ("pkg.toml", SLEEPER.to_owned()),
            ("a/pkg.toml", sleeper("a", nap)),
            ("b/pkg.toml", sleeper("b", nap)),
            ("top/pkg.toml", top.to_owned()),
            ("quick/pkg.toml", sleeper("quick", 0)),
        ],
    }
}

impl PairTree {
    fn files(&self) -> Vec<(&str, &str)> {
        self.packages
            .iter()
            .map(|(p, c)| (*p, c.as_str()))
            .collect()
    }
}

#[test]
fn a_submit_lives_through_a_database_restart_and_no_other_submit_takes_it() {
    let Some(fx) = Outage::new(2, None, &pair_tree(3).files()) else {
        return;
    };
    let mut child = fx.spawn_submit("top");
    let uuid = fx.wait_for_running(&mut child, 2);
    let _containers = SubmitContainers { submit: uuid };

    // The database goes away while both jobs sleep, and comes back after
    // they ended: their ends are recorded late, but with their real times.
    fx.cluster.crash();
    std::thread::sleep(Duration::from_secs(6));
    fx.cluster.resume();

    // Another submit at once: the first one's lock may not be taken again
    // yet, but its process lives, and it must not be taken for lost.
    let (code, stdout, stderr) = wait_at_most(
        fx.spawn_submit("quick"),
        Duration::from_secs(120),
        "the second submit",
    );
    assert_eq!(code, 0, "second submit:\n{stdout}\n{stderr}");

    let (code, stdout, stderr) = wait_at_most(child, Duration::from_secs(120), "the first submit");
    assert_eq!(code, 0, "first submit:\n{stdout}\n{stderr}");
    assert!(stdout.contains("3 jobs: 3 built"), "{stdout}");

    let submit = fx.submit_record(uuid);
    assert_eq!(submit.status, SubmitStatus::Succeeded);
    let mut conn = fx.cluster.connect();
    let jobs = records::jobs_of(&mut conn, &submit);
    for job in &jobs {
        assert_eq!(job.job.status, JobStatus::Succeeded, "{}", job.name);
    }
    for name in ["a", "b"] {
        let job = &records::job_named(&jobs, name).job;
        let (Some(start), Some(end)) = (job.started_at, job.finished_at) else {
            panic!("{name} has its times");
        };
        let ran = (end - start).to_std().expect("ends after it starts");
        // The script sleeps 3 s; the database was away for 6 s of it.
        assert!(
            ran < Duration::from_millis(5500),
            "{name} is recorded as running {ran:?}: the outage is counted in"
        );
        assert_eq!(
            records::log_of(&mut conn, job).len(),
            1,
            "{name}'s log is stored"
        );
    }
    assert!(kiln_containers_of(uuid).is_empty(), "containers left");
}

#[test]
fn ctrl_c_while_the_database_is_down_stops_at_once_and_leaves_no_container() {
    let a = sleeper("a", 60);
    let quick = sleeper("quick", 0);
    let Some(fx) = Outage::new(
        1,
        None,
        &[
            ("pkg.toml", SLEEPER),
            ("a/pkg.toml", &a),
            ("quick/pkg.toml", &quick),
        ],
    ) else {
        return;
    };
    let mut child = fx.spawn_submit("a");
    let uuid = fx.wait_for_running(&mut child, 1);
    let _containers = SubmitContainers { submit: uuid };
    fx.cluster.crash();
    // Long enough for kiln to notice, well within database_outage_timeout.
    std::thread::sleep(HEARTBEAT * 2);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("sending SIGINT");
    let (code, stdout, stderr) = wait_at_most(child, Duration::from_secs(10), "after Ctrl-C");
    assert_eq!(code, 130, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(kiln_containers_of(uuid).is_empty(), "containers left");
    assert!(stdout.contains("1 job: 1 cancelled"), "{stdout}");

    // Once the database is back, the next run closes the records the
    // interrupted one could not write: its process is gone.
    fx.cluster.resume();
    let (code, stdout, stderr) = wait_at_most(
        fx.spawn_submit("quick"),
        Duration::from_secs(120),
        "the next submit",
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let submit = fx.submit_record(uuid);
    assert!(
        matches!(submit.status, SubmitStatus::Lost | SubmitStatus::Cancelled),
        "the interrupted submit is {:?}",
        submit.status
    );
}

#[test]
fn an_outage_longer_than_its_timeout_ends_the_submit_and_the_next_run_records_it_lost() {
    let Some(fx) = Outage::new(1, Some(4), &pair_tree(60).files()) else {
        return;
    };
    let mut child = fx.spawn_submit("top");
    let uuid = fx.wait_for_running(&mut child, 1);
    let _containers = SubmitContainers { submit: uuid };
    fx.cluster.crash();
    let stopped = Instant::now();
    let (code, stdout, stderr) =
        wait_at_most(child, Duration::from_secs(30), "with the database gone");
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stopped.elapsed() >= Duration::from_secs(3),
        "kiln gave up after {:?}, before database_outage_timeout",
        stopped.elapsed()
    );
    assert!(stdout.contains("database_outage_timeout"), "{stdout}");
    assert!(kiln_containers_of(uuid).is_empty(), "containers left");

    fx.cluster.resume();
    let (code, stdout, stderr) = wait_at_most(
        fx.spawn_submit("quick"),
        Duration::from_secs(120),
        "the next submit",
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let submit = fx.submit_record(uuid);
    assert_eq!(submit.status, SubmitStatus::Lost);
    let mut conn = fx.cluster.connect();
    for job in records::jobs_of(&mut conn, &submit) {
        assert!(
            matches!(job.job.status, JobStatus::Lost | JobStatus::Cancelled),
            "{} is {:?}",
            job.name,
            job.job.status
        );
    }
}

// ---------------------------------------------------------------------------
// The search for lost submits, on the records alone
// ---------------------------------------------------------------------------

/// A running submit with the given lease (seconds from now; negative: run
/// out) and owner, whose lock nobody holds.
fn running_submit(conn: &mut PgConnection, lease_secs: i64, owner: Option<&Owner>) -> Submit {
    use kiln::db::models::git_hashes::NewGitHash;
    use kiln::db::models::images::NewImage;
    use kiln::db::models::packages::NewPackage;
    let package = NewPackage {
        name: "p",
        version: "1",
    }
    .get_or_create(conn)
    .expect("package");
    let image = NewImage { name: "i" }.get_or_create(conn).expect("image");
    let hash = NewGitHash {
        hash: "0123456789012345678901234567890123456789",
    }
    .get_or_create(conn)
    .expect("hash");
    let json = serde_json::json!({});
    let submit = NewSubmit {
        uuid: uuid::Uuid::new_v4(),
        requested_package_id: package.id,
        requested_image_id: image.id,
        repo_hash_id: hash.id,
        repo_dirty: false,
        repo_diff_sha256: None,
        submitter_user: "u",
        submitter_host: "h",
        kiln_version: "0",
        tree: &json,
        plan: &json,
        owner_machine: owner.map(|o| o.machine.as_str()),
        owner_pid: owner.map(|o| o.pid),
        owner_started: owner.map(|o| o.started),
        reproduces_submit_id: None,
    }
    .insert(conn)
    .expect("submit");
    diesel::sql_query(format!(
        "UPDATE submits SET alive_until = now() + interval '{lease_secs} seconds' WHERE id = {}",
        submit.id
    ))
    .execute(conn)
    .expect("setting the lease");
    submit
}

#[test]
fn only_submits_whose_process_is_gone_are_recorded_lost() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let mut conn = db.connect();
    let me = kiln::orchestrator::owner::current_owner().expect("this system has /proc");
    let elsewhere = Owner {
        machine: "another machine".to_owned(),
        pid: 1,
        started: 1,
    };
    let dead_here = Owner {
        pid: i32::MAX - 7,
        ..me.clone()
    };
    let lease_valid_elsewhere = running_submit(&mut conn, 600, Some(&elsewhere));
    let lease_valid_alive_here = running_submit(&mut conn, 600, Some(&me));
    let lease_valid_dead_here = running_submit(&mut conn, 600, Some(&dead_here));
    let lease_over_elsewhere = running_submit(&mut conn, -1, Some(&elsewhere));
    let lease_over_locked = running_submit(&mut conn, -1, None);
    let older_kiln = running_submit(&mut conn, 0, None);
    diesel::sql_query(format!(
        "UPDATE submits SET alive_until = NULL WHERE id = {}",
        older_kiln.id
    ))
    .execute(&mut conn)
    .expect("clearing a lease");

    // Another session holds one lock: its process is connected.
    let mut holder = db.connect();
    assert!(liveness::try_hold(&mut holder, lease_over_locked.id).expect("lock"));

    let lost = liveness::reap_lost(&mut conn, kiln::orchestrator::owner::is_dead).expect("reaping");
    assert!(lost.is_empty(), "no jobs in these submits");
    let status =
        |conn: &mut PgConnection, s: &Submit| Submit::find(conn, s.id).expect("submit").status;
    let expected = [
        (&lease_valid_elsewhere, SubmitStatus::Running),
        (&lease_valid_alive_here, SubmitStatus::Running),
        (&lease_valid_dead_here, SubmitStatus::Lost),
        (&lease_over_elsewhere, SubmitStatus::Lost),
        (&lease_over_locked, SubmitStatus::Running),
        (&older_kiln, SubmitStatus::Lost),
    ];
    for (i, (submit, want)) in expected.iter().enumerate() {
        assert_eq!(status(&mut conn, submit), *want, "case {i}");
    }
    assert!(Submit::find(&mut conn, lease_over_elsewhere.id)
        .expect("submit")
        .ended_at
        .is_some());
}

/// A submit whose kiln process died shows as `lost` in the next listing,
/// without waiting for another submit; `db reap` records and cleans too.
#[test]
fn listings_record_a_dead_kiln_s_submit_lost() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let mut conn = db.connect();
    let me = kiln::orchestrator::owner::current_owner().expect("this system has /proc");
    let dead_here = Owner {
        pid: i32::MAX - 7,
        ..me.clone()
    };
    let dead = running_submit(&mut conn, 600, Some(&dead_here));
    let alive = running_submit(&mut conn, 600, Some(&me));
    let sandbox = crate::support::Sandbox::new();
    let (out, stdout, stderr) =
        crate::support::run(db.kiln(&sandbox).args(["db", "submits", "-o", "json"]));
    assert!(out.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("JSON");
    let status_of = |s: &Submit| {
        rows.iter()
            .find(|r| r["uuid"] == s.uuid.to_string())
            .map(|r| r["status"].clone())
    };
    assert_eq!(status_of(&dead), Some("lost".into()), "{stdout}");
    assert_eq!(status_of(&alive), Some("running".into()), "{stdout}");
    assert_eq!(
        Submit::find(&mut conn, dead.id).expect("submit").status,
        SubmitStatus::Lost,
        "recorded, not only shown"
    );
    let (out, stdout, stderr) = crate::support::run(db.kiln(&sandbox).args(["db", "reap"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("as lost"), "{stdout}");
}

// ---------------------------------------------------------------------------
// A record refused in the middle of the run
// ---------------------------------------------------------------------------

#[test]
fn a_record_refused_mid_run_still_ends_every_job_and_removes_every_container() {
    let bad = "name = \"bad\"\nversion = \"1\"\n[environment]\nNAP = \"0\"\n[phases.build]\nscript = '''\necho refused > /outputs/refused.txt\n'''\n";
    let slow = sleeper("slow", 60);
    let top = "name = \"top\"\nversion = \"1\"\n[environment]\nNAP = \"0\"\n[dependencies]\nruntime = [\"bad =1\", \"slow =1\"]\n";
    let Some(fx) = Outage::new(
        2,
        None,
        &[
            ("pkg.toml", SLEEPER),
            ("bad/pkg.toml", bad),
            ("slow/pkg.toml", &slow),
            ("top/pkg.toml", top),
        ],
    ) else {
        return;
    };
    // The database refuses one artifact, as it would refuse any write that
    // breaks one of its rules.
    let mut conn = fx.cluster.connect();
    diesel::sql_query(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.path = 'refused.txt' THEN RAISE EXCEPTION 'artifact refused by the test'; END IF; \
         RETURN NEW; END $$",
    )
    .execute(&mut conn)
    .expect("creating the function");
    diesel::sql_query(
        "CREATE TRIGGER refuse BEFORE INSERT ON artifacts FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    .execute(&mut conn)
    .expect("creating the trigger");

    let child = fx.spawn_submit("top");
    let (code, stdout, stderr) = wait_at_most(child, Duration::from_secs(40), "after the refusal");
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("kiln stopped the submit"), "{stdout}");
    assert!(stdout.contains("artifact refused by the test"), "{stdout}");
    assert!(
        stdout.contains("3 jobs:"),
        "the summary is printed: {stdout}"
    );

    let submit = records::submits(&mut conn)
        .into_iter()
        .next()
        .expect("the submit is recorded");
    assert_eq!(submit.status, SubmitStatus::Failed);
    assert!(
        kiln_containers_of(submit.uuid).is_empty(),
        "containers left"
    );
    let jobs = records::jobs_of(&mut conn, &submit);
    let status_of = |name: &str| records::job_named(&jobs, name).job.status;
    assert_eq!(status_of("bad"), JobStatus::Failed);
    assert!(
        records::job_named(&jobs, "bad")
            .job
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("artifact refused by the test")),
        "bad's message says why"
    );
    assert_eq!(status_of("slow"), JobStatus::Cancelled);
    assert_eq!(status_of("top"), JobStatus::DepFailed);
    for job in &jobs {
        assert!(job.job.finished_at.is_some(), "{} has ended", job.name);
    }
}
