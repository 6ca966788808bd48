//! `kiln env-of NAME VERSION`: the environment variables a package sets
//! for its build.

use anyhow::Result;

use super::{select, Context};
use crate::cli::EnvOfArgs;
use crate::error::Outcome;
use crate::ui::packages::{environment_listing, print_listing};

pub fn run(ctx: &Context, args: EnvOfArgs) -> Result<Outcome> {
    let repo = ctx.repository()?;
    let packages = repo.packages();
    let ids = select::versions(packages, &args.name, Some(&args.version), repo.root())?;
    for id in ids {
        let package = packages.get(id);
        print_listing(
            args.output,
            &environment_listing(package),
            &format!("{} sets no environment variables", package.id_string()),
        )?;
    }
    Ok(Outcome::Success)
}
