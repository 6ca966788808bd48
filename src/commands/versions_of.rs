//! `kiln versions-of NAME`: the versions of a package in the repository.

use anyhow::Result;

use super::{select, Context};
use crate::cli::VersionsOfArgs;
use crate::error::Outcome;
use crate::ui::packages::{print_listing, version_listing};

pub fn run(ctx: &Context, args: VersionsOfArgs) -> Result<Outcome> {
    let repo = ctx.repository()?;
    let packages = repo.packages();
    let ids = select::versions(packages, &args.name, None, repo.root())?;
    print_listing(
        args.output,
        &version_listing(packages, &ids),
        &format!("{} has no versions", args.name),
    )?;
    Ok(Outcome::Success)
}
