//! `ezctl conformance images [--version v1.NN] [--test-repo-list FILE]`.

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
pub struct ImagesArgs {}

pub fn run(_ctx: &Ctx, _a: ImagesArgs) -> u8 {
    super::fail(&"images: not yet available", "", 1)
}
