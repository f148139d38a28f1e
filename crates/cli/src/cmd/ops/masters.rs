//! `ezctl add-master <c> <ip>` and `ezctl del-master <c> <ip>` (kubeasz 23.addmaster.yml,
//! 33.delmaster.yml, then `-t set_hosts` and `-t restart_kube-lb` on every host).
//!
//! Invariants: `clusters/<c>/hosts` is written only when every step succeeded; refusals
//! happen before any host is contacted, with kubeasz's messages; every kube-lb of the cluster
//! ends with exactly the masters of the new inventory as its backends.

use super::etcd::{candidate, with_host_added};
use super::inventory;
use super::run::{Step, Stopped, first_failure, run_steps};
use crate::ctx::Ctx;
use crate::deploy;
use crate::refusal::Refusal;
use anyhow::Context;
use ez_inventory::{Cluster, load};
use ez_play::state::ClusterLock;
use std::net::IpAddr;

fn k8s_names(c: &Cluster) -> Vec<String> {
    c.k8s_hosts().iter().map(|h| h.name.clone()).collect()
}

/// kube-lb on every master and node re-rendered with the masters of the session's cluster and
/// restarted; the certificates and kubeconfigs of the hosts brought up to date (the admin
/// kubeconfig names the first master), without restarting anything else.
fn kube_lb_steps() -> Vec<Step> {
    vec![
        Step::new("04.kube-master", &["change_cert", "restart_kube-lb"], &[]).fresh(),
        Step::new("05.kube-node", &["change_cert", "restart_kube-lb"], &[]).fresh(),
    ]
}

/// `add-master <c> <ip> [k=v…]`.
pub async fn add_master(ctx: &Ctx, name: &str, ip: &str, vars: &[String]) -> anyhow::Result<u8> {
    crate::refusal::finish(add_master_body(ctx, name, ip, vars).await)
}

async fn add_master_body(ctx: &Ctx, name: &str, ip: &str, vars: &[String]) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let hosts_path = load::hosts_path(&dir);
    let (new_text, new) =
        match with_host_added(name, &dir, &cluster, "kube_master", "master", ip, vars)? {
            Ok(v) => v,
            Err(code) => return Ok(code),
        };
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl add-master {name} {ip}"))?;
    let ctx = Ctx {
        accept_new_host_keys: true,
        ..ctx.clone()
    };
    // The apiserver certificate is reissued with the new address; the existing masters keep
    // theirs until their next `setup 04` (as kubeasz: only the new master gets the new one).
    let mut steps = vec![
        Step::new("01.prepare", &["set_hosts"], &[]).fresh(),
        Step::new("23.addmaster", &[], &[]).var("NODE_TO_ADD", ip),
    ];
    steps.extend(kube_lb_steps());
    let sums = match run_steps(&ctx, &new, &steps, &k8s_names(&new), true).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            return Refusal::new(1, msg.to_string())
                .hint(format!(
                    "{} was not changed; nothing was installed",
                    hosts_path.display()
                ))
                .into_result();
        }
    };
    if let Some((host, msg)) = first_failure(&sums) {
        return Refusal::new(1, msg.to_string())
            .hint(format!(
                "{} was not changed: fix the cause on {host}, then run `ezctl add-master {name} {ip}` again (tasks already done are not repeated)",
            hosts_path.display()
            ))
            .into_result();
    }
    load::write_atomic(&hosts_path, new_text.as_bytes())
        .with_context(|| format!("writing {}", hosts_path.display()))?;
    println!("master {ip} added to cluster {name}; kube-lb on every host balances to it");
    crate::home::after_renewal(&ctx, name);
    Ok(0)
}

/// `del-master <c> <ip>`.
pub async fn del_master(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    crate::refusal::finish(del_master_body(ctx, name, ip).await)
}

async fn del_master_body(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let hosts_path = load::hosts_path(&dir);
    if ip.parse::<IpAddr>().is_err() {
        return Refusal::new(2, format!("Invalid ip add:{ip}")).into_result();
    }
    if !cluster.kube_master().iter().any(|h| h.name == ip) {
        return Refusal::new(2, format!("master {ip} not existed!")).into_result();
    }
    if cluster.kube_master().len() == 1 {
        return Refusal::new(1, "you CAN NOT delete the last member of kube_master!").into_result();
    }
    let text = std::fs::read_to_string(&hosts_path)
        .with_context(|| format!("reading {}", hosts_path.display()))?;
    let new_text = inventory::remove_node(&inventory::remove_from(&text, "kube_master", ip), ip);
    let Some(new) = candidate(name, &dir, &new_text)? else {
        return Ok(1);
    };
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl del-master {name} {ip}"))?;
    let Some(other) = new.kube_master().first().map(|h| h.name.clone()) else {
        anyhow::bail!("no master would be left");
    };
    let step = Step::new("33.delmaster", &[], &[])
        .var("NODE_TO_DEL", ip)
        .var("KUBECTL_HOST", other)
        .fresh();
    let sums = match run_steps(
        ctx,
        &cluster,
        std::slice::from_ref(&step),
        &k8s_names(&cluster),
        false,
    )
    .await?
    {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            return Refusal::new(1, msg.to_string())
                .hint(format!("{} was not changed", hosts_path.display()))
                .into_result();
        }
    };
    if let Some((host, msg)) = first_failure(&sums) {
        return Refusal::new(1, msg.to_string())
            .hint(format!(
                "{} was not changed: fix the cause on {host}, then run `ezctl del-master {name} {ip}` again",
            hosts_path.display()
            ))
            .into_result();
    }
    let node_name = cluster
        .host(ip)
        .map(|h| h.node_name.clone())
        .unwrap_or_default();
    let mut steps = vec![Step::new("01.prepare", &["set_hosts"], &[]).fresh()];
    steps.extend(kube_lb_steps());
    let sums = match run_steps(ctx, &new, &steps, &k8s_names(&new), true).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            return Refusal::new(1, msg.to_string())
                .hint(format!(
                    "master {ip} is removed but {} still lists it; run `ezctl del-master {name} {ip}` again",
                hosts_path.display()
                ))
                .into_result();
        }
    };
    if let Some((host, msg)) = first_failure(&sums) {
        return Refusal::new(1, msg.to_string())
            .hint(format!(
                "master {ip} is removed; {} still lists it: fix the cause on {host}, then run `ezctl del-master {name} {ip}` again",
            hosts_path.display()
            ))
            .into_result();
    }
    let spec = deploy::pki::pki_spec(&cluster)?;
    if let Ok(removed) = ez_pki::Pki::remove_node(&spec, &node_name) {
        for p in removed {
            eprintln!("pki: removed {}", p.display());
        }
    }
    load::write_atomic(&hosts_path, new_text.as_bytes())
        .with_context(|| format!("writing {}", hosts_path.display()))?;
    println!(
        "master {ip} ({node_name}) deleted from cluster {name}; reboot it to clear iptables/ipvs leftovers"
    );
    // The admin kubeconfig names the first master, which may have changed (kubeasz re-runs
    // `deploy.yml -t create_kctl_cfg`, which copies it to ~/.kube/config).
    crate::home::after_renewal(ctx, name);
    Ok(0)
}
