//! `ezctl upgrade <c>` (kubeasz 93.upgrade.yml): the Kubernetes binaries of the bundle
//! (`<base>/bin`) rolled out one host at a time, masters first, each host's services restarted
//! and healthy before the next one.
//!
//! Invariant: refused, with nothing changed, when the first master already runs the
//! bundle's kube-apiserver version (kubeasz's `UPDATE ABORT`).

use super::run::{Session, Step, Stopped, first_failure, var};
use crate::ctx::Ctx;
use crate::deploy;
use anyhow::Context;
use ez_play::state::ClusterLock;
use std::time::Duration;

/// `kube-apiserver --version` of the bundle on the deploy host.
fn bundle_version(base: &std::path::Path) -> anyhow::Result<String> {
    let bin = ez_inventory::BundleLayout::new(base).bin_file("kube-apiserver");
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

/// `upgrade <c>`.
pub async fn upgrade(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    // the new control plane (04) and node binaries (05) come from the bundle
    if deploy::bundle_check::refuse_inputs(&ctx.base, &["04", "05"], &ctx.skip_preflight) {
        return Ok(1);
    }
    let new_version = bundle_version(&ctx.base)?;
    crate::cmd::setup::abort_window(ctx, name, "upgrade", false).await?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl upgrade {name}"))?;
    let hosts: Vec<String> = cluster.k8s_hosts().iter().map(|h| h.name.clone()).collect();
    let session = match Session::open(ctx, &cluster, &hosts, false).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            return Ok(1);
        }
    };
    let first = cluster.first_master().name.clone();
    let bin = var(&cluster, "bin_dir", "/opt/kube/bin");
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
        session.close();
        eprintln!(
            "ezctl: error: running version is the same as the update version, UPDATE ABORT. ({first} runs `{running}`, the bundle in {} has the same; put the new binaries there first)",
            ez_inventory::BundleLayout::new(&ctx.base).bin().display()
        );
        return Ok(1);
    }
    println!("upgrading cluster {name}: `{running}` -> `{new_version}`, one host at a time");
    let mut order: Vec<String> = cluster
        .kube_master()
        .iter()
        .map(|h| h.name.clone())
        .collect();
    for h in &hosts {
        if !order.contains(h) {
            order.push(h.clone());
        }
    }
    for h in &order {
        let step = Step::new("93.upgrade", &["upgrade_k8s"], std::slice::from_ref(h)).fresh();
        let summary = session.run(&step).await;
        let summary = match summary {
            Ok(s) => s,
            Err(e) => {
                session.close();
                return Err(e);
            }
        };
        if let Some((host, msg)) = first_failure(&[summary]) {
            session.close();
            eprintln!("ezctl: error: {msg}");
            eprintln!(
                "       the upgrade stopped at {host} (hosts before it are upgraded, the others not yet); fix the cause and run `ezctl upgrade {name}` again"
            );
            return Ok(1);
        }
    }
    session.close();
    println!("cluster {name} upgraded to `{new_version}`");
    Ok(0)
}
