//! `kiln what-depends NAME`: every package with a direct dependency on
//! any version of NAME.

use anyhow::Result;

use super::{select, Context};
use crate::cli::WhatDependsArgs;
use crate::error::Outcome;
use crate::package::DependencyKind;
use crate::ui::packages::{dependency_listing, print_listing, Edge};

pub fn run(ctx: &Context, args: WhatDependsArgs) -> Result<Outcome> {
    let kinds = select::dependency_kinds(&args.kind);
    let wanted = |kind: DependencyKind| kinds.contains(&kind);
    let repo = ctx.repository()?;
    let packages = repo.packages();
    let mut edges = Vec::new();
    for id in select::all(packages) {
        for (kind, dependency) in packages.get(id).all_dependencies() {
            if dependency.name.as_str() == args.name && wanted(kind) {
                edges.push(Edge {
                    from: id,
                    kind,
                    dependency,
                });
            }
        }
    }
    if edges.is_empty() && packages.versions(&args.name).is_empty() {
        return Err(crate::input_error!(
            "the repository {} has no package {}, and no package depends on one",
            repo.root().display(),
            args.name
        ));
    }
    let kind = match kinds.as_slice() {
        [DependencyKind::Build] => " at build time",
        [DependencyKind::Runtime] => " at run time",
        _ => "",
    };
    print_listing(
        args.output,
        &dependency_listing(packages, &edges),
        &format!("no package depends on {}{kind}", args.name),
    )?;
    Ok(Outcome::Success)
}
