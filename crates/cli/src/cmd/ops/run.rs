//! Running several playbooks with their own tags and limits on a cluster model that may not be
//! on disk yet (add-node runs with the inventory it *would* write, and writes it only when
//! every step succeeded).
//!
//! Invariant: every host is connected to before anything is changed, so an unreachable or
//! refusing host stops the run with nothing changed on any host or on the deploy host.

use crate::ctx::Ctx;
use crate::deploy::{self, connect};
use anyhow::bail;
use ez_inventory::Cluster;
use ez_play::{Event, RunOptions, Summary};
use std::sync::Arc;

/// One playbook run: its file stem, tags (empty: all tasks) and host limit (empty: all).
#[derive(Debug, Clone)]
pub struct Step {
    pub stem: String,
    pub tags: Vec<String>,
    pub limit: Vec<String>,
}

impl Step {
    pub fn new(stem: &str, tags: &[&str], limit: &[String]) -> Step {
        Step {
            stem: stem.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            limit: limit.to_vec(),
        }
    }
}

/// Why a run stopped before the playbooks started.
#[derive(Debug)]
pub enum Stopped {
    /// Connecting failed: the executor's message (one line per host).
    Connect(String),
}

/// Connects to `hosts`, ensures the PKI of `cluster`, then runs `steps` in order, stopping at
/// the first playbook with a failed host. Returns the summaries run so far.
pub async fn run_steps(
    ctx: &Ctx,
    cluster: &Cluster,
    steps: &[Step],
    hosts: &[String],
) -> anyhow::Result<Result<Vec<Summary>, Stopped>> {
    let lib = Arc::new(deploy::load_library(&ctx.base)?);
    for s in steps {
        if !lib.playbooks.contains_key(&s.stem) {
            bail!("no playbook {}.yml in {}", s.stem, lib.dir.display());
        }
    }
    let exec = connect::executor_for(ctx, cluster);
    let remotes = match connect::connect_hosts(&exec, cluster, hosts).await {
        Ok(r) => r,
        Err(e) => return Ok(Err(Stopped::Connect(e.to_string()))),
    };
    let report = deploy::pki::ensure(cluster, false)?;
    deploy::pki::print_report(&report);
    let deploy_ip = match remotes.values().next() {
        Some(r) => connect::deploy_ip(r.as_ref()).await,
        None => bail!("no host to run on"),
    };
    let inv = Arc::new(deploy::play_inventory(cluster, &ctx.base, &deploy_ip));
    let display = Arc::new(crate::cmd::setup_display::Display::new(ctx.json));
    let shown = display.clone();
    let sink: Arc<dyn Fn(Event) + Send + Sync> = Arc::new(move |e| shown.event(&e));
    let mut out = Vec::new();
    for s in steps {
        let opts = RunOptions {
            forks: ctx.forks,
            tags: s.tags.clone(),
            limit: s.limit.clone(),
            state_dir: Some(cluster.dir.join("state")),
            ..Default::default()
        };
        let summary = ez_play::run_playbook(
            lib.clone(),
            &s.stem,
            inv.clone(),
            &remotes,
            &opts,
            sink.clone(),
        )
        .await?;
        if !s.tags.is_empty() && !ctx.json {
            println!("(step {} with tags {})", s.stem, s.tags.join(","));
        }
        display.summary(&summary);
        let failed = !summary.failures().is_empty();
        out.push(summary);
        if failed {
            break;
        }
    }
    exec.disconnect_all();
    Ok(Ok(out))
}

/// The first failure of a list of summaries: (host, message).
pub fn first_failure(sums: &[Summary]) -> Option<(String, String)> {
    sums.iter().find_map(|s| {
        s.failures()
            .first()
            .map(|(h, m)| (h.to_string(), m.to_string()))
    })
}
