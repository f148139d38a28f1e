//! `ezctl add-etcd <c> <ip>` and `ezctl del-etcd <c> <ip>`: the operations are
//! `ez_ops::etcd`'s (their phases and invariants); here, what the command line prints.

use crate::ctx::Ctx;

/// `add-etcd <c> <ip> [k=v…]`.
pub async fn add_etcd(ctx: &Ctx, name: &str, ip: &str, vars: &[String]) -> anyhow::Result<u8> {
    let notice = |through: &str| println!("adding etcd member {ip} through {through}");
    let body = async {
        ez_ops::etcd::add_etcd(ctx, name, ip, vars, notice).await?;
        println!("etcd member {ip} added to cluster {name}");
        Ok(0)
    };
    crate::refusal::finish(body.await)
}

/// `del-etcd <c> <ip>`.
pub async fn del_etcd(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    let warn = |w: &str| eprintln!("warning: {w}");
    let notice = |through: &str| println!("removing etcd member {ip} through {through}");
    let body = async {
        ez_ops::etcd::del_etcd(ctx, name, ip, warn, notice).await?;
        println!("etcd member {ip} deleted from cluster {name}");
        Ok(0)
    };
    crate::refusal::finish(body.await)
}
