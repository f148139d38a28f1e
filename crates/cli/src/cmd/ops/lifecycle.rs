//! `ezctl start <c>`, `ezctl stop <c>` and `ezctl destroy <c>`: the operation is
//! `ez_ops::lifecycle`'s (its phases and invariant); here, the abort window and what is
//! printed.

use crate::ctx::Ctx;
pub use ez_ops::lifecycle::Lifecycle;

/// Runs `what` on every etcd, master and node host of cluster `name`.
pub async fn run(ctx: &Ctx, name: &str, what: Lifecycle) -> anyhow::Result<u8> {
    let word = what.word();
    let confirm = async |_: &ez_inventory::Cluster| {
        crate::cmd::setup::abort_window(ctx, name, word, false).await
    };
    let body = async {
        let hosts = ez_ops::lifecycle::run(ctx, name, what, confirm).await?;
        match what {
            Lifecycle::Start => println!("cluster {name} started"),
            Lifecycle::Stop => println!("cluster {name} stopped (services disabled at boot)"),
            Lifecycle::Destroy => println!(
                "cluster {name} destroyed on {hosts} host(s); clusters/{name} is kept (certificates, inventory). \
                 Reboot the hosts to clear iptables/ipvs leftovers"
            ),
        }
        Ok(0)
    };
    crate::refusal::finish(body.await)
}
