//! Running the configured `script_linter`: one process per script, the
//! script on its standard input, at most `jobs` at a time. A non-zero exit
//! is a rejection, and what the program printed (standard output, then
//! standard error) says why.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Result;

/// A script the linter rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `exit code N` or `killed by signal N`.
    pub status: String,
    pub output: String,
}

/// Runs `program` on every script (`(index, text)`) with at most `jobs`
/// processes at once; returns the rejections by index, in index order. A
/// program that cannot be started is a configuration error.
pub fn run_all(
    program: &Path,
    cwd: Option<&Path>,
    scripts: &[(usize, &str)],
    jobs: usize,
) -> Result<Vec<(usize, Rejection)>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Rejection)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let workers = jobs.max(1).min(scripts.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                if failure.lock().map_or(true, |f| f.is_some()) {
                    return;
                }
                let Some(&(index, script)) = scripts.get(next.fetch_add(1, Ordering::Relaxed))
                else {
                    return;
                };
                match run_one(program, cwd, script) {
                    Ok(None) => {}
                    Ok(Some(rejection)) => {
                        if let Ok(mut r) = results.lock() {
                            r.push((index, rejection));
                        }
                    }
                    Err(e) => {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    Ok(results)
}

/// Runs the linter on one script: `None` when it exits 0.
fn run_one(program: &Path, cwd: Option<&Path>, script: &str) -> Result<Option<Rejection>> {
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| {
        crate::input_error!("script_linter {}: cannot run it: {e}", program.display())
    })?;
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    // Write and read on separate threads, so that a linter that prints
    // before it has read everything cannot block on a full pipe.
    let (out, err) = std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(mut stdin) = stdin.take() {
                // A linter may exit without reading everything; that is its verdict.
                let _ = stdin.write_all(script.as_bytes());
            }
        });
        let err = s.spawn(move || read_all(stderr.as_mut()));
        let out = read_all(stdout.as_mut());
        (out, err.join().unwrap_or_default())
    });
    let status = child
        .wait()
        .map_err(|e| anyhow::anyhow!("waiting for script_linter {}: {e}", program.display()))?;
    if status.success() {
        return Ok(None);
    }
    let mut output = out;
    if !err.is_empty() {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&err);
    }
    Ok(Some(Rejection {
        status: describe(status),
        output,
    }))
}

fn read_all<R: Read>(reader: Option<&mut R>) -> String {
    let mut bytes = Vec::new();
    if let Some(r) = reader {
        let _ = r.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, body: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("linter.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("writing the linter");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("making it executable");
        path
    }

    #[test]
    fn rejections_by_index() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let linter = sh(
            dir.path(),
            "if grep -q BAD; then echo 'found BAD'; echo 'on stderr' >&2; exit 3; fi",
        );
        let big = "echo ok\n".repeat(50_000);
        let scripts: Vec<(usize, &str)> = vec![
            (0, "echo fine\n"),
            (1, "echo BAD\n"),
            (2, big.as_str()),
            (5, "BAD BAD\n"),
        ];
        for jobs in [1, 3, 8] {
            let got = run_all(&linter, None, &scripts, jobs).expect("the linter runs");
            let expected = Rejection {
                status: "exit code 3".into(),
                output: "found BAD\non stderr\n".into(),
            };
            assert_eq!(
                got,
                vec![(1, expected.clone()), (5, expected)],
                "jobs {jobs}"
            );
        }
    }

    #[test]
    fn a_linter_that_cannot_run_is_an_input_error() {
        let err =
            run_all(Path::new("/no/such/linter"), None, &[(0, "x")], 2).expect_err("cannot run");
        assert!(crate::error::is_input_error(&err), "{err}");
        assert!(err.to_string().contains("/no/such/linter"), "{err}");
    }

    #[test]
    fn a_linter_that_does_not_read_is_no_problem() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let linter = sh(dir.path(), "echo no; exit 1");
        let big = "x".repeat(1 << 20);
        let got = run_all(&linter, None, &[(0, big.as_str())], 1).expect("runs");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.output, "no\n");
    }
}
