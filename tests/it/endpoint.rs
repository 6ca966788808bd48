//! `kiln endpoint`: the real binary against the local Docker engine (and a
//! socket with no engine behind it), recording into a fresh database per
//! test. Each test checks what kiln prints against what `docker` says, and
//! the health it recorded against the database.
//!
//! Tests run at the same time share the engine: every `containers` command
//! here is scoped with `--submit` to the test's own submit, and each test
//! checks only its own containers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln::db::models::endpoints::Endpoint;
use serde_json::Value as Json;

use crate::submit::{config_toml, git_repo, kiln_containers_of, Fixture};
use crate::support::docker::{local_endpoint, SubmitContainers};
use crate::support::records;
use crate::support::run;

/// A package whose script sleeps `seconds`, then writes one output.
fn sleeping_package(name: &str, seconds: u32) -> String {
    format!(
        r#"name = "{name}"
version = "1"
[phases.build]
script = '''
sleep {seconds}
mkdir -p /outputs
echo {name} > /outputs/{name}.txt
'''
"#
    )
}

/// An endpoint table with a timeout of its own.
fn endpoint_table(name: &str, uri: &str, timeout_secs: u32) -> String {
    format!("\n[docker.endpoints.{name}]\nuri = \"{uri}\"\nmaxjobs = 1\ntimeout = {timeout_secs}\n")
}

/// A repository with one package and these endpoints.
fn repo(fx: &Fixture, endpoints: &str, package: &str) -> PathBuf {
    let config = config_toml(&fx.image, endpoints);
    git_repo(
        &fx.sandbox,
        "repo",
        &[("config.toml", &config), ("pkg/pkg.toml", package)],
    )
}

/// `kiln --repo REPO endpoint ARGS...`: exit code, stdout, stderr.
fn endpoint(fx: &Fixture, repo: &Path, args: &[&str]) -> (i32, String, String) {
    let (out, stdout, stderr) = run(fx
        .db
        .kiln(&fx.sandbox)
        .arg("--repo")
        .arg(repo)
        .arg("endpoint")
        .args(args));
    assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
    (out.status.code().expect("kiln exited"), stdout, stderr)
}

fn json_rows(stdout: &str) -> Vec<Json> {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn record_of(fx: &Fixture, name: &str) -> Endpoint {
    Endpoint::find_by_name(&mut fx.db.connect(), name)
        .expect("reading the endpoint")
        .unwrap_or_else(|| panic!("endpoint `{name}` is recorded"))
}

#[test]
fn ping_prints_the_versions_and_records_the_endpoint_healthy_with_its_timeout() {
    let Some(fx) = Fixture::new() else { return };
    let uri = local_endpoint().uri;
    let repo = repo(
        &fx,
        &endpoint_table("pinged", &uri, 7),
        &sleeping_package("pkg", 0),
    );
    let (code, stdout, stderr) = endpoint(
        &fx,
        &repo,
        &["ping", "-n", "3", "--sleep", "0", "-o", "json"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rows = json_rows(&stdout);
    assert_eq!(rows.len(), 1, "{stdout}");
    let row = &rows[0];
    assert_eq!(row["endpoint"], "pinged");
    assert_eq!(row["pings"], 3);
    let engine = row["engine"].as_str().expect("an engine version");
    assert!(!engine.is_empty(), "{stdout}");
    assert!(
        row["api"].as_str().is_some_and(|a| a.starts_with("1.")),
        "{stdout}"
    );
    let (min, max) = (row["min_ms"].as_f64(), row["max_ms"].as_f64());
    assert!(
        min.zip(max)
            .is_some_and(|(min, max)| 0.0 < min && min <= max),
        "{stdout}"
    );

    let record = record_of(&fx, "pinged");
    assert_eq!(record.healthy, Some(true));
    assert_eq!(record.engine_version.as_deref(), Some(engine));
    assert!(record.last_seen_at.is_some());
    assert_eq!(record.last_checked_at, record.last_seen_at);
    assert_eq!(record.timeout_ms, Some(7_000));
    assert_eq!(record.last_error, None);

    // `db endpoints` shows the timeout.
    let (out, stdout, stderr) =
        run(fx
            .db
            .kiln(&fx.sandbox)
            .args(["db", "endpoints", "-o", "json"]));
    assert!(out.status.success(), "{stderr}");
    let rows = json_rows(&stdout);
    assert_eq!(rows[0]["timeout_ms"], 7_000, "{stdout}");
}

#[test]
fn an_endpoint_without_an_engine_is_named_recorded_unhealthy_and_fails_the_command() {
    let Some(fx) = Fixture::new() else { return };
    let nothing = fx.sandbox.path().join("no-engine.sock");
    let endpoints = format!(
        "{}{}",
        endpoint_table("alive", &local_endpoint().uri, 10),
        endpoint_table("dead", &format!("unix://{}", nothing.display()), 2)
    );
    let repo = repo(&fx, &endpoints, &sleeping_package("pkg", 0));
    let (code, stdout, stderr) = endpoint(&fx, &repo, &["ping", "-n", "1", "-o", "json"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("endpoint `dead`"), "{stderr}");
    let rows = json_rows(&stdout);
    let names: Vec<&str> = rows.iter().filter_map(|r| r["endpoint"].as_str()).collect();
    assert_eq!(names, ["alive"], "the one that answered is printed");

    let dead = record_of(&fx, "dead");
    assert_eq!(dead.healthy, Some(false));
    assert!(dead.last_checked_at.is_some());
    assert_eq!(dead.last_seen_at, None, "it never answered");
    assert_eq!(dead.timeout_ms, Some(2_000));
    let error = dead.last_error.expect("why it is unhealthy");
    assert!(error.contains("dead"), "{error}");
    assert_eq!(record_of(&fx, "alive").healthy, Some(true));

    // Only NAME is asked: the dead one alone fails, the live one alone succeeds.
    assert_eq!(endpoint(&fx, &repo, &["dead", "ping", "-n", "1"]).0, 1);
    assert_eq!(endpoint(&fx, &repo, &["alive", "ping", "-n", "1"]).0, 0);
}

#[test]
fn an_unknown_endpoint_name_is_a_usage_error_listing_the_configured_ones() {
    let Some(fx) = Fixture::new() else { return };
    let endpoints = format!(
        "{}{}",
        endpoint_table("first", &local_endpoint().uri, 10),
        endpoint_table("second", &local_endpoint().uri, 10)
    );
    let repo = repo(&fx, &endpoints, &sleeping_package("pkg", 0));
    let (code, stdout, stderr) = endpoint(&fx, &repo, &["nosuch", "stats"]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("`nosuch`"), "{stderr}");
    assert!(stderr.contains("first, second"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
}

#[test]
fn stats_show_what_the_engine_reports() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(
        &fx,
        &endpoint_table("stats", &local_endpoint().uri, 10),
        &sleeping_package("pkg", 0),
    );
    let (code, stdout, stderr) = endpoint(&fx, &repo, &["stats", "-o", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rows = json_rows(&stdout);
    assert_eq!(rows.len(), 1, "{stdout}");
    let row = &rows[0];
    assert_eq!(row["endpoint"], "stats");
    assert!(row["cpus"].as_u64().is_some_and(|n| n >= 1), "{stdout}");
    assert!(
        row["memory"].as_u64().is_some_and(|b| b > 1 << 20),
        "{stdout}"
    );
    assert!(
        row["images"].as_u64().is_some_and(|n| n >= 1),
        "the test image at least: {stdout}"
    );
    assert!(row["containers"].as_u64().is_some(), "{stdout}");
    assert_eq!(record_of(&fx, "stats").healthy, Some(true));
}

/// The image's id as `docker image inspect` gives it.
fn docker_image_id(image: &str) -> String {
    let out = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .expect("running docker image inspect");
    assert!(out.status.success(), "docker image inspect {image}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn images_are_listed_and_verified_present_with_their_id() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(
        &fx,
        &endpoint_table("imgs", &local_endpoint().uri, 10),
        &sleeping_package("pkg", 0),
    );
    let id = docker_image_id(&fx.image);

    let (code, stdout, stderr) = endpoint(&fx, &repo, &["images", "list", "-o", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rows = json_rows(&stdout);
    let test_image = rows
        .iter()
        .find(|r| {
            r["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == fx.image.as_str()))
        })
        .unwrap_or_else(|| panic!("{} is listed: {stdout}", fx.image));
    assert_eq!(test_image["id"], id.as_str());
    assert_eq!(test_image["endpoint"], "imgs");

    // By its short name: present, with the same id.
    let (code, stdout, stderr) = endpoint(
        &fx,
        &repo,
        &["images", "verify-present", "busybox", "-o", "json"],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let rows = json_rows(&stdout);
    assert_eq!(rows.len(), 1, "{stdout}");
    assert_eq!(rows[0]["status"], "present");
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["image"], fx.image.as_str());

    // A configured image the engine does not have: exit 1, the endpoint named.
    let (code, stdout, stderr) = endpoint(
        &fx,
        &repo,
        &["images", "verify-present", "missing", "-o", "json"],
    );
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("endpoint `imgs`"), "{stderr}");
    assert!(stderr.contains("kiln-no-such-image:never"), "{stderr}");
    assert_eq!(json_rows(&stdout)[0]["status"], "missing");

    // Without IMAGE, every configured image: one is missing.
    let (code, stdout, _) = endpoint(&fx, &repo, &["images", "verify-present", "-o", "json"]);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(json_rows(&stdout).len(), 2, "{stdout}");
}

/// `kiln endpoint containers CMD --submit UUID ARGS... -o json`.
fn containers(
    fx: &Fixture,
    repo: &Path,
    cmd: &str,
    submit: uuid::Uuid,
    args: &[&str],
) -> Vec<Json> {
    let submit = submit.to_string();
    let mut all = vec!["containers", cmd, "--submit", submit.as_str(), "-o", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = endpoint(fx, repo, &all);
    assert_eq!(code, 0, "containers {cmd}: {stdout}\n{stderr}");
    json_rows(&stdout)
}

/// The count of containers a `stop` or `prune` reports for the endpoint.
fn count(rows: &[Json], column: &str) -> u64 {
    assert_eq!(rows.len(), 1, "one endpoint: {rows:?}");
    rows[0][column]
        .as_u64()
        .unwrap_or_else(|| panic!("{column}: {rows:?}"))
}

#[test]
fn a_kept_container_is_listed_with_its_job_and_pruned_once_its_submit_ended() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(
        &fx,
        &endpoint_table("kept", &local_endpoint().uri, 10),
        &sleeping_package("pkg", 0),
    );
    let (out, stdout, stderr) =
        run(&mut fx.submit_command(&repo, &["pkg", "-I", "busybox", "--keep-containers"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let mut conn = fx.db.connect();
    let submit = records::only_submit(&mut conn);
    let _cleanup = SubmitContainers {
        submit: submit.uuid,
    };
    let job = records::jobs_of(&mut conn, &submit)[0].job.uuid;
    assert_eq!(
        kiln_containers_of(submit.uuid).len(),
        1,
        "the container was kept"
    );

    let rows = containers(&fx, &repo, "list", submit.uuid, &["--all"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["endpoint"], "kept");
    assert_eq!(row["job"], job.to_string());
    assert_eq!(row["submit"], submit.uuid.to_string());
    assert_eq!(
        (row["package"].as_str(), row["version"].as_str()),
        (Some("pkg"), Some("1"))
    );
    assert_eq!(row["state"], "exited");
    assert_eq!(row["submit_status"], "succeeded");
    assert_eq!(
        row["container"],
        kiln_containers_of(submit.uuid)[0].as_str()
    );
    assert!(row["age"].as_i64().is_some_and(|s| s >= 0), "{row}");
    // Without --all, only running containers.
    assert!(containers(&fx, &repo, "list", submit.uuid, &[]).is_empty());
    // Not older than an hour: not pruned.
    assert_eq!(
        count(
            &containers(&fx, &repo, "prune", submit.uuid, &["--older-than", "1h"]),
            "removed"
        ),
        0
    );
    assert_eq!(kiln_containers_of(submit.uuid).len(), 1);

    assert_eq!(
        count(
            &containers(&fx, &repo, "prune", submit.uuid, &[]),
            "removed"
        ),
        1
    );
    assert!(kiln_containers_of(submit.uuid).is_empty(), "pruned");
}

/// Waits until the only submit's container runs; returns the submit's UUID.
fn wait_for_container(fx: &Fixture, child: &mut Child) -> uuid::Uuid {
    let mut conn = fx.db.connect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "no container ran within 60 s");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("kiln ended early with {status}");
        }
        if let Some(submit) = records::submits(&mut conn).first() {
            let running = Command::new("docker")
                .args([
                    "ps",
                    "-q",
                    "--filter",
                    "label=org.kiln.managed=true",
                    "--filter",
                ])
                .arg(format!("label=org.kiln.submit={}", submit.uuid))
                .output()
                .expect("running docker ps");
            if !String::from_utf8_lossy(&running.stdout).trim().is_empty() {
                return submit.uuid;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn after_kill_9_the_submit_is_lost_at_once_and_its_containers_are_stopped_and_pruned() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(
        &fx,
        &endpoint_table("killed", &local_endpoint().uri, 10),
        &sleeping_package("pkg", 30),
    );
    let mut child = fx
        .submit_command(&repo, &["pkg", "-I", "busybox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting kiln");
    let submit = wait_for_container(&fx, &mut child);
    let _cleanup = SubmitContainers { submit };

    // While its kiln lives, its container is not touched.
    assert_eq!(
        count(
            &containers(&fx, &repo, "stop", submit, &["-t", "1"]),
            "stopped"
        ),
        0
    );
    assert_eq!(kiln_containers_of(submit).len(), 1);

    child.kill().expect("SIGKILL to kiln");
    child.wait().expect("reaping kiln");
    let started = Instant::now();
    let (out, stdout, stderr) = run(fx
        .db
        .kiln(&fx.sandbox)
        .args(["db", "submits", "-o", "json"]));
    assert!(out.status.success(), "{stderr}");
    let rows = json_rows(&stdout);
    let row = rows
        .iter()
        .find(|r| r["uuid"] == submit.to_string())
        .unwrap_or_else(|| panic!("the submit is listed: {stdout}"));
    assert_eq!(row["status"], "lost", "{stdout}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "at once, not after the lease ran out"
    );

    // Its container still runs: prune leaves it, stop stops it, prune removes it.
    assert_eq!(
        count(&containers(&fx, &repo, "prune", submit, &[]), "removed"),
        0
    );
    assert_eq!(
        kiln_containers_of(submit).len(),
        1,
        "a running container is not pruned"
    );
    assert_eq!(
        count(
            &containers(&fx, &repo, "stop", submit, &["-t", "1"]),
            "stopped"
        ),
        1
    );
    assert_eq!(
        count(&containers(&fx, &repo, "prune", submit, &[]), "removed"),
        1
    );
    assert!(
        kiln_containers_of(submit).is_empty(),
        "pruned: {:?}",
        kiln_containers_of(submit)
    );
    assert_eq!(
        count(&containers(&fx, &repo, "prune", submit, &[]), "removed"),
        0,
        "nothing left"
    );
}

#[test]
fn ping_works_while_the_database_is_down_and_says_the_health_was_not_recorded() {
    let Some(fx) = Fixture::new() else { return };
    let repo = repo(
        &fx,
        &endpoint_table("nodb", &local_endpoint().uri, 10),
        &sleeping_package("pkg", 0),
    );
    let nowhere = format!(
        "postgres:///kiln?host={}",
        fx.sandbox.path().join("no-server").display()
    );
    let (out, stdout, stderr) = run(fx
        .sandbox
        .kiln()
        .arg("--database-url")
        .arg(&nowhere)
        .arg("--repo")
        .arg(&repo)
        .args(["endpoint", "ping", "-n", "1", "-o", "json"]));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(json_rows(&stdout)[0]["endpoint"], "nodb", "{stdout}");
    assert!(
        stderr.contains("health was not recorded"),
        "a warning says so: {stderr}"
    );
}
