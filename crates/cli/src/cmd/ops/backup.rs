//! `ezctl backup <c>` and `ezctl restore <c> [snapshot]` (kubeasz 94.backup.yml, 95.restore.yml).
//!
//! Invariants: a backup is complete on the deploy host (sha256 checked against the member's
//! file) before `snapshot.db` is replaced; a restore refuses before touching any host when the
//! snapshot is missing or any host is unreachable.

use super::run::{Session, Step, Stopped, first_failure};
use crate::ctx::Ctx;
use crate::deploy;
use anyhow::{Context, bail};
use ez_play::state::ClusterLock;
use std::path::{Path, PathBuf};

/// kubeasz's snapshot name: `snapshot_<YYYYmmddHHMM>.db` in the deploy host's local time.
fn snapshot_name() -> anyhow::Result<String> {
    let out = std::process::Command::new("date")
        .arg("+%Y%m%d%H%M")
        .output()
        .context("running `date`")?;
    let stamp = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || stamp.len() != 12 || !stamp.chars().all(|c| c.is_ascii_digit()) {
        bail!("`date +%Y%m%d%H%M` gave `{stamp}`");
    }
    Ok(format!("snapshot_{stamp}.db"))
}

/// `ezctl backup <c>`: `etcdctl snapshot save` on the first healthy etcd member, copied to
/// `clusters/<c>/backup/snapshot_<ts>.db` and `snapshot.db`.
pub async fn backup(ctx: &Ctx, name: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    crate::cmd::setup::abort_window(ctx, name, "backup", false).await?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl backup {name}"))?;
    let etcd = super::run::unique_names(cluster.etcd());
    let session = match Session::open(ctx, &cluster, &etcd, false).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            return Ok(1);
        }
    };
    let Some(member) = session.healthy_etcd(&cluster, &etcd).await else {
        session.close();
        eprintln!(
            "ezctl: error: no healthy etcd member among {} (check `journalctl -u etcd` on them)",
            etcd.join(", ")
        );
        return Ok(1);
    };
    let snap = snapshot_name()?;
    println!("etcd snapshot from member {member}: {snap}");
    let step = Step::new("94.backup", &[], std::slice::from_ref(&member))
        .var("snapshot_name", snap.clone())
        .fresh();
    let summary = session.run(&step).await;
    session.close();
    if let Some((host, msg)) = first_failure(&[summary?]) {
        eprintln!("ezctl: error: {msg}");
        eprintln!(
            "       the backup on {host} failed; nothing in {} was replaced",
            dir.join("backup").display()
        );
        return Ok(1);
    }
    let saved = dir.join("backup").join(&snap);
    let latest = dir.join("backup/snapshot.db");
    let tmp = dir.join("backup/.snapshot.db.tmp");
    std::fs::copy(&saved, &tmp).with_context(|| format!("copying {}", saved.display()))?;
    std::fs::rename(&tmp, &latest).with_context(|| format!("writing {}", latest.display()))?;
    println!(
        "backup saved: {} (and {})",
        saved.display(),
        latest.display()
    );
    Ok(0)
}

/// The snapshot file a restore uses: a path, or a name in `clusters/<c>/backup/`.
fn snapshot_path(dir: &Path, snapshot: Option<&str>) -> PathBuf {
    match snapshot {
        Some(s) if s.contains('/') => PathBuf::from(s),
        Some(s) => dir.join("backup").join(s),
        None => dir.join("backup/snapshot.db"),
    }
}

/// `ezctl restore <c> [snapshot]`: apiservers, controller-managers, schedulers, kubelets and
/// kube-proxies stopped; every etcd member stopped, restored from the snapshot with its own
/// name and the cluster's initial-cluster, started together; then everything started again.
pub async fn restore(ctx: &Ctx, name: &str, snapshot: Option<&str>) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let snap = snapshot_path(&dir, snapshot);
    if !snap.is_file() {
        eprintln!(
            "ezctl: error: snapshot {} not found; make one with `ezctl backup {name}` (nothing was changed)",
            snap.display()
        );
        return Ok(1);
    }
    let snap = snap
        .canonicalize()
        .with_context(|| format!("resolving {}", snap.display()))?;
    crate::cmd::setup::abort_window(ctx, name, "restore", false).await?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl restore {name}"))?;
    let hosts = super::run::unique_names(cluster.etcd().into_iter().chain(cluster.k8s_hosts()));
    let session = match Session::open(ctx, &cluster, &hosts, false).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            return Ok(1);
        }
    };
    println!("restoring cluster {name} from {}", snap.display());
    let step = Step::new("95.restore", &[], &[])
        .var("db_to_restore", snap.to_string_lossy().to_string())
        .fresh();
    let summary = session.run(&step).await;
    session.close();
    if let Some((host, msg)) = first_failure(&[summary?]) {
        eprintln!("ezctl: error: {msg}");
        eprintln!(
            "       the restore stopped on {host}; fix the cause and run `ezctl restore {name}` again"
        );
        return Ok(1);
    }
    println!("cluster {name} restored from {}", snap.display());
    Ok(0)
}
