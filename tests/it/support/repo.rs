//! Package repositories written into a sandbox, and running `kiln --repo`
//! on them.

use std::path::{Path, PathBuf};

use super::{run, Sandbox};

/// Writes `files` (path, content) under `<sandbox>/repo` and returns that directory.
pub fn write_repo(sandbox: &Sandbox, files: &[(&str, &str)]) -> PathBuf {
    let root = sandbox.path().join("repo");
    write_files(&root, files);
    root
}

/// Writes `files` (path, content) under `root`, creating directories.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(root).expect("creating the repository");
    for (path, content) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent directory"))
            .expect("creating directories");
        std::fs::write(path, content).expect("writing a file");
    }
}

/// The project's example repository.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Runs `kiln --repo ROOT ARGS...`; returns exit code, stdout, stderr.
/// A panic of kiln fails the test.
pub fn kiln_in(sandbox: &Sandbox, root: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = sandbox.kiln();
    cmd.arg("--repo").arg(root).args(args);
    let (out, stdout, stderr) = run(&mut cmd);
    let code = out
        .status
        .code()
        .expect("kiln exited (not killed by a signal)");
    assert!(!stderr.contains("panicked"), "kiln panicked: {stderr}");
    (code, stdout, stderr)
}

/// The SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
