//! SSH connections to a cluster's hosts, all at once, with the inventory's ssh settings.

use crate::ctx::Ctx;
use anyhow::anyhow;
use ez_executor::{Executor, ExecutorConfig};
use ez_inventory::Cluster;
use ez_play::Remote;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::remote::SshRemote;

/// An executor configured for a cluster: its own known_hosts file beside the inventory.
pub fn executor_for(ctx: &Ctx, cluster: &Cluster) -> Executor {
    let cfg = ExecutorConfig {
        cluster_known_hosts: Some(cluster.dir.join("known_hosts")),
        accept_new_host_keys: ctx.accept_new_host_keys,
        forks: ctx.forks,
        ..ExecutorConfig::default()
    };
    Executor::new(cfg)
}

/// Connects to `hosts` (inventory names) concurrently. Every failure is collected; the error
/// lists them all, one line per host, each saying what to do.
pub async fn connect_hosts(
    ctx: &Ctx,
    exec: &Executor,
    cluster: &Cluster,
    hosts: &[String],
) -> anyhow::Result<BTreeMap<String, Arc<dyn Remote>>> {
    let ssh = ctx.ssh_client_config()?;
    let mut specs = Vec::new();
    for name in hosts {
        let host = cluster
            .host(name)
            .ok_or_else(|| anyhow!("host {name} is not in the inventory"))?;
        let spec = ctx.host_spec(ssh.as_ref(), &host.addr.to_string(), &host.vars)?;
        specs.push((name.clone(), spec));
    }
    let attempts = specs
        .iter()
        .map(|(name, spec)| async move { (name.clone(), exec.connect(spec).await) });
    let mut out: BTreeMap<String, Arc<dyn Remote>> = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, res) in futures::future::join_all(attempts).await {
        match res {
            Ok(handle) => {
                out.insert(name.clone(), Arc::new(SshRemote { name, handle }));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        errors.sort();
        return Err(anyhow!(
            "cannot reach {} host(s); nothing was changed:\n  {}",
            errors.len(),
            errors.join("\n  ")
        ));
    }
    Ok(out)
}

/// The deploy host's address as the hosts see it (kubeasz takes it from `$SSH_CLIENT`).
pub async fn deploy_ip(remote: &dyn Remote) -> String {
    match remote
        .run("echo ${SSH_CLIENT%% *}", std::time::Duration::from_secs(20))
        .await
    {
        Ok(r) if r.ok() && !r.stdout.trim().is_empty() => r.stdout.trim().to_string(),
        _ => "127.0.0.1".to_string(),
    }
}
