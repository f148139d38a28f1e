//! `ezctl backup <c>` and `ezctl restore <c> [snapshot]`: the operations are
//! `ez_ops::backup`'s (their phases and invariants); here, the abort window and what is
//! printed.

use crate::ctx::Ctx;

/// `ezctl backup <c>`.
pub async fn backup(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let confirm = async |_: &ez_inventory::Cluster| {
        crate::cmd::setup::abort_window(ctx, name, "backup", false).await
    };
    let notice = |member: &str, snap: &str| {
        println!("etcd snapshot from member {member}: {snap}");
    };
    let body = async {
        let s = ez_ops::backup::backup(ctx, name, confirm, notice).await?;
        println!(
            "backup saved: {} (and {})",
            s.snapshot.display(),
            s.latest.display()
        );
        Ok(0)
    };
    crate::refusal::finish(body.await)
}

/// `ezctl restore <c> [snapshot]`.
pub async fn restore(ctx: &Ctx, name: &str, snapshot: Option<&str>) -> anyhow::Result<u8> {
    let confirm = async |_: &ez_inventory::Cluster| {
        crate::cmd::setup::abort_window(ctx, name, "restore", false).await
    };
    let notice = |snap: &std::path::Path| {
        println!("restoring cluster {name} from {}", snap.display());
    };
    let body = async {
        let snap = ez_ops::backup::restore(ctx, name, snapshot, confirm, notice).await?;
        println!("cluster {name} restored from {}", snap.display());
        Ok(0)
    };
    crate::refusal::finish(body.await)
}
