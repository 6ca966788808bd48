//! Errors through the real binary say each cause once: a missing file (the
//! `--config` file, a source file of a job), an error status of the Docker
//! engine, a full disk under the staging directory. Each test checks both
//! what is printed and what is recorded as the job's error.

use std::path::Path;
use std::process::Command;

use kiln::db::models::JobStatus;

use crate::submit::{config_toml, git_repo, Fixture};
use crate::support::http::{Reply, Server};
use crate::support::records;
use crate::support::snapshot::assert_snapshot;
use crate::support::{run, Sandbox};

/// How often `needle` occurs in `text`.
fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn a_missing_config_file_is_said_once() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("nowhere/kiln.toml");
    let (out, stdout, stderr) = run(sandbox
        .kiln()
        .arg("--config")
        .arg(&missing)
        .args(["config", "show"]));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert_snapshot!("missing_config_file", stderr);
}

/// Where a submit stages its outputs.
enum Staging {
    Plenty,
    /// A tmpfs of this size.
    Small(&'static str),
}

/// Submits `root` of a repository of `files` (with the test config); returns
/// the exit code, the output and the recorded `root` job.
fn failing_submit(
    files: &[(&str, &str)],
    extra_config: &str,
    args: &[&str],
    staging: Staging,
) -> Option<(i32, String, kiln::db::models::jobs::Job)> {
    let fx = Fixture::new()?;
    let _tmpfs = match staging {
        Staging::Plenty => None,
        Staging::Small(size) => Some(Tmpfs::mount(&fx.staging(), size)?),
    };
    let config = config_toml(&fx.image, extra_config);
    let mut all = vec![("config.toml", config.as_str())];
    all.extend_from_slice(files);
    let repo = git_repo(&fx.sandbox, "repo", &all);
    let mut cmd = fx.submit_command(&repo, &[&["root", "-I", "busybox"], args].concat());
    let (out, stdout, stderr) = run(&mut cmd);
    let code = out.status.code().expect("kiln exited");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let mut conn = fx.db.connect();
    let submits = records::submits(&mut conn);
    assert_eq!(submits.len(), 1, "no submit recorded:\n{stdout}{stderr}");
    let submit = &submits[0];
    for id in crate::submit::kiln_containers_of(submit.uuid) {
        let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    }
    let jobs = records::jobs_of(&mut conn, submit);
    let root = records::job_named(&jobs, "root").job.clone();
    Some((code, format!("{stdout}{stderr}"), root))
}

/// The job failed, and `cause` is said once in its record and once in the
/// output.
fn assert_said_once(code: i32, output: &str, job: &kiln::db::models::jobs::Job, cause: &str) {
    assert_eq!(code, 1, "{output}");
    assert_eq!(job.status, JobStatus::Failed, "{job:?}");
    let message = job.error_message.as_deref().expect("an error message");
    assert_eq!(count(message, cause), 1, "recorded: {message}");
    assert_eq!(count(output, cause), 1, "printed: {output}");
}

#[test]
fn a_missing_source_file_is_said_once() {
    let package = format!(
        "name = \"root\"\nversion = \"1\"\n[sources.src]\nurl = \"https://example.invalid/root-1.tar\"\nhash = {{ type = \"sha256\", hash = \"{}\" }}\n",
        "0".repeat(64)
    );
    let Some((code, output, job)) = failing_submit(
        &[("root/pkg.toml", &package)],
        "",
        &["--no-verify"],
        Staging::Plenty,
    ) else {
        return;
    };
    assert_said_once(code, &output, &job, "No such file or directory");
    assert_snapshot!("missing_source_file", output);
}

/// A fake Docker engine that answers what a submit asks before it creates
/// a container, and refuses to create one with HTTP 500.
fn refusing_engine(image: &str) -> Server {
    let version = r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64","KernelVersion":"6.1"}"#;
    let ok = |body: &str| Reply::Json {
        status: 200,
        body: body.to_owned(),
    };
    let image_json =
        ok(r#"{"Id":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}"#);
    let refusal = Reply::Json {
        status: 500,
        body: r#"{"message":"the fake engine creates no container"}"#.to_owned(),
    };
    let routes = [
        ("version".to_owned(), ok(version)),
        ("containers/json".to_owned(), ok("[]")),
        (format!("images/{image}/json"), image_json.clone()),
        (
            format!("images/{}/json", image.replace(':', "%3A")),
            image_json,
        ),
        ("containers/create".to_owned(), refusal),
    ];
    // With and without the API version in the path.
    let versioned = routes
        .iter()
        .map(|(path, reply)| (format!("v1.41/{path}"), reply.clone()));
    Server::start(routes.iter().cloned().chain(versioned).collect())
}

#[test]
fn a_docker_error_status_is_said_once() {
    let Some(image) = crate::support::docker::test_image() else {
        return;
    };
    let engine = refusing_engine(&image);
    let endpoint = format!("\n[docker.endpoints.fake]\nuri = \"{}\"\n", engine.url(""));
    let endpoint = endpoint.replace("/\"\n", "\"\n");
    let package = "name = \"root\"\nversion = \"1\"\n";
    let Some((code, output, job)) = failing_submit(
        &[("root/pkg.toml", package)],
        &endpoint,
        &[],
        Staging::Plenty,
    ) else {
        return;
    };
    assert!(
        engine
            .requests()
            .iter()
            .any(|r| r.ends_with("/containers/create")),
        "{:?}",
        engine.requests()
    );
    assert_said_once(code, &output, &job, "Docker responded with status code 500");
    assert_said_once(code, &output, &job, "the fake engine creates no container");
    assert_said_once(code, &output, &job, "endpoint `fake`");
    assert_snapshot!("docker_error_status", output);
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("creating the mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            return crate::support::db::missing(&format!(
                "cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Some(Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn a_full_disk_is_said_once() {
    let package = "name = \"root\"\nversion = \"1\"\n[phases.build]\nscript = '''\nmkdir -p /outputs\nyes kiln | head -c 3000000 > /outputs/big\n'''\n";
    let Some((code, output, job)) =
        failing_submit(&[("root/pkg.toml", package)], "", &[], Staging::Small("1m"))
    else {
        return;
    };
    assert_said_once(code, &output, &job, "No space left on device");
    assert_snapshot!("full_disk", output);
}
