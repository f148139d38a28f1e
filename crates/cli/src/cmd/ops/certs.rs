//! `ezctl kca-renew <c>`: the operation is `ez_ops::certs`'s (its phases and invariant);
//! here, the warning, the abort window and what is printed.

use crate::ctx::Ctx;

/// `kca-renew <c>`.
pub async fn kca_renew(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let confirm = async |_: &ez_inventory::Cluster| {
        eprintln!(
            "warning: kca-renew replaces the CA of cluster {name}: every certificate, kubeconfig and \
             service-account token signed by the old CA stops working (kubeconfigs made by kcfg-adm too)"
        );
        crate::cmd::setup::abort_window(ctx, name, "kca-renew", false).await
    };
    let renewed = |report: &ez_pki::report::EnsureReport| {
        if let Some(b) = &report.backup {
            println!("previous certificates kept in {}", b.display());
        }
        println!(
            "{} certificate(s) and {} kubeconfig(s) made with a new CA",
            report.certs.len(),
            report.kubeconfigs.len()
        );
    };
    let body = async {
        ez_ops::certs::kca_renew(ctx, name, confirm, renewed).await?;
        println!("cluster {name}: CA renewed, certificates distributed, components restarted");
        crate::home::after_renewal(ctx, name);
        Ok(0)
    };
    crate::refusal::finish(body.await)
}
