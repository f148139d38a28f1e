//! `ezctl conformance …`.

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {}

pub async fn run(_ctx: &Ctx, _args: ConformanceArgs) -> anyhow::Result<u8> {
    anyhow::bail!("ezctl conformance: not implemented yet")
}
