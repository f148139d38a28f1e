//! `ezctl start <c>`, `ezctl stop <c>` and `ezctl destroy <c>` (kubeasz 91.start.yml,
//! 92.stop.yml, 99.clean.yml), each one playbook over every host of the cluster.
//!
//! Invariant: nothing runs unless every host of the cluster answers (a host left out of a
//! stop or a destroy would be left half done without anyone noticing).

use super::run::{Session, Step, Stopped, first_failure};
use crate::ctx::Ctx;
use crate::deploy;
use ez_play::state::ClusterLock;

/// Which lifecycle command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Start,
    Stop,
    Destroy,
}

impl Lifecycle {
    fn word(self) -> &'static str {
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

/// Runs `what` on every etcd, master and node host of cluster `name`.
pub async fn run(ctx: &Ctx, name: &str, what: Lifecycle) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let word = what.word();
    crate::cmd::setup::abort_window(ctx, name, word, false).await?;
    let _lock = ClusterLock::acquire(&dir, name, &format!("ezctl {word} {name}"))?;
    let hosts = super::run::unique_names(cluster.etcd().into_iter().chain(cluster.k8s_hosts()));
    let session = match Session::open(ctx, &cluster, &hosts, false).await? {
        Ok(s) => s,
        Err(Stopped::Connect(msg)) => {
            eprintln!("ezctl: error: {msg}");
            return Ok(1);
        }
    };
    let summary = session
        .run(&Step::new(what.playbook(), &[], &[]).fresh())
        .await;
    session.close();
    if let Some((host, msg)) = first_failure(&[summary?]) {
        eprintln!("ezctl: error: {msg}");
        eprintln!("       `ezctl {word} {name}` stopped on {host}; fix the cause and run it again");
        return Ok(1);
    }
    match what {
        Lifecycle::Start => println!("cluster {name} started"),
        Lifecycle::Stop => println!("cluster {name} stopped (services disabled at boot)"),
        Lifecycle::Destroy => {
            // The deploy host forgets the run records: a new setup starts from scratch.
            let _ = std::fs::remove_dir_all(dir.join("state"));
            println!(
                "cluster {name} destroyed on {} host(s); clusters/{name} is kept (certificates, inventory). \
                 Reboot the hosts to clear iptables/ipvs leftovers",
                hosts.len()
            );
        }
    }
    Ok(0)
}
