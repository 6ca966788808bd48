//! Linting packages: kiln's own checks ([`crate::package::lint`]), the
//! rendering of each package's script, and the configured `script_linter`
//! fed each rendered script on its standard input (secrets and all: the
//! linter sees the script the container runs; what it prints is scrubbed).
//! `kiln lint` prints what [`lint`] finds; `kiln submit` calls it before a
//! build.
//!
//! Blocking (file checks, child processes): async callers run [`lint`]
//! inside `spawn_blocking`.

mod linter;

use std::path::{Path, PathBuf};

use anyhow::Result;
use rayon::prelude::*;

use crate::config::Config;
use crate::package::lint::{check, Rules};
pub use crate::package::lint::{Finding, FindingKind, ImageList, Severity};
use crate::package::script::{ScriptRenderer, ScriptSettings};
use crate::package::{PackageId, PackageSet};
use crate::secrets::Secrets;

/// How [`lint_with`] runs.
#[derive(Debug, Clone)]
pub struct LintOptions {
    /// At most this many `script_linter` processes at once (at least 1).
    pub linter_jobs: usize,
}

impl Default for LintOptions {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            linter_jobs: cpus.min(16),
        }
    }
}

/// Lints the packages `which` with the default options (see [`lint_with`]).
pub fn lint(config: &Config, packages: &PackageSet, which: &[PackageId]) -> Result<Vec<Finding>> {
    lint_with(config, packages, which, &LintOptions::default())
}

/// Lints the packages `which`: kiln's checks, the script's rendering, and
/// the configured `script_linter` on every script that rendered. Findings
/// come package by package in the order of `which`, kiln's checks first.
///
/// Patches are looked for under the directory of the repository's
/// `config.toml`. Fails (as a configuration error) when the configuration
/// has no `available_phases` or `docker.images`, or when `script_linter`
/// cannot be started.
pub fn lint_with(
    config: &Config,
    packages: &PackageSet,
    which: &[PackageId],
    options: &LintOptions,
) -> Result<Vec<Finding>> {
    let phases = config.phases()?;
    let images = config.images()?;
    let root: Option<PathBuf> = config
        .provenance
        .repo_file
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_owned);
    let patch_exists = |patch: &str| root.as_ref().is_none_or(|r| r.join(patch).is_file());
    let rules = Rules {
        phases,
        images,
        packages,
        patch_exists: &patch_exists,
    };
    let renderer = ScriptRenderer::new(ScriptSettings::from_config(config));

    let mut checked: Vec<(Vec<Finding>, Option<String>)> = which
        .par_iter()
        .map(|&id| {
            let mut findings = check(&rules, id);
            let script = match renderer.render(packages.get(id)) {
                Ok(script) => Some(script.into_string()),
                Err(e) => {
                    findings.push(Finding {
                        package: id,
                        kind: FindingKind::Script {
                            message: e.to_string(),
                        },
                    });
                    None
                }
            };
            (findings, script)
        })
        .collect();

    if let Some(program) = &config.script_linter {
        let scripts: Vec<(usize, &str)> = checked
            .iter()
            .enumerate()
            .filter_map(|(i, (_, script))| script.as_deref().map(|s| (i, s)))
            .collect();
        let runs = linter::run_all(program, root.as_deref(), &scripts, options.linter_jobs)?;
        // The linter may quote a script that holds a package's secret.
        let secrets = Secrets::new(
            &config.secret_env,
            which.iter().map(|&id| &packages.get(id).environment),
        )?;
        for (i, rejection) in runs {
            checked[i].0.push(Finding {
                package: which[i],
                kind: FindingKind::Linter {
                    status: rejection.status,
                    output: secrets.scrub(&rejection.output),
                },
            });
        }
    }
    Ok(checked.into_iter().flat_map(|(f, _)| f).collect())
}
