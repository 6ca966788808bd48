//! What the benchmarks share: a fresh database on the test server, the
//! test image, package repositories written as git work trees, and
//! `kiln submit` runs timed with their peak memory.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::prelude::*;

pub const IMAGE: &str = "kiln-busybox:latest";

pub struct Bench {
    pub kiln: PathBuf,
    pub db_url: String,
    pub work: PathBuf,
}

/// One `kiln submit`: its wall time and peak resident memory.
pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub stdout: String,
}

impl Bench {
    pub fn kiln(&self) -> Command {
        let mut cmd = Command::new(&self.kiln);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("KILN_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("XDG_CONFIG_HOME", self.work.join("config"))
            .env("XDG_DATA_HOME", self.work.join("data"))
            .env("XDG_CACHE_HOME", self.work.join("cache"))
            .env("NO_COLOR", "1")
            .arg("--database-url")
            .arg(&self.db_url);
        cmd
    }

    pub fn staging(&self) -> PathBuf {
        self.work.join("staging")
    }

    /// A package repository (a git work tree) of `packages` (name, script,
    /// dependencies), with one local endpoint of 2 slots.
    pub fn repo(&self, name: &str, packages: &[Package], extra: &str) -> PathBuf {
        let endpoint = format!(
            "[docker.endpoints.local]\nuri = \"{}\"\nmaxjobs = 2\n",
            local_engine()
        );
        self.repo_on(name, packages, extra, &endpoint)
    }

    /// Like [`Bench::repo`], with the `[docker.endpoints.*]` tables given.
    pub fn repo_on(
        &self,
        name: &str,
        packages: &[Package],
        extra: &str,
        endpoints: &str,
    ) -> PathBuf {
        let root = self.work.join(name);
        let config = format!(
            "compatibility = 1\nshebang = \"#!/bin/sh\"\navailable_phases = [\"build\"]\n{extra}\n\
             [docker]\nimages = [ {{ name = \"{IMAGE}\", short_name = \"busybox\" }} ]\n\
             {endpoints}"
        );
        write(&root.join("config.toml"), &config);
        for (package, script, deps) in packages {
            let deps: Vec<String> = deps.iter().map(|d| format!("\"{d} =1\"")).collect();
            write(
                &root.join(package).join("pkg.toml"),
                &format!(
                    "name = \"{package}\"\nversion = \"1\"\n[dependencies]\nruntime = [{}]\n[phases.build]\nscript = '''\n{script}'''\n",
                    deps.join(", ")
                ),
            );
        }
        for args in [
            &["init", "-q"][..],
            &["add", "-A"],
            &["commit", "-q", "-m", "bench"],
        ] {
            let out = Command::new("git")
                .args([
                    "-c",
                    "user.name=kiln bench",
                    "-c",
                    "user.email=bench@kiln.invalid",
                ])
                .args(["-c", "commit.gpgsign=false"])
                .args(args)
                .current_dir(&root)
                .output()
                .expect("running git");
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        root
    }

    /// Runs `kiln submit NAME -I busybox` on `repo`; it must succeed.
    pub fn submit(&self, repo: &Path, name: &str) -> Run {
        self.submit_with(repo, name, &[])
    }

    /// Runs `kiln submit NAME -I busybox ARGS...` on `repo`; it must succeed.
    pub fn submit_with(&self, repo: &Path, name: &str, args: &[&str]) -> Run {
        let mut cmd = self.kiln();
        cmd.arg("--repo")
            .arg(repo)
            .args([
                "submit",
                name,
                "-I",
                "busybox",
                "--hide-bars",
                "--staging-dir",
            ])
            .arg(self.staging())
            .args(args);
        let (status, run) = timed(cmd);
        assert!(
            status.success(),
            "kiln submit {name} failed ({status}):\n{}",
            run.stdout
        );
        run
    }
}

/// The URI of the machine's engine (`DOCKER_HOST`, else its socket).
pub fn local_engine() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

/// Runs a command to its end: its exit status, wall time, peak resident
/// memory and stdout (stderr is read and dropped, unless it failed: then
/// it is appended to stdout).
pub fn timed(mut cmd: Command) -> (std::process::ExitStatus, Run) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("starting kiln");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("waiting for kiln") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = start.elapsed();
    let mut stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if !status.success() {
        stdout.push_str(&stderr);
    }
    (
        status,
        Run {
            wall,
            peak_rss_kib: peak,
            stdout,
        },
    )
}

/// How many regular files are under `dir`, and their bytes.
pub fn files_and_bytes(dir: &Path) -> (usize, u64) {
    let mut count = (0, 0);
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("listing a directory") {
            let entry = entry.expect("a directory entry");
            let meta = entry.metadata().expect("a file's metadata");
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                count.0 += 1;
                count.1 += meta.len();
            }
        }
    }
    count
}

/// The sections named on the command line (`cargo bench --bench NAME --
/// SECTION...`): whether a section is to run (all when none is named).
pub fn sections() -> impl Fn(&str) -> bool {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    move |section| wanted.is_empty() || wanted.iter().any(|w| w == section)
}

/// Prints each target as met (`ok`) or missed (`MISS`), and exits 1 when
/// one was missed.
pub fn report(checks: &[(String, bool)]) {
    println!();
    let mut missed = false;
    for (what, ok) in checks {
        println!("{} {what}", if *ok { "ok  " } else { "MISS" });
        missed |= !ok;
    }
    if missed {
        std::process::exit(1);
    }
}

/// A package of a benchmark repository: name, script, dependencies.
pub type Package = (String, String, Vec<String>);

pub fn package(name: &str, script: &str, dependencies: Vec<String>) -> Package {
    (name.to_owned(), script.to_owned(), dependencies)
}

pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, content).expect("writing a file");
}

/// The test image, made by `scripts/make-test-image.sh` when missing.
pub fn ensure_image() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-image.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(IMAGE)
        .output()
        .expect("running scripts/make-test-image.sh");
    assert!(
        out.status.success(),
        "the benchmark needs Docker and the test image: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A database of the benchmark's own, dropped at the end.
pub struct BenchDb {
    pub name: String,
    pub url: String,
    pub admin_url: String,
}

impl BenchDb {
    pub fn create() -> BenchDb {
        let admin_url = std::env::var("KILN_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres:///postgres?host=/var/run/postgresql".to_owned());
        let mut admin = PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("the benchmark needs PostgreSQL at {admin_url}: {e}"));
        let name = format!(
            "kiln_bench_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("creating the benchmark database");
        let mut url = url::Url::parse(&admin_url).expect("KILN_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        BenchDb {
            name,
            url: url.to_string(),
            admin_url,
        }
    }

    /// A connection set up as kiln sets up its own (kiln's schema first on
    /// the search path).
    pub fn connect(&self) -> PgConnection {
        let mut conn =
            PgConnection::establish(&self.url).expect("connecting to the benchmark database");
        kiln::db::prepare_session(&mut conn, kiln::config::DEFAULT_DATABASE_SCHEMA)
            .expect("setting up the session");
        conn
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// A benchmark's database and working directory, set up.
pub fn setup(prefix: &str) -> (BenchDb, tempfile::TempDir, Bench) {
    let db = BenchDb::create();
    let work = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary directory");
    let bench = Bench {
        kiln: env!("CARGO_BIN_EXE_kiln").into(),
        db_url: db.url.clone(),
        work: work.path().to_owned(),
    };
    let out = bench
        .kiln()
        .args(["db", "setup"])
        .output()
        .expect("kiln db setup");
    assert!(
        out.status.success(),
        "kiln db setup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (db, work, bench)
}
