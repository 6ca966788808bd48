//! Embeds the git commit kiln is built from in its version string
//! (`KILN_VERSION`, e.g. `0.1.0 (commit 4d98632a1b2c)`), so that `kiln
//! --version` and every recorded submit say which kiln built it. Outside a
//! git checkout (a packaged source tree) the version is the crate's alone.

#![allow(
    clippy::print_stdout,
    reason = "cargo reads its directives from a build script's standard output"
)]

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let full = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version,
    };
    println!("cargo:rustc-env=KILN_VERSION={full}");
    // Built again when HEAD moves to another commit.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        let mut watched = vec![format!("{dir}/HEAD"), format!("{dir}/packed-refs")];
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(format!("{dir}/{branch}"));
        }
        for path in watched.iter().filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
