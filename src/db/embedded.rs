//! kiln's embedded default database: a private PostgreSQL server in kiln's
//! data directory, used when no database is configured.
//!
//! The server lives in one directory (`$XDG_DATA_HOME/kiln/postgres`):
//! `data/` is the cluster, `server.log` its log, `kiln.lock` serialises the
//! kiln processes that create, start or stop it. It is created with `initdb`
//! on first use, started on demand with `pg_ctl start -w`, listens on a unix
//! socket only (`listen_addresses = ''`) in a directory only its owner can
//! enter, and holds one database, `kiln`, for the superuser `kiln`.
//!
//! PostgreSQL refuses to run as root. When kiln runs as root, the server runs
//! as `postgres` (or `nobody`), which owns the directory; since that user may
//! not be able to reach the directory by its path (`/root` is private), the
//! server programs see it through a directory handle kiln opened for them
//! (`/proc/self/fd/N`). Unix socket paths are limited to 107 bytes, so a
//! directory whose socket path would be longer puts its socket in a private
//! short directory under `/tmp` instead.
//!
//! This module starts and stops processes and reads the server's files; it
//! never touches a database other than creating `kiln`.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result};
use diesel::pg::PgConnection;
use diesel::{Connection as _, RunQueryDsl as _};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Uid, User};
use sha2::{Digest as _, Sha256};

/// The name of the database kiln keeps its records in, and of the superuser.
pub const DATABASE: &str = "kiln";
const SUPERUSER: &str = "kiln";
/// The port only names the socket file (`.s.PGSQL.5432`); nothing listens on TCP.
const PORT: u16 = 5432;
/// The longest path a unix socket can have (`sun_path` is 108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 107;
const SOCKET_FILE: &str = ".s.PGSQL.5432";
/// The programs the server needs, all in one directory.
const SERVER_PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Where Debian and Ubuntu install each PostgreSQL version (`<root>/<version>/bin`).
const DEBIAN_LIB_ROOT: &str = "/usr/lib/postgresql";

/// Failures of the embedded server that callers (and users) act on.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "kiln's embedded database needs the PostgreSQL server programs (initdb, pg_ctl, postgres), \
         and none were found (looked in: {searched}). Install them (Debian or Ubuntu: \
         `apt-get install postgresql`; Fedora: `dnf install postgresql-server`), or use an \
         existing PostgreSQL database by setting `database_url` (in the configuration file, \
         KILN_DATABASE_URL or --database-url)"
    )]
    NoServerPrograms { searched: String },

    #[error(
        "{dir} is not empty but holds no PostgreSQL cluster (no PG_VERSION); \
         move it away so that kiln can create its database there"
    )]
    NotACluster { dir: PathBuf },

    #[error("kiln runs as root, but neither user `postgres` nor `nobody` exists to run the embedded database server")]
    NoServerUser,

    #[error("the socket directory {path} is not safe to use: {reason}")]
    UnsafeSocketDir { path: PathBuf, reason: String },
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPrograms {
    bindir: PathBuf,
}

impl ServerPrograms {
    /// Finds the server programs: through `pg_config --bindir`, then `PATH`,
    /// then the highest version under `/usr/lib/postgresql/*/bin`. A cluster of
    /// major version `prefer_major` is best served by the same version, so that
    /// one is tried first when it is installed.
    pub fn find(prefer_major: Option<u32>) -> Result<Self, EmbeddedError> {
        ProgramSearch::from_environment(prefer_major).find()
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    /// `psql` beside the server programs, if it is there.
    pub fn psql(&self) -> Option<PathBuf> {
        let p = self.program("psql");
        is_executable(&p).then_some(p)
    }
}

/// The places [`ServerPrograms::find`] looks at, gathered first so that the
/// choice itself can be tested.
#[derive(Debug, Clone, Default)]
struct ProgramSearch {
    prefer_major: Option<u32>,
    pg_config_bindir: Option<PathBuf>,
    path: Option<OsString>,
    lib_root: PathBuf,
}

impl ProgramSearch {
    fn from_environment(prefer_major: Option<u32>) -> Self {
        let pg_config_bindir = Command::new("pg_config")
            .arg("--bindir")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|s| PathBuf::from(s.trim()))
            .filter(|p| p.is_absolute());
        Self {
            prefer_major,
            pg_config_bindir,
            path: std::env::var_os("PATH"),
            lib_root: PathBuf::from(DEBIAN_LIB_ROOT),
        }
    }

    /// The candidate directories, best first (may repeat).
    fn candidates(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(major) = self.prefer_major {
            out.push(self.lib_root.join(major.to_string()).join("bin"));
        }
        out.extend(self.pg_config_bindir.clone());
        if let Some(path) = &self.path {
            for dir in std::env::split_paths(path) {
                let initdb = dir.join("initdb");
                if !is_executable(&initdb) {
                    continue;
                }
                // `initdb` may be a link or a wrapper script: the programs must
                // be beside the real one, or beside the name found.
                if let Ok(real) = fs::canonicalize(&initdb) {
                    if let Some(parent) = real.parent() {
                        out.push(parent.to_owned());
                    }
                }
                out.push(dir);
            }
        }
        let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(&self.lib_root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let version = parse_version(name.to_str()?)?;
                Some((version, entry.path().join("bin")))
            })
            .collect();
        versions.sort_by(|a, b| b.0.cmp(&a.0));
        out.extend(versions.into_iter().map(|(_, dir)| dir));
        out
    }

    fn find(&self) -> Result<ServerPrograms, EmbeddedError> {
        let candidates = self.candidates();
        if let Some(dir) = candidates.iter().find(|dir| is_complete(dir)) {
            return Ok(ServerPrograms {
                bindir: dir.clone(),
            });
        }
        let mut searched = vec!["`pg_config --bindir`".to_owned(), "PATH".to_owned()];
        searched.push(format!("{}/*/bin", self.lib_root.display()));
        let mut seen: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
        seen.dedup();
        if !seen.is_empty() {
            searched.push(format!("incomplete: {}", seen.join(", ")));
        }
        Err(EmbeddedError::NoServerPrograms {
            searched: searched.join("; "),
        })
    }
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`; anything else is not a version.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn is_complete(dir: &Path) -> bool {
    SERVER_PROGRAMS.iter().all(|p| is_executable(&dir.join(p)))
}

/// The user the server runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerUser {
    /// The user running kiln.
    Current,
    /// An unprivileged user, because kiln runs as root.
    Other { name: String, uid: Uid, gid: Gid },
}

impl ServerUser {
    fn for_current_process() -> Result<Self> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(ServerUser::Current);
        }
        for name in ["postgres", "nobody"] {
            let user =
                User::from_name(name).with_context(|| format!("looking up user `{name}`"))?;
            if let Some(user) = user {
                return Ok(ServerUser::Other {
                    name: user.name,
                    uid: user.uid,
                    gid: user.gid,
                });
            }
        }
        Err(EmbeddedError::NoServerUser.into())
    }

    /// The user's name, when it is not the one running kiln.
    pub fn name(&self) -> Option<&str> {
        match self {
            ServerUser::Current => None,
            ServerUser::Other { name, .. } => Some(name),
        }
    }

    fn uid(&self) -> Uid {
        match self {
            ServerUser::Current => nix::unistd::geteuid(),
            ServerUser::Other { uid, .. } => *uid,
        }
    }

    /// Gives `path` to this user (nothing to do when it is kiln's own user).
    fn take(&self, path: &Path) -> Result<()> {
        if let ServerUser::Other { name, uid, gid } = self {
            nix::unistd::chown(path, Some(*uid), Some(*gid))
                .with_context(|| format!("giving {} to user `{name}`", path.display()))?;
        }
        Ok(())
    }
}

/// Whether the server is running, as its files say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// No cluster has been created yet.
    NotCreated,
    /// The cluster exists; no server runs on it.
    Stopped,
    /// A server runs on the cluster.
    Running { pid: i32 },
}

/// What `stop` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// The server ran and was stopped.
    Stopped { pid: i32 },
    /// No server was running.
    NotRunning,
}

/// kiln's private server in one directory.
#[derive(Debug, Clone)]
pub struct EmbeddedServer {
    dir: PathBuf,
    socket_dir: PathBuf,
    user: ServerUser,
    timeout: Duration,
}

impl EmbeddedServer {
    /// The server in `dir` (which need not exist yet). `timeout` bounds
    /// starting and stopping it.
    pub fn new(dir: &Path, timeout: Duration) -> Result<Self> {
        let dir = std::path::absolute(dir)
            .with_context(|| format!("making the database directory {} absolute", dir.display()))?;
        let user = ServerUser::for_current_process()?;
        let socket_dir =
            socket_dir_for(&dir, nix::unistd::geteuid().as_raw(), &std::env::temp_dir());
        Ok(Self {
            dir,
            socket_dir,
            user,
            timeout,
        })
    }

    /// The directory holding the cluster, its log and its lock.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The user the server runs as.
    pub fn user(&self) -> &ServerUser {
        &self.user
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A libpq connection string for the `kiln` database (it holds no password:
    /// the socket's directory admits only its owner).
    pub fn conninfo(&self) -> String {
        self.conninfo_for(DATABASE)
    }

    fn conninfo_for(&self, database: &str) -> String {
        format!(
            "host={} port={PORT} user={SUPERUSER} dbname={database}",
            conninfo_quote(&self.socket_dir.to_string_lossy())
        )
    }

    /// Reads the server's state from `postmaster.pid`, without starting anything.
    pub fn state(&self) -> Result<ServerState> {
        let data = self.data_dir();
        if !data.join("PG_VERSION").exists() {
            return Ok(ServerState::NotCreated);
        }
        let pid_file = data.join("postmaster.pid");
        let text = match fs::read_to_string(&pid_file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ServerState::Stopped),
            Err(e) => return Err(e).with_context(|| format!("reading {}", pid_file.display())),
        };
        let pid: i32 = match text.lines().next().and_then(|l| l.trim().parse().ok()) {
            Some(pid) if pid > 0 => pid,
            _ => return Ok(ServerState::Stopped),
        };
        let alive = match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
            Ok(()) => true,
            Err(nix::errno::Errno::EPERM) => true,
            Err(_) => false,
        };
        Ok(if alive {
            ServerState::Running { pid }
        } else {
            ServerState::Stopped
        })
    }

    /// Makes sure the server runs and holds the `kiln` database: creates the
    /// cluster on first use, starts the server if it is down. Safe when several
    /// kiln processes call it at once.
    pub fn ensure_running(&self) -> Result<()> {
        if self.socket_dir.join(SOCKET_FILE).exists()
            && PgConnection::establish(&self.conninfo()).is_ok()
        {
            return Ok(());
        }
        self.prepare_dir()?;
        let _lock = self.lock()?;
        let major = self.cluster_major()?;
        let programs = ServerPrograms::find(major)?;
        if major.is_none() {
            self.initdb(&programs)?;
        }
        if !matches!(self.state()?, ServerState::Running { .. }) {
            self.prepare_socket_dir()?;
            self.start(&programs)?;
        }
        self.create_database()
    }

    /// Stops the server if it runs.
    pub fn stop(&self) -> Result<StopOutcome> {
        if !self.dir.exists() {
            return Ok(StopOutcome::NotRunning);
        }
        let _lock = self.lock()?;
        let ServerState::Running { pid } = self.state()? else {
            return Ok(StopOutcome::NotRunning);
        };
        let programs = ServerPrograms::find(self.cluster_major()?)?;
        let view = DirView::open(self)?;
        let mut cmd = view.command(&programs.program("pg_ctl"), &self.user);
        cmd.arg("stop")
            .arg("-D")
            .arg(view.path("data"))
            .args(["-m", "fast", "-w", "-s", "-t"])
            .arg(self.timeout_secs().to_string());
        run_checked(&mut cmd, "stopping the embedded database server")?;
        if self.socket_dir != self.dir {
            // Empty once the server is gone; another server may be using it otherwise.
            let _ = fs::remove_dir(&self.socket_dir);
        }
        Ok(StopOutcome::Stopped { pid })
    }

    fn timeout_secs(&self) -> u64 {
        self.timeout.as_secs().max(5)
    }

    /// The major version of the cluster, or `None` if there is none yet.
    fn cluster_major(&self) -> Result<Option<u32>> {
        let data = self.data_dir();
        let version_file = data.join("PG_VERSION");
        match fs::read_to_string(&version_file) {
            Ok(text) => {
                let major = text.trim().split('.').next().and_then(|v| v.parse().ok());
                Ok(Some(major.with_context(|| {
                    format!(
                        "{} does not hold a PostgreSQL version",
                        version_file.display()
                    )
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let has_files = fs::read_dir(&data)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false);
                if has_files {
                    return Err(EmbeddedError::NotACluster { dir: data }.into());
                }
                Ok(None)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", version_file.display())),
        }
    }

    /// Creates the directory, owned by the server's user and private to it.
    fn prepare_dir(&self) -> Result<()> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating the database directory {}", self.dir.display()))?;
        self.user.take(&self.dir)?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", self.dir.display()))
    }

    fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join("kiln.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("locking {}", path.display()))
    }

    /// The socket directory under `/tmp`, when the socket cannot be in `dir`:
    /// created private to the server's user, and refused if someone else made it.
    fn prepare_socket_dir(&self) -> Result<()> {
        if self.socket_dir == self.dir {
            return Ok(());
        }
        let path = &self.socket_dir;
        match fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => self.user.take(path)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating the socket directory {}", path.display()))
            }
        }
        let meta = fs::symlink_metadata(path)
            .with_context(|| format!("inspecting the socket directory {}", path.display()))?;
        let unsafe_because = |reason: &str| EmbeddedError::UnsafeSocketDir {
            path: path.clone(),
            reason: reason.to_owned(),
        };
        if !meta.file_type().is_dir() {
            return Err(unsafe_because("it is not a directory").into());
        }
        if meta.uid() != self.user.uid().as_raw() {
            return Err(unsafe_because("another user owns it").into());
        }
        if meta.mode() & 0o077 != 0 {
            return Err(unsafe_because("other users may enter it").into());
        }
        Ok(())
    }

    fn initdb(&self, programs: &ServerPrograms) -> Result<()> {
        tracing::info!(dir = %self.dir.display(), "creating the embedded database cluster");
        let view = DirView::open(self)?;
        let mut cmd = view.command(&programs.program("initdb"), &self.user);
        cmd.arg("-D").arg(view.path("data")).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        ]);
        run_checked(
            &mut cmd,
            "creating the embedded database cluster with initdb",
        )?;
        Ok(())
    }

    fn start(&self, programs: &ServerPrograms) -> Result<()> {
        tracing::info!(dir = %self.dir.display(), "starting the embedded database server");
        let view = DirView::open(self)?;
        let socket_dir = if self.socket_dir == self.dir {
            view.path("")
        } else {
            self.socket_dir.clone()
        };
        let options = format!(
            "-c listen_addresses='' -c port={PORT} -c unix_socket_directories={} \
             -c unix_socket_permissions=0700",
            socket_dir.display()
        );
        let mut cmd = view.command(&programs.program("pg_ctl"), &self.user);
        cmd.arg("start")
            .arg("-D")
            .arg(view.path("data"))
            .arg("-l")
            .arg(view.path("server.log"))
            .arg("-o")
            .arg(options)
            .args(["-w", "-s", "-t"])
            .arg(self.timeout_secs().to_string());
        run_checked(&mut cmd, "starting the embedded database server").map_err(|e| {
            let log = tail_of(&self.log_file(), 2000);
            if log.is_empty() {
                e
            } else {
                e.context(format!(
                    "the server's log {} ends with:\n{log}",
                    self.log_file().display()
                ))
            }
        })?;
        Ok(())
    }

    fn create_database(&self) -> Result<()> {
        let mut conn = PgConnection::establish(&self.conninfo_for("postgres"))
            .context("connecting to the embedded database server")?;
        let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = 'kiln')",
        ))
        .get_result(&mut conn)
        .context("looking for the `kiln` database")?;
        if !exists {
            diesel::sql_query("CREATE DATABASE kiln")
                .execute(&mut conn)
                .context("creating the `kiln` database on the embedded server")?;
        }
        Ok(())
    }
}

/// How the server programs see the server's directory: by its path when they
/// run as kiln's user, else through a handle kiln opened for them, since they
/// may be unable to reach the path.
struct DirView {
    handle: Option<File>,
    path: PathBuf,
}

impl DirView {
    fn open(server: &EmbeddedServer) -> Result<Self> {
        match server.user {
            ServerUser::Current => Ok(Self {
                handle: None,
                path: server.dir.clone(),
            }),
            ServerUser::Other { .. } => {
                let handle = File::open(&server.dir).with_context(|| {
                    format!("opening the database directory {}", server.dir.display())
                })?;
                let path = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
                Ok(Self {
                    handle: Some(handle),
                    path,
                })
            }
        }
    }

    /// `sub` inside the directory, as the programs see it.
    fn path(&self, sub: &str) -> PathBuf {
        if sub.is_empty() {
            self.path.clone()
        } else {
            self.path.join(sub)
        }
    }

    fn command(&self, program: &Path, user: &ServerUser) -> Command {
        let mut cmd = Command::new(program);
        cmd.stdin(Stdio::null()).current_dir("/");
        for var in [
            "PGDATA",
            "PGPORT",
            "PGHOST",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
        ] {
            cmd.env_remove(var);
        }
        if let ServerUser::Other { uid, gid, .. } = user {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        if let Some(handle) = &self.handle {
            let fd = handle.as_raw_fd();
            // SAFETY: runs in the child between fork and exec, and only calls
            // fcntl(2), which is async-signal-safe, on a descriptor the child
            // inherited; it lets that one descriptor survive the exec.
            #[allow(
                unsafe_code,
                reason = "pre_exec is unsafe; the SAFETY comment says why this use is sound"
            )]
            unsafe {
                cmd.pre_exec(move || {
                    if nix::libc::fcntl(fd, nix::libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd
    }
}

/// Runs a server program; a failure carries its output.
fn run_checked(cmd: &mut Command, what: &str) -> Result<Output> {
    let program = cmd.get_program().to_owned();
    let out = cmd
        .output()
        .with_context(|| format!("{what}: running {}", Path::new(&program).display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let detail = [stderr.trim(), stdout.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        anyhow::bail!(
            "{what}: {} exited with {}: {detail}",
            short_name(&program),
            out.status
        );
    }
    Ok(out)
}

fn short_name(program: &OsStr) -> String {
    Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned()
}

/// The last `max` bytes of a file, or nothing if it cannot be read.
fn tail_of(path: &Path, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file.seek(SeekFrom::Start(len.saturating_sub(max))).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_owned()
}

/// Where the socket of the server in `dir` goes: `dir` itself when the socket
/// path fits and needs no quoting in the server's options, else a short
/// private directory in `tmp` (or `/tmp` when `tmp` is long too) named after
/// kiln's user and `dir`.
fn socket_dir_for(dir: &Path, uid: u32, tmp: &Path) -> PathBuf {
    if fits_socket(dir) && is_plain(dir) {
        return dir.to_owned();
    }
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    let name = format!("kiln-{uid}-{}", &hex::encode(digest)[..12]);
    let in_tmp = tmp.join(&name);
    if fits_socket(&in_tmp) && is_plain(&in_tmp) {
        in_tmp
    } else {
        Path::new("/tmp").join(name)
    }
}

fn fits_socket(dir: &Path) -> bool {
    dir.as_os_str().len() + 1 + SOCKET_FILE.len() <= SOCKET_PATH_MAX
}

/// A path that passes through `pg_ctl -o` and `unix_socket_directories` unquoted.
fn is_plain(path: &Path) -> bool {
    path.to_str().is_some_and(|s| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+'))
    })
}

/// A value for a libpq `key=value` connection string.
fn conninfo_quote(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_executable(path: &Path) {
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        fs::write(path, "#!/bin/sh\n").expect("write");
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn complete_bindir(dir: &Path) {
        for p in SERVER_PROGRAMS {
            touch_executable(&dir.join(p));
        }
    }

    #[test]
    fn parse_version_accepts_numbers_only() {
        let cases: &[(&str, Option<Vec<u32>>)] = &[
            ("15", Some(vec![15])),
            ("9.6", Some(vec![9, 6])),
            ("16", Some(vec![16])),
            ("15beta", None),
            ("", None),
            ("common", None),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_version(input), want, "{input}");
        }
    }

    /// Each case lays out directories under a temporary root, then says which
    /// directory (relative to the root) the search must choose, or none.
    #[test]
    fn program_search_picks_the_right_directory() {
        struct Case {
            name: &'static str,
            complete: &'static [&'static str],
            only_initdb: &'static [&'static str],
            pg_config: Option<&'static str>,
            path: &'static [&'static str],
            prefer_major: Option<u32>,
            want: Option<&'static str>,
        }
        let cases = [
            Case {
                name: "highest version under the lib root",
                complete: &["lib/9.6/bin", "lib/15/bin", "lib/12/bin"],
                only_initdb: &[],
                pg_config: None,
                path: &[],
                prefer_major: None,
                want: Some("lib/15/bin"),
            },
            Case {
                name: "the cluster's version first",
                complete: &["lib/15/bin", "lib/16/bin"],
                only_initdb: &[],
                pg_config: Some("lib/16/bin"),
                path: &[],
                prefer_major: Some(15),
                want: Some("lib/15/bin"),
            },
            Case {
                name: "pg_config before PATH and the lib root",
                complete: &["opt/pg/bin", "usr/bin", "lib/16/bin"],
                only_initdb: &[],
                pg_config: Some("opt/pg/bin"),
                path: &["usr/bin"],
                prefer_major: None,
                want: Some("opt/pg/bin"),
            },
            Case {
                name: "a lone initdb wrapper on PATH is skipped",
                complete: &["lib/13/bin"],
                only_initdb: &["usr/local/bin"],
                pg_config: None,
                path: &["usr/local/bin"],
                prefer_major: None,
                want: Some("lib/13/bin"),
            },
            Case {
                name: "an incomplete pg_config directory is skipped",
                complete: &["usr/bin"],
                only_initdb: &["client/bin"],
                pg_config: Some("client/bin"),
                path: &["usr/bin"],
                prefer_major: None,
                want: Some("usr/bin"),
            },
            Case {
                name: "nothing installed",
                complete: &[],
                only_initdb: &["usr/local/bin"],
                pg_config: None,
                path: &["usr/local/bin"],
                prefer_major: Some(15),
                want: None,
            },
        ];
        for case in cases {
            let root = tempfile::tempdir().expect("tempdir");
            let r = root.path();
            for d in case.complete {
                complete_bindir(&r.join(d));
            }
            for d in case.only_initdb {
                touch_executable(&r.join(d).join("initdb"));
            }
            fs::create_dir_all(r.join("lib")).expect("mkdir lib");
            let search = ProgramSearch {
                prefer_major: case.prefer_major,
                pg_config_bindir: case.pg_config.map(|d| r.join(d)),
                path: Some(
                    std::env::join_paths(case.path.iter().map(|d| r.join(d))).expect("join paths"),
                ),
                lib_root: r.join("lib"),
            };
            match (search.find(), case.want) {
                (Ok(found), Some(want)) => {
                    assert_eq!(found.bindir(), r.join(want), "{}", case.name)
                }
                (Err(e), None) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("apt-get install postgresql"),
                        "{}: {msg}",
                        case.name
                    );
                    assert!(msg.contains("database_url"), "{}: {msg}", case.name);
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", case.name),
            }
        }
    }

    #[test]
    fn program_search_follows_a_symlinked_initdb() {
        let root = tempfile::tempdir().expect("tempdir");
        let r = root.path();
        complete_bindir(&r.join("real/bin"));
        fs::create_dir_all(r.join("links")).expect("mkdir");
        std::os::unix::fs::symlink(r.join("real/bin/initdb"), r.join("links/initdb"))
            .expect("symlink");
        let search = ProgramSearch {
            path: Some(r.join("links").into_os_string()),
            lib_root: r.join("none"),
            ..ProgramSearch::default()
        };
        let found = search.find().expect("found through the link");
        assert_eq!(
            found.bindir(),
            fs::canonicalize(r.join("real/bin")).expect("canonical")
        );
    }

    #[test]
    fn socket_dir_is_the_directory_unless_too_long_or_odd() {
        let long = format!("/home/{}/kiln/postgres", "x".repeat(80));
        let cases: &[(&str, &str, bool)] = &[
            ("/home/ann/.local/share/kiln/postgres", "/tmp", true),
            (&long, "/tmp", false),
            ("/home/ann/my data/kiln/postgres", "/tmp", false),
            ("/home/ann/it's/kiln/postgres", "/tmp", false),
        ];
        for (dir, tmp, in_dir) in cases {
            let got = socket_dir_for(Path::new(dir), 1000, Path::new(tmp));
            if *in_dir {
                assert_eq!(got, Path::new(dir));
            } else {
                assert!(
                    got.to_string_lossy().starts_with("/tmp/kiln-1000-"),
                    "{dir}: {}",
                    got.display()
                );
                assert!(fits_socket(&got) && is_plain(&got), "{}", got.display());
            }
        }
        // Two directories never share a socket directory; one always gets the same.
        let a = socket_dir_for(Path::new(&format!("{long}/a")), 0, Path::new("/tmp"));
        let b = socket_dir_for(Path::new(&format!("{long}/b")), 0, Path::new("/tmp"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            socket_dir_for(Path::new(&format!("{long}/a")), 0, Path::new("/tmp"))
        );
        // A long TMPDIR falls back to /tmp.
        let long_tmp = format!("/{}", "t".repeat(100));
        let c = socket_dir_for(Path::new(&long), 0, Path::new(&long_tmp));
        assert!(c.starts_with("/tmp/"), "{}", c.display());
    }

    #[test]
    fn socket_path_limit_is_exact() {
        let fits = format!(
            "/{}",
            "a".repeat(SOCKET_PATH_MAX - 1 - SOCKET_FILE.len() - 1)
        );
        assert!(fits_socket(Path::new(&fits)));
        let too_long = format!("{fits}b");
        assert!(!fits_socket(Path::new(&too_long)));
    }

    #[test]
    fn conninfo_values_are_quoted() {
        let cases = [
            ("/tmp/x", "'/tmp/x'"),
            ("/a b/c", "'/a b/c'"),
            ("/it's", r"'/it\'s'"),
            (r"/back\slash", r"'/back\\slash'"),
        ];
        for (input, want) in cases {
            assert_eq!(conninfo_quote(input), want);
        }
    }

    #[test]
    fn state_of_a_directory_without_cluster_is_not_created() {
        let root = tempfile::tempdir().expect("tempdir");
        let server =
            EmbeddedServer::new(&root.path().join("pg"), Duration::from_secs(5)).expect("server");
        assert_eq!(server.state().expect("state"), ServerState::NotCreated);
        fs::create_dir_all(server.data_dir()).expect("mkdir");
        fs::write(server.data_dir().join("PG_VERSION"), "15\n").expect("write");
        assert_eq!(server.state().expect("state"), ServerState::Stopped);
        assert_eq!(server.cluster_major().expect("major"), Some(15));
        // A pid file naming a process that does not exist is stale.
        fs::write(server.data_dir().join("postmaster.pid"), "999999999\n").expect("write");
        assert_eq!(server.state().expect("state"), ServerState::Stopped);
        let me = std::process::id();
        fs::write(server.data_dir().join("postmaster.pid"), format!("{me}\n")).expect("write");
        assert_eq!(
            server.state().expect("state"),
            ServerState::Running { pid: me as i32 }
        );
    }

    #[test]
    fn a_foreign_directory_is_not_taken_for_a_cluster() {
        let root = tempfile::tempdir().expect("tempdir");
        let server =
            EmbeddedServer::new(&root.path().join("pg"), Duration::from_secs(5)).expect("server");
        fs::create_dir_all(server.data_dir()).expect("mkdir");
        fs::write(server.data_dir().join("notes.txt"), "mine").expect("write");
        let err = server.cluster_major().expect_err("not a cluster");
        assert!(err.to_string().contains("no PostgreSQL cluster"), "{err}");
    }
}
