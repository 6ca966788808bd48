//! Standard output closed by its reader before kiln writes
//! (`kiln ... | head -1` on a long output): kiln stops writing and ends as
//! it would have, exit 0, without a panic nor an error (`ui::stdout`).

use std::process::{Command, Stdio};

use crate::support::db::TestDb;
use crate::support::repo::write_repo;
use crate::support::Sandbox;

/// The write end of a pipe whose read end is closed already: every write
/// to it fails with `EPIPE`.
fn closed_pipe() -> Stdio {
    let (read, write) = nix::unistd::pipe().expect("making a pipe");
    drop(read);
    Stdio::from(write)
}

/// Runs `cmd` with its standard output closed; asserts that it exits 0
/// without a panic or an error.
fn check_quiet_end(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .expect("running kiln");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "{what}: kiln panicked: {stderr}"
    );
    assert!(!stderr.contains("error"), "{what}: {stderr}");
    assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
}

/// A repository of `n` packages in a chain, for a long tree.
fn chain(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let deps = if i + 1 < n {
                format!("[dependencies]\nruntime = [\"p{} =1\"]\n", i + 1)
            } else {
                String::new()
            };
            (
                format!("p{i}/pkg.toml"),
                format!("name = \"p{i}\"\nversion = \"1\"\n{deps}"),
            )
        })
        .collect()
}

#[test]
fn commands_without_a_database_end_quietly() {
    let sandbox = Sandbox::new();
    let files = chain(200);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let root = write_repo(&sandbox, &files);
    for args in [
        &["tree-of", "p0"][..],
        &["tree-of", "p0", "--output", "json"],
        &["generate-completions", "bash"],
        &["config", "show"],
    ] {
        let mut cmd = sandbox.kiln();
        cmd.arg("--repo").arg(&root).args(args);
        check_quiet_end(&mut cmd, &args.join(" "));
    }
}

/// `db status` and `db setup` printed with `println!`, which panicked on a
/// closed pipe (exit 101).
#[test]
fn database_commands_end_quietly() {
    let Some(db) = TestDb::new() else { return };
    let db = db.migrated();
    let sandbox = Sandbox::new();
    for args in [
        &["db", "status"][..],
        &["db", "setup"],
        &["metrics"],
        &["db", "submits", "--output", "csv"],
    ] {
        check_quiet_end(db.kiln(&sandbox).args(args), &args.join(" "));
    }
}
