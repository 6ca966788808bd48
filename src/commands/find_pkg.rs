//! `kiln find-pkg REGEX [VERSION]`: the packages whose names match, printed
//! tersely, in kiln's readable form, with `package_print_format`, or as JSON;
//! the values of `secret_env` variables masked.

use anyhow::Result;

use super::{select, Context};
use crate::cli::{FindPkgArgs, PackageFormat};
use crate::error::Outcome;
use crate::package::script::{ScriptRenderer, ScriptSettings};
use crate::package::{DependencyKind, Package};
use crate::secrets::Secrets;
use crate::ui::packages::{self, Sections, Shown};

pub fn run(ctx: &Context, args: FindPkgArgs) -> Result<Outcome> {
    if args.show_flags {
        return Err(crate::input_error!(
            "-F/--flags: kiln's packages have no flags (pkg.toml has no `flags` in kiln's format); \
             --all or --output json shows everything a package has"
        ));
    }
    let pattern = select::regex(&args.regex)?;
    let repo = ctx.repository()?;
    let packages = repo.packages();
    let mut ids = select::matching(packages, &pattern);
    if let Some(version) = &args.version {
        let version = version.strip_prefix('=').unwrap_or(version);
        ids.retain(|&id| packages.get(id).version.as_str() == version);
    }
    if ids.is_empty() {
        let version = args
            .version
            .as_deref()
            .map(|v| format!(" in version {v}"))
            .unwrap_or_default();
        packages::print_note(&format!(
            "no package name matches `{}`{version}",
            args.regex
        ));
        return Ok(Outcome::Success);
    }
    if args.terse {
        packages::print_terse(packages, &ids)?;
        return Ok(Outcome::Success);
    }

    let sections = if args.all {
        Sections::ALL
    } else {
        Sections {
            sources: args.show_sources,
            dependencies: args.show_dependencies,
            patches: args.show_patches,
            env: args.show_env,
            allowed_images: args.show_allowed_images,
            denied_images: args.show_denied_images,
            phases: args.show_phases,
            script: args.show_script,
        }
    };
    let json = args.output == Some(PackageFormat::Json);
    let config = ctx.config()?;
    let renderer = if sections.script {
        config.phases()?;
        Some(ScriptRenderer::new(ScriptSettings::from_config(&config)))
    } else {
        None
    };
    let highlight = !args.script.no_highlighting
        && !json
        && (args.script.highlighting || packages::can_highlight());
    let theme = config
        .script_highlight_theme
        .as_deref()
        .filter(|_| highlight);
    let kinds = select::dependency_kinds(&args.dependency_type);

    // Shown with their secrets masked, scripts included.
    let secrets = Secrets::new(
        &config.secret_env,
        ids.iter().map(|&id| &packages.get(id).environment),
    )?;
    let masked: Vec<Package> = ids
        .iter()
        .map(|&id| only_dependencies_of(secrets.mask_package(packages.get(id)), &kinds))
        .collect();
    let mut shown = Vec::with_capacity(ids.len());
    for package in &masked {
        let script = match &renderer {
            Some(renderer) => {
                let script = secrets.scrub(&renderer.render(package)?.into_string());
                let script = match theme {
                    Some(theme) => packages::highlight_script(&script, theme)?,
                    None => script,
                };
                Some(if args.script.line_numbers && !json {
                    packages::number_lines(&script)
                } else {
                    script
                })
            }
            None => None,
        };
        shown.push(Shown { package, script });
    }
    if json {
        packages::print_json(&shown)?;
    } else {
        packages::print_packages(
            &shown,
            sections,
            config.package_print_format.as_deref(),
            &config.available_phases,
        )?;
    }
    Ok(Outcome::Success)
}

/// The package with only the dependencies of the chosen kinds
/// (`--dependency-type`).
fn only_dependencies_of(mut package: Package, kinds: &[DependencyKind]) -> Package {
    if !kinds.contains(&DependencyKind::Build) {
        package.dependencies.build.clear();
    }
    if !kinds.contains(&DependencyKind::Runtime) {
        package.dependencies.runtime.clear();
    }
    package
}
