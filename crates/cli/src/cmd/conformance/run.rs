//! `ezctl conformance run`.

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub async fn run(_ctx: &Ctx, _a: RunArgs) -> anyhow::Result<u8> {
    Ok(super::fail(&"run: not yet available", "", 1))
}
