//! `kiln dependencies-of NAME [VERSION]`: the direct dependencies of a
//! package, with their kind and condition.

use anyhow::Result;

use super::{select, Context};
use crate::cli::DependenciesOfArgs;
use crate::error::Outcome;
use crate::ui::packages::{dependency_listing, print_listing, Edge};

pub fn run(ctx: &Context, args: DependenciesOfArgs) -> Result<Outcome> {
    let repo = ctx.repository()?;
    let packages = repo.packages();
    let ids = select::versions(packages, &args.name, args.version.as_deref(), repo.root())?;
    let kinds = select::dependency_kinds(&args.kind);
    let edges: Vec<Edge<'_>> = ids
        .iter()
        .flat_map(|&id| {
            packages
                .get(id)
                .all_dependencies()
                .filter(|(kind, _)| kinds.contains(kind))
                .map(move |(kind, dependency)| Edge {
                    from: id,
                    kind,
                    dependency,
                })
        })
        .collect();
    let which = match &args.version {
        Some(v) => format!("{} {v}", args.name),
        None => args.name.clone(),
    };
    print_listing(
        args.output,
        &dependency_listing(packages, &edges),
        &format!("{which} has no dependencies"),
    )?;
    Ok(Outcome::Success)
}
