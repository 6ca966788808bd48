//! Docker through kiln's endpoint module: a container from the test image
//! runs a script with uploaded inputs, its output arrives as lines, its exit
//! status is a result, its `/outputs` is extracted safely into a staging
//! directory. Also crafted archives that try to escape the staging directory.
//! Every test removes its containers, and checks that none is left.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use kiln::endpoint::{
    AllowedVersions, Container, ContainerSpec, Endpoint, EndpointError, Finished, Removal,
    UploadSet,
};
use kiln::log::{LineEnd, LogLine, Marker, Source};
use kiln::store::{RefusalReason, StagingStore};
use sha2::Digest;
use uuid::Uuid;

use crate::support::docker::{local_endpoint, test_image, SubmitContainers};

async fn connect() -> Endpoint {
    Endpoint::connect(&local_endpoint())
        .await
        .expect("connecting to the local engine")
}

/// Runs `script` in a fresh container with `files` uploaded; returns the
/// finished container and every line it printed.
async fn run(
    endpoint: &Endpoint,
    spec: &ContainerSpec,
    script: &str,
    mut files: UploadSet,
) -> (Container<Finished>, Vec<LogLine>) {
    files.script(script).expect("adding the script");
    let created = endpoint
        .create_container(spec)
        .await
        .expect("creating a container");
    created.upload(files).await.expect("uploading");
    let (running, mut logs) = created.start().await.expect("starting");
    let mut lines = Vec::new();
    while let Some(line) = logs.next().await {
        lines.push(line.expect("reading a log line"));
    }
    let finished = running.wait().await.expect("waiting");
    (finished, lines)
}

fn texts(lines: &[LogLine], source: Source) -> Vec<Vec<u8>> {
    lines
        .iter()
        .filter(|l| l.source == source)
        .map(|l| l.line.bytes.clone())
        .collect()
}

/// Fails when any container of the submit is still on the endpoint.
async fn assert_no_containers_left(endpoint: &Endpoint, submit: Uuid) {
    let left: Vec<_> = endpoint
        .list_kiln_containers()
        .await
        .expect("listing containers")
        .into_iter()
        .filter(|c| c.submit == Some(submit))
        .collect();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_a_container_prints_and_exits() {
    let Some(image) = test_image() else { return };
    let guard = SubmitContainers::new();
    let endpoint = connect().await;
    let spec = ContainerSpec::new(&image, guard.submit, Uuid::new_v4());
    let (finished, lines) = run(
        &endpoint,
        &spec,
        "#!/bin/sh\necho hello from kiln\n",
        UploadSet::new(),
    )
    .await;
    assert_eq!(finished.exit_status().code(), 0);
    assert_eq!(texts(&lines, Source::Stdout), [b"hello from kiln".to_vec()]);
    finished.remove(Removal::IfStopped).await.expect("removing");
    assert_no_containers_left(&endpoint, guard.submit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_reports_its_versions_and_they_are_checked() {
    let Some(_image) = test_image() else { return };
    let endpoint = connect().await;
    let info = endpoint
        .check(&AllowedVersions::default())
        .await
        .expect("checking");
    assert!(!info.engine_version.is_empty());
    assert!(info.api_version.starts_with("1."), "{info:?}");
    // The negotiated version is never newer than what the engine speaks.
    let number = |v: &str| -> (u32, u32) {
        let (major, minor) = v.split_once('.').expect("a dotted version");
        (major.parse().expect("major"), minor.parse().expect("minor"))
    };
    assert!(
        number(&info.negotiated_api_version) <= number(&info.api_version),
        "{info:?}"
    );

    let allowed = AllowedVersions {
        engine: Some(vec![info.engine_version.clone()]),
        api: Some(vec![info.api_version.clone()]),
    };
    assert_eq!(endpoint.check(&allowed).await.expect("allowed"), info);

    let refused = AllowedVersions {
        engine: Some(vec!["0.0.1-never".into()]),
        api: None,
    };
    match endpoint.check(&refused).await {
        Err(EndpointError::VersionNotAllowed {
            endpoint,
            info: reported,
            refusal,
        }) => {
            assert_eq!(endpoint, "it-local");
            assert_eq!(*reported, info);
            assert_eq!(refusal.found, info.engine_version);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn images_resolve_to_digests_and_a_missing_one_is_a_clean_error() {
    let Some(image) = test_image() else { return };
    let endpoint = connect().await;
    let digest = endpoint
        .image_digest(&image)
        .await
        .expect("inspecting")
        .expect("the test image exists");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(
        endpoint.ensure_image(&image).await.expect("present"),
        digest
    );

    let missing = "kiln-it-no-such-image:never";
    assert_eq!(
        endpoint.image_digest(missing).await.expect("inspecting"),
        None
    );
    let started = std::time::Instant::now();
    let err = endpoint
        .ensure_image(missing)
        .await
        .expect_err("cannot be pulled");
    assert!(matches!(err, EndpointError::ImageMissing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(missing) && message.contains("`it-local`"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_full_cycle_from_inputs_to_staged_artifacts() {
    let Some(image) = test_image() else { return };
    let guard = SubmitContainers::new();
    let endpoint = connect().await;
    let dir = tempfile::tempdir().expect("tempdir");

    // Inputs: a source, a dependency artifact large enough to span many
    // chunks of the upload stream, and a patch in a nested directory.
    let source = dir.path().join("src.source");
    std::fs::write(&source, b"the source tarball").expect("writing");
    let big: Vec<u8> = (0u32..5_000_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let dep = dir.path().join("dep-1.0.pkg");
    std::fs::write(&dep, &big).expect("writing");
    let patch = dir.path().join("fix.patch");
    std::fs::write(&patch, b"--- a\n+++ b\n").expect("writing");
    let mut files = UploadSet::new();
    files.input("src.source", &source).expect("input");
    files.input("dep-1.0.pkg", &dep).expect("input");
    files.patch("libs/zlib/fix.patch", &patch).expect("patch");

    let mut spec = ContainerSpec::new(&image, guard.submit, Uuid::new_v4());
    spec.env = vec![("KILN_TEST_VAR".into(), "hello world".into())];
    spec.working_dir = "/tmp".into();
    let script = r#"#!/bin/bash
echo '#KILN:PHASE:build'
echo "cwd=$(pwd) var=$KILN_TEST_VAR"
printf 'caf\351 is latin-1\n'
echo "to stderr" >&2
sha256sum /inputs/dep-1.0.pkg | cut -d' ' -f1
mkdir -p /outputs/sub/deep
cp /inputs/src.source /outputs/pkg-1.0.tar.gz
cp /patches/libs/zlib/fix.patch /outputs/sub/deep/fix.copy
echo '#KILN:STATE:OK'
printf 'no newline at the end'
"#;
    let (finished, lines) = run(&endpoint, &spec, script, files).await;
    assert_eq!(finished.exit_status().code(), 0, "{lines:?}");
    assert!(finished.exit_status().success());

    let stdout = texts(&lines, Source::Stdout);
    let expected: Vec<Vec<u8>> = vec![
        b"#KILN:PHASE:build".to_vec(),
        b"cwd=/tmp var=hello world".to_vec(),
        b"caf\xe9 is latin-1".to_vec(),
        sha256_hex(&big).into_bytes(),
        b"#KILN:STATE:OK".to_vec(),
        b"no newline at the end".to_vec(),
    ];
    assert_eq!(stdout, expected);
    assert_eq!(texts(&lines, Source::Stderr), [b"to stderr".to_vec()]);
    let last = lines
        .iter()
        .rfind(|l| l.source == Source::Stdout)
        .expect("a last line");
    assert_eq!(last.line.end, LineEnd::EndOfOutput);
    let latin1 = lines
        .iter()
        .find(|l| l.line.bytes.starts_with(b"caf"))
        .expect("the latin-1 line");
    assert_eq!(latin1.line.text(), "caf\u{fffd} is latin-1");
    // Lines carry their time, in order.
    assert!(lines.windows(2).all(|w| w[0].at <= w[1].at));
    let markers: Vec<Marker> = lines
        .iter()
        .filter_map(|l| kiln::log::marker::parse(&l.line.bytes))
        .collect();
    assert_eq!(markers, [Marker::Phase("build".into()), Marker::StateOk]);

    let staging = StagingStore::new(dir.path().join("staging"));
    let extraction = staging
        .extract_outputs(guard.submit, finished.download_outputs())
        .await
        .expect("extracting outputs");
    assert!(extraction.refused.is_empty(), "{:?}", extraction.refused);
    let mut artifacts: Vec<(String, u64, String)> = extraction
        .artifacts
        .iter()
        .map(|a| (a.path.to_string(), a.size, a.sha256.to_hex()))
        .collect();
    artifacts.sort();
    assert_eq!(
        artifacts,
        [
            (
                "pkg-1.0.tar.gz".to_string(),
                18,
                sha256_hex(b"the source tarball")
            ),
            (
                "sub/deep/fix.copy".to_string(),
                12,
                sha256_hex(b"--- a\n+++ b\n")
            ),
        ]
    );
    let submit_dir = staging.submit_dir(guard.submit);
    assert_eq!(extraction.dir, submit_dir);
    assert_eq!(
        std::fs::read(submit_dir.join("pkg-1.0.tar.gz")).expect("reading"),
        b"the source tarball"
    );

    finished.remove(Removal::IfStopped).await.expect("removing");
    assert_no_containers_left(&endpoint, guard.submit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_zero_exit_is_a_result_not_an_error() {
    let Some(image) = test_image() else { return };
    let guard = SubmitContainers::new();
    let endpoint = connect().await;
    let spec = ContainerSpec::new(&image, guard.submit, Uuid::new_v4());
    let script = "#!/bin/sh\necho '#KILN:STATE:ERR:\"tests failed\"'\nexit 3\n";
    let (finished, lines) = run(&endpoint, &spec, script, UploadSet::new()).await;
    assert_eq!(finished.exit_status().code(), 3);
    assert!(!finished.exit_status().success());
    let marker = kiln::log::marker::parse(&lines[0].line.bytes);
    assert_eq!(marker, Some(Marker::StateErr("tests failed".into())));
    finished.remove(Removal::IfStopped).await.expect("removing");
    assert_no_containers_left(&endpoint, guard.submit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_that_try_to_escape_are_refused() {
    let Some(image) = test_image() else { return };
    let guard = SubmitContainers::new();
    let endpoint = connect().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = ContainerSpec::new(&image, guard.submit, Uuid::new_v4());
    let script = "#!/bin/sh
set -e
ln -s /etc/passwd /outputs/passwd-link
ln -s ../../../../../etc /outputs/up
mkfifo /outputs/fifo
echo fine > /outputs/fine
";
    let (finished, lines) = run(&endpoint, &spec, script, UploadSet::new()).await;
    assert_eq!(finished.exit_status().code(), 0, "{lines:?}");
    let staging = StagingStore::new(dir.path().join("staging"));
    let extraction = staging
        .extract_outputs(guard.submit, finished.download_outputs())
        .await
        .expect("extracting outputs");
    finished.remove(Removal::IfStopped).await.expect("removing");

    let paths: Vec<String> = extraction
        .artifacts
        .iter()
        .map(|a| a.path.to_string())
        .collect();
    // Anything refused: nothing of the outputs is kept.
    assert_eq!(paths, Vec::<String>::new());
    assert!(!staging.submit_dir(guard.submit).join("fine").exists());
    let mut refused: Vec<(String, String)> = extraction
        .refused
        .iter()
        .map(|r| {
            let kind = match &r.reason {
                RefusalReason::LinkOutside { .. } => "link outside",
                RefusalReason::Fifo => "fifo",
                other => panic!("unexpected refusal {other:?}"),
            };
            (r.entry.clone(), kind.to_string())
        })
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            ("outputs/fifo".to_string(), "fifo".to_string()),
            (
                "outputs/passwd-link".to_string(),
                "link outside".to_string()
            ),
            ("outputs/up".to_string(), "link outside".to_string()),
        ]
    );
    assert_only_below(dir.path(), &staging.submit_dir(guard.submit));
    assert_no_containers_left(&endpoint, guard.submit).await;
}

/// Every path under `root` is `dir`, one of its parents, or below it.
fn assert_only_below(root: &Path, dir: &Path) {
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let path = entry.expect("walking").into_path();
        assert!(
            path.starts_with(dir) || dir.starts_with(&path),
            "{} is outside {}",
            path.display(),
            dir.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crafted_archive_writes_nothing_outside_staging() {
    // No Docker needed: the archive a hostile engine or script could send.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("victim"), b"untouched").expect("writing");
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &[u8], kind: tar::EntryType, link: Option<&str>, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        if let Some(link) = link {
            h.set_link_name(link).expect("link name");
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append(&h, data).expect("appending");
    };
    use tar::EntryType::*;
    add(b"/tmp/kiln-it-absolute", Regular, None, b"absolute");
    add(b"outputs/../../victim", Regular, None, b"parent");
    add(b"outputs/link", Symlink, Some("../../victim"), b"");
    add(b"outputs/abs-link", Symlink, Some("/etc"), b"");
    add(b"outputs/fifo", Fifo, None, b"");
    add(b"outputs/ok.txt", Regular, None, b"fine");
    let bytes = tar.into_inner().expect("finishing");

    let staging = StagingStore::new(dir.path().join("staging"));
    let submit = Uuid::new_v4();
    let extraction = staging
        .extract_outputs(submit, std::io::Cursor::new(bytes))
        .await
        .expect("extracting");
    let refused: Vec<(&str, &RefusalReason)> = extraction
        .refused
        .iter()
        .map(|r| (r.entry.as_str(), &r.reason))
        .collect();
    assert_eq!(
        refused,
        [
            ("/tmp/kiln-it-absolute", &RefusalReason::AbsolutePath),
            ("outputs/../../victim", &RefusalReason::ParentComponent),
            (
                "outputs/link",
                &RefusalReason::LinkOutside {
                    target: "../../victim".into()
                }
            ),
            (
                "outputs/abs-link",
                &RefusalReason::LinkOutside {
                    target: "/etc".into()
                }
            ),
            ("outputs/fifo", &RefusalReason::Fifo),
        ]
    );
    // Anything refused: nothing of the archive is kept.
    assert_eq!(extraction.artifacts.len(), 0);
    assert!(!staging.submit_dir(submit).join("ok.txt").exists());
    assert_eq!(
        std::fs::read(dir.path().join("victim")).expect("reading"),
        b"untouched"
    );
    assert!(!Path::new("/tmp/kiln-it-absolute").exists());
    let mut top: Vec<_> = std::fs::read_dir(dir.path())
        .expect("listing")
        .map(|e| e.expect("entry").file_name())
        .collect();
    top.sort();
    assert_eq!(top, ["staging", "victim"]);
    assert_only_below(&dir.path().join("staging"), &staging.submit_dir(submit));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_container_can_be_stopped() {
    let Some(image) = test_image() else { return };
    let guard = SubmitContainers::new();
    let endpoint = connect().await;
    let spec = ContainerSpec::new(&image, guard.submit, Uuid::new_v4());
    let mut files = UploadSet::new();
    files
        .script("#!/bin/sh\necho started\nsleep 300\n")
        .expect("script");
    let created = endpoint.create_container(&spec).await.expect("creating");
    created.upload(files).await.expect("uploading");
    let (running, mut logs) = created.start().await.expect("starting");
    let first = logs.next().await.expect("a line").expect("reading");
    assert_eq!(first.line.bytes, b"started");
    let started = std::time::Instant::now();
    running
        .stop(Duration::from_secs(1))
        .await
        .expect("stopping");
    assert!(
        logs.next().await.is_none(),
        "the output ends with the container"
    );
    let finished = running.wait().await.expect("waiting");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The shell as PID 1 ignores SIGTERM: it was killed.
    assert_eq!(finished.exit_status().code(), 137);
    finished.remove(Removal::IfStopped).await.expect("removing");
    assert_no_containers_left(&endpoint, guard.submit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kiln_finds_its_containers_by_label_for_cleanup() {
    let Some(image) = test_image() else { return };
    let guard = SubmitContainers::new();
    let endpoint = connect().await;
    let job = Uuid::new_v4();
    let created = endpoint
        .create_container(&ContainerSpec::new(&image, guard.submit, job))
        .await
        .expect("creating");
    let id = created.keep();
    let found: Vec<_> = endpoint
        .list_kiln_containers()
        .await
        .expect("listing")
        .into_iter()
        .filter(|c| c.submit == Some(guard.submit))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].id.as_str(), found[0].job),
        (id.as_str(), Some(job))
    );
    assert_eq!(found[0].state.as_deref(), Some("created"));
    assert_eq!(guard.ids(), std::slice::from_ref(&id));

    endpoint
        .remove_container(&id, Removal::Force)
        .await
        .expect("removing");
    // Removing again is not an error: the container is gone either way.
    endpoint
        .remove_container(&id, Removal::Force)
        .await
        .expect("removing again");
    assert_no_containers_left(&endpoint, guard.submit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_network_mode_is_applied() {
    let Some(image) = test_image() else { return };
    let guard = SubmitContainers::new();
    let mut config = local_endpoint();
    config.network_mode = Some("none".into());
    let endpoint = Endpoint::connect(&config).await.expect("connecting");
    let spec = ContainerSpec::new(&image, guard.submit, Uuid::new_v4());
    // With no network, only the loopback interface exists.
    let script = "#!/bin/sh\nls /sys/class/net\n";
    let (finished, lines) = run(&endpoint, &spec, script, UploadSet::new()).await;
    assert_eq!(finished.exit_status().code(), 0);
    assert_eq!(texts(&lines, Source::Stdout), [b"lo".to_vec()]);
    finished.remove(Removal::IfStopped).await.expect("removing");
    assert_no_containers_left(&endpoint, guard.submit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_test_image_script_builds_a_working_image_once() {
    let Some(_image) = test_image() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-image.sh");
    let tag = format!(
        "kiln-it-image-{}:test",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    struct RemoveImage(String);
    impl Drop for RemoveImage {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rmi", "-f", &self.0])
                .output();
        }
    }
    let _image_guard = RemoveImage(tag.clone());
    let make = || {
        let out = std::process::Command::new("sh")
            .arg(&script)
            .arg(&tag)
            .output()
            .expect("running the script");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(make().contains("built"));
    assert!(make().contains("exists"), "a second run does nothing");

    let guard = SubmitContainers::new();
    let endpoint = connect().await;
    let spec = ContainerSpec::new(&tag, guard.submit, Uuid::new_v4());
    let check = r#"#!/bin/bash
for applet in sh bash awk sed grep tar gzip sha256sum patch mkfifo cp ln; do
    command -v "$applet" >/dev/null || echo "missing $applet"
done
for dir in /tmp /inputs /outputs /patches; do
    [ -d "$dir" ] || echo "missing $dir"
done
bash -c 'echo bash runs'
"#;
    let (finished, lines) = run(&endpoint, &spec, check, UploadSet::new()).await;
    finished.remove(Removal::IfStopped).await.expect("removing");
    assert_eq!(
        texts(&lines, Source::Stdout),
        [b"bash runs".to_vec()],
        "{lines:?}"
    );
    assert_no_containers_left(&endpoint, guard.submit).await;
}
