//! Running several playbooks with their own tags and limits on a cluster model that may not be
//! on disk yet (add-node runs with the inventory it *would* write, and writes it only when
//! every step succeeded).
//!
//! Invariant: every host is connected to before anything is changed, so an unreachable or
//! refusing host stops the run with nothing changed on any host or on the deploy host.

use crate::ctx::Ctx;
use crate::deploy::{self, connect};
use crate::refusal::Refusal;
use anyhow::bail;
use ez_inventory::Cluster;
use ez_play::{Event, Remote, RunOptions, Summary, Vars};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One playbook run: its file stem, tags (empty: all tasks), host limit (empty: all) and
/// values added to the cluster's for this run only (kubeasz's `-e KEY=VALUE`).
#[derive(Debug, Clone)]
pub struct Step {
    pub stem: String,
    pub tags: Vec<String>,
    pub limit: Vec<String>,
    pub vars: Vars,
    /// Start afresh: forget the progress of an earlier failed run (steps whose commands
    /// depend on values of this run, like a snapshot name, must not resume).
    pub fresh: bool,
}

impl Step {
    pub fn new(stem: &str, tags: &[&str], limit: &[String]) -> Step {
        Step {
            stem: stem.to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            limit: limit.to_vec(),
            vars: Vars::new(),
            fresh: false,
        }
    }

    /// The same step, never resuming an earlier failed run.
    pub fn fresh(mut self) -> Step {
        self.fresh = true;
        self
    }

    /// The same step with `key` set to `value` for this run.
    pub fn var(mut self, key: &str, value: impl Into<serde_json::Value>) -> Step {
        self.vars.insert(key.to_string(), value.into());
        self
    }
}

/// Why a run stopped before the playbooks started.
#[derive(Debug)]
pub enum Stopped {
    /// Connecting failed (its Display: one line per cause).
    Connect(connect::ConnectError),
}

/// Connections to some hosts of a cluster, its PKI ensured, ready to run playbooks on.
///
/// Bundle files travel between the hosts when that pays (three hosts or more, as `setup`;
/// see `deploy::relay`): an upgrade sends each binary from the deploy host once.
pub struct Session {
    exec: ez_executor::Executor,
    pub remotes: BTreeMap<String, Arc<dyn Remote>>,
    relayed: Option<deploy::relay::RelayHosts>,
    lib: Arc<ez_play::Library>,
    inv: ez_play::Inventory,
    state_dir: std::path::PathBuf,
    reporter: crate::report::Reporter,
    forks: usize,
    json: bool,
}

impl Session {
    /// Connects to `hosts` (all or nothing), then ensures the PKI of `cluster` (reissuing
    /// certificates that drifted from the cluster when `change_cert`).
    pub async fn open(
        ctx: &Ctx,
        cluster: &Cluster,
        hosts: &[String],
        change_cert: bool,
    ) -> anyhow::Result<Result<Session, Stopped>> {
        let lib = Arc::new(deploy::load_library(&ctx.base)?);
        let exec = connect::executor_for(ctx, cluster);
        let ssh = match connect::connect_ssh(ctx, &exec, cluster, hosts).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(Stopped::Connect(connect::ConnectError::of(&e)))),
        };
        let remotes: BTreeMap<String, Arc<dyn Remote>> = ssh
            .iter()
            .map(|(k, r)| (k.clone(), Arc::new(r.clone()) as Arc<dyn Remote>))
            .collect();
        let report = deploy::pki::ensure(cluster, change_cert)?;
        deploy::pki::print_report(&report);
        let deploy_ip = match remotes.values().next() {
            Some(r) => connect::deploy_ip(r.as_ref()).await,
            None => bail!("no host to run on"),
        };
        let mut inv = deploy::play_inventory(cluster, &ctx.base, &deploy_ip);
        // Hosts of another architecture than the deploy host's cannot run its relay agent.
        let foreign: Vec<String> = match deploy::arch::arch_dirs(&ctx.base, &remotes).await {
            Ok(dirs) => deploy::arch::apply(&mut inv, dirs),
            Err(e) => {
                exec.disconnect_all();
                return Ok(Err(Stopped::Connect(connect::ConnectError::of(&e))));
            }
        };
        let shown = ctx.reporter.clone();
        let sink: deploy::relay::Sink = Arc::new(move |e| shown.event(&e));
        let (remotes, relayed) = deploy::relay::wrap(true, false, ssh, remotes, &foreign, sink);
        Ok(Ok(Session {
            exec,
            remotes,
            relayed,
            lib,
            inv,
            state_dir: cluster.dir.join("state"),
            reporter: ctx.reporter.clone(),
            forks: ctx.forks,
            json: ctx.json,
        }))
    }

    /// Runs one step; the summary tells which hosts failed.
    pub async fn run(&self, s: &Step) -> anyhow::Result<Summary> {
        if !self.lib.playbooks.contains_key(&s.stem) {
            bail!("no playbook {}.yml in {}", s.stem, self.lib.dir.display());
        }
        if s.fresh {
            let _ = std::fs::remove_file(ez_play::state::RunState::path(&self.state_dir, &s.stem));
        }
        let mut inv = self.inv.clone();
        inv.vars
            .extend(s.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        for hv in inv.host_vars.values_mut() {
            for k in s.vars.keys() {
                hv.remove(k);
            }
        }
        let opts = RunOptions {
            forks: self.forks,
            tags: s.tags.clone(),
            limit: s.limit.clone(),
            state_dir: Some(self.state_dir.clone()),
            ..Default::default()
        };
        let shown = self.reporter.clone();
        let sink: Arc<dyn Fn(Event) + Send + Sync> = Arc::new(move |e| shown.event(&e));
        let summary = ez_play::run_playbook(
            self.lib.clone(),
            &s.stem,
            Arc::new(inv),
            &self.remotes,
            &opts,
            sink,
        )
        .await?;
        if !s.tags.is_empty() && !self.json {
            println!("(step {} with tags {})", s.stem, s.tags.join(","));
        }
        self.reporter.summary(&summary);
        Ok(summary)
    }

    /// Runs `steps` in order, stopping after the first one with a failed host.
    pub async fn run_all(&self, steps: &[Step]) -> anyhow::Result<Vec<Summary>> {
        let mut out = Vec::new();
        for s in steps {
            let summary = self.run(s).await?;
            let failed = !summary.failures().is_empty();
            out.push(summary);
            if failed {
                break;
            }
        }
        Ok(out)
    }

    /// The first of `candidates` whose etcd answers `endpoint health` on its own endpoint.
    pub async fn healthy_etcd(&self, cluster: &Cluster, candidates: &[String]) -> Option<String> {
        let bin = var(cluster, "bin_dir", "/opt/kube/bin");
        let ca = var(cluster, "ca_dir", "/etc/kubernetes/ssl");
        for h in candidates {
            let Some(r) = self.remotes.get(h) else {
                continue;
            };
            let cmd = format!(
                "ETCDCTL_API=3 {bin}/etcdctl --endpoints=https://{h}:2379 --cacert={ca}/ca.pem --cert={ca}/etcd.pem --key={ca}/etcd-key.pem endpoint health"
            );
            if r.run(&cmd, Duration::from_secs(30))
                .await
                .is_ok_and(|o| o.ok())
            {
                return Some(h.clone());
            }
        }
        None
    }

    /// Stops the relay agents the session started (a problem is a warning), then
    /// disconnects.
    pub async fn close(self) {
        if let Some((relay, hosts)) = &self.relayed {
            for problem in relay.stop_all(hosts).await {
                eprintln!("ezctl: warning: {problem}");
            }
        }
        self.exec.disconnect_all();
    }
}

/// A cluster value without its quotes, or `default`.
pub fn var(cluster: &Cluster, key: &str, default: &str) -> String {
    cluster
        .var(key)
        .unwrap_or(default)
        .trim_matches('"')
        .to_string()
}

/// Opens a [`Session`] on `hosts` (`change_cert` as [`Session::open`]), runs `steps` in order,
/// stopping at the first playbook with a failed host, and closes it. Returns the summaries run
/// so far.
pub async fn run_steps(
    ctx: &Ctx,
    cluster: &Cluster,
    steps: &[Step],
    hosts: &[String],
    change_cert: bool,
) -> anyhow::Result<Result<Vec<Summary>, Stopped>> {
    let session = match Session::open(ctx, cluster, hosts, change_cert).await? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let out = session.run_all(steps).await;
    session.close().await;
    out.map(Ok)
}

/// Inventory names of `hosts`, each once, in order of first appearance (hosts belong to
/// several groups).
pub fn unique_names<'a>(hosts: impl IntoIterator<Item = &'a ez_inventory::Host>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in hosts {
        if !out.contains(&h.name) {
            out.push(h.name.clone());
        }
    }
    out
}

/// The first failure of a list of summaries: (host, message).
pub fn first_failure(sums: &[Summary]) -> Option<(String, String)> {
    sums.iter().find_map(|s| {
        s.failures()
            .first()
            .map(|(h, m)| (h.to_string(), m.to_string()))
    })
}

/// The end of a run of steps as an operation's result: done, or a refusal (exit 1) with the
/// message of what stopped it, given its hints by the caller: `unreachable` when connecting
/// failed (nothing ran), `failed(host)` when a task failed on `host`.
pub fn refuse_unless_done(
    run: Result<Vec<Summary>, Stopped>,
    unreachable: impl FnOnce(Refusal, &connect::ConnectError) -> Refusal,
    failed: impl FnOnce(Refusal, &str) -> Refusal,
) -> anyhow::Result<()> {
    match run {
        Err(Stopped::Connect(e)) => unreachable(Refusal::new(1, e.to_string()), &e).into_result(),
        Ok(sums) => match first_failure(&sums) {
            Some((host, msg)) => failed(Refusal::new(1, msg), &host).into_result(),
            None => Ok(()),
        },
    }
}

/// The phases a command on a whole cluster opens with: load the cluster, let the caller
/// confirm (the CLI's abort window), lock it for `ezctl <what>` (`what`: the command and its
/// arguments, e.g. `backup default`). The lock is held until the returned guard drops.
pub async fn load_confirm_lock(
    m: &mut crate::phase::Manager,
    ctx: &Ctx,
    name: &str,
    what: &str,
    confirm: impl AsyncFnOnce(&Cluster) -> anyhow::Result<()>,
) -> anyhow::Result<(Cluster, ez_play::state::ClusterLock)> {
    let dir = ctx.cluster_dir(name);
    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    m.run("confirm", confirm(&cluster)).await?;
    let lock = m
        .run("lock the cluster", async {
            ez_play::state::ClusterLock::acquire(&dir, name, &format!("ezctl {what}"))
        })
        .await?;
    Ok((cluster, lock))
}

/// A [`Session`] on `hosts`, or a refusal (exit 1) naming the hosts that did not answer and
/// what follows from it (`hint`, e.g. "nothing was renewed").
pub async fn open_or_refuse(
    ctx: &Ctx,
    cluster: &Cluster,
    hosts: &[String],
    change_cert: bool,
    hint: Option<&str>,
) -> anyhow::Result<Session> {
    match Session::open(ctx, cluster, hosts, change_cert).await? {
        Ok(s) => Ok(s),
        Err(Stopped::Connect(msg)) => {
            let r = crate::refusal::Refusal::new(1, msg.to_string());
            match hint {
                Some(h) => r.hint(h).into_result(),
                None => r.into_result(),
            }
        }
    }
}
