//! Worker nodes joining and leaving a cluster: `ezctl add-node(s)` and `del-node`, each as
//! its phases.
//!
//! Invariant: `clusters/<c>/hosts` changes last, only once every step succeeded on the hosts
//! (a failure before leaves the file as it was; a re-run resumes, tasks already done are not
//! repeated); messages and exit codes of the refusals are kubeasz's.

use crate::ctx::Ctx;
use crate::deploy;
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::session::{self, Step, refuse_unless_done};
use anyhow::Context;
use ez_inventory::{Cluster, load};
use ez_play::state::ClusterLock;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Whether `ip` is in the cluster's Kubernetes part (`kube_master` or `kube_node`).
pub fn in_k8s(cluster: &Cluster, ip: &str) -> bool {
    cluster
        .host(ip)
        .is_some_and(|h| h.in_group("kube_master") || h.in_group("kube_node"))
}

/// How add-node logs in to a new node for the first time to authorize the deploy key: the
/// password for a node's address (asked on a terminal, read from the environment…).
pub type PasswordFor<'a> = &'a (dyn Fn(&str) -> anyhow::Result<String> + Sync);

/// `add-node <c> <ip> [k=v…]` (one node with host vars) and `add-nodes <c> <ip>…`: returns the
/// addresses added.
pub async fn add_nodes(
    ctx: &Ctx,
    name: &str,
    nodes: &[(String, Vec<String>)],
    password: Option<PasswordFor<'_>>,
) -> anyhow::Result<Vec<String>> {
    let dir = ctx.cluster_dir(name);
    let hosts_path = load::hosts_path(&dir);
    let ips: Vec<String> = nodes.iter().map(|(ip, _)| ip.clone()).collect();
    let mut m = Manager::new(
        format!("add-node {name} {}", ips.join(" ")),
        ctx.reporter.clone(),
    );

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    // a node gets the runtime (03) and kubelet/kube-proxy (05) from the bundle
    m.run("check the bundle for steps 03 and 05", async {
        match deploy::bundle_check::refuse_inputs(&ctx.base, &["03", "05"], &ctx.skip_preflight) {
            true => Refusal::already_said(1).into_result(),
            false => Ok(()),
        }
    })
    .await?;
    m.run("check the new nodes' addresses", async {
        new_workers(&cluster, nodes, &hosts_path)
    })
    .await?;
    let (new_cluster, new_text) = m
        .run("the inventory with the new nodes", async {
            with_new_nodes(name, &dir, nodes)
        })
        .await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl add-node {name}"))
        })
        .await?;
    if let Some(password) = password {
        m.run("authorize the deploy key on the new nodes", async {
            for ip in &ips {
                let pw = password(ip)?;
                crate::keys::install_key_with_password(ctx, &new_cluster, ip, &pw).await?;
            }
            anyhow::Ok(())
        })
        .await?;
    }
    m.run(
        "set up the new nodes (01.prepare set_hosts, 22.addnode)",
        set_up_new_nodes(ctx, &new_cluster, name, &ips, &hosts_path),
    )
    .await?;
    m.run("add them to [kube_node]", async {
        load::write_atomic(&hosts_path, new_text.as_bytes())
            .with_context(|| format!("writing {}", hosts_path.display()))
    })
    .await?;
    Ok(ips)
}

/// Refuses an address that is no IP, given twice, or already in the cluster.
fn new_workers(
    cluster: &Cluster,
    nodes: &[(String, Vec<String>)],
    hosts_path: &Path,
) -> anyhow::Result<()> {
    let mut seen = Vec::new();
    for (ip, _) in nodes {
        if ip.parse::<IpAddr>().is_err() {
            return Refusal::new(1, format!("Invalid ip add:{ip}")).into_result();
        }
        if seen.contains(ip) {
            return Refusal::new(1, format!("duplicated ip in args: {ip}")).into_result();
        }
        seen.push(ip.clone());
        if in_k8s(cluster, ip) {
            let why = format!("node {ip} already existed in {}", hosts_path.display());
            return Refusal::new(2, why).into_result();
        }
    }
    Ok(())
}

/// The cluster as it will be with the new nodes, and the hosts file text that says so
/// (not written yet).
fn with_new_nodes(
    name: &str,
    dir: &Path,
    nodes: &[(String, Vec<String>)],
) -> anyhow::Result<(Cluster, String)> {
    let hosts_path = load::hosts_path(dir);
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
    let Some(new_text) = crate::hosts_file::insert_nodes(&text, &lines) else {
        let why = format!("{} has no [kube_node] section", hosts_path.display());
        return Refusal::new(1, why).into_result();
    };
    let new = crate::inventory_change::validated(
        name,
        dir,
        &new_text,
        &[],
        "the inventory with the new node(s)",
    )?;
    Ok((new, new_text))
}

/// Runs 01.prepare (set_hosts) on the Kubernetes hosts and 22.addnode on the new nodes.
async fn set_up_new_nodes(
    ctx: &Ctx,
    new_cluster: &Cluster,
    name: &str,
    ips: &[String],
    hosts_path: &Path,
) -> anyhow::Result<()> {
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
        Step::new("22.addnode", &[], ips),
    ];
    let keep = format!("{} was not changed", hosts_path.display());
    refuse_unless_done(
        session::run_steps(&ctx, new_cluster, &steps, &k8s, false).await?,
        |mut r, e| {
            if !e.auth_refused.is_empty() {
                for ip in ips.iter().filter(|ip| e.auth_refused.contains(ip)) {
                    let key = key_of(new_cluster, ip);
                    r = r.hint(format!(
                        "authorize the deploy key on the new node: ssh-copy-id -i {}.pub root@{ip}",
                        key.display()
                    ));
                }
                r = r.hint(
                    "or run again with --ask-pass (password from the prompt or $EZ_SSH_PASS)",
                );
            }
            r.hint(format!("{keep}; nothing was installed"))
        },
        |r, host| {
            r.hint(format!(
                "{keep}: fix the cause on {host}, then run `ezctl add-node {name} {}` again (tasks already done are not repeated)",
                ips.join(" ")
            ))
        },
    )
}

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
        .unwrap_or_else(crate::keys::default_key)
}

/// What `del-node` did, for the caller to print.
#[derive(Debug)]
pub struct NodeDeleted {
    pub node_name: String,
    /// Certificate files of the node that were removed.
    pub certs_removed: Vec<PathBuf>,
    /// Why removing the node's certificates failed (the node is gone all the same).
    pub certs_warning: Option<String>,
}

/// `del-node <c> <ip>`: `playbooks/32.delnode.yml` (drain through the first master, the
/// node's services removed, its Node deleted), then its kubelet certificate and kubeconfig
/// dropped and its line removed from `[kube_node]`.
pub async fn del_node(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<NodeDeleted> {
    let dir = ctx.cluster_dir(name);
    let hosts_path = load::hosts_path(&dir);
    let mut m = Manager::new(format!("del-node {name} {ip}"), ctx.reporter.clone());

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    let node_name = m
        .run("check that it is a worker node", async {
            worker_to_delete(&cluster, name, ip, &hosts_path)
        })
        .await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl del-node {name} {ip}"))
        })
        .await?;
    m.run(
        "drain and clean the node (32.delnode)",
        clean_node(ctx, &cluster, name, ip, &hosts_path),
    )
    .await?;
    let (certs_removed, certs_warning) = m
        .run("drop its kubelet certificate", async {
            drop_certificates(&cluster, &node_name)
        })
        .await?;
    m.run("remove it from [kube_node]", async {
        remove_line(&hosts_path, ip)
    })
    .await?;
    Ok(NodeDeleted {
        node_name,
        certs_removed,
        certs_warning,
    })
}

/// The node's name when `ip` is a worker of the cluster; a refusal otherwise.
fn worker_to_delete(
    cluster: &Cluster,
    name: &str,
    ip: &str,
    hosts_path: &Path,
) -> anyhow::Result<String> {
    if ip.parse::<IpAddr>().is_err() {
        return Refusal::new(2, format!("Invalid ip add:{ip}")).into_result();
    }
    let Some(host) = cluster.host(ip).filter(|_| in_k8s(cluster, ip)) else {
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
    Ok(host.node_name.clone())
}

/// Runs 32.delnode on the node and the first master (which drains and deletes the Node).
async fn clean_node(
    ctx: &Ctx,
    cluster: &Cluster,
    name: &str,
    ip: &str,
    hosts_path: &Path,
) -> anyhow::Result<()> {
    let master = cluster.first_master().name.clone();
    let hosts = [ip.to_string(), master.clone()];
    let step = Step::new("32.delnode", &[], &[])
        .var("NODE_TO_DEL", ip)
        .var("KUBECTL_HOST", master)
        .fresh();
    let steps = std::slice::from_ref(&step);
    let shown = hosts_path.display();
    refuse_unless_done(
        session::run_steps(ctx, cluster, steps, &hosts, false).await?,
        |r, _| r.hint(format!("{shown} was not changed")),
        |r, _| {
            let why = format!("cleaning {ip} failed: {}", r.message);
            Refusal::new(r.code, why).hint(format!(
                "{shown} was not changed; fix the cause and run `ezctl del-node {name} {ip}` again"
            ))
        },
    )
}

/// Removes the node's certificate files; a failure is a warning (returned), not an error.
fn drop_certificates(
    cluster: &Cluster,
    node_name: &str,
) -> anyhow::Result<(Vec<PathBuf>, Option<String>)> {
    let spec = deploy::pki::pki_spec(cluster)?;
    Ok(match ez_pki::Pki::remove_node(&spec, node_name) {
        Ok(removed) => (removed, None),
        Err(e) => (
            Vec::new(),
            Some(format!("removing the certificates of {node_name}: {e}")),
        ),
    })
}

/// Removes the node's line from the hosts file (written atomically).
fn remove_line(hosts_path: &Path, ip: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(hosts_path)
        .with_context(|| format!("reading {}", hosts_path.display()))?;
    load::write_atomic(
        hosts_path,
        crate::hosts_file::remove_node(&text, ip).as_bytes(),
    )
    .with_context(|| format!("writing {}", hosts_path.display()))
}
