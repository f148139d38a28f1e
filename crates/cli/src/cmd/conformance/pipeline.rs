//! `ezctl conformance` without a subcommand: the whole pipeline.

use crate::ctx::Ctx;

pub async fn run(_ctx: &Ctx, _cluster: &str, _resume: bool) -> anyhow::Result<u8> {
    Ok(super::fail(&"pipeline: not yet available", "", 1))
}
