//! kiln builds trees of Linux packages inside Docker containers and records
//! everything about every build in PostgreSQL.
//!
//! The modules, in reading order (see `docs/ARCHITECTURE.md`):
//!
//! - [`cli`]: the command-line grammar (clap derive types only);
//! - [`commands`]: one file per command, from arguments to library calls;
//! - [`config`]: configuration layering and validation;
//! - [`repo`]: loading the `pkg.toml` hierarchy (the only reader of package files);
//! - [`package`]: packages, names, versions, dependencies, script rendering (no I/O);
//! - [`plan`]: dependency DAGs and build order (no I/O);
//! - [`lint`]: checks of packages and their scripts, before a build or on request;
//! - [`endpoint`]: Docker endpoints (the only user of bollard);
//! - [`orchestrator`]: running a plan across endpoints;
//! - [`proof`]: comparing a rebuilt submit with its original (no I/O);
//! - [`release_plan`]: what a release does with each artifact (no I/O);
//! - [`store`]: staging and release stores, safe extraction, checksums;
//! - [`log`]: the container log protocol (no I/O);
//! - [`secrets`]: the values of secret variables and their masking (no I/O);
//! - [`provenance`]: in-toto/SLSA provenance documents from the records (no I/O);
//! - [`db`]: the database (the only user of diesel);
//! - [`ui`]: everything the user reads on the terminal.

pub mod actor;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod diagnostics;
pub mod endpoint;
pub mod error;
pub mod lint;
pub mod log;
pub mod orchestrator;
pub mod package;
pub mod plan;
pub mod proof;
pub mod provenance;
pub mod release_plan;
pub mod repo;
pub mod secrets;
pub mod store;
pub mod ui;

/// kiln's version and the git commit it was built from (set by `build.rs`),
/// as `kiln --version` prints it and every submit records it.
pub const VERSION: &str = env!("KILN_VERSION");

#[cfg(test)]
mod tests {
    /// Every module says what it owns in a `//!` paragraph (STYLE.md);
    /// `db/schema.rs` is generated and exempt.
    #[test]
    fn every_module_has_a_doc_comment() {
        fn visit(dir: &std::path::Path, missing: &mut Vec<String>) {
            let entries = std::fs::read_dir(dir).expect("reading src/");
            for entry in entries {
                let path = entry.expect("reading src/").path();
                if path.is_dir() {
                    visit(&path, missing);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("db/schema.rs")
                {
                    let text = std::fs::read_to_string(&path).expect("reading a module");
                    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                    if !first.starts_with("//!") {
                        missing.push(path.display().to_string());
                    }
                }
            }
        }
        let mut missing = Vec::new();
        visit(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut missing,
        );
        assert!(
            missing.is_empty(),
            "modules without a //! doc comment: {missing:?}"
        );
    }
}
