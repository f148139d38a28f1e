//! `ezctl new | list | checkout | help`: cluster folders under `clusters/`.

use crate::ctx::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Create clusters/<cluster>/hosts and config.yml from example/.
    New { cluster: String },
}

pub async fn run(_ctx: &Ctx, cmd: ClusterCommand) -> anyhow::Result<u8> {
    match cmd {
        ClusterCommand::New { cluster } => anyhow::bail!("ezctl new {cluster}: not implemented yet"),
    }
}
