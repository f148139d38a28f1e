//! `ezctl upgrade <c>`: the operation is `ez_ops::upgrade`'s (its phases and invariant);
//! here, the abort window and what is printed.

use crate::ctx::Ctx;

/// `upgrade <c>`.
pub async fn upgrade(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let confirm = async |_: &ez_inventory::Cluster| {
        crate::cmd::setup::abort_window(ctx, name, "upgrade", false).await
    };
    let starting = |from: &str, to: &str| {
        println!("upgrading cluster {name}: `{from}` -> `{to}`, one host at a time");
    };
    let body = async {
        let u = ez_ops::upgrade::upgrade(ctx, name, confirm, starting).await?;
        if !u.recorded.is_empty() {
            println!(
                "recorded in {}: {} (put there by hand, now part of the bundle)",
                ez_inventory::BundleLayout::new(&ctx.base)
                    .manifest()
                    .display(),
                u.recorded.join(", ")
            );
        }
        println!("cluster {name} upgraded to `{}`", u.version);
        Ok(0)
    };
    crate::refusal::finish(body.await)
}
