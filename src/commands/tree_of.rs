//! `kiln tree-of NAME [VERSION]`: load the repository, plan the tree of one
//! package for an image and variables, print it.

use anyhow::Result;

use super::{select, Context};
use crate::cli::{TreeFormat, TreeOfArgs};
use crate::error::Outcome;
use crate::package::Target;
use crate::plan::Plan;
use crate::ui::tree::TreeView;

pub fn run(ctx: &Context, args: TreeOfArgs) -> Result<Outcome> {
    let view = match (args.dot, args.serial_buildorder, args.output) {
        (true, _, _) => TreeView::Dot,
        (_, true, _) => TreeView::BuildOrder,
        (_, _, Some(TreeFormat::Json)) => TreeView::Json,
        _ => TreeView::Tree,
    };
    let env = select::env_from_args(&args.env)?;
    let image = match &args.image {
        Some(name) => Some(select::image(&ctx.config()?, name)?),
        None => None,
    };

    let repo = ctx.repository()?;
    let packages = repo.packages();
    let package = select::package(packages, &args.name, args.version.as_deref(), repo.root())?;
    let target = Target {
        image: image.as_ref(),
        env: &env,
    };
    let plan = Plan::new(packages, package, &target)?;
    crate::ui::tree::print(view, packages, &plan)?;
    Ok(Outcome::Success)
}
