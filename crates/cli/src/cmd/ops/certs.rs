//! `ezctl kca-renew <c>` (kubeasz 96.update-certs.yml with CHANGE_CA=true and
//! `-t force_change_certs`): a new CA and every certificate and kubeconfig made again
//! (ez-pki `RenewPolicy::RenewAll`, `ssl/` copied to `ssl-<timestamp>/` first), then
//! distributed and every component restarted: etcd, the control plane, kubelet, kube-proxy,
//! and the network (calico's certificate files and secret, then its pods).
//!
//! Invariant: the certificates are renewed only after every host answered, so an unreachable
//! host leaves both the deploy host and the cluster as they were.

use super::run::{Session, Step, Stopped, first_failure};
use crate::ctx::Ctx;
use crate::deploy;
use anyhow::anyhow;
use ez_pki::{Pki, RenewPolicy};
use ez_play::state::ClusterLock;

/// `kca-renew <c>`.
pub async fn kca_renew(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    eprintln!(
        "warning: kca-renew replaces the CA of cluster {name}: every certificate, kubeconfig and \
         service-account token signed by the old CA stops working (kubeconfigs made by kcfg-adm too)"
    );
    crate::cmd::setup::abort_window(ctx, name, "kca-renew", false).await?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl kca-renew {name}"))?;
    let hosts = super::run::unique_names(cluster.etcd().into_iter().chain(cluster.k8s_hosts()));
    let session = match Session::open(ctx, &cluster, &hosts, false).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            eprintln!("       nothing was renewed");
            return Ok(1);
        }
    };
    let spec = deploy::pki::pki_spec(&cluster)?;
    let report = Pki::ensure(&spec, RenewPolicy::RenewAll)
        .map_err(|e| anyhow!("renewing the certificates of cluster {name}: {e}"))?;
    if let Some(b) = &report.backup {
        println!("previous certificates kept in {}", b.display());
    }
    println!(
        "{} certificate(s) and {} kubeconfig(s) made with a new CA",
        report.certs.len(),
        report.kubeconfigs.len()
    );
    let mut steps = vec![Step::new("02.etcd", &["change_cert", "restart_etcd"], &[]).fresh()];
    if !cluster.kube_master().is_empty() {
        steps.push(
            Step::new(
                "04.kube-master",
                &["change_cert", "restart_master", "restart_node"],
                &[],
            )
            .fresh(),
        );
    }
    steps.push(Step::new("05.kube-node", &["change_cert", "restart_node"], &[]).fresh());
    // The network's certificates (calico: its etcd client certificate, in files and in the
    // secret calico-etcd-secrets), then its pods recreated to read them (flannel: its pods
    // recreated for the new cluster CA); only on a cluster whose network step has run (its
    // run record exists).
    let network_installed =
        ez_play::state::RunState::path(&dir.join("state"), "06.network").exists();
    if !cluster.kube_master().is_empty() && network_installed {
        steps.push(Step::new("06.network", &["change_cert", "restart_network"], &[]).fresh());
    }
    let sums = session.run_all(&steps).await;
    session.close();
    if let Some((host, msg)) = first_failure(&sums?) {
        eprintln!("ezctl: error: {msg}");
        eprintln!(
            "       the new certificates are in {}; fix the cause on {host} and distribute them with \
             `ezctl setup {name} 02 -t change_cert,restart_etcd`, `04 -t change_cert,restart_master,restart_node`, \
             `05 -t change_cert,restart_node`",
            dir.join("ssl").display()
        );
        return Ok(1);
    }
    println!("cluster {name}: CA renewed, certificates distributed, components restarted");
    crate::home::after_renewal(ctx, name);
    Ok(0)
}
