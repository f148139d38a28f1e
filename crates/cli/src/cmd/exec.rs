//! `ezctl exec`: run one command on a cluster's hosts (Ansible's ad-hoc mode).

use crate::ctx::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum ExecCommand {
    /// Run a shell command on the cluster's hosts in parallel.
    Exec { cluster: String },
}

pub async fn run(_ctx: &Ctx, cmd: ExecCommand) -> anyhow::Result<u8> {
    match cmd {
        ExecCommand::Exec { cluster } => anyhow::bail!("ezctl exec {cluster}: not implemented yet"),
    }
}
