//! Endpoints other than the local engine: a second real `dockerd` (see
//! `support::engine`) reached over its unix socket and over TLS, with a
//! trusted client certificate, a wrong CA and an untrusted client
//! certificate; and the engine dying or freezing under the tests' control.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::submit::{config_toml, git_repo, Fixture};
use crate::support::docker::test_image;
use crate::support::engine::{image_id, is_live_process, SecondEngine};
use crate::support::run;

/// One package, `hello`, whose build writes `/outputs/hello.txt`.
const ROOT_PKG: &str = r#"[phases.build]
script = '''
mkdir -p /outputs
echo "built on $(hostname)" > /outputs/hello.txt
'''
"#;

const HELLO_PKG: &str = "name = \"hello\"\nversion = \"1\"\n";

/// A repository with `hello` and only the endpoints of `endpoints`.
fn hello_repo(fx: &Fixture, endpoints: &str) -> PathBuf {
    let config = config_toml(&fx.image, endpoints);
    git_repo(
        &fx.sandbox,
        "repo",
        &[
            ("config.toml", &config),
            ("pkg.toml", ROOT_PKG),
            ("hello/pkg.toml", HELLO_PKG),
        ],
    )
}

/// The `endpoint` of every job `kiln db jobs -o json` lists.
fn job_endpoints(fx: &Fixture) -> Vec<String> {
    let (out, stdout, stderr) = run(fx.db.kiln(&fx.sandbox).args(["db", "jobs", "-o", "json"]));
    assert!(out.status.success(), "kiln db jobs failed: {stderr}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout).expect("db jobs prints JSON");
    rows.iter()
        .map(|row| {
            row["endpoint"]
                .as_str()
                .unwrap_or_else(|| panic!("a job without an endpoint: {row}"))
                .to_owned()
        })
        .collect()
}

fn staged_hello(fx: &Fixture) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(fx.staging()).into_iter().flatten() {
        if entry.file_name() == "hello.txt" {
            found.push(entry.path().to_owned());
        }
    }
    found
}

#[test]
fn a_second_engine_builds_alone_with_the_same_image() {
    let Some(fx) = Fixture::new() else { return };
    let Some(engine) = SecondEngine::start() else {
        return;
    };
    assert_eq!(
        engine.image_id(&fx.image),
        image_id(&mut std::process::Command::new("docker"), &fx.image),
        "the loaded test image keeps its id"
    );

    let repo = hello_repo(&fx, &engine.endpoint_toml("second", 1));
    let (code, stdout, stderr) = fx.submit(&repo, &["hello", "-I", "busybox"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(job_endpoints(&fx), ["second"]);
    assert_eq!(staged_hello(&fx).len(), 1, "hello.txt staged once");
    assert_eq!(
        engine.kiln_containers(),
        Vec::<String>::new(),
        "containers left"
    );
}

#[test]
fn a_tls_endpoint_builds() {
    let Some(fx) = Fixture::new() else { return };
    let Some(engine) = SecondEngine::start_with_tls() else {
        return;
    };
    let repo = hello_repo(&fx, &documented_tls_endpoint(&engine));
    let (code, stdout, stderr) = fx.submit(&repo, &["hello", "-I", "busybox"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(job_endpoints(&fx), ["secure"]);
    assert_eq!(staged_hello(&fx).len(), 1, "hello.txt staged once");
    assert_eq!(
        engine.kiln_containers(),
        Vec::<String>::new(),
        "containers left"
    );
}

/// The TLS endpoint example of `docs/configuration.md`, with this engine's
/// address and files in place of the example's.
fn documented_tls_endpoint(engine: &SecondEngine) -> String {
    let doc = include_str!("../../docs/configuration.md");
    let start = doc
        .find("```toml\n[docker.endpoints.secure]")
        .expect("docs/configuration.md has the TLS endpoint example");
    let block = &doc[start + "```toml".len()..];
    let mut toml = block[..block.find("```").expect("the example ends")].to_owned();
    let files = engine.tls_files();
    let uri = engine.tls_uri();
    for (example, real) in [
        ("https://build2.example.org:2376", uri.as_str()),
        ("/etc/kiln/tls/ca.pem", &files.ca.to_string_lossy()),
        ("/etc/kiln/tls/cert.pem", &files.cert.to_string_lossy()),
        ("/etc/kiln/tls/key.pem", &files.key.to_string_lossy()),
    ] {
        assert!(toml.contains(example), "the example has {example}: {toml}");
        toml = toml.replace(example, real);
    }
    toml
}

/// Submits `hello` with one TLS endpoint made by `toml`; expects exit 1
/// and no job built; returns stderr.
fn refused_tls_submit(fx: &Fixture, toml: &str) -> String {
    let repo = hello_repo(fx, toml);
    let (code, stdout, stderr) = fx.submit(&repo, &["hello", "-I", "busybox"]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("endpoint `secure`: TLS with https://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hyper"),
        "no client library's words: {stderr}"
    );
    assert!(staged_hello(fx).is_empty(), "nothing built");
    stderr
}

#[test]
fn a_tls_endpoint_with_a_wrong_ca_is_a_clear_error() {
    let Some(fx) = Fixture::new() else { return };
    let Some(engine) = SecondEngine::start_with_tls() else {
        return;
    };
    let files = engine.tls_files();
    let stderr = refused_tls_submit(&fx, &engine.tls_endpoint_toml("secure", 1, &files.wrong_ca));
    let said = format!(
        "the engine's certificate could not be verified with the CA `{}` \
         (invalid peer certificate: UnknownIssuer)",
        files.wrong_ca.display()
    );
    assert!(
        stderr.contains(&said),
        "the cause reaches the user: {stderr}"
    );
}

#[test]
fn a_tls_endpoint_refusing_the_client_certificate_is_a_clear_error() {
    let Some(fx) = Fixture::new() else { return };
    let Some(engine) = SecondEngine::start_with_tls() else {
        return;
    };
    let files = engine.tls_files();
    let toml = engine.tls_endpoint_toml_with(
        "secure",
        1,
        &files.ca,
        &files.untrusted_cert,
        &files.untrusted_key,
    );
    let stderr = refused_tls_submit(&fx, &toml);
    let said = format!(
        "the engine refused the client certificate `{}`",
        files.untrusted_cert.display()
    );
    assert!(
        stderr.contains(&said),
        "the cause reaches the user: {stderr}"
    );
}

#[test]
fn a_second_engine_can_be_frozen_thawed_and_killed() {
    let Some(image) = test_image() else { return };
    let Some(engine) = SecondEngine::start() else {
        return;
    };
    let quick = Duration::from_secs(10);
    assert!(engine.answers_within(quick), "a started engine answers");
    engine.freeze();
    assert!(
        !engine.answers_within(Duration::from_secs(2)),
        "a frozen engine does not answer"
    );
    engine.thaw();
    assert!(
        engine.answers_within(quick),
        "a thawed engine answers again"
    );

    // A container running when the engine dies outlives it, until the drop.
    let out = engine
        .docker()
        .args(["run", "-d", "--label", "org.kiln.managed=true"])
        .args([image.as_str(), "sleep", "600"])
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    engine.kill();
    assert!(
        !engine.answers_within(Duration::from_secs(2)),
        "a killed engine does not answer"
    );
    assert!(
        !engine.processes().is_empty(),
        "the container's processes outlive dockerd"
    );

    let processes = engine.processes();
    let root = engine.root().to_string_lossy().into_owned();
    let bridge = Path::new("/sys/class/net").join(engine.name());
    assert!(bridge.exists(), "the engine has its bridge");
    drop(engine);
    let survivors: Vec<_> = processes
        .into_iter()
        .filter(|&p| is_live_process(p))
        .collect();
    assert!(
        survivors.is_empty(),
        "processes survive the drop: {survivors:?}"
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mountinfo.contains(&root), "mounts survive: {mountinfo}");
    assert!(!Path::new(&root).exists(), "the directory is removed");
    assert!(!bridge.exists(), "the bridge is removed");
}
