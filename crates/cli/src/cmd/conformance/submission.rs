//! `ezctl conformance submission --results PATH --out DIR [--product-config FILE]`.

use crate::ctx::Ctx;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct SubmissionArgs {
    #[arg(long)]
    pub results: Vec<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub product_config: Option<PathBuf>,
}

pub fn run(_ctx: &Ctx, _a: SubmissionArgs) -> u8 {
    super::fail(&"submission: not yet available", "", 1)
}
