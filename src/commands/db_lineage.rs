//! `kiln db lineage`: what went into an artifact or a job, or (`--reverse`)
//! what was built from it and which current releases hold any of that.

use anyhow::{Context as _, Result};

use crate::cli::{DbLineageArgs, LineageFormat};
use crate::config::Config;
use crate::db;
use crate::db::listings::lineage::{self, StartSet, Target};
use crate::db::listings::{Conn, HexPrefix, PackageSpec};
use crate::error::Outcome;
use crate::input_error;
use crate::ui::lineage as show;
use crate::ui::tabular::{self as listing, DisplayNames};

/// How the lineage is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Text,
    Json,
    Dot,
}

pub fn run(config: &Config, args: DbLineageArgs) -> Result<Outcome> {
    let view = match (args.dot, args.output) {
        (true, _) => View::Dot,
        (false, Some(LineageFormat::Json)) => View::Json,
        (false, _) => View::Text,
    };
    let package = args.package.as_deref().map(package_spec).transpose()?;
    let commit = args
        .commit
        .as_deref()
        .map(|c| HexPrefix::parse(c, "commit hash", 64))
        .transpose()?;
    let sha256 = args
        .sha256
        .as_deref()
        .map(|s| HexPrefix::parse(s, "SHA-256", 64))
        .transpose()?;
    let mut conn = db::connect(config)?;
    let conn = &mut conn;
    let (start, what) = match (&package, &args.target) {
        (Some(package), _) => (
            lineage::start_of_package(conn, package, commit.as_ref())
                .with_context(|| format!("finding the jobs of {package}"))?,
            package_text(package, commit.as_ref()),
        ),
        (None, Some(target)) => {
            let found = lineage::resolve(conn, target, args.job.as_ref(), sha256.as_ref())?;
            if !args.reverse {
                return forward(config, conn, found, target, view);
            }
            let start =
                lineage::start_of(conn, found).with_context(|| format!("reading `{target}`"))?;
            (start, format!("`{target}`"))
        }
        (None, None) => return Err(input_error!("give an ARTIFACT or JOB, or --package")),
    };
    if start.is_empty() {
        listing::note(&format!("no succeeded or reused job of {what} found"));
    }
    if args.released {
        released(conn, &start, &what, view)
    } else {
        reverse(conn, &start, &what, view)
    }
}

/// `--package NAME [VERSION]`, where NAME may also be `NAME@VERSION`.
fn package_spec(values: &[String]) -> Result<PackageSpec> {
    let text = match values {
        [name] => name.clone(),
        [name, _] if name.contains('@') => {
            return Err(input_error!(
                "--package {name} already names a version: give NAME VERSION or NAME@VERSION"
            ))
        }
        [name, version] => format!("{name}@{version}"),
        _ => return Err(input_error!("--package takes NAME and an optional VERSION")),
    };
    Ok(text.parse()?)
}

fn package_text(package: &PackageSpec, commit: Option<&HexPrefix>) -> String {
    match commit {
        Some(c) => format!("{package} at commit {}", c.as_str()),
        None => package.to_string(),
    }
}

/// What went into it.
fn forward(
    config: &Config,
    conn: &mut Conn,
    target: Target,
    given: &str,
    view: View,
) -> Result<Outcome> {
    let found = lineage::lineage(conn, target)
        .with_context(|| format!("reading the lineage of `{given}`"))?;
    match view {
        View::Json => listing::print_json(&show::tree_json(&found))?,
        View::Dot => print_text(&show::tree_dot(&found))?,
        View::Text => {
            let names = DisplayNames::new(&config.docker.images);
            print_text(&show::tree_text(&found, &names))?;
        }
    }
    Ok(Outcome::Success)
}

/// The current releases holding anything built from the start.
fn released(conn: &mut Conn, start: &StartSet, what: &str, view: View) -> Result<Outcome> {
    let found = lineage::releases_reaching(conn, start)
        .with_context(|| format!("finding the releases built from {what}"))?;
    if found.is_empty() {
        listing::note(&format!(
            "no current release holds anything built from {what}"
        ));
    }
    match view {
        View::Json => listing::print_json(&found)?,
        View::Dot => print_text(&show::releases_dot(&found))?,
        View::Text if found.is_empty() => {}
        View::Text => print_text(&show::releases_text(&found))?,
    }
    Ok(Outcome::Success)
}

/// Everything built from the start.
fn reverse(conn: &mut Conn, start: &StartSet, what: &str, view: View) -> Result<Outcome> {
    let found = lineage::descendants(conn, start)
        .with_context(|| format!("finding what was built from {what}"))?;
    match view {
        View::Json => listing::print_json(&found.jobs)?,
        View::Dot => {
            let edges = lineage::descendant_edges(conn, &found)
                .with_context(|| format!("reading the inputs of what was built from {what}"))?;
            print_text(&show::descendants_dot(&found, &edges))?;
        }
        View::Text => print_text(&show::descendants_text(&found))?,
    }
    Ok(Outcome::Success)
}

fn print_text(text: &str) -> Result<()> {
    crate::ui::write_stdout(|out| out.write_all(text.as_bytes()))
}
