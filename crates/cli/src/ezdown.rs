//! `ezdown`: the offline bundle (binaries, images) — argument parsing and progress display.

use clap::Parser;

/// kubeasz `ezdown`, without docker.
#[derive(Debug, Parser)]
#[command(name = "ezdown", version, about = "kubeasz-rs offline bundle downloader (kubeasz `ezdown`, docker-free)")]
pub struct EzdownCli {
    /// Download everything for the version table into the bundle.
    #[arg(short = 'D')]
    pub download: bool,
}

/// Runs a parsed `ezdown` command line; returns the process exit code.
pub async fn run(_cli: EzdownCli) -> anyhow::Result<u8> {
    anyhow::bail!("ezdown: not implemented yet")
}
