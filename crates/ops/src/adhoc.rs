//! `ezctl exec`: one shell command on many hosts at once (Ansible's ad-hoc mode), each host's
//! output streamed to the caller as it arrives.
//!
//! Invariant: the host list is built (and refused when empty) before any host is contacted;
//! with `fail_fast` the first failure cancels the hosts still running.

use crate::ctx::Ctx;
use ez_executor::{
    Command, Executor, ExecutorConfig, FailMode, FanOut, FanOutReport, HostSpec, OutputSink,
    PassphrasePrompt, StreamKind, fan_out, split_user_host_port,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Hosts named on the command line (`--hosts`) and the settings they share.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// `ip`, `name` or `user@ip:port`, in order.
    pub hosts: Vec<String>,
    /// Only these (a host as written or its address).
    pub limit: Vec<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub key: Option<PathBuf>,
    /// `[user@]host[:port]` (ProxyJump).
    pub jump: Option<String>,
    pub password: Option<String>,
    /// Run through sudo as root, with this sudo password when it needs one.
    pub become_root: Option<Option<String>>,
}

/// The host list of `t` (`limit` applied, order kept); refused when nothing is left.
pub fn host_specs(t: &Targets) -> anyhow::Result<Vec<HostSpec>> {
    let jump = match &t.jump {
        Some(j) => {
            let (u, h, p) = split_user_host_port(j)
                .ok_or_else(|| anyhow::anyhow!("--jump '{j}': expected [user@]host[:port]"))?;
            let mut s = HostSpec::new(h).user(
                u.or_else(|| t.user.clone())
                    .unwrap_or_else(|| "root".into()),
            );
            s.port = p.unwrap_or(22);
            s.key_file = t.key.clone();
            Some(s)
        }
        None => None,
    };
    let mut out = Vec::new();
    for h in t.hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty()) {
        let (u, host, p) = split_user_host_port(h)
            .ok_or_else(|| anyhow::anyhow!("--hosts '{h}': expected [user@]host[:port]"))?;
        if !t.limit.is_empty() && !t.limit.iter().any(|l| l == h || *l == host) {
            continue;
        }
        let mut s = HostSpec::new(host);
        s.name = h.to_string();
        s.user = u
            .or_else(|| t.user.clone())
            .unwrap_or_else(|| "root".into());
        s.port = p.or(t.port).unwrap_or(22);
        s.key_file = t.key.clone();
        s.password = t.password.clone();
        if let Some(pass) = &t.become_root {
            s = s.become_root(pass.clone());
        }
        s.jump = jump.clone().map(Box::new);
        out.push(s);
    }
    if out.is_empty() {
        anyhow::bail!("no host left to run on (check --hosts and --limit)");
    }
    Ok(out)
}

/// The hosts of `clusters/<cluster>/hosts` with their inventory ssh settings (`ansible_*`),
/// `limit` matching host names, addresses or group names.
pub fn inventory_specs(
    ctx: &Ctx,
    cluster: &str,
    limit: &[String],
) -> anyhow::Result<Vec<HostSpec>> {
    let c = crate::deploy::load_cluster(&ctx.cluster_dir(cluster), cluster)?;
    let ssh = ctx.ssh_client_config()?;
    let mut out = Vec::new();
    for h in &c.hosts {
        let addr = h.addr.to_string();
        let wanted = limit.is_empty()
            || limit
                .iter()
                .any(|l| *l == h.name || *l == addr || h.in_group(l));
        if wanted {
            out.push(ctx.host_spec(ssh.as_ref(), &addr, &h.vars)?);
        }
    }
    if out.is_empty() {
        anyhow::bail!("no host of cluster {cluster} matches --limit {limit:?}");
    }
    Ok(out)
}

/// Where one host's output goes: its chunks as they arrive, then `done` once its command
/// ended (a partial last line can be flushed).
pub trait HostOutput: Send + Sync {
    fn chunk(&self, kind: StreamKind, data: &[u8]);
    fn done(&self);
}

/// How the command runs: the script, each host's timeout, whether the first failure cancels
/// the rest, the known_hosts file and how a key's passphrase is asked.
pub struct Run {
    pub script: String,
    pub timeout: Duration,
    pub fail_fast: bool,
    pub known_hosts: PathBuf,
    pub passphrase_prompt: Option<PassphrasePrompt>,
}

/// Runs `r.script` on every host of `specs` (at most `ctx.forks` at once); `output` gives
/// each host (by name) its output's destination.
pub async fn run(
    ctx: &Ctx,
    specs: Vec<HostSpec>,
    r: Run,
    output: impl Fn(&str) -> Arc<dyn HostOutput>,
) -> FanOutReport<()> {
    let cfg = ExecutorConfig {
        forks: ctx.forks,
        accept_new_host_keys: ctx.accept_new_host_keys,
        cluster_known_hosts: Some(r.known_hosts),
        passphrase_prompt: r.passphrase_prompt,
        ..ExecutorConfig::default()
    };
    let exec = Executor::new(cfg);
    let opts = FanOut {
        forks: ctx.forks,
        mode: if r.fail_fast {
            FailMode::FailFast
        } else {
            FailMode::RunAll
        },
    };
    let timeout = r.timeout;
    let script = r.script;
    fan_out(specs, opts, |spec| {
        let exec = &exec;
        let script = script.clone();
        let out = output(&spec.name);
        async move {
            let o2 = out.clone();
            let sink: OutputSink = Arc::new(move |k, d| o2.chunk(k, d));
            let host = exec.connect(&spec).await?;
            let res = host
                .run_checked(Command::new(script).timeout(timeout).on_output(sink))
                .await;
            out.done();
            res.map(|_| ())
        }
    })
    .await
}
