//! `ezctl add-node`, `add-nodes` and `del-node`: the operations are `ez_ops::nodes`'s (their
//! phases and invariants); here, what the command line asks and prints.

use crate::ctx::Ctx;

/// `add-node <c> <ip> [k=v…]` and `add-nodes <c> <ip>…`: the phases of
/// `ez_ops::nodes::add_nodes`, the password asked per node for `--ask-pass`.
pub async fn add_nodes(
    ctx: &Ctx,
    name: &str,
    nodes: &[(String, Vec<String>)],
    password: &super::keys::Password,
) -> anyhow::Result<u8> {
    let ask = |ip: &str| -> anyhow::Result<String> {
        password
            .for_host(ip)?
            .ok_or_else(|| anyhow::anyhow!("no password for {ip}"))
    };
    let with_password = (*password != super::keys::Password::None).then_some(&ask as _);
    let body = async {
        let ips = ez_ops::nodes::add_nodes(ctx, name, nodes, with_password).await?;
        println!("node(s) {} added to cluster {name}", ips.join(", "));
        Ok(0)
    };
    crate::refusal::finish(body.await)
}

/// `del-node <c> <ip>`: the phases of `ez_ops::nodes::del_node`, then what they did.
pub async fn del_node(ctx: &Ctx, name: &str, ip: &str) -> anyhow::Result<u8> {
    let body = async {
        let d = ez_ops::nodes::del_node(ctx, name, ip).await?;
        for p in &d.certs_removed {
            eprintln!("pki: removed {}", p.display());
        }
        if let Some(w) = &d.certs_warning {
            eprintln!("warning: {w}");
        }
        println!(
            "node {ip} ({}) deleted from cluster {name}; reboot it to clear iptables/ipvs leftovers",
            d.node_name
        );
        Ok(0)
    };
    crate::refusal::finish(body.await)
}
