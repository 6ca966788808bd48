//! One file per command: each turns parsed arguments into library calls and
//! hands results to [`crate::ui`]. No command holds logic that another
//! module should own.

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::Outcome;

mod config;
mod context;
mod db;
mod db_lineage;
mod db_query;
mod db_show;
mod dependencies_of;
mod endpoint;
mod endpoint_containers;
mod env_of;
mod explain;
mod find_artifact;
mod find_pkg;
mod generate_completions;
mod generate_man;
mod lint;
mod metrics;
mod provenance;
mod release;
mod reproduce;
mod select;
mod source;
mod submit;
mod tree_of;
mod versions_of;
mod what_depends;

pub use context::Context;

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<Outcome> {
    if cli.global.tracing_chrome {
        return Err(crate::input_error!(
            "--tracing-chrome: kiln writes no Chrome trace files; for diagnostics use -v (or KILN_LOG=debug)"
        ));
    }
    let ctx = Context::new(cli.global);
    match cli.command {
        Command::Config(cmd) => config::run(&ctx, cmd),
        Command::Db(cmd) => db::run(&ctx, cmd),
        Command::Endpoint(args) => endpoint::run(&ctx, args),
        Command::Release(cmd) => release::run(&ctx, cmd),
        Command::TreeOf(args) => tree_of::run(&ctx, args),
        Command::Submit(args) => submit::run(&ctx, args),
        Command::WhatDepends(args) => what_depends::run(&ctx, args),
        Command::DependenciesOf(args) => dependencies_of::run(&ctx, args),
        Command::VersionsOf(args) => versions_of::run(&ctx, args),
        Command::EnvOf(args) => env_of::run(&ctx, args),
        Command::FindPkg(args) => find_pkg::run(&ctx, args),
        Command::Lint(args) => lint::run(&ctx, args),
        Command::Source(cmd) => source::run(&ctx, cmd),
        Command::Explain(args) => explain::run(&ctx, args),
        Command::FindArtifact(args) => find_artifact::run(&ctx, args),
        Command::Reproduce(args) => reproduce::run(&ctx, args),
        Command::Provenance(args) => provenance::run(&ctx, args),
        Command::Metrics(args) => metrics::run(&ctx, args),
        Command::GenerateCompletions(args) => generate_completions::run(args),
        Command::GenerateMan(args) => generate_man::run(args),
    }
}
