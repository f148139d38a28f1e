//! `ezctl setup <c> <step>` (kubeasz's `ezctl setup`) and `ezctl check <c>` as phases: the
//! playbooks of a step run on every host of a cluster (or those of `--limit`).
//!
//! Invariants: nothing on a host changes before every host is connected and, unless the run
//! is a plan, has passed preflight; the certificates are made on the deploy host while the
//! hosts are connected and checked (RSA keys are the slow part of a first run), and the
//! steps start once both are done; the first playbook with a failed host is the last one run.

use crate::ctx::Ctx;
use crate::deploy::{self, bundle_check, connect, preflight::Finding};
use crate::phase::Manager;
use anyhow::bail;
use ez_play::state::ClusterLock;
use ez_play::{Event, Remote, RunOptions, Summary};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sees every event of a run (tests).
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// What `setup` runs: the step (`02`, `kube-node`, `all`), the engine's options (plan,
/// tags, limit), whether bundle files may travel between hosts (`--no-relay` sets
/// `relay_off`; see `deploy::relay`) and who else sees the events.
#[derive(Clone, Default)]
pub struct Request {
    pub step: String,
    pub opts: RunOptions,
    pub relay_off: bool,
    pub observer: Option<Observer>,
}

impl Request {
    /// `setup <c> all` with `forks` hosts at once, nothing else asked (start-aio's).
    pub fn all(forks: usize) -> Request {
        Request {
            step: "all".into(),
            opts: RunOptions {
                forks,
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

/// The playbook stems a step names, in order (`all` = every numbered step below 10).
pub fn stems_for(lib: &ez_play::Library, step: &str) -> anyhow::Result<Vec<String>> {
    if step == "all" || step == "90" {
        return Ok(lib.step_stems());
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

/// Prints findings (one block each); true when one of them is an error.
pub fn print_findings(findings: &[Finding]) -> bool {
    for f in findings {
        eprintln!("{f}");
    }
    findings.iter().any(|f| !f.warning)
}

/// Runs the playbooks of `req.step` on cluster `name` and returns their summaries (the
/// first failing playbook is the last one run). `confirm` is the CLI's abort window.
pub async fn setup(
    ctx: &Ctx,
    name: &str,
    mut req: Request,
    confirm: impl AsyncFnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Summary>> {
    let step = req.step.clone();
    let mut m = Manager::new(format!("setup {name} {step}"), ctx.reporter.clone());
    let dir = ctx.cluster_dir(name);
    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    let (lib, stems) = m
        .run("load the playbooks of the step", async {
            let lib = Arc::new(deploy::load_library(&ctx.base)?);
            let stems = stems_for(&lib, &step)?;
            anyhow::Ok((lib, stems))
        })
        .await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl setup {name} {step}"))
        })
        .await?;
    let plan = req.opts.plan;
    let pki = (!plan).then(|| {
        let (c, change_cert) = (
            cluster.clone(),
            req.opts.tags.iter().any(|t| t == "change_cert"),
        );
        tokio::task::spawn_blocking(move || deploy::pki::ensure(&c, change_cert))
    });
    req.opts.state_dir = Some(dir.join("state"));
    m.run("confirm", confirm()).await?;

    // The bundle's facts (it runs the bundle's containerd) are gathered while connecting.
    let base = ctx.base.clone();
    let facts = tokio::task::spawn_blocking(move || ez_play::facts::bundle_vars(&base));
    let exec = connect::executor_for(ctx, &cluster);
    let limit = &req.opts.limit;
    let hosts: Vec<String> = cluster
        .hosts
        .iter()
        .map(|h| h.name.clone())
        .filter(|h| limit.is_empty() || limit.contains(h))
        .collect();
    let ssh = m
        .run("connect to the hosts", async {
            connect::connect_ssh(ctx, &exec, &cluster, &hosts).await
        })
        .await?;
    let remotes: BTreeMap<String, Arc<dyn Remote>> = ssh
        .iter()
        .map(|(k, r)| (k.clone(), Arc::new(r.clone()) as Arc<dyn Remote>))
        .collect();
    // From here on every way out disconnects (and stops the relay agents once started).
    let prepared = async {
        if !plan {
            m.run("preflight", async {
                let findings = preflight_findings(ctx, &cluster, &remotes, &stems).await;
                if print_findings(&findings) {
                    bail!(
                        "preflight failed on cluster {name}; nothing was changed (fix the hosts, or override one check knowingly with --skip-preflight CHECK)"
                    );
                }
                Ok(())
            })
            .await?;
        }
        if let Some(pki) = pki {
            m.run("the certificates", async {
                let report = pki
                    .await
                    .map_err(|e| anyhow::anyhow!("making the certificates failed: {e}"))??;
                deploy::pki::print_report(&report);
                anyhow::Ok(())
            })
            .await?;
        }
        m.run("the hosts' facts and architectures", async {
            let deploy_ip = match remotes.values().next() {
                Some(r) => connect::deploy_ip(r.as_ref()).await,
                None => bail!("no host of cluster {name} matches --limit {limit:?}"),
            };
            let facts = facts
                .await
                .map_err(|e| anyhow::anyhow!("reading the bundle's facts failed: {e}"))?;
            let mut inv =
                ez_play::cluster::inventory_with_facts(&cluster, &ctx.base, &deploy_ip, facts);
            // Hosts of another architecture than the deploy host's cannot run its relay agent.
            let dirs = deploy::arch::arch_dirs(&ctx.base, &remotes).await?;
            let foreign = deploy::arch::apply(&mut inv, dirs);
            anyhow::Ok((Arc::new(inv), foreign))
        })
        .await
    };
    let (inv, foreign) = match prepared.await {
        Ok(p) => p,
        Err(e) => {
            exec.disconnect_all();
            return Err(e);
        }
    };
    let shown = ctx.reporter.clone();
    let observer = req.observer.clone();
    let sink: deploy::relay::Sink = Arc::new(move |e| {
        if let Some(o) = &observer {
            o(&e);
        }
        shown.event(&e)
    });
    let (remotes, relayed) =
        deploy::relay::wrap(!req.relay_off, plan, ssh, remotes, &foreign, sink.clone());
    let mut summaries = Vec::new();
    let mut outcome = Ok(());
    for stem in stems {
        let title = format!("step {stem}");
        let run = m.run(&title, async {
            ez_play::run_playbook(
                lib.clone(),
                &stem,
                inv.clone(),
                &remotes,
                &req.opts,
                sink.clone(),
            )
            .await
        });
        let summary = match run.await {
            Ok(s) => s,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        ctx.reporter.summary(&summary);
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

/// Preflight of every connected host, then the bundle: the images the cluster uses, the
/// binaries the steps `stems` run, the files matching the manifest.
async fn preflight_findings(
    ctx: &Ctx,
    cluster: &ez_inventory::Cluster,
    remotes: &BTreeMap<String, Arc<dyn Remote>>,
    stems: &[String],
) -> Vec<Finding> {
    let skip = &ctx.skip_preflight;
    let mut findings = deploy::preflight::run(cluster, remotes, skip).await;
    findings.extend(bundle_check::check(cluster, &ctx.base, skip));
    findings.extend(bundle_check::check_binaries(&ctx.base, stems, skip));
    findings.extend(bundle_check::check_integrity(&ctx.base, skip));
    findings
}

/// `ezctl check <c>`: preflight alone, every host connected, nothing changed. Returns the
/// number of hosts checked and the findings.
pub async fn check(ctx: &Ctx, name: &str) -> anyhow::Result<(usize, Vec<Finding>)> {
    let mut m = Manager::new(format!("check {name}"), ctx.reporter.clone());
    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&ctx.cluster_dir(name), name)
        })
        .await?;
    let exec = connect::executor_for(ctx, &cluster);
    let hosts: Vec<String> = cluster.hosts.iter().map(|h| h.name.clone()).collect();
    let remotes = m
        .run("connect to every host", async {
            connect::connect_hosts(ctx, &exec, &cluster, &hosts).await
        })
        .await?;
    let findings = m
        .run("preflight", async {
            let skip = &ctx.skip_preflight;
            let mut f = deploy::preflight::run(&cluster, &remotes, skip).await;
            f.extend(bundle_check::check(&cluster, &ctx.base, skip));
            anyhow::Ok(f)
        })
        .await;
    exec.disconnect_all();
    Ok((hosts.len(), findings?))
}
