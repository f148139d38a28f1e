//! `ezctl kca-renew <c>` (kubeasz 96.update-certs.yml with CHANGE_CA=true and
//! `-t force_change_certs`), as phases: a new CA and every certificate and kubeconfig made
//! again (ez-pki `RenewPolicy::RenewAll`, `ssl/` copied to `ssl-<timestamp>/` first), then
//! distributed and every component restarted: etcd, the control plane, kubelet, kube-proxy,
//! and the network (calico's certificate files and secret, then its pods).
//!
//! Invariant: the certificates are renewed only after every host answered, so an unreachable
//! host leaves both the deploy host and the cluster as they were.

use crate::ctx::Ctx;
use crate::deploy;
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::session::{self, Step, first_failure};
use anyhow::anyhow;
use ez_inventory::Cluster;
use ez_pki::report::EnsureReport;
use ez_pki::{Pki, RenewPolicy};
use std::path::Path;

/// `kca-renew <c>`: `confirm` is the CLI's warning and abort window; `renewed` is told what
/// was made before it is distributed.
pub async fn kca_renew(
    ctx: &Ctx,
    name: &str,
    confirm: impl AsyncFnOnce(&Cluster) -> anyhow::Result<()>,
    renewed: impl FnOnce(&EnsureReport),
) -> anyhow::Result<()> {
    let dir = ctx.cluster_dir(name);
    let mut m = Manager::new(format!("kca-renew {name}"), ctx.reporter.clone());

    let (cluster, _lock) =
        session::load_confirm_lock(&mut m, ctx, name, &format!("kca-renew {name}"), confirm)
            .await?;
    let hosts = session::unique_names(cluster.etcd().into_iter().chain(cluster.k8s_hosts()));
    let session = m
        .run(
            "connect to every host",
            session::open_or_refuse(ctx, &cluster, &hosts, false, Some("nothing was renewed")),
        )
        .await?;
    let work = async {
        let report = m
            .run(
                "a new CA, every certificate and kubeconfig made again",
                async {
                    let spec = deploy::pki::pki_spec(&cluster)?;
                    Pki::ensure(&spec, RenewPolicy::RenewAll)
                        .map_err(|e| anyhow!("renewing the certificates of cluster {name}: {e}"))
                },
            )
            .await?;
        renewed(&report);
        m.run(
            "distribute them and restart every component (02, 04, 05, 06 change_cert)",
            async {
                let steps = distribution(&cluster, &dir);
                match first_failure(&session.run_all(&steps).await?) {
                    Some((host, msg)) => Refusal::new(1, msg)
                        .hint(format!(
                            "the new certificates are in {}; fix the cause on {host} and distribute them with \
                             `ezctl setup {name} 02 -t change_cert,restart_etcd`, `04 -t change_cert,restart_master,restart_node`, \
                             `05 -t change_cert,restart_node`",
                            dir.join("ssl").display()
                        ))
                        .into_result(),
                    None => Ok(()),
                }
            },
        )
        .await
    };
    let done = work.await;
    session.close().await;
    done
}

/// The steps that put renewed certificates in place and restart what reads them.
fn distribution(cluster: &Cluster, dir: &Path) -> Vec<Step> {
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
    steps
}
