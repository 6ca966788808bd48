//! A second real Docker engine for the integration tests: a `dockerd` of
//! the test's own, beside the machine's engine, that a test can build on,
//! reach over TLS, kill or freeze.
//!
//! Each [`SecondEngine`] has unique names and a directory of its own under a
//! temporary directory: its socket (`--host unix://…`), `--data-root`,
//! `--exec-root`, `--pidfile`, an empty `--config-file` (the machine's
//! `/etc/docker/daemon.json` sets the data root and storage driver), the
//! `vfs` storage driver, `--iptables=false`, the cgroupfs driver under a
//! cgroup parent of its own, its own containerd namespaces, and a bridge of
//! its own (`ip link add NAME type bridge`, an address on a free
//! `10.2NN.x.0/24`, up) passed as `--bridge NAME`. Never `--bridge none`:
//! that makes dockerd delete the machine's `docker0` bridge and breaks the
//! main engine. The test image is loaded with `docker save | docker load`,
//! so it keeps its image id. With TLS, the engine also listens on
//! `tcp://127.0.0.1:PORT` with `--tlsverify` and certificates made by
//! `openssl` for the test (plus a wrong CA and a client certificate the
//! engine does not trust).
//!
//! Dropping the engine stops it (SIGTERM through its pidfile, then SIGKILL),
//! kills whatever of it survived (containerd shims and container processes,
//! found by its directory in their command line, its containerd namespace
//! and its cgroup parent) and the sockets its killed shims leave in
//! `/run/containerd/s`, unmounts what it mounted under its directory,
//! removes its cgroups and its bridge, and deletes its directory (`vfs`
//! makes it large). That holds after [`SecondEngine::kill`] too.
//!
//! It needs root, `dockerd`, `ip` and `openssl`. When it cannot start, the
//! test skips with a printed note; under `CI=true` it fails.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::docker::test_image;
use super::in_ci;

/// How long the engine may take to answer after it was started.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before the engine is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(20);

/// A `dockerd` of one test's own; stopped and cleaned up when dropped.
pub struct SecondEngine {
    /// Unique: the bridge, the cgroup parent and the containerd namespace.
    name: String,
    dir: tempfile::TempDir,
    dockerd: Option<Child>,
    bridge: Option<String>,
    tls: Option<TlsListener>,
}

struct TlsListener {
    port: u16,
    files: TlsFiles,
}

/// The certificates of an engine that listens with TLS, made by `openssl`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA that signed the engine's and the client's certificates.
    pub ca: PathBuf,
    /// A client certificate the engine trusts, and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A CA that signed neither.
    pub wrong_ca: PathBuf,
    /// A client certificate (and key) signed by the wrong CA, which the
    /// engine refuses.
    pub untrusted_cert: PathBuf,
    pub untrusted_key: PathBuf,
}

impl SecondEngine {
    /// A second engine on a unix socket, with the test image loaded.
    /// `None` (after a note) when it cannot start outside CI; a panic under CI.
    pub fn start() -> Option<SecondEngine> {
        Self::start_with(false)
    }

    /// Like [`SecondEngine::start`], also listening on
    /// `tcp://127.0.0.1:PORT` with `--tlsverify`.
    pub fn start_with_tls() -> Option<SecondEngine> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Option<SecondEngine> {
        let image = test_image()?;
        let mut engine = match SecondEngine::new() {
            Ok(engine) => engine,
            Err(why) => return cannot_start(why),
        };
        match engine.bring_up(tls, &image) {
            Ok(()) => Some(engine),
            Err(why) => {
                drop(engine);
                cannot_start(why)
            }
        }
    }

    fn new() -> Result<SecondEngine, String> {
        let dir = tempfile::Builder::new()
            .prefix("kiln-it-engine-")
            .tempdir()
            .map_err(|e| format!("creating the engine's directory: {e}"))?;
        let name = format!("kt{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Ok(SecondEngine {
            name,
            dir,
            dockerd: None,
            bridge: None,
            tls: None,
        })
    }

    /// Everything from the bridge to a loaded image; what is made is
    /// recorded in `self` first, so that Drop removes it on failure.
    fn bring_up(&mut self, tls: bool, image: &str) -> Result<(), String> {
        for sub in ["data", "exec"] {
            std::fs::create_dir_all(self.path(sub)).map_err(|e| format!("creating {sub}: {e}"))?;
        }
        std::fs::write(self.path("daemon.json"), "{}\n")
            .map_err(|e| format!("writing daemon.json: {e}"))?;
        self.add_bridge()?;
        if tls {
            let files = make_certificates(&self.path("tls"))?;
            self.tls = Some(TlsListener {
                port: free_port()?,
                files,
            });
        }
        self.spawn_dockerd()?;
        self.wait_until_ready()?;
        self.load_image(image)
    }

    /// The engine's directory (data root, exec root, socket, log, certificates).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The engine's bridge, also its cgroup parent and containerd namespace.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A bridge of this engine's own, with an address on a free subnet, up.
    fn add_bridge(&mut self) -> Result<(), String> {
        let subnet = free_subnet()?;
        ip(&["link", "add", &self.name, "type", "bridge"])?;
        self.bridge = Some(self.name.clone());
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &self.name])?;
        ip(&["link", "set", &self.name, "up"])
    }

    fn spawn_dockerd(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.path("dockerd.log"))
            .map_err(|e| format!("creating dockerd.log: {e}"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("opening dockerd.log: {e}"))?;
        let mut cmd = Command::new("dockerd");
        cmd.arg("--host")
            .arg(self.unix_uri())
            .arg("--data-root")
            .arg(self.path("data"))
            .arg("--exec-root")
            .arg(self.path("exec"))
            .arg("--pidfile")
            .arg(self.path("docker.pid"))
            .arg("--config-file")
            .arg(self.path("daemon.json"))
            .args(["--storage-driver", "vfs", "--iptables=false"])
            .args(["--bridge", &self.name])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
            .arg("--cgroup-parent")
            .arg(format!("/{}", self.name))
            .args(["--containerd-namespace", &self.name])
            .arg("--containerd-plugins-namespace")
            .arg(format!("{}p", self.name));
        if let Some(tls) = &self.tls {
            cmd.arg("--host")
                .arg(format!("tcp://127.0.0.1:{}", tls.port))
                .arg("--tlsverify")
                .arg("--tlscacert")
                .arg(&tls.files.ca)
                .arg("--tlscert")
                .arg(self.path("tls/server-cert.pem"))
                .arg("--tlskey")
                .arg(self.path("tls/server-key.pem"));
        }
        for var in ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] {
            cmd.env_remove(var);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot run dockerd: {e}"))?;
        self.dockerd = Some(child);
        Ok(())
    }

    /// Waits until `docker info` succeeds, or fails with dockerd's log.
    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(Ok(Some(status))) = self.dockerd.as_mut().map(Child::try_wait) {
                return Err(format!("dockerd exited ({status}):\n{}", self.log()));
            }
            let info = self.docker().args(["info", "--format", "{{.ID}}"]).output();
            if info.is_ok_and(|out| out.status.success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "dockerd did not answer within {READY_DEADLINE:?}:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker save IMAGE | docker -H … load`: the image id stays the same.
    fn load_image(&self, image: &str) -> Result<(), String> {
        let mut save = Command::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run docker save: {e}"))?;
        let stdout = save.stdout.take().ok_or("docker save has no stdout")?;
        let load = self
            .docker()
            .arg("load")
            .stdin(stdout)
            .output()
            .map_err(|e| format!("cannot run docker load: {e}"))?;
        let saved = save
            .wait()
            .map_err(|e| format!("waiting for docker save: {e}"))?;
        if !saved.success() || !load.status.success() {
            return Err(format!(
                "loading {image}: docker save {saved}, docker load {}: {}",
                load.status,
                String::from_utf8_lossy(&load.stderr).trim()
            ));
        }
        Ok(())
    }

    /// dockerd's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("dockerd.log"))
            .unwrap_or_else(|e| format!("(no dockerd.log: {e})"))
    }

    /// The engine's unix socket as a URI, `unix:///…/docker.sock`.
    pub fn unix_uri(&self) -> String {
        format!("unix://{}", self.path("docker.sock").display())
    }

    /// The engine's TLS address, `https://127.0.0.1:PORT`.
    pub fn tls_uri(&self) -> String {
        format!("https://127.0.0.1:{}", self.tls_listener().port)
    }

    fn tls_listener(&self) -> &TlsListener {
        self.tls
            .as_ref()
            .expect("the engine was started with start_with_tls")
    }

    /// A `[docker.endpoints.NAME]` table for the engine's unix socket.
    pub fn endpoint_toml(&self, name: &str, maxjobs: usize) -> String {
        format!(
            "\n[docker.endpoints.{name}]\nuri = \"{}\"\nmaxjobs = {maxjobs}\n",
            self.unix_uri()
        )
    }

    /// A `[docker.endpoints.NAME]` table for the engine's TLS address, with
    /// the trusted client certificate and `ca` as the CA.
    pub fn tls_endpoint_toml(&self, name: &str, maxjobs: usize, ca: &Path) -> String {
        let files = self.tls_files();
        self.tls_endpoint_toml_with(name, maxjobs, ca, &files.cert, &files.key)
    }

    /// A `[docker.endpoints.NAME]` table for the engine's TLS address with
    /// the given CA, client certificate and key.
    pub fn tls_endpoint_toml_with(
        &self,
        name: &str,
        maxjobs: usize,
        ca: &Path,
        cert: &Path,
        key: &Path,
    ) -> String {
        let mut toml = format!(
            "\n[docker.endpoints.{name}]\nuri = \"{}\"\nmaxjobs = {maxjobs}\n",
            self.tls_uri()
        );
        let _ = writeln!(
            toml,
            "tls = {{ ca = \"{}\", cert = \"{}\", key = \"{}\" }}",
            ca.display(),
            cert.display(),
            key.display()
        );
        toml
    }

    /// The CA, the client's certificate and key, and the wrong ones.
    pub fn tls_files(&self) -> TlsFiles {
        self.tls_listener().files.clone()
    }

    /// `docker` talking to this engine (over its unix socket).
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        for var in ["DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] {
            cmd.env_remove(var);
        }
        cmd.env("DOCKER_HOST", self.unix_uri());
        cmd
    }

    /// Whether the engine answers `docker info` within `limit`.
    pub fn answers_within(&self, limit: Duration) -> bool {
        let Ok(mut child) = self
            .docker()
            .args(["info", "--format", "{{.ID}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return false;
        };
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }

    /// dockerd's pid, from its pidfile (or the process started, before
    /// dockerd wrote the file).
    fn pid(&self) -> Option<Pid> {
        let from_file = std::fs::read_to_string(self.path("docker.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        from_file
            .or_else(|| self.dockerd.as_ref().map(|c| c.id() as i32))
            .map(Pid::from_raw)
    }

    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid() {
            let _ = kill(pid, signal);
        }
    }

    /// SIGKILL to dockerd: the engine dies as in a crash (its containers'
    /// processes live on until the engine is dropped).
    pub fn kill(&self) {
        self.signal(Signal::SIGKILL);
    }

    /// SIGSTOP to dockerd: the engine stops answering, its sockets stay open.
    pub fn freeze(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONT to dockerd, after [`SecondEngine::freeze`].
    pub fn thaw(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// Ids of the containers on this engine labelled `org.kiln.managed=true`.
    pub fn kiln_containers(&self) -> Vec<String> {
        let out = self
            .docker()
            .args(["ps", "-aq", "--no-trunc"])
            .args(["--filter", "label=org.kiln.managed=true"])
            .output()
            .expect("running docker ps");
        assert!(
            out.status.success(),
            "docker ps on the second engine failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// The image id of `image` on this engine.
    pub fn image_id(&self, image: &str) -> String {
        image_id(&mut self.docker(), image)
    }

    /// Pids of every process left of this engine: dockerd, containerd and
    /// the shims (its directory or namespace in their command line) and the
    /// containers' processes (in its cgroups). Zombies are left out.
    pub fn processes(&self) -> Vec<Pid> {
        let me = std::process::id();
        let dir = self.dir.path().to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != me && !is_zombie(pid))
            .filter(|&pid| self.cmdline_is_ours(pid, &dir) || self.cgroup_is_ours(pid))
            .map(|pid| Pid::from_raw(pid as i32))
            .collect()
    }

    fn cmdline_is_ours(&self, pid: u32, dir: &str) -> bool {
        let args = cmdline(pid);
        args.iter().any(|a| a.contains(dir))
            || args
                .windows(2)
                .any(|w| w[0] == "-namespace" && w[1] == self.name)
    }

    fn cgroup_is_ours(&self, pid: u32) -> bool {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        let parent = format!("/{}", self.name);
        text.lines()
            .filter_map(|line| line.splitn(3, ':').nth(2))
            .any(|path| path == parent || path.starts_with(&format!("{parent}/")))
    }

    /// Mount points under the engine's directory, deepest first.
    pub fn mounts(&self) -> Vec<String> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return Vec::new();
        };
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|p| p.starts_with(&dir))
            .map(str::to_owned)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        points
    }

    /// SIGCONT, SIGTERM, a wait, then SIGKILL, and dockerd reaped.
    fn stop_dockerd(&mut self) {
        let Some(mut child) = self.dockerd.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            self.thaw();
            self.signal(Signal::SIGTERM);
            let deadline = Instant::now() + STOP_DEADLINE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// SIGKILL to every process of the engine until none is left, and the
    /// sockets of its killed containerd shims removed.
    fn kill_leftovers(&self) {
        let sockets: Vec<PathBuf> = self
            .processes()
            .into_iter()
            .filter_map(shim_socket)
            .collect();
        self.kill_processes();
        for socket in sockets {
            let _ = std::fs::remove_file(socket);
        }
    }

    fn kill_processes(&self) {
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            let left = self.processes();
            if left.is_empty() || Instant::now() > deadline {
                if !left.is_empty() {
                    eprintln!(
                        "warning: processes of engine {} survive: {left:?}",
                        self.name
                    );
                }
                return;
            }
            for pid in left {
                let _ = kill(pid, Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn unmount_all(&self) {
        for point in self.mounts() {
            let _ = Command::new("umount").arg("-l").arg(&point).output();
        }
    }

    /// Removes the engine's cgroups, under `/sys/fs/cgroup/[CONTROLLER/]NAME`.
    fn remove_cgroups(&self) {
        let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            roots.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        }
        for root in roots {
            let dir = root.join(&self.name);
            if !dir.is_dir() {
                continue;
            }
            let walk = walkdir::WalkDir::new(&dir).contents_first(true);
            for entry in walk.into_iter().flatten() {
                if entry.file_type().is_dir() {
                    let _ = std::fs::remove_dir(entry.path());
                }
            }
        }
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        self.stop_dockerd();
        self.kill_leftovers();
        self.unmount_all();
        self.remove_cgroups();
        if let Some(bridge) = self.bridge.take() {
            let _ = ip(&["link", "del", &bridge]);
        }
        // The TempDir removes the directory itself.
    }
}

fn cannot_start(why: String) -> Option<SecondEngine> {
    if in_ci() {
        panic!("CI=true, but a second Docker engine could not start: {why}");
    }
    eprintln!("note: skipping a test that needs a second Docker engine: {why}");
    None
}

/// The image id of `image` through `docker` (`docker image inspect`).
pub fn image_id(docker: &mut Command, image: &str) -> String {
    let out = docker
        .args(["image", "inspect", "-f", "{{.Id}}", image])
        .output()
        .expect("running docker image inspect");
    assert!(
        out.status.success(),
        "docker image inspect {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The arguments of process `pid` (none when it is gone).
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The socket a containerd shim (`containerd-shim-runc-v2 -namespace NS -id
/// ID -address ADDR`) listens on, which it leaves behind when killed:
/// `/run/containerd/s/` and the SHA-256 of `ADDR/NS/ID`, as containerd
/// names it.
fn shim_socket(pid: Pid) -> Option<PathBuf> {
    let args = cmdline(pid.as_raw() as u32);
    let value = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    let key = format!(
        "{}/{}/{}",
        value("-address")?,
        value("-namespace")?,
        value("-id")?
    );
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
    Some(Path::new("/run/containerd/s").join(digest))
}

/// Whether `pid` is a process that has not ended (nor become a zombie).
pub fn is_live_process(pid: Pid) -> bool {
    let pid = pid.as_raw() as u32;
    Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A `10.2NN.x` prefix that no address or route of the machine uses.
fn free_subnet() -> Result<String, String> {
    let taken = |cmd: &[&str]| -> Result<String, String> {
        let out = Command::new("ip")
            .args(cmd)
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let used = taken(&["-4", "-o", "addr", "show"])? + &taken(&["-4", "route", "show"])?;
    for _ in 0..100 {
        let bytes = *uuid::Uuid::new_v4().as_bytes();
        let prefix = format!("10.{}.{}", 200 + bytes[0] % 55, bytes[1]);
        if !used.contains(&format!("{prefix}.")) {
            return Ok(prefix);
        }
    }
    Err("no free 10.2NN.x.0/24 subnet for the bridge".into())
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate it
/// signed; a wrong CA and a client certificate that one signed.
fn make_certificates(dir: &Path) -> Result<TlsFiles, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let p = |name: &str| dir.join(name);
    make_ca(dir, "ca", "kiln test CA")?;
    make_ca(dir, "wrong-ca", "kiln wrong CA")?;
    make_signed(
        dir,
        "server",
        "ca",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )?;
    make_signed(dir, "client", "ca", "extendedKeyUsage=clientAuth\n")?;
    make_signed(
        dir,
        "untrusted",
        "wrong-ca",
        "extendedKeyUsage=clientAuth\n",
    )?;
    Ok(TlsFiles {
        ca: p("ca.pem"),
        cert: p("client-cert.pem"),
        key: p("client-key.pem"),
        wrong_ca: p("wrong-ca.pem"),
        untrusted_cert: p("untrusted-cert.pem"),
        untrusted_key: p("untrusted-key.pem"),
    })
}

/// `NAME.pem` and `NAME-key.pem`: a self-signed CA.
fn make_ca(dir: &Path, name: &str, subject: &str) -> Result<(), String> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={subject}"),
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.pem"),
        ],
    )
}

/// `NAME-cert.pem` and `NAME-key.pem`, signed by the CA `ca`, with the
/// extensions `ext`.
fn make_signed(dir: &Path, name: &str, ca: &str, ext: &str) -> Result<(), String> {
    let ext_file = dir.join(format!("{name}.ext"));
    std::fs::write(&ext_file, ext).map_err(|e| format!("writing {}: {e}", ext_file.display()))?;
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN=kiln test {name}"),
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-days",
            "2",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}-cert.pem"),
        ],
    )
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
