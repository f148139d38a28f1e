//! `ezctl setup <c> <step>` and `ezctl render <c>`: run (or show) the playbooks of a cluster.

use crate::ctx::Ctx;
use anyhow::bail;
use ez_play::{RunOptions, Summary};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum SetupCommand {
    /// Install a step on a cluster's hosts: 01|prepare 02|etcd 03|container-runtime 04|kube-master 05|kube-node 06|network 07|cluster-addon, or all.
    Setup {
        cluster: String,
        step: String,
        /// Show what would change on each host; change nothing.
        #[arg(long)]
        plan: bool,
        /// Only tasks with these tags (kubeasz tag names, comma separated).
        #[arg(short = 't', long, value_delimiter = ',')]
        tags: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        skip_tags: Vec<String>,
        /// Only these hosts (inventory names, comma separated).
        #[arg(short = 'l', long, value_delimiter = ',')]
        limit: Vec<String>,
        /// Send every file from the deploy host over SSH (no relay between hosts).
        #[arg(long)]
        no_relay: bool,
    },
    /// Preflight: check every host of a cluster before anything is changed.
    Check { cluster: String },
    /// Write every file the playbooks would lay down, per host, without touching any host.
    Render {
        cluster: String,
        /// Output directory (default clusters/<c>/rendered).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Steps to render (default: all).
        #[arg(long, default_value = "all")]
        step: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: SetupCommand) -> anyhow::Result<u8> {
    match cmd {
        SetupCommand::Setup {
            cluster,
            step,
            plan,
            tags,
            skip_tags,
            limit,
            no_relay,
        } => {
            let opts = RunOptions {
                forks: ctx.forks,
                plan,
                tags,
                skip_tags,
                limit,
                state_dir: None,
            };
            let relay = RelaySetting {
                off: no_relay,
                ..Default::default()
            };
            setup_with(ctx, &cluster, &step, opts, relay).await
        }
        SetupCommand::Render { cluster, out, step } => render(ctx, &cluster, out, &step),
        SetupCommand::Check { cluster } => check(ctx, &cluster).await,
    }
}

/// The playbook of step 01, whose run makes the admin kubeconfig on the deploy host.
const PREPARE: &str = "01.prepare";

/// Runs one or more steps; returns 0 when every host finished every task.
///
/// A run of step 01 (alone or in `all`) without `--plan` or `--tags` made the admin kubeconfig,
/// as kubeasz's role `deploy` does: the cluster becomes the deploy host's current one
/// (`~/.kube/config`) and kubectl's completion goes into `~/.bashrc` ([`crate::home`]), even
/// when a later step failed.
pub async fn setup(ctx: &Ctx, name: &str, step: &str, opts: RunOptions) -> anyhow::Result<u8> {
    setup_with(ctx, name, step, opts, RelaySetting::default()).await
}

/// Whether bundle files may travel between hosts ([`ez_ops::deploy::relay`]; on when it pays unless
/// `off`, as `--no-relay` sets it), and an observer of the run's events (tests).
#[derive(Clone, Default)]
pub struct RelaySetting {
    pub off: bool,
    pub events: Option<Observer>,
}

/// Sees every event of a run.
pub use ez_ops::setup::Observer;

/// [`setup`]; `relay`: bundle files may travel between hosts when it pays
/// ([`ez_ops::deploy::relay`]), false sends every file from the deploy host (`--no-relay`).
pub async fn setup_with(
    ctx: &Ctx,
    name: &str,
    step: &str,
    opts: RunOptions,
    relay: RelaySetting,
) -> anyhow::Result<u8> {
    let full_run = !opts.plan && opts.tags.is_empty();
    let summaries = setup_summaries_with(ctx, name, step, opts, relay).await?;
    Ok(verdict(ctx, name, step, full_run, &summaries))
}

/// The exit code of a setup run from its summaries, its first failure printed with what to
/// do next. A `full_run` (no plan, no tags) that ran step 01 made the admin kubeconfig: the
/// deploy host's home is updated ([`crate::home::after_setup`]) even when a later step failed.
pub fn verdict(ctx: &Ctx, name: &str, step: &str, full_run: bool, summaries: &[Summary]) -> u8 {
    if full_run && summaries.iter().any(|s| s.playbook == PREPARE) {
        crate::home::after_setup(ctx, name);
    }
    match summaries.iter().find_map(|s| {
        s.failures()
            .first()
            .map(|(h, m)| (h.to_string(), m.to_string()))
    }) {
        Some((host, msg)) => {
            eprintln!("ezctl: error: {msg}");
            eprintln!(
                "       fix the cause on {host}, then run `ezctl setup {name} {step}` again: tasks already done are not repeated"
            );
            1
        }
        None => 0,
    }
}

/// Runs the playbooks of `step` and returns their summaries (the first failing playbook is
/// the last one run).
pub async fn setup_summaries(
    ctx: &Ctx,
    name: &str,
    step: &str,
    opts: RunOptions,
) -> anyhow::Result<Vec<Summary>> {
    setup_summaries_with(ctx, name, step, opts, RelaySetting::default()).await
}

/// [`setup_summaries`] with relay allowed or not (see [`setup_with`]); the operation is
/// `ez_ops::setup::setup`'s, here the abort window.
pub async fn setup_summaries_with(
    ctx: &Ctx,
    name: &str,
    step: &str,
    opts: RunOptions,
    relay: RelaySetting,
) -> anyhow::Result<Vec<Summary>> {
    let plan = opts.plan;
    let req = ez_ops::setup::Request {
        step: step.to_string(),
        opts,
        relay_off: relay.off,
        observer: relay.events,
    };
    let confirm = async || abort_window(ctx, name, &format!("setup {step}"), plan).await;
    ez_ops::setup::setup(ctx, name, req, confirm).await
}

/// kubeasz's 5-second abort window before a cluster-wide change (`what`: `setup 02`,
/// `destroy`, …); skipped with --yes, --json, a plan or no terminal.
pub(crate) async fn abort_window(
    ctx: &Ctx,
    name: &str,
    what: &str,
    plan: bool,
) -> anyhow::Result<()> {
    if ctx.yes || plan || ctx.json || !std::io::stdin().is_terminal() {
        return Ok(());
    }
    eprintln!("cluster:{name} {what} begins in 5s, press Enter to abort (Ctrl-C works too):");
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| ())
    });
    match tokio::time::timeout(std::time::Duration::from_secs(5), read).await {
        Ok(_) => bail!("{} abort", what.split(' ').next().unwrap_or(what)),
        Err(_) => Ok(()),
    }
}

/// `ezctl render` (`ez_ops::render::render`): what is written, and where.
fn render(ctx: &Ctx, name: &str, out: Option<PathBuf>, step: &str) -> anyhow::Result<u8> {
    let r = ez_ops::render::render(ctx, name, out, step)?;
    println!(
        "rendered {} file(s) for {} host(s) under {}",
        r.files,
        r.hosts,
        r.out.display()
    );
    Ok(0)
}

/// `ezctl check <c>`: preflight alone (`ez_ops::setup::check`); exit 1 when a check fails.
async fn check(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let (hosts, findings) = ez_ops::setup::check(ctx, name).await?;
    let failed = ez_ops::setup::print_findings(&findings);
    let errors = findings.iter().filter(|f| !f.warning).count();
    println!(
        "preflight of {name}: {hosts} host(s), {errors} error(s), {} warning(s)",
        findings.len() - errors
    );
    Ok(if failed { 1 } else { 0 })
}
