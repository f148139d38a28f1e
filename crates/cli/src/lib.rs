//! The `ezctl` and `ezdown` command lines. Each command group lives in its own module under
//! `cmd/`; the cluster operations' machinery (context, deploy, session) is `ez_ops`'s.

pub mod cmd;
pub mod ctx;
/// Loading a cluster, preflight, facts, connections and relay: `ez_ops::deploy`.
pub use ez_ops::deploy;
pub mod ezdown;
pub mod home;
pub mod log;
pub mod output;
pub mod refusal;
pub mod shell;

use clap::{Parser, Subcommand};

/// `ezctl`: cluster management, the kubeasz way, without Ansible.
#[derive(Debug, Parser)]
#[command(
    name = "ezctl",
    version,
    about = "kubeasz-rs cluster manager (kubeasz `ezctl`, without Ansible)"
)]
pub struct EzctlCli {
    #[command(flatten)]
    pub global: ctx::GlobalArgs,
    #[command(subcommand)]
    pub command: EzctlCommand,
}

/// Every `ezctl` command. Groups are flattened so that `ezctl new c` reads as in kubeasz.
#[derive(Debug, Subcommand)]
pub enum EzctlCommand {
    #[command(flatten)]
    Cluster(cmd::cluster::ClusterCommand),
    #[command(flatten)]
    Exec(cmd::exec::ExecCommand),
    #[command(flatten)]
    Setup(cmd::setup::SetupCommand),
    #[command(flatten)]
    Ops(cmd::ops::OpsCommand),
    #[command(flatten)]
    Registry(cmd::registry::RegistryCommand),
    /// Run the CNCF conformance suite, report on results, build and verify a submission.
    Conformance(Box<cmd::conformance::ConformanceArgs>),
    #[command(flatten)]
    Shell(shell::ShellCommand),
}

/// Runs a parsed `ezctl` command line; returns the process exit code.
pub async fn run_ezctl(cli: EzctlCli) -> anyhow::Result<u8> {
    let ctx = ctx::from_args(&cli.global);
    match cli.command {
        EzctlCommand::Cluster(c) => cmd::cluster::run(&ctx, c).await,
        EzctlCommand::Exec(c) => cmd::exec::run(&ctx, c).await,
        EzctlCommand::Setup(c) => cmd::setup::run(&ctx, c).await,
        EzctlCommand::Ops(c) => cmd::ops::run(&ctx, c).await,
        EzctlCommand::Registry(c) => cmd::registry::run(&ctx, c).await,
        EzctlCommand::Conformance(c) => cmd::conformance::run(&ctx, *c).await,
        EzctlCommand::Shell(c) => shell::run(shell::Tool::Ezctl, c, ctx.home.as_deref()),
    }
}

/// Runs one setup-group command with an existing context (tests and embedding callers).
pub async fn run_ezctl_with(ctx: &ctx::Ctx, cmd: cmd::setup::SetupCommand) -> anyhow::Result<u8> {
    cmd::setup::run(ctx, cmd).await
}
