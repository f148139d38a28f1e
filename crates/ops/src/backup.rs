//! `ezctl backup <c>` and `ezctl restore <c> [snapshot]` (kubeasz 94.backup.yml,
//! 95.restore.yml), as phases.
//!
//! Invariants: a backup is complete on the deploy host (sha256 checked against the member's
//! file) before `snapshot.db` is replaced; a restore refuses before touching any host when the
//! snapshot is missing or any host is unreachable.

use crate::ctx::Ctx;
use crate::deploy;
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::session::{self, Step, first_failure};
use anyhow::{Context, bail};
use ez_inventory::Cluster;
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

/// Where a backup went: the timestamped snapshot and `snapshot.db`.
#[derive(Debug)]
pub struct Saved {
    pub snapshot: PathBuf,
    pub latest: PathBuf,
}

/// `ezctl backup <c>`: `etcdctl snapshot save` on the first healthy etcd member, copied to
/// `clusters/<c>/backup/snapshot_<ts>.db` and `snapshot.db`. `confirm`: the CLI's abort
/// window; `notice`: told which member and snapshot before it is made.
pub async fn backup(
    ctx: &Ctx,
    name: &str,
    confirm: impl AsyncFnOnce(&Cluster) -> anyhow::Result<()>,
    notice: impl FnOnce(&str, &str),
) -> anyhow::Result<Saved> {
    let dir = ctx.cluster_dir(name);
    let mut m = Manager::new(format!("backup {name}"), ctx.reporter.clone());

    let (cluster, _lock) =
        session::load_confirm_lock(&mut m, ctx, name, &format!("backup {name}"), confirm).await?;
    let etcd = session::unique_names(cluster.etcd());
    let session = m
        .run(
            "connect to the etcd members",
            session::open_or_refuse(ctx, &cluster, &etcd, false, None),
        )
        .await?;
    let snap = async {
        let member = m
            .run("find a healthy etcd member", async {
                match session.healthy_etcd(&cluster, &etcd).await {
                    Some(h) => Ok(h),
                    None => Refusal::new(
                        1,
                        format!(
                            "no healthy etcd member among {} (check `journalctl -u etcd` on them)",
                            etcd.join(", ")
                        ),
                    )
                    .into_result(),
                }
            })
            .await?;
        let snap = snapshot_name()?;
        notice(&member, &snap);
        m.run("save a snapshot on it and fetch it (94.backup)", async {
            let step = Step::new("94.backup", &[], std::slice::from_ref(&member))
                .var("snapshot_name", snap.clone())
                .fresh();
            match first_failure(&[session.run(&step).await?]) {
                Some((host, msg)) => Refusal::new(1, msg)
                    .hint(format!(
                        "the backup on {host} failed; nothing in {} was replaced",
                        dir.join("backup").display()
                    ))
                    .into_result(),
                None => Ok(()),
            }
        })
        .await?;
        anyhow::Ok(snap)
    };
    let snap = snap.await;
    session.close().await;
    let snap = snap?;
    m.run("make it snapshot.db", async {
        let saved = dir.join("backup").join(&snap);
        let latest = dir.join("backup/snapshot.db");
        let tmp = dir.join("backup/.snapshot.db.tmp");
        std::fs::copy(&saved, &tmp).with_context(|| format!("copying {}", saved.display()))?;
        std::fs::rename(&tmp, &latest).with_context(|| format!("writing {}", latest.display()))?;
        Ok(Saved {
            snapshot: saved,
            latest,
        })
    })
    .await
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
/// Returns the snapshot restored; `notice` is told it before the hosts are touched.
pub async fn restore(
    ctx: &Ctx,
    name: &str,
    snapshot: Option<&str>,
    confirm: impl AsyncFnOnce(&Cluster) -> anyhow::Result<()>,
    notice: impl FnOnce(&Path),
) -> anyhow::Result<PathBuf> {
    let dir = ctx.cluster_dir(name);
    let mut m = Manager::new(format!("restore {name}"), ctx.reporter.clone());

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    let snap = m
        .run("find the snapshot", async {
            let snap = snapshot_path(&dir, snapshot);
            if !snap.is_file() {
                let why = format!(
                    "snapshot {} not found; make one with `ezctl backup {name}` (nothing was changed)",
                    snap.display()
                );
                return Refusal::new(1, why).into_result();
            }
            snap.canonicalize()
                .with_context(|| format!("resolving {}", snap.display()))
        })
        .await?;
    m.run("confirm", confirm(&cluster)).await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl restore {name}"))
        })
        .await?;
    let hosts = session::unique_names(cluster.etcd().into_iter().chain(cluster.k8s_hosts()));
    let session = m
        .run(
            "connect to every host",
            session::open_or_refuse(ctx, &cluster, &hosts, false, None),
        )
        .await?;
    notice(&snap);
    let step = Step::new("95.restore", &[], &[])
        .var("db_to_restore", snap.to_string_lossy().to_string())
        .fresh();
    let restored = m
        .run("stop, restore every etcd member, start (95.restore)", async {
            let summary = session.run(&step).await;
            match first_failure(&[summary?]) {
                Some((host, msg)) => Refusal::new(1, msg)
                    .hint(format!(
                        "the restore stopped on {host}; fix the cause and run `ezctl restore {name}` again"
                    ))
                    .into_result(),
                None => Ok(()),
            }
        })
        .await;
    session.close().await;
    restored.map(|()| snap)
}
