//! Masters joining and leaving a cluster: `ezctl add-master` and `del-master` (kubeasz
//! 23.addmaster.yml, 33.delmaster.yml, then `-t set_hosts` and `-t restart_kube-lb` on every
//! host), each as its phases.
//!
//! Invariants: `clusters/<c>/hosts` is written only when every step succeeded; refusals
//! happen before any host is contacted, with kubeasz's messages; every kube-lb of the cluster
//! ends with exactly the masters of the new inventory as its backends.

use crate::ctx::Ctx;
use crate::deploy;
use crate::inventory_change::{MASTERS, with_host_added, with_host_removed};
use crate::phase::Manager;
use crate::session::{Step, refuse_unless_done, run_steps};
use anyhow::Context;
use ez_inventory::{Cluster, load};
use ez_play::state::ClusterLock;
use std::path::{Path, PathBuf};

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
pub async fn add_master(ctx: &Ctx, name: &str, ip: &str, vars: &[String]) -> anyhow::Result<()> {
    let dir = ctx.cluster_dir(name);
    let hosts_path = load::hosts_path(&dir);
    let mut m = Manager::new(format!("add-master {name} {ip}"), ctx.reporter.clone());

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    let (new_text, new) = m
        .run("the inventory with the new master", async {
            with_host_added(name, &dir, &cluster, "kube_master", "master", ip, vars)
        })
        .await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl add-master {name} {ip}"))
        })
        .await?;
    // The apiserver certificate is reissued with the new address; the existing masters keep
    // theirs until their next `setup 04` (as kubeasz: only the new master gets the new one).
    m.run(
        "set up the master, then kube-lb on every host (01 set_hosts, 23.addmaster, 04/05 restart_kube-lb)",
        async {
            let ctx = Ctx {
                accept_new_host_keys: true,
                ..ctx.clone()
            };
            let mut steps = vec![
                Step::new("01.prepare", &["set_hosts"], &[]).fresh(),
                Step::new("23.addmaster", &[], &[]).var("NODE_TO_ADD", ip),
            ];
            steps.extend(kube_lb_steps());
            let shown = hosts_path.display();
            refuse_unless_done(
                run_steps(&ctx, &new, &steps, &k8s_names(&new), true).await?,
                |r, _| r.hint(format!("{shown} was not changed; nothing was installed")),
                |r, host| r.hint(format!(
                    "{shown} was not changed: fix the cause on {host}, then run `ezctl add-master {name} {ip}` again (tasks already done are not repeated)"
                )),
            )
        },
    )
    .await?;
    m.run("add it to [kube_master]", async {
        write_hosts(&hosts_path, &new_text)
    })
    .await
}

/// What `del-master` did, for the caller to print.
#[derive(Debug)]
pub struct MasterDeleted {
    pub node_name: String,
    pub certs_removed: Vec<PathBuf>,
}

/// `del-master <c> <ip>`.
pub async fn del_master(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<MasterDeleted> {
    let dir = ctx.cluster_dir(name);
    let hosts_path = load::hosts_path(&dir);
    let mut m = Manager::new(format!("del-master {name} {ip}"), ctx.reporter.clone());
    let again = format!("ezctl del-master {name} {ip}");

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    let (new_text, new) = m
        .run("the inventory without the master", async {
            with_host_removed(name, &dir, &cluster, &MASTERS, ip)
        })
        .await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl del-master {name} {ip}"))
        })
        .await?;
    m.run("remove the master (33.delmaster)", async {
        let Some(other) = new.kube_master().first().map(|h| h.name.clone()) else {
            anyhow::bail!("no master would be left");
        };
        let step = Step::new("33.delmaster", &[], &[])
            .var("NODE_TO_DEL", ip)
            .var("KUBECTL_HOST", other)
            .fresh();
        let steps = std::slice::from_ref(&step);
        let shown = hosts_path.display();
        refuse_unless_done(
            run_steps(ctx, &cluster, steps, &k8s_names(&cluster), false).await?,
            |r, _| r.hint(format!("{shown} was not changed")),
            |r, host| {
                r.hint(format!(
                    "{shown} was not changed: fix the cause on {host}, then run `{again}` again"
                ))
            },
        )
    })
    .await?;
    m.run(
        "kube-lb on every host without it (01 set_hosts, 04/05 restart_kube-lb)",
        async {
            let mut steps = vec![Step::new("01.prepare", &["set_hosts"], &[]).fresh()];
            steps.extend(kube_lb_steps());
            let shown = hosts_path.display();
            refuse_unless_done(
                run_steps(ctx, &new, &steps, &k8s_names(&new), true).await?,
                |r, _| r.hint(format!(
                    "master {ip} is removed but {shown} still lists it; run `{again}` again"
                )),
                |r, host| r.hint(format!(
                    "master {ip} is removed; {shown} still lists it: fix the cause on {host}, then run `{again}` again"
                )),
            )
        },
    )
    .await?;
    let node_name = cluster
        .host(ip)
        .map(|h| h.node_name.clone())
        .unwrap_or_default();
    let certs_removed = m
        .run("drop its certificates", async {
            let spec = deploy::pki::pki_spec(&cluster)?;
            anyhow::Ok(ez_pki::Pki::remove_node(&spec, &node_name).unwrap_or_default())
        })
        .await?;
    m.run("remove it from [kube_master]", async {
        write_hosts(&hosts_path, &new_text)
    })
    .await?;
    Ok(MasterDeleted {
        node_name,
        certs_removed,
    })
}

fn write_hosts(hosts_path: &Path, text: &str) -> anyhow::Result<()> {
    load::write_atomic(hosts_path, text.as_bytes())
        .with_context(|| format!("writing {}", hosts_path.display()))
}
