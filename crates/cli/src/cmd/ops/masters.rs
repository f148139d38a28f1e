//! `ezctl add-master <c> <ip>` and `ezctl del-master <c> <ip>`: the operations are
//! `ez_ops::masters`'s (their phases and invariants); here, what the command line prints,
//! and the deploy host's kubeconfig brought up to date afterwards.

use crate::ctx::Ctx;

/// `add-master <c> <ip> [k=v…]`.
pub async fn add_master(ctx: &Ctx, name: &str, ip: &str, vars: &[String]) -> anyhow::Result<u8> {
    let body = async {
        ez_ops::masters::add_master(ctx, name, ip, vars).await?;
        println!("master {ip} added to cluster {name}; kube-lb on every host balances to it");
        crate::home::after_renewal(ctx, name);
        Ok(0)
    };
    crate::refusal::finish(body.await)
}

/// `del-master <c> <ip>`.
pub async fn del_master(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    let body = async {
        let d = ez_ops::masters::del_master(ctx, name, ip).await?;
        for p in &d.certs_removed {
            eprintln!("pki: removed {}", p.display());
        }
        println!(
            "master {ip} ({}) deleted from cluster {name}; reboot it to clear iptables/ipvs leftovers",
            d.node_name
        );
        // The admin kubeconfig names the first master, which may have changed (kubeasz re-runs
        // `deploy.yml -t create_kctl_cfg`, which copies it to ~/.kube/config).
        crate::home::after_renewal(ctx, name);
        Ok(0)
    };
    crate::refusal::finish(body.await)
}
