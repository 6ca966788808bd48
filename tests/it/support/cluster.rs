//! A PostgreSQL cluster of one test's own, on a TCP port of its own, that
//! the test can stop (as a crash would: `pg_ctl -m immediate`) and start
//! again while kiln runs against it.

use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::pg::PgConnection;
use diesel::Connection;

use super::db::missing;

/// The cluster; stopped when dropped.
pub struct PrivateCluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    bindir: PathBuf,
    port: u16,
    /// The user the server runs as when the tests run as root.
    user: Option<nix::unistd::User>,
}

impl PrivateCluster {
    /// A new cluster, started. `None` (after a note) when PostgreSQL's
    /// server programs are missing outside CI.
    pub fn start() -> Option<Self> {
        let programs = match kiln::db::embedded::ServerPrograms::find(None) {
            Ok(p) => p,
            Err(e) => return missing(&format!("PostgreSQL's server programs: {e}")),
        };
        let dir = tempfile::Builder::new()
            .prefix("kiln-it-pg-")
            .tempdir()
            .expect("creating the cluster's directory");
        let user = nix::unistd::geteuid()
            .is_root()
            .then(|| nix::unistd::User::from_name("postgres").ok().flatten())
            .flatten();
        if let Some(user) = &user {
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).expect("chown");
        }
        let cluster = PrivateCluster {
            data: dir.path().join("data"),
            log: dir.path().join("log"),
            bindir: programs.bindir().to_owned(),
            port: free_port(),
            user,
            _dir: dir,
        };
        let initdb = cluster
            .command("initdb")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-A", "trust", "-U", "postgres"])
            .output()
            .expect("running initdb");
        assert!(
            initdb.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        cluster.resume();
        Some(cluster)
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A connection set up as kiln sets up its own.
    pub fn connect(&self) -> PgConnection {
        let mut conn =
            PgConnection::establish(&self.url()).expect("connecting to the private cluster");
        kiln::db::prepare_session(&mut conn, kiln::config::DEFAULT_DATABASE_SCHEMA)
            .expect("setting up the session");
        conn
    }

    /// Stops the server at once, as a crash would: every session is gone.
    pub fn crash(&self) {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }

    /// Starts the server (again), on the same port.
    pub fn resume(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories=''",
            self.port
        );
        let log = self.log.to_string_lossy().into_owned();
        self.pg_ctl(&["start", "-w", "-l", &log, "-o", &options]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .output()
            .expect("running pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bindir.join(program));
        if let Some(user) = &self.user {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            cmd.current_dir(Path::new("/"));
        }
        cmd
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate"])
            .output();
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("its address").port()
}
