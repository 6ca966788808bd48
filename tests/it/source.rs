//! `kiln source verify|list-missing|url|of|download`: the real binary on
//! repositories written into a temporary directory whose sources are served
//! by a tiny HTTP server on 127.0.0.1 (good files, a wrong file, a 404, a
//! stalled transfer, a source to download by hand), and on the project's
//! example repository, whose sources must verify.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::http::{Reply, Server};
use crate::support::repo::{examples, sha256_hex, write_repo};
use crate::support::{run, Sandbox};

const GOOD: &[u8] = b"the good source\n";
const DOC: &[u8] = b"the documentation\n";
const SIG: &[u8] = b"a signature\n";
const MANUAL: &[u8] = b"fetched by hand\n";

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(bytes))
}

fn sha512_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha512::digest(bytes))
}

/// The served files: a good body for each good source, a body that does not
/// match its hash, one that stalls after 10 bytes, the manual one.
fn server() -> Server {
    let mut routes = HashMap::new();
    routes.insert("good.tar".to_owned(), Reply::Body(GOOD.repeat(4096)));
    routes.insert("doc.txt".to_owned(), Reply::Body(DOC.to_vec()));
    routes.insert("sig.bin".to_owned(), Reply::Body(SIG.to_vec()));
    routes.insert("bad.tar".to_owned(), Reply::Body(b"tampered".to_vec()));
    routes.insert("manual.tar".to_owned(), Reply::Body(MANUAL.to_vec()));
    routes.insert(
        "stall.tar".to_owned(),
        Reply::Stall {
            length: 100,
            first: 10,
            stall: Duration::from_secs(4),
        },
    );
    routes.insert(
        "slow.tar".to_owned(),
        Reply::Stall {
            length: 1000,
            first: 10,
            stall: Duration::from_secs(10),
        },
    );
    Server::start(routes)
}

/// A repository whose packages fetch from `server`; sources go to `<repo>/cache`.
fn repo(sandbox: &Sandbox, server: &Server) -> PathBuf {
    let good = format!(
        r#"name = "good"
version = "1"
[sources.src]
url = "{}"
hash = {{ type = "sha256", hash = "{}" }}
[sources.doc]
url = "{}"
hash = {{ type = "sha1", hash = "{}" }}
[sources.sig]
url = "{}"
hash = {{ type = "sha512", hash = "{}" }}
"#,
        server.url("good.tar"),
        sha256_hex(&GOOD.repeat(4096)),
        server.url("doc.txt"),
        sha1_hex(DOC),
        server.url("sig.bin"),
        sha512_hex(SIG),
    );
    let one = |name: &str, url: String, hash: String, manual: bool| {
        format!(
            "name = \"{name}\"\nversion = \"1\"\n[sources.src]\nurl = \"{url}\"\nhash = {{ type = \"sha256\", hash = \"{hash}\" }}\ndownload_manually = {manual}\n"
        )
    };
    let bad = one(
        "bad",
        server.url("bad.tar"),
        sha256_hex(b"the real thing"),
        false,
    );
    let gone = one("gone", server.url("gone.tar"), sha256_hex(b"x"), false);
    let manual = one("manual", server.url("manual.tar"), sha256_hex(MANUAL), true);
    let stall = one(
        "stall",
        server.url("stall.tar"),
        sha256_hex(&[b'x'; 100]),
        false,
    );
    let ftp = one(
        "ftp",
        "ftp://127.0.0.1/x.tar".into(),
        sha256_hex(b"x"),
        false,
    );
    let slow = one("slow", server.url("slow.tar"), sha256_hex(b"x"), false);
    write_repo(
        sandbox,
        &[
            (
                "config.toml",
                "available_phases = [\"build\"]\nsource_cache = \"cache\"\n[docker]\nimages = [ { name = \"debian:12\" } ]\n",
            ),
            ("good/pkg.toml", &good),
            ("bad/pkg.toml", &bad),
            ("gone/pkg.toml", &gone),
            ("manual/pkg.toml", &manual),
            ("stall/pkg.toml", &stall),
            ("ftp/pkg.toml", &ftp),
            ("slow/pkg.toml", &slow),
            ("nosource/pkg.toml", "name = \"nosource\"\nversion = \"1\"\n"),
        ],
    )
}

/// Runs `kiln --repo ROOT source ARGS...` with no proxy in the way.
fn source(sandbox: &Sandbox, root: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = sandbox.kiln();
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .arg("--repo")
        .arg(root)
        .arg("source")
        .args(args);
    let (out, stdout, stderr) = run(&mut cmd);
    let code = out
        .status
        .code()
        .expect("kiln exited (not killed by a signal)");
    assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
    (code, stdout, stderr)
}

/// The names of the files in a package's directory of the source cache.
fn files_in(root: &Path, package: &str) -> Vec<String> {
    let dir = root.join("cache").join(package);
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("a directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn downloads_verify_and_are_not_fetched_twice() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);

    let (code, stdout, stderr) = source(&sandbox, &root, &["download", "good"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("download: 3 sources: 3 downloaded ("),
        "{stderr}"
    );
    assert!(
        stderr.contains("0 already present, 0 refused, 0 failed"),
        "{stderr}"
    );
    assert_eq!(
        files_in(&root, "good-1"),
        ["doc.source", "sig.source", "src.source"]
    );
    let src = std::fs::read(root.join("cache/good-1/src.source")).expect("the downloaded file");
    assert_eq!(src, GOOD.repeat(4096));
    let mut asked = server.requests();
    asked.sort();
    assert_eq!(asked, ["/doc.txt", "/good.tar", "/sig.bin"]);

    let (code, stdout, stderr) = source(&sandbox, &root, &["verify", "good", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let statuses: Vec<(String, String)> = json_of(&stdout)
        .as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap_or("").to_owned(),
                r["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("doc".to_owned(), "ok".to_owned()),
            ("sig".into(), "ok".into()),
            ("src".into(), "ok".into())
        ]
    );

    let (code, _, stderr) = source(&sandbox, &root, &["download", "good", "1"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("0 downloaded (0 B), 3 already present"),
        "{stderr}"
    );
    assert_eq!(server.requests().len(), 3, "nothing was fetched again");
}

#[test]
fn a_wrong_hash_keeps_nothing() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    let (code, stdout, stderr) = source(&sandbox, &root, &["download", "bad"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let expected = format!(
        "failed: bad 1 src: the file fetched from {} has sha256 {}, not the expected {}; it was not kept",
        server.url("bad.tar"),
        sha256_hex(b"tampered"),
        sha256_hex(b"the real thing"),
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains("0 downloaded (0 B), 0 already present, 0 refused, 1 failed"),
        "{stderr}"
    );
    assert_eq!(
        files_in(&root, "bad-1"),
        Vec::<String>::new(),
        "no file, no temporary file"
    );
}

#[test]
fn http_errors_timeouts_and_unsupported_urls_fail() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    let (code, _, stderr) = source(&sandbox, &root, &["download", "gone"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "failed: gone 1 src: {} answered 404 Not Found",
            server.url("gone.tar")
        )),
        "{stderr}"
    );
    assert_eq!(files_in(&root, "gone-1"), Vec::<String>::new());

    let started = std::time::Instant::now();
    let (code, _, stderr) = source(&sandbox, &root, &["download", "stall", "--timeout", "1"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("failed: stall 1 src: fetching "),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the timeout ended the transfer"
    );
    assert_eq!(
        files_in(&root, "stall-1"),
        Vec::<String>::new(),
        "the partial file is gone"
    );

    let (code, _, stderr) = source(&sandbox, &root, &["download", "ftp"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "failed: ftp 1 src: `ftp://127.0.0.1/x.tar` is not an http:// or https:// URL"
        ),
        "{stderr}"
    );
}

#[test]
fn manual_sources_need_force() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    let (code, _, stderr) = source(&sandbox, &root, &["download", "manual"]);
    assert_eq!(code, 1, "{stderr}");
    let path = root.join("cache/manual-1/src.source");
    assert!(
        stderr.contains(&format!(
            "refused: manual 1 src: the source is marked download_manually; fetch {} by hand into {} (or give --force)",
            server.url("manual.tar"),
            path.display()
        )),
        "{stderr}"
    );
    assert!(server.requests().is_empty(), "nothing was fetched");
    assert!(!path.exists());

    let (code, _, stderr) = source(&sandbox, &root, &["download", "manual", "--force"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(std::fs::read(&path).expect("the file"), MANUAL);

    // Once it is there, it is fine without --force.
    let (code, _, stderr) = source(&sandbox, &root, &["download", "manual"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("1 already present"), "{stderr}");
}

#[test]
fn many_at_once_with_a_summary() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    let (code, _, stderr) = source(
        &sandbox,
        &root,
        &[
            "download",
            "--matching",
            ".",
            "--jobs",
            "2",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("download: 9 sources: 3 downloaded ("),
        "{stderr}"
    );
    assert!(
        stderr.contains("0 already present, 1 refused, 5 failed"),
        "{stderr}"
    );
    for (package, expected) in [
        ("good-1", &["doc.source", "sig.source", "src.source"][..]),
        ("bad-1", &[][..]),
        ("stall-1", &[][..]),
        ("slow-1", &[][..]),
        ("manual-1", &[][..]),
    ] {
        assert_eq!(files_in(&root, package), expected, "{package}");
    }
}

#[test]
fn ctrl_c_stops_and_keeps_no_partial_file() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    let mut cmd = sandbox.kiln();
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .arg("--repo")
        .arg(&root)
        .args(["source", "download", "slow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("starting kiln");
    // Wait for the transfer to have begun: its temporary file exists.
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while files_in(&root, "slow-1").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let partial = files_in(&root, "slow-1");
    assert_eq!(partial.len(), 1, "a temporary file: {partial:?}");
    assert!(
        partial[0].starts_with(".src.source.") && partial[0].ends_with(".part"),
        "{partial:?}"
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("sending SIGINT");
    let out = child.wait_with_output().expect("kiln ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(files_in(&root, "slow-1"), Vec::<String>::new());
}

#[test]
fn a_wrong_file_in_the_cache_is_found_and_replaced() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    let dir = root.join("cache/good-1");
    std::fs::create_dir_all(&dir).expect("creating the cache directory");
    std::fs::write(dir.join("src.source"), b"corrupt").expect("writing");
    std::fs::write(dir.join("doc.source"), DOC).expect("writing");

    let (code, stdout, stderr) = source(&sandbox, &root, &["verify", "good", "-o", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let rows = json_of(&stdout);
    assert_eq!(
        rows,
        json!([
            { "package": "good", "version": "1", "source": "doc", "status": "ok",
              "path": dir.join("doc.source").display().to_string(), "detail": "" },
            { "package": "good", "version": "1", "source": "sig", "status": "missing",
              "path": dir.join("sig.source").display().to_string(), "detail": "" },
            { "package": "good", "version": "1", "source": "src", "status": "mismatch",
              "path": dir.join("src.source").display().to_string(),
              "detail": format!("expected {}, found {}", sha256_hex(&GOOD.repeat(4096)), sha256_hex(b"corrupt")) },
        ])
    );
    assert!(
        stderr.contains("verify: 3 sources: 1 ok, 1 missing, 1 mismatched"),
        "{stderr}"
    );

    let (code, stdout, _) = source(&sandbox, &root, &["list-missing", "good", "-o", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!(
            "package,version,source,url,path\ngood,1,sig,{},{}\n",
            server.url("sig.bin"),
            dir.join("sig.source").display()
        )
    );

    let (code, _, stderr) = source(&sandbox, &root, &["download", "good"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 downloaded"), "{stderr}");
    assert!(stderr.contains("1 already present"), "{stderr}");
    let (code, _, stderr) = source(&sandbox, &root, &["verify", "good"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn urls_and_paths() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    let (code, stdout, stderr) = source(
        &sandbox,
        &root,
        &["url", "--matching", "^(bad|gone)$", "-o", "csv"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "package,version,source,url\nbad,1,src,{}\ngone,1,src,{}\n",
            server.url("bad.tar"),
            server.url("gone.tar")
        )
    );
    let (code, stdout, _) = source(&sandbox, &root, &["of", "bad", "1", "-o", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        format!(
            "package,version,source,path\nbad,1,src,{}\n",
            root.join("cache/bad-1/src.source").display()
        )
    );
    let (code, stdout, stderr) = source(&sandbox, &root, &["of", "nosource"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "");
    assert!(stderr.contains("the packages have no sources"), "{stderr}");
}

#[test]
fn choosing_packages() {
    let sandbox = Sandbox::new();
    let server = server();
    let root = repo(&sandbox, &server);
    for (args, expected) in [
        (&["download", "-I", "busybox"][..], "--recursive"),
        (
            &["verify", "good", "--matching", "g"][..],
            "cannot be used with",
        ),
        (
            &["verify", "--matching", "^x"][..],
            "no package name of the repository",
        ),
        (
            &["verify", "--matching", "("][..],
            "not a valid regular expression",
        ),
        (&["url", "ghost"][..], "has no package ghost"),
        (&["download", "good", "--jobs", "0"][..], "--jobs"),
    ] {
        let (code, _, stderr) = source(&sandbox, &root, args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // Without a package, as in butido: every package of the repository.
    let (_, all, _) = source(&sandbox, &root, &["url", "-o", "csv"]);
    let (_, matching, _) = source(&sandbox, &root, &["url", "--matching", ".", "-o", "csv"]);
    assert_eq!(all, matching);
    assert!(all.contains("\ngood,"), "{all}");
    assert!(server.requests().is_empty());
}

#[test]
fn the_example_sources_verify() {
    let sandbox = Sandbox::new();
    let (code, stdout, stderr) = source(
        &sandbox,
        &examples(),
        &["verify", "--matching", ".", "-o", "json"],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let rows = json_of(&stdout);
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), 25, "{stdout}");
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{stdout}");
    assert!(
        stderr.contains("verify: 25 sources: 25 ok, 0 missing, 0 mismatched"),
        "{stderr}"
    );

    let (code, stdout, stderr) = source(&sandbox, &examples(), &["list-missing", "-m", "."]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("no source is missing"), "{stderr}");

    // Everything is there, so nothing is fetched (the URLs do not resolve).
    let (code, _, stderr) = source(&sandbox, &examples(), &["download", "zlib"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 already present"), "{stderr}");
}

#[test]
fn help_teaches() {
    let sandbox = Sandbox::new();
    let mut cmd = sandbox.kiln();
    cmd.args(["source", "--help"]);
    let (out, stdout, _) = run(&mut cmd);
    assert!(out.status.success());
    assert!(stdout.contains("Examples:"), "{stdout}");
    assert!(
        stdout.contains("kiln source download curl --jobs 4"),
        "{stdout}"
    );
    let mut cmd = sandbox.kiln();
    cmd.args(["source", "download", "--help"]);
    let (out, stdout, _) = run(&mut cmd);
    assert!(out.status.success());
    assert!(stdout.contains("download_manually"), "{stdout}");
}

/// A version that would carry a path out of the source cache is refused
/// when the repository is loaded, by every command that loads it: exit code
/// 2 naming the file, line and key, and nothing is written anywhere (before,
/// `source download` wrote `<sandbox>/escaped/src.source`).
#[test]
fn a_version_carrying_a_path_is_refused_before_anything_is_written() {
    let sandbox = Sandbox::new();
    let mut routes = HashMap::new();
    routes.insert("x.tar".to_owned(), Reply::Body(GOOD.to_vec()));
    let server = Server::start(routes);
    let evil = format!(
        "name = \"evil\"\nversion = \"1/../../../escaped\"\n[sources.src]\nurl = \"{}\"\nhash = {{ type = \"sha256\", hash = \"{}\" }}\n",
        server.url("x.tar"),
        sha256_hex(GOOD)
    );
    let root = write_repo(
        &sandbox,
        &[
            (
                "config.toml",
                "available_phases = [\"build\"]\nsource_cache = \"cache\"\nlog_dir = \"logs\"\n[docker]\nimages = [ { name = \"debian:12\" } ]\n",
            ),
            ("evil/pkg.toml", &evil),
        ],
    );
    let file = root.join("evil/pkg.toml").display().to_string();
    for args in [
        &["source", "download", "evil"][..],
        &["source", "of", "evil"],
        &["lint"],
        &["tree-of", "evil"],
        &[
            "submit",
            "evil",
            "-I",
            "debian:12",
            "--write-log",
            "--no-verify",
        ],
    ] {
        let (code, stdout, stderr) = crate::support::repo::kiln_in(&sandbox, &root, args);
        assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "{file}:2:11: `version`: version `1/../../../escaped` is not valid"
            )),
            "{args:?}: {stderr}"
        );
    }
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(!sandbox.path().join("escaped").exists());
    assert!(!root.join("cache").exists());
    assert!(!root.join("logs").exists());
}

/// A source key is a file name: one that holds a path is refused at load.
#[test]
fn a_source_key_carrying_a_path_is_refused() {
    let sandbox = Sandbox::new();
    let root = write_repo(
        &sandbox,
        &[
            (
                "config.toml",
                "available_phases = [\"build\"]\nsource_cache = \"cache\"\n[docker]\nimages = [ { name = \"debian:12\" } ]\n",
            ),
            (
                "evil/pkg.toml",
                "name = \"evil\"\nversion = \"1\"\n[sources.\"../../escaped\"]\nurl = \"http://127.0.0.1:9/x\"\nhash = { type = \"sha1\", hash = \"0123456789abcdef0123456789abcdef01234567\" }\n",
            ),
        ],
    );
    let (code, _, stderr) = source(&sandbox, &root, &["download", "evil"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "evil/pkg.toml:3:10: `sources.\"../../escaped\"`: a source key is a file name"
        ),
        "{stderr}"
    );
    assert!(!sandbox.path().join("escaped.source").exists());
}
