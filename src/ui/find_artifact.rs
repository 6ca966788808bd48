//! `kiln find-artifact`'s output: one row per file found (its full path
//! first, so that a table can be cut by column), or the paths alone.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use super::listing::{self, Listing};
use crate::cli::OutputFormat;
use crate::db::listings::find_artifact::Candidate;

/// Where a file was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Its submit's staging directory.
    Staging,
    /// A release store, by name.
    Store(String),
}

/// An artifact's file, present with its recorded SHA-256.
#[derive(Debug)]
pub struct Found<'a> {
    pub artifact: &'a Candidate,
    pub location: Location,
    pub path: PathBuf,
}

/// The files found as a table, CSV or JSON on stdout.
pub fn print(found: &[Found<'_>], format: OutputFormat) -> Result<()> {
    let short = format == OutputFormat::Table;
    let listing = Listing {
        columns: vec![
            "path", "package", "version", "location", "sha256", "size", "image", "job", "submit",
            "built_at",
        ],
        rows: found
            .iter()
            .map(|f| {
                let a = f.artifact;
                let location = match &f.location {
                    Location::Staging => "staging".to_owned(),
                    Location::Store(store) => format!("store {store}"),
                };
                let uuid = |u: &uuid::Uuid| match short {
                    true => super::tabular::short_uuid(u),
                    false => u.to_string(),
                };
                vec![
                    json!(f.path.display().to_string()),
                    json!(a.package),
                    json!(a.version),
                    json!(location),
                    json!(if short {
                        &a.sha256[..a.sha256.len().min(12)]
                    } else {
                        &a.sha256
                    }),
                    json!(a.size),
                    json!(a.image),
                    json!(uuid(&a.job)),
                    json!(uuid(&a.submit)),
                    json!(a.built_at.as_ref().map(super::tabular::rfc3339)),
                ]
            })
            .collect(),
    };
    listing::print(format, &listing)
}

/// The paths of the files found, one per line.
pub fn print_paths(found: &[Found<'_>]) -> Result<()> {
    super::write_stdout(|out| {
        for f in found {
            writeln!(out, "{}", f.path.display())?;
        }
        Ok(())
    })
}
