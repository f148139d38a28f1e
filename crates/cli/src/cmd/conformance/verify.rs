//! `ezctl conformance verify DIR [--pr-title "…"]`.

use crate::ctx::Ctx;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The submission folder, `…/vX.Y/<product>`.
    pub dir: PathBuf,
    /// The pull request's title, checked against the bot's format.
    #[arg(long)]
    pub pr_title: Option<String>,
}

pub fn run(_ctx: &Ctx, _a: VerifyArgs) -> u8 {
    super::fail(&"verify: not yet available", "", 1)
}
