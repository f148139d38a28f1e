//! `ezctl add-etcd <c> <ip>` and `ezctl del-etcd <c> <ip>` (kubeasz 21.addetcd.yml,
//! 31.deletcd.yml, then `02 -t restart_etcd` and `04 -t restart_master`).
//!
//! Invariants: `clusters/<c>/hosts` is written only when every step succeeded; refusals
//! happen before any host is contacted, with kubeasz's messages. A new member that never
//! becomes healthy is removed from the etcd cluster again (quorum is not left weakened).

use super::inventory;
use super::run::{Session, Step, Stopped, first_failure, run_steps};
use crate::ctx::Ctx;
use crate::deploy;
use anyhow::Context;
use ez_inventory::{Cluster, load};
use ez_ops::inventory_change::{EVEN, candidate, with_host_added};
use ez_play::state::ClusterLock;
use std::net::IpAddr;
use std::path::Path;

/// Inventory names of etcd members and masters, without duplicates.
fn etcd_and_masters(c: &Cluster) -> Vec<String> {
    super::run::unique_names(c.etcd().into_iter().chain(c.kube_master()))
}

/// The steps that make every member and apiserver agree with the membership of the cluster
/// the session was opened with: etcd certificate and unit (`--initial-cluster`), then the
/// apiservers' `--etcd-servers`.
fn converge_steps(c: &Cluster) -> Vec<Step> {
    // Fresh: what an earlier failed run recorded as done was done for another membership.
    let mut steps = vec![Step::new("02.etcd", &["change_cert", "restart_etcd"], &[]).fresh()];
    if !c.kube_master().is_empty() {
        steps.push(Step::new("04.kube-master", &["restart_master"], &[]).fresh());
    }
    steps
}

fn report(msg: &str, host: &str, hosts_path: &Path, again: &str) {
    eprintln!("ezctl: error: {msg}");
    eprintln!(
        "       {} was not changed: fix the cause on {host}, then run `{again}` again",
        hosts_path.display()
    );
}

/// `add-etcd <c> <ip> [k=v…]`.
pub async fn add_etcd(ctx: &Ctx, name: &str, ip: &str, vars: &[String]) -> anyhow::Result<u8> {
    crate::refusal::finish(add_etcd_body(ctx, name, ip, vars).await)
}

async fn add_etcd_body(ctx: &Ctx, name: &str, ip: &str, vars: &[String]) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster_allowing(&dir, name, EVEN)?;
    let hosts_path = load::hosts_path(&dir);
    let (new_text, new) = with_host_added(name, &dir, &cluster, "etcd", "etcd", ip, vars)?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl add-etcd {name} {ip}"))?;
    let old_members: Vec<String> = cluster.etcd().iter().map(|h| h.name.clone()).collect();
    // As add-node: an unknown host key of the new member is recorded on first contact.
    let ctx = Ctx {
        accept_new_host_keys: true,
        ..ctx.clone()
    };
    // The certificate before the change, put back when the new member cannot join.
    let ssl = dir.join("ssl");
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = ["etcd.pem", "etcd-key.pem"]
        .iter()
        .filter_map(|f| std::fs::read(ssl.join(f)).ok().map(|b| (ssl.join(f), b)))
        .collect();
    let session = match Session::open(&ctx, &new, &etcd_and_masters(&new), true).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            eprintln!("       {} was not changed", hosts_path.display());
            return Ok(1);
        }
    };
    let Some(healthy) = session.healthy_etcd(&new, &old_members).await else {
        session.close();
        eprintln!(
            "ezctl: error: no healthy etcd member among {}; nothing was changed",
            old_members.join(", ")
        );
        return Ok(1);
    };
    println!("adding etcd member {ip} through {healthy}");
    let join = [
        Step::new("01.prepare", &[], &[ip.to_string()]),
        Step::new("21.addetcd", &[], &[])
            .var("ETCD_HEALTHY", healthy.clone())
            .var("NODE_TO_ADD", ip)
            .fresh(),
    ];
    let sums = session.run_all(&join).await?;
    if let Some((host, msg)) = first_failure(&sums) {
        eprintln!("ezctl: error: {msg}");
        eprintln!("       the new member did not join; removing it from the etcd cluster again");
        let undo = Step::new("31.deletcd", &[], &[])
            .var("ETCD_HEALTHY", healthy)
            .var("ETCD_TO_DEL", ip)
            .fresh();
        let undone = session.run(&undo).await;
        session.close();
        for (p, b) in &saved {
            let _ = load::write_atomic(p, b);
        }
        match undone.map(|s| first_failure(&[s])) {
            Ok(None) => {
                eprintln!("       member {ip} removed again; the etcd cluster is as before")
            }
            Ok(Some((_, m))) => eprintln!("       removing member {ip} again failed too: {m}"),
            Err(e) => eprintln!("       removing member {ip} again failed too: {e}"),
        }
        report(
            &msg,
            &host,
            &hosts_path,
            &format!("ezctl add-etcd {name} {ip}"),
        );
        return Ok(1);
    }
    let sums = session.run_all(&converge_steps(&new)).await?;
    session.close();
    if let Some((host, msg)) = first_failure(&sums) {
        eprintln!("       (member {ip} has joined etcd; a re-run finishes the change)");
        report(
            &msg,
            &host,
            &hosts_path,
            &format!("ezctl add-etcd {name} {ip}"),
        );
        return Ok(1);
    }
    load::write_atomic(&hosts_path, new_text.as_bytes())
        .with_context(|| format!("writing {}", hosts_path.display()))?;
    println!("etcd member {ip} added to cluster {name}");
    Ok(0)
}

/// `del-etcd <c> <ip>`.
pub async fn del_etcd(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    crate::refusal::finish(del_etcd_body(ctx, name, ip).await)
}

async fn del_etcd_body(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster_allowing(&dir, name, EVEN)?;
    let hosts_path = load::hosts_path(&dir);
    if ip.parse::<IpAddr>().is_err() {
        eprintln!("ezctl: error: Invalid ip add:{ip}");
        return Ok(2);
    }
    if !cluster.etcd().iter().any(|h| h.name == ip) {
        eprintln!("ezctl: error: etcd {ip} not existed!");
        return Ok(2);
    }
    if cluster.etcd().len() == 1 {
        eprintln!("ezctl: error: you CAN NOT delete the last member of etcd cluster!");
        return Ok(1);
    }
    let text = std::fs::read_to_string(&hosts_path)
        .with_context(|| format!("reading {}", hosts_path.display()))?;
    let new_text = inventory::remove_from(&text, "etcd", ip);
    let new = candidate(name, &dir, &new_text)?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl del-etcd {name} {ip}"))?;
    let remaining: Vec<String> = new.etcd().iter().map(|h| h.name.clone()).collect();
    // With the member itself when it answers; a dead member is removed without its cleanup.
    let mut limit = Vec::new();
    let session = match Session::open(ctx, &cluster, &etcd_and_masters(&cluster), false).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            let others: Vec<String> = etcd_and_masters(&cluster)
                .into_iter()
                .filter(|h| h != ip)
                .collect();
            match Session::open(ctx, &cluster, &others, false).await? {
                Ok(s) => {
                    eprintln!(
                        "warning: {ip} cannot be reached; its member is removed, its files stay:\n  {msg}"
                    );
                    limit = others;
                    s
                }
                Err(Stopped::Connect(msg)) => {
                    eprintln!("ezctl: error: {msg}");
                    eprintln!("       {} was not changed", hosts_path.display());
                    return Ok(1);
                }
            }
        }
    };
    let Some(healthy) = session.healthy_etcd(&cluster, &remaining).await else {
        session.close();
        eprintln!(
            "ezctl: error: no healthy etcd member among {}; nothing was changed",
            remaining.join(", ")
        );
        return Ok(1);
    };
    println!("removing etcd member {ip} through {healthy}");
    let step = Step::new("31.deletcd", &[], &limit)
        .var("ETCD_HEALTHY", healthy)
        .var("ETCD_TO_DEL", ip)
        .fresh();
    let sums = session.run_all(std::slice::from_ref(&step)).await?;
    session.close();
    if let Some((host, msg)) = first_failure(&sums) {
        report(
            &msg,
            &host,
            &hosts_path,
            &format!("ezctl del-etcd {name} {ip}"),
        );
        return Ok(1);
    }
    let sums = match run_steps(
        ctx,
        &new,
        &converge_steps(&new),
        &etcd_and_masters(&new),
        true,
    )
    .await?
    {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            eprintln!(
                "       member {ip} is removed from etcd but {} still lists it; run `ezctl del-etcd {name} {ip}` again",
                hosts_path.display()
            );
            return Ok(1);
        }
    };
    if let Some((host, msg)) = first_failure(&sums) {
        eprintln!("       (member {ip} is removed from etcd; a re-run finishes the change)");
        report(
            &msg,
            &host,
            &hosts_path,
            &format!("ezctl del-etcd {name} {ip}"),
        );
        return Ok(1);
    }
    load::write_atomic(&hosts_path, new_text.as_bytes())
        .with_context(|| format!("writing {}", hosts_path.display()))?;
    println!("etcd member {ip} deleted from cluster {name}");
    Ok(0)
}
