//! `ezctl add-node`, `add-nodes` and `del-node`.
//!
//! Invariant of add-node(s): `clusters/<c>/hosts` is written only after every step succeeded
//! on the new node(s); on failure the file is untouched and a re-run resumes (tasks already
//! done are not repeated). Messages and exit codes of the refusals are kubeasz's.

use super::inventory;
use super::run::{self, Step, Stopped};
use crate::ctx::Ctx;
use crate::deploy;
use crate::refusal::Refusal;
use anyhow::Context;
use ez_inventory::{Cluster, load};
use ez_play::state::ClusterLock;
use std::net::IpAddr;
use std::path::PathBuf;

/// The key add-node uses for a host: its `ansible_ssh_private_key_file`, else `~/.ssh/id_rsa`.
fn key_of(cluster: &Cluster, ip: &str) -> PathBuf {
    cluster
        .host(ip)
        .and_then(|h| {
            h.vars
                .get("ansible_ssh_private_key_file")
                .or_else(|| cluster.vars.get("ansible_ssh_private_key_file"))
        })
        .map(|k| PathBuf::from(k.trim_matches(['"', '\''])))
        .unwrap_or_else(super::default_key)
}

fn in_k8s(cluster: &Cluster, ip: &str) -> bool {
    cluster
        .host(ip)
        .is_some_and(|h| h.in_group("kube_master") || h.in_group("kube_node"))
}

/// `add-node <c> <ip> [k=v…]` (one node with host vars) and `add-nodes <c> <ip>…`.
pub async fn add_nodes(
    ctx: &Ctx,
    name: &str,
    nodes: &[(String, Vec<String>)],
    password: &super::keys::Password,
) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let hosts_path = load::hosts_path(&dir);
    // a node gets the runtime (03) and kubelet/kube-proxy (05) from the bundle
    if deploy::bundle_check::refuse_inputs(&ctx.base, &["03", "05"], &ctx.skip_preflight) {
        return Ok(1);
    }
    let mut seen = Vec::new();
    for (ip, _) in nodes {
        if ip.parse::<IpAddr>().is_err() {
            eprintln!("ezctl: error: Invalid ip add:{ip}");
            return Ok(1);
        }
        if seen.contains(ip) {
            eprintln!("ezctl: error: duplicated ip in args: {ip}");
            return Ok(1);
        }
        seen.push(ip.clone());
        if in_k8s(&cluster, ip) {
            eprintln!(
                "ezctl: error: node {ip} already existed in {}",
                hosts_path.display()
            );
            return Ok(2);
        }
    }
    let text = std::fs::read_to_string(&hosts_path)
        .with_context(|| format!("reading {}", hosts_path.display()))?;
    let lines: Vec<String> = nodes
        .iter()
        .map(|(ip, vars)| {
            std::iter::once(ip.clone())
                .chain(vars.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let Some(new_text) = inventory::insert_nodes(&text, &lines) else {
        eprintln!(
            "ezctl: error: {} has no [kube_node] section",
            hosts_path.display()
        );
        return Ok(1);
    };
    let config_path = load::config_path(&dir);
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let new_cluster = match ez_inventory::parse_cluster(
        name,
        &dir,
        &hosts_path,
        &new_text,
        &config_path,
        &config_text,
    ) {
        Ok(c) => c,
        Err(d) => {
            for x in &d.0 {
                eprintln!("{x}");
            }
            eprintln!(
                "ezctl: error: the inventory with the new node(s) does not validate; {} was not changed",
                hosts_path.display()
            );
            return Ok(1);
        }
    };
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl add-node {name}"))?;
    let ips: Vec<String> = nodes.iter().map(|(ip, _)| ip.clone()).collect();
    if *password != super::keys::Password::None {
        for ip in &ips {
            super::keys::install_key_with_password(ctx, &new_cluster, ip, password).await?;
        }
    }
    // kubeasz runs ansible with host_key_checking=False; we record an unknown key of a new
    // node on first contact (known keys must still match).
    let ctx = Ctx {
        accept_new_host_keys: true,
        ..ctx.clone()
    };
    let k8s: Vec<String> = new_cluster
        .k8s_hosts()
        .iter()
        .map(|h| h.name.clone())
        .collect();
    let steps = [
        Step::new("01.prepare", &["set_hosts"], &k8s),
        Step::new("22.addnode", &[], &ips),
    ];
    let keep = format!("{} was not changed", hosts_path.display());
    match run::run_steps(&ctx, &new_cluster, &steps, &k8s, false).await? {
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            if !msg.auth_refused.is_empty() {
                for ip in ips.iter().filter(|ip| msg.auth_refused.contains(ip)) {
                    let key = key_of(&new_cluster, ip);
                    eprintln!(
                        "       authorize the deploy key on the new node: ssh-copy-id -i {}.pub root@{ip}",
                        key.display()
                    );
                }
                eprintln!(
                    "       or run again with --ask-pass (password from the prompt or $EZ_SSH_PASS)"
                );
            }
            eprintln!("       {keep}; nothing was installed");
            Ok(1)
        }
        Ok(sums) => match run::first_failure(&sums) {
            Some((host, msg)) => {
                eprintln!("ezctl: error: {msg}");
                eprintln!(
                    "       {keep}: fix the cause on {host}, then run `ezctl add-node {name} {}` again (tasks already done are not repeated)",
                    ips.join(" ")
                );
                Ok(1)
            }
            None => {
                load::write_atomic(&hosts_path, new_text.as_bytes())
                    .with_context(|| format!("writing {}", hosts_path.display()))?;
                println!("node(s) {} added to cluster {name}", ips.join(", "));
                Ok(0)
            }
        },
    }
}

/// `del-node <c> <ip>`: `playbooks/32.delnode.yml` (drain through the first master, the
/// node's services removed, its Node deleted), then its kubelet certificate and kubeconfig
/// dropped and its line removed from `[kube_node]`.
pub async fn del_node(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    crate::refusal::finish(del_node_body(ctx, name, ip).await)
}

async fn del_node_body(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let hosts_path = load::hosts_path(&dir);
    if ip.parse::<IpAddr>().is_err() {
        return Refusal::new(2, format!("Invalid ip add:{ip}")).into_result();
    }
    let Some(host) = cluster.host(ip).filter(|_| in_k8s(&cluster, ip)) else {
        let why = format!("node {ip} not existed in {}", hosts_path.display());
        return Refusal::new(2, why).into_result();
    };
    if host.in_group("kube_master") {
        let why = if cluster.kube_master().len() == 1 {
            "you CAN NOT delete the last member of kube_master!".to_string()
        } else {
            format!("{ip} is a master: remove it with `ezctl del-master {name} {ip}`")
        };
        return Refusal::new(1, why).into_result();
    }
    let node_name = host.node_name.clone();
    let master = cluster.first_master().name.clone();
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl del-node {name} {ip}"))?;
    let hosts = [ip.to_string(), master.clone()];
    let step = Step::new("32.delnode", &[], &[])
        .var("NODE_TO_DEL", ip)
        .var("KUBECTL_HOST", master)
        .fresh();
    let sums =
        match run::run_steps(ctx, &cluster, std::slice::from_ref(&step), &hosts, false).await? {
            Ok(s) => s,
            Err(Stopped::Connect(msg)) => {
                return Refusal::new(1, msg.to_string())
                    .hint(format!("{} was not changed", hosts_path.display()))
                    .into_result();
            }
        };
    if let Some((_, why)) = run::first_failure(&sums) {
        return Refusal::new(1, format!("cleaning {ip} failed: {why}"))
            .hint(format!(
                "{} was not changed; fix the cause and run `ezctl del-node {name} {ip}` again",
                hosts_path.display()
            ))
            .into_result();
    }
    let spec = deploy::pki::pki_spec(&cluster)?;
    match ez_pki::Pki::remove_node(&spec, &node_name) {
        Ok(removed) => {
            for p in removed {
                eprintln!("pki: removed {}", p.display());
            }
        }
        Err(e) => eprintln!("warning: removing the certificates of {node_name}: {e}"),
    }
    let text = std::fs::read_to_string(&hosts_path)
        .with_context(|| format!("reading {}", hosts_path.display()))?;
    load::write_atomic(&hosts_path, inventory::remove_node(&text, ip).as_bytes())
        .with_context(|| format!("writing {}", hosts_path.display()))?;
    println!(
        "node {ip} ({node_name}) deleted from cluster {name}; reboot it to clear iptables/ipvs leftovers"
    );
    Ok(0)
}
