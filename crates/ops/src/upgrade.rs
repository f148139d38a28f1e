//! `ezctl upgrade <c>` (kubeasz 93.upgrade.yml), as phases: the Kubernetes binaries of the
//! bundle (`<base>/bin`) rolled out one host at a time, masters first, each host's services
//! restarted and healthy before the next one.
//!
//! Invariant: refused, with nothing changed, when the first master already runs the
//! bundle's kube-apiserver version (kubeasz's `UPDATE ABORT`).

use crate::ctx::Ctx;
use crate::deploy;
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::session::{self, Session, Step, first_failure, var};
use anyhow::Context;
use ez_inventory::{BundleLayout, Cluster};
use ez_play::state::ClusterLock;
use std::time::Duration;

/// `kube-apiserver --version` of the bundle on the deploy host.
fn bundle_version(base: &std::path::Path) -> anyhow::Result<String> {
    let bin = BundleLayout::new(base).bin_file("kube-apiserver");
    let out = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || v.is_empty() {
        anyhow::bail!("{} --version failed", bin.display());
    }
    Ok(v)
}

/// `upgrade <c>`: `confirm` is the CLI's abort window, `starting(from, to)` is told the
/// versions once the rollout is about to begin. Returns the new version.
pub async fn upgrade(
    ctx: &Ctx,
    name: &str,
    confirm: impl AsyncFnOnce(&Cluster) -> anyhow::Result<()>,
    starting: impl FnOnce(&str, &str),
) -> anyhow::Result<String> {
    let dir = ctx.cluster_dir(name);
    let mut m = Manager::new(format!("upgrade {name}"), ctx.reporter.clone());

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    // the new control plane (04) and node binaries (05) come from the bundle
    m.run("check the bundle for steps 04 and 05", async {
        match deploy::bundle_check::refuse_inputs(&ctx.base, &["04", "05"], &ctx.skip_preflight) {
            true => Refusal::already_said(1).into_result(),
            false => Ok(()),
        }
    })
    .await?;
    let new_version = m
        .run("the bundle's version", async { bundle_version(&ctx.base) })
        .await?;
    m.run("confirm", confirm(&cluster)).await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl upgrade {name}"))
        })
        .await?;
    let hosts: Vec<String> = cluster.k8s_hosts().iter().map(|h| h.name.clone()).collect();
    let session = m
        .run(
            "connect to every master and node",
            session::open_or_refuse(ctx, &cluster, &hosts, false, None),
        )
        .await?;
    let rollout = async {
        let running = m
            .run("compare with the version the first master runs", async {
                running_differs(ctx, &cluster, &session, &new_version).await
            })
            .await?;
        starting(&running, &new_version);
        for h in masters_first(&cluster, &hosts) {
            m.run(&format!("upgrade {h} (93.upgrade)"), async {
                let step = Step::new("93.upgrade", &["upgrade_k8s"], std::slice::from_ref(&h));
                match first_failure(&[session.run(&step.fresh()).await?]) {
                    Some((host, msg)) => Refusal::new(1, msg)
                        .hint(format!(
                            "the upgrade stopped at {host} (hosts before it are upgraded, the others not yet); fix the cause and run `ezctl upgrade {name}` again"
                        ))
                        .into_result(),
                    None => Ok(()),
                }
            })
            .await?;
        }
        anyhow::Ok(())
    };
    let done = rollout.await;
    session.close().await;
    done.map(|()| new_version)
}

/// The version the first master runs, refused when it is the bundle's already.
async fn running_differs(
    ctx: &Ctx,
    cluster: &Cluster,
    session: &Session,
    new_version: &str,
) -> anyhow::Result<String> {
    let first = cluster.first_master().name.clone();
    let bin = var(cluster, "bin_dir", "/opt/kube/bin");
    let running = match session.remotes.get(&first) {
        Some(r) => r
            .run(
                &format!("{bin}/kube-apiserver --version"),
                Duration::from_secs(30),
            )
            .await
            .map(|o| o.stdout.trim().to_string())
            .unwrap_or_default(),
        None => String::new(),
    };
    if running == new_version {
        let why = format!(
            "running version is the same as the update version, UPDATE ABORT. ({first} runs `{running}`, the bundle in {} has the same; put the new binaries there first)",
            BundleLayout::new(&ctx.base).bin().display()
        );
        return Refusal::new(1, why).into_result();
    }
    Ok(running)
}

/// The masters, then the other hosts, each once.
fn masters_first(cluster: &Cluster, hosts: &[String]) -> Vec<String> {
    let mut order: Vec<String> = cluster
        .kube_master()
        .iter()
        .map(|h| h.name.clone())
        .collect();
    for h in hosts {
        if !order.contains(h) {
            order.push(h.clone());
        }
    }
    order
}
