//! `ezctl setup <c> <step>` and `ezctl render <c>`: run (or show) the playbooks of a cluster.

use crate::ctx::Ctx;
use crate::deploy::{self, connect};
use anyhow::{Context, bail};
use ez_play::render::{FileContent, render_host};
use ez_play::state::ClusterLock;
use ez_play::{Event, RunOptions, Summary};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

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

/// The playbook stems a step names, in order (`all` = every numbered step below 10).
fn stems_for(lib: &ez_play::Library, step: &str) -> anyhow::Result<Vec<String>> {
    if step == "all" || step == "90" {
        let stems = lib.step_stems();
        return Ok(stems);
    }
    match lib.playbook_for_step(step) {
        Some((stem, _)) => Ok(vec![stem.to_string()]),
        None => {
            let known: Vec<String> = lib
                .playbooks
                .iter()
                .map(|(s, pb)| format!("{} ({})", pb.steps.join("|"), s))
                .collect();
            bail!(
                "unknown step `{step}`; steps available: {}, all",
                known.join(", ")
            )
        }
    }
}

/// Runs one or more steps; returns 0 when every host finished every task.
///
/// A run of step 01 (alone or in `all`) without `--plan` or `--tags` made the admin kubeconfig,
/// as kubeasz's role `deploy` does: the cluster becomes the deploy host's current one
/// (`~/.kube/config`) and kubectl's completion goes into `~/.bashrc` ([`crate::home`]), even
/// when a later step failed.
pub async fn setup(ctx: &Ctx, name: &str, step: &str, opts: RunOptions) -> anyhow::Result<u8> {
    setup_with(ctx, name, step, opts, RelaySetting::default()).await
}

/// Whether bundle files may travel between hosts ([`deploy::relay`]; on when it pays unless
/// `off`, as `--no-relay` sets it), and an observer of the run's events (tests).
#[derive(Clone, Default)]
pub struct RelaySetting {
    pub off: bool,
    pub events: Option<Observer>,
}

/// Sees every event of a run.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// [`setup`]; `relay`: bundle files may travel between hosts when it pays
/// ([`deploy::relay`]), false sends every file from the deploy host (`--no-relay`).
pub async fn setup_with(
    ctx: &Ctx,
    name: &str,
    step: &str,
    opts: RunOptions,
    relay: RelaySetting,
) -> anyhow::Result<u8> {
    let full_run = !opts.plan && opts.tags.is_empty();
    let summaries = setup_summaries_with(ctx, name, step, opts, relay).await?;
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
            Ok(1)
        }
        None => Ok(0),
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

/// [`setup_summaries`] with relay allowed or not (see [`setup_with`]).
pub async fn setup_summaries_with(
    ctx: &Ctx,
    name: &str,
    step: &str,
    mut opts: RunOptions,
    relay: RelaySetting,
) -> anyhow::Result<Vec<Summary>> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let lib = Arc::new(deploy::load_library(&ctx.base)?);
    let stems = stems_for(&lib, step)?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl setup {name} {step}"))?;
    // Certificates are made (RSA keys: the slow part of a first run on the deploy host) while
    // the hosts are connected and checked; the steps start once both are done.
    let pki = (!opts.plan).then(|| {
        let (c, change_cert) = (
            cluster.clone(),
            opts.tags.iter().any(|t| t == "change_cert"),
        );
        tokio::task::spawn_blocking(move || deploy::pki::ensure(&c, change_cert))
    });
    opts.state_dir = Some(dir.join("state"));
    abort_window(ctx, name, &format!("setup {step}"), opts.plan).await?;

    // The bundle's facts (it runs the bundle's containerd) are gathered while connecting.
    let base = ctx.base.clone();
    let facts = tokio::task::spawn_blocking(move || ez_play::facts::bundle_vars(&base));
    let exec = connect::executor_for(ctx, &cluster);
    let hosts: Vec<String> = cluster
        .hosts
        .iter()
        .map(|h| h.name.clone())
        .filter(|h| opts.limit.is_empty() || opts.limit.contains(h))
        .collect();
    let ssh = connect::connect_ssh(ctx, &exec, &cluster, &hosts).await?;
    let remotes: BTreeMap<String, Arc<dyn ez_play::Remote>> = ssh
        .iter()
        .map(|(k, r)| (k.clone(), Arc::new(r.clone()) as Arc<dyn ez_play::Remote>))
        .collect();
    if !opts.plan {
        let mut findings = deploy::preflight::run(&cluster, &remotes, &ctx.skip_preflight).await;
        findings.extend(deploy::bundle_check::check(
            &cluster,
            &ctx.base,
            &ctx.skip_preflight,
        ));
        findings.extend(deploy::bundle_check::check_binaries(
            &ctx.base,
            &stems,
            &ctx.skip_preflight,
        ));
        findings.extend(deploy::bundle_check::check_integrity(
            &ctx.base,
            &ctx.skip_preflight,
        ));
        if report_findings(&findings) {
            exec.disconnect_all();
            bail!(
                "preflight failed on cluster {name}; nothing was changed (fix the hosts, or override one check knowingly with --skip-preflight CHECK)"
            );
        }
    }
    if let Some(pki) = pki {
        let report = pki
            .await
            .map_err(|e| anyhow::anyhow!("making the certificates failed: {e}"))??;
        deploy::pki::print_report(&report);
    }
    let deploy_ip = match remotes.values().next() {
        Some(r) => connect::deploy_ip(r.as_ref()).await,
        None => bail!("no host of cluster {name} matches --limit {:?}", opts.limit),
    };
    let facts = facts
        .await
        .map_err(|e| anyhow::anyhow!("reading the bundle's facts failed: {e}"))?;
    let mut inv = ez_play::cluster::inventory_with_facts(&cluster, &ctx.base, &deploy_ip, facts);
    // Hosts of another architecture than the deploy host's cannot run its relay agent.
    let foreign: Vec<String> = match deploy::arch::arch_dirs(&ctx.base, &remotes).await {
        Ok(dirs) => deploy::arch::apply(&mut inv, dirs),
        Err(e) => {
            exec.disconnect_all();
            return Err(e);
        }
    };
    let inv = Arc::new(inv);
    let display = Arc::new(super::setup_display::Display::new(ctx.json));
    let shown = display.clone();
    let observer = relay.events.clone();
    let sink: Arc<dyn Fn(Event) + Send + Sync> = Arc::new(move |e| {
        if let Some(o) = &observer {
            o(&e);
        }
        shown.event(&e)
    });
    let (remotes, relayed) =
        deploy::relay::wrap(!relay.off, opts.plan, ssh, remotes, &foreign, sink.clone());
    let mut summaries = Vec::new();
    let mut outcome = Ok(());
    for stem in stems {
        let summary = match ez_play::run_playbook(
            lib.clone(),
            &stem,
            inv.clone(),
            &remotes,
            &opts,
            sink.clone(),
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        display.summary(&summary);
        let failed = !summary.failures().is_empty();
        summaries.push(summary);
        if failed {
            break;
        }
    }
    if let Some((relay, hosts)) = relayed {
        for problem in relay.stop_all(&hosts).await {
            eprintln!("ezctl: warning: {problem}");
        }
    }
    exec.disconnect_all();
    outcome?;
    Ok(summaries)
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

/// `ezctl render`: per host, `<out>/<host>/<absolute path>`; private keys are listed in
/// `<out>/<host>/.secrets` by destination only.
fn render(ctx: &Ctx, name: &str, out: Option<PathBuf>, step: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let lib = deploy::load_library(&ctx.base)?;
    // Certificates and kubeconfigs are made on the deploy host (never on a host), so render
    // can show them; existing ones are kept.
    let report = deploy::pki::ensure(&cluster, false)?;
    deploy::pki::print_report(&report);
    let out = out.unwrap_or_else(|| dir.join("rendered"));
    let inv = deploy::play_inventory(&cluster, &ctx.base, "<deploy-host-ip>");
    let opts = RunOptions::default();
    let mut count = 0usize;
    for stem in stems_for(&lib, step)? {
        for host in &cluster.hosts {
            let files = render_host(&lib, &stem, &inv, &host.name, &opts)?;
            let hdir = out.join(&host.name);
            for f in files {
                let rel = f.path.trim_start_matches('/');
                let target = hdir.join(rel);
                if let Some(p) = target.parent() {
                    std::fs::create_dir_all(p)
                        .with_context(|| format!("creating {}", p.display()))?;
                }
                match f.content {
                    FileContent::Bytes(b) => std::fs::write(&target, b)
                        .with_context(|| format!("writing {}", target.display()))?,
                    FileContent::Copy(src) => {
                        if src.starts_with(dir.join("ssl"))
                            || src.extension().is_some_and(|e| e == "kubeconfig")
                        {
                            std::fs::copy(&src, &target).with_context(|| format!("copying {} (run `ezctl setup {name} 01` first to create certificates)", src.display()))?;
                        } else {
                            std::fs::write(
                                &target,
                                format!("# copied from the deploy host: {}\n", src.display()),
                            )?;
                        }
                    }
                    FileContent::Secret(src) => {
                        use std::io::Write;
                        let mut s = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(hdir.join(".secrets"))?;
                        writeln!(
                            s,
                            "{} <- {} (private key, not shown)",
                            f.path,
                            src.display()
                        )?;
                        continue;
                    }
                    FileContent::Edit(text) => std::fs::write(
                        target.with_file_name(format!(
                            "{}.managed-part",
                            target
                                .file_name()
                                .map(|n| n.to_string_lossy())
                                .unwrap_or_default()
                        )),
                        text,
                    )?,
                }
                count += 1;
            }
        }
    }
    println!(
        "rendered {count} file(s) for {} host(s) under {}",
        cluster.hosts.len(),
        out.display()
    );
    Ok(0)
}

/// Prints findings; true when one of them is an error.
fn report_findings(findings: &[deploy::preflight::Finding]) -> bool {
    for f in findings {
        eprintln!("{f}");
    }
    findings.iter().any(|f| !f.warning)
}

/// `ezctl check <c>`: preflight alone; exit 1 when a check fails.
async fn check(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let exec = connect::executor_for(ctx, &cluster);
    let hosts: Vec<String> = cluster.hosts.iter().map(|h| h.name.clone()).collect();
    let remotes = connect::connect_hosts(ctx, &exec, &cluster, &hosts).await?;
    let mut findings = deploy::preflight::run(&cluster, &remotes, &ctx.skip_preflight).await;
    findings.extend(deploy::bundle_check::check(
        &cluster,
        &ctx.base,
        &ctx.skip_preflight,
    ));
    exec.disconnect_all();
    let failed = report_findings(&findings);
    let errors = findings.iter().filter(|f| !f.warning).count();
    println!(
        "preflight of {name}: {} host(s), {errors} error(s), {} warning(s)",
        hosts.len(),
        findings.len() - errors
    );
    Ok(if failed { 1 } else { 0 })
}
