//! `ezctl start <c>`, `ezctl stop <c>` and `ezctl destroy <c>` (kubeasz 91.start.yml,
//! 92.stop.yml, 99.clean.yml), each one playbook over every host of the cluster, as phases.
//!
//! Invariant: nothing runs unless every host of the cluster answers (a host left out of a
//! stop or a destroy would be left half done without anyone noticing).

use crate::ctx::Ctx;
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::session::{self, Step, first_failure};
use ez_inventory::Cluster;

/// Which lifecycle command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Start,
    Stop,
    Destroy,
}

impl Lifecycle {
    pub fn word(self) -> &'static str {
        match self {
            Lifecycle::Start => "start",
            Lifecycle::Stop => "stop",
            Lifecycle::Destroy => "destroy",
        }
    }

    fn playbook(self) -> &'static str {
        match self {
            Lifecycle::Start => "91.start",
            Lifecycle::Stop => "92.stop",
            Lifecycle::Destroy => "99.clean",
        }
    }
}

/// Runs `what` on every etcd, master and node host of cluster `name`, once `confirm` (the
/// CLI's abort window) let it; returns how many hosts it ran on.
pub async fn run(
    ctx: &Ctx,
    name: &str,
    what: Lifecycle,
    confirm: impl AsyncFnOnce(&Cluster) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let dir = ctx.cluster_dir(name);
    let word = what.word();
    let mut m = Manager::new(format!("{word} {name}"), ctx.reporter.clone());

    let (cluster, _lock) =
        session::load_confirm_lock(&mut m, ctx, name, &format!("{word} {name}"), confirm).await?;
    let hosts = session::unique_names(cluster.etcd().into_iter().chain(cluster.k8s_hosts()));
    let playbook = format!("{} on every host", what.playbook());
    m.run(&playbook, async {
        let session = session::open_or_refuse(ctx, &cluster, &hosts, false, None).await?;
        let summary = session
            .run(&Step::new(what.playbook(), &[], &[]).fresh())
            .await;
        session.close().await;
        match first_failure(&[summary?]) {
            Some((host, msg)) => Refusal::new(1, msg)
                .hint(format!(
                    "`ezctl {word} {name}` stopped on {host}; fix the cause and run it again"
                ))
                .into_result(),
            None => Ok(()),
        }
    })
    .await?;
    if what == Lifecycle::Destroy {
        // The deploy host forgets the run records: a new setup starts from scratch.
        m.run("forget the run records", async {
            let _ = std::fs::remove_dir_all(dir.join("state"));
            anyhow::Ok(())
        })
        .await?;
    }
    Ok(hosts.len())
}
