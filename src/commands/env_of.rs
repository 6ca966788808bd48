//! `kiln env-of NAME VERSION`: the environment variables a package sets
//! for its build, the values of `secret_env` variables masked.

use anyhow::Result;

use super::{select, Context};
use crate::cli::EnvOfArgs;
use crate::error::Outcome;
use crate::secrets::Secrets;
use crate::ui::packages::{environment_listing, print_listing};

pub fn run(ctx: &Context, args: EnvOfArgs) -> Result<Outcome> {
    let repo = ctx.repository()?;
    let config = ctx.config()?;
    let packages = repo.packages();
    let ids = select::versions(packages, &args.name, Some(&args.version), repo.root())?;
    let secrets = Secrets::new(
        &config.secret_env,
        ids.iter().map(|&id| &packages.get(id).environment),
    )?;
    for id in ids {
        let package = secrets.mask_package(packages.get(id));
        print_listing(
            args.output,
            &environment_listing(&package),
            &format!("{} sets no environment variables", package.id_string()),
        )?;
    }
    Ok(Outcome::Success)
}
