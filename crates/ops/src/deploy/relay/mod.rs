//! Relay distribution of bundle files: the deploy host sends a large file once, hosts that
//! hold it pass it on to the next ones over the cluster network.
//!
//! [`RelayRemote`] wraps a host's SSH connection. Files of at least `min_size` bytes from
//! the deploy host (bundle binaries, image tars) are fetched by the host's relay agent
//! (`ez-relay`, uploaded by ezctl into `/var/tmp/ez-relay.<run>/` the first time the host
//! needs it) from a peer the [`hub::Hub`] picks, or sent over SSH when no host holds them
//! yet; everything else goes over SSH as before.
//!
//! Invariants:
//! * a relayed file is written to a temporary beside its destination, every byte hashed;
//!   it is renamed into place only when size and sha256 equal the deploy host's (the agent
//!   checks, see `ez_relay::fetch`); so a host never installs bytes that differ from the
//!   deploy host's, and the engine's records and idempotence are unchanged;
//! * a peer that fails (dies, stalls, sends other bytes) costs a retry from another holder,
//!   at most `max_peer_failures` times, then the deploy host over SSH;
//! * agents listen on the host's inventory address only while the run lasts:
//!   [`Relay::stop_all`] kills them and removes their directory (also after a failed step);
//!   an agent whose ezctl died exits once idle for [`AGENT_IDLE_SECS`].

pub mod hub;

use super::remote::SshRemote;
use ez_play::Event;
use ez_play::event::RelayOutcome;
use ez_play::remote::{
    BoxFut, CmdResult, OwnedSource, PutItem, Remote, RemoteError, Source, sh_quote,
};
use hub::{From, Hub};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An agent with no request for this long exits by itself (ezctl died before stopping it).
pub const AGENT_IDLE_SECS: u64 = 300;

/// Where relay events go.
pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// The agent binary for the deploy host's architecture: `$EZ_RELAY_AGENT`, else `ez-relay`
/// beside the running executable (or one directory up: test binaries live in `deps/`).
pub fn agent_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EZ_RELAY_AGENT") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    [dir.join("ez-relay"), dir.parent()?.join("ez-relay")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Faults injected into serving agents for tests (`EZ_RELAY_FAULT=<host|all>=<fault>,…`).
fn fault_for(host: &str) -> Option<String> {
    let spec = std::env::var("EZ_RELAY_FAULT").ok()?;
    spec.split(',').find_map(|kv| {
        let (h, f) = kv.split_once('=')?;
        (h == host || h == "all").then(|| f.to_string())
    })
}

/// A run's relay and the connections it wrapped (to stop their agents at the end).
pub type RelayHosts = (Arc<Relay>, Vec<Arc<RelayRemote>>);

/// The connections a run uses: with relay when it is `allowed` and pays (enough hosts, the
/// agent at hand), each host of the deploy host's architecture wrapped (`foreign`: the
/// others, which cannot run its agent); else `plain` as they are. `plan`: relay only says
/// where files would come from.
pub fn wrap(
    allowed: bool,
    plan: bool,
    ssh: BTreeMap<String, SshRemote>,
    plain: BTreeMap<String, Arc<dyn Remote>>,
    foreign: &[String],
    sink: Sink,
) -> (BTreeMap<String, Arc<dyn Remote>>, Option<RelayHosts>) {
    if !allowed {
        return (plain, None);
    }
    let relay = match Relay::new(ssh.len() - foreign.len().min(ssh.len()), plan, sink) {
        Ok(r) => r,
        Err(why) => {
            tracing::info!("relay off: {why}");
            return (plain, None);
        }
    };
    let mut out = plain;
    let mut wrapped = Vec::new();
    for (i, (name, r)) in ssh.into_iter().enumerate() {
        if foreign.contains(&name) {
            continue;
        }
        let rr = Arc::new(RelayRemote::new(r, relay.clone(), i));
        wrapped.push(rr.clone());
        out.insert(name, rr as Arc<dyn Remote>);
    }
    (out, Some((relay, wrapped)))
}

/// What the run shares: the hub, the agent binary, the run's token and the event sink.
pub struct Relay {
    pub hub: Hub,
    agent: PathBuf,
    agent_sha: String,
    run: String,
    token: String,
    plan: bool,
    sink: Sink,
}

impl Relay {
    /// Relay for a run, or None (with the reason) when it does not pay or cannot work.
    pub fn new(hosts: usize, plan: bool, sink: Sink) -> Result<Arc<Relay>, String> {
        let mut policy = hub::Policy::default();
        if let Some(ms) = std::env::var("EZ_RELAY_STALL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            policy.stall = Duration::from_millis(ms);
        }
        if hosts < policy.min_hosts {
            return Err(format!(
                "{hosts} host(s): relay pays from {}",
                policy.min_hosts
            ));
        }
        let agent = agent_path().ok_or(
            "the relay agent `ez-relay` is not beside ezctl (build it with `cargo build -p ez-relay`, or set EZ_RELAY_AGENT)",
        )?;
        let agent_sha =
            ez_relay::sha256_file(&agent).map_err(|e| format!("{}: {e}", agent.display()))?;
        let rnd = || format!("{:016x}", rand_u64());
        Ok(Arc::new(Relay {
            hub: Hub::new(policy),
            agent,
            agent_sha,
            run: rnd(),
            token: format!("{}{}", rnd(), rnd()),
            plan,
            sink,
        }))
    }

    fn dir(&self) -> String {
        format!("/var/tmp/ez-relay.{}", self.run)
    }

    /// Stops every agent of the run and removes its directory; waits until each process is
    /// gone, so no port is left listening. Errors are reported, never fatal.
    pub async fn stop_all(&self, remotes: &[Arc<RelayRemote>]) -> Vec<String> {
        let stops = remotes.iter().map(|r| async move {
            let started = matches!(*r.agent.lock().await, Agent::Running { .. });
            if !started {
                return None;
            }
            let d = sh_quote(&self.dir());
            let cmd = format!(
                "d={d}; p=$(cat $d/pid 2>/dev/null); rm -f $d/token; \
                 if [ -n \"$p\" ]; then kill $p 2>/dev/null; i=0; \
                 while kill -0 $p 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; \
                 kill -9 $p 2>/dev/null; fi; rm -rf $d"
            );
            match r.inner.run(&cmd, Duration::from_secs(30)).await {
                Ok(out) if out.ok() => None,
                Ok(out) => Some(format!(
                    "{}: stopping the relay agent: {}",
                    r.host(),
                    out.tail()
                )),
                Err(e) => Some(format!("{}: stopping the relay agent: {e}", r.host())),
            }
        });
        futures::future::join_all(stops)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS per instance: enough for a run id and a token that
    // keeps stray connections out (the bytes are checked by sha256 anyway).
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// A host's agent.
#[derive(Debug, Clone)]
pub enum Agent {
    NotStarted,
    /// Serving on `addr` (`address:port`).
    Running {
        addr: String,
    },
    /// Could not be started (another architecture, noexec /var/tmp…): files come over SSH.
    Unavailable,
}

/// A file an event is about.
struct Moved<'a> {
    file: &'a str,
    sha: &'a str,
    bytes: u64,
}

/// One host's connection with relay (see the module doc).
pub struct RelayRemote {
    pub inner: SshRemote,
    relay: Arc<Relay>,
    agent: tokio::sync::Mutex<Agent>,
    index: usize,
}

impl RelayRemote {
    /// `index`: the host's place in the run (it staggers which large file each host asks
    /// for first).
    pub fn new(inner: SshRemote, relay: Arc<Relay>, index: usize) -> Self {
        RelayRemote {
            inner,
            relay,
            agent: tokio::sync::Mutex::new(Agent::NotStarted),
            index,
        }
    }

    /// The address peers reach this host on (the inventory's).
    fn address(&self) -> String {
        self.inner.handle.spec().address.clone()
    }

    fn emit(&self, f: &Moved<'_>, from: &From, outcome: RelayOutcome, detail: String, ms: u64) {
        (self.relay.sink)(Event::Relay {
            host: self.inner.name.clone(),
            file: f.file.to_string(),
            sha256: f.sha.to_string(),
            bytes: f.bytes,
            from: from.name().to_string(),
            outcome,
            detail,
            ms,
        });
    }

    /// Uploads and starts the agent once; returns its address and the bytes sent, or None
    /// when it cannot run here.
    async fn ensure_agent(&self) -> (Option<String>, u64) {
        let mut a = self.agent.lock().await;
        match &*a {
            Agent::Running { addr } => return (Some(addr.clone()), 0),
            Agent::Unavailable => return (None, 0),
            Agent::NotStarted => {}
        }
        match self.start_agent().await {
            Ok((addr, sent)) => {
                *a = Agent::Running { addr: addr.clone() };
                (Some(addr), sent)
            }
            Err(m) => {
                tracing::warn!(host = %self.inner.name, "relay agent not started: {m}");
                *a = Agent::Unavailable;
                (None, 0)
            }
        }
    }

    async fn start_agent(&self) -> Result<(String, u64), String> {
        let r = &self.relay;
        let d = r.dir();
        let bin = format!("/var/tmp/.ez-relay.{}.bin", r.run);
        let sent = self
            .inner
            .put(Source::File(&r.agent), &bin, 0o700, &r.agent_sha, None)
            .await?;
        let fault = fault_for(&self.inner.name)
            .map(|f| format!(" --fault {}", sh_quote(&f)))
            .unwrap_or_default();
        let cmd = format!(
            "d={d}; umask 077; mkdir -p $d && mv -f {bin} $d/ez-relay && printf '%s\\n' {tok} > $d/token && : > $d/holds \
             && {{ setsid $d/ez-relay serve --dir $d --bind {bind} --idle {idle}{fault} </dev/null >$d/log 2>&1 & echo $! > $d/pid; }} \
             && i=0; while [ ! -s $d/port ] && [ $i -lt 100 ] && kill -0 $(cat $d/pid) 2>/dev/null; do sleep 0.05; i=$((i+1)); done; \
             [ -s $d/port ] && cat $d/port || {{ cat $d/log >&2; kill $(cat $d/pid) 2>/dev/null; rm -rf $d; exit 1; }}",
            d = sh_quote(&d),
            bin = sh_quote(&bin),
            tok = sh_quote(&r.token),
            bind = sh_quote(&self.address()),
            idle = AGENT_IDLE_SECS,
        );
        let out = self.inner.run(&cmd, Duration::from_secs(30)).await?;
        let port: u16 = out
            .stdout
            .trim()
            .parse()
            .map_err(|_| format!("agent did not start: {}", out.tail()))?;
        if !out.ok() {
            return Err(out.tail());
        }
        Ok((format!("{}:{port}", self.address()), sent))
    }

    /// Places one large file: from a peer when one holds it, else over SSH; the host then
    /// holds it too. Returns the bytes the deploy host sent.
    async fn put_large(&self, item: PutItem, size: u64) -> Result<u64, String> {
        let (agent, sent) = self.ensure_agent().await;
        let Some(my_addr) = agent else {
            return Ok(sent + self.inner.put_many(vec![item]).await?);
        };
        let sha = item.sha256.clone();
        let me = self.inner.name.clone();
        let hold = format!(
            "echo {} >> {}/holds",
            sh_quote(&format!("{sha} {}", item.dest)),
            sh_quote(&self.relay.dir())
        );
        let moved = Moved {
            file: &item.dest,
            sha: &sha,
            bytes: size,
        };
        let mut tried: Vec<String> = Vec::new();
        loop {
            let from = self.relay.hub.pick(&sha, &me, &tried).await;
            let t0 = Instant::now();
            match &from {
                From::Deploy => {
                    let mut direct = item.clone();
                    direct.then = Some(match &item.then {
                        Some(t) => format!("{{ {t}\n}} && {hold}"),
                        None => hold.clone(),
                    });
                    let r = self.inner.put_many(vec![direct]).await;
                    // A holder before the slot is free: a waiter then never sees the file
                    // held by nobody with the slot free, which would send it again.
                    if r.is_ok() {
                        self.relay.hub.add_holder(&sha, &me, &my_addr);
                    }
                    self.relay.hub.finished(&sha, &from, false);
                    let n = r?;
                    let ms = t0.elapsed().as_millis() as u64;
                    self.emit(&moved, &from, RelayOutcome::Ok, String::new(), ms);
                    return Ok(sent + n);
                }
                From::Peer { host, addr } => {
                    let out = self.fetch_from(&item, size, addr, &hold).await;
                    let ms = t0.elapsed().as_millis() as u64;
                    match out {
                        Ok(r) if r.ok() => {
                            self.relay.hub.add_holder(&sha, &me, &my_addr);
                            self.relay.hub.finished(&sha, &from, false);
                            self.emit(&moved, &from, RelayOutcome::Ok, String::new(), ms);
                            return Ok(sent);
                        }
                        Ok(r) => {
                            // 10: the peer failed us; anything else is this host's side:
                            // the deploy host next, and the peer stays a holder.
                            let peer_failed = r.status == ez_relay::EXIT_SOURCE;
                            self.relay.hub.finished(&sha, &from, peer_failed);
                            self.emit(&moved, &from, RelayOutcome::Retry, r.tail(), ms);
                            tried.push(host.clone());
                            if !peer_failed {
                                while tried.len() < self.relay.hub.policy.max_peer_failures {
                                    tried.push(host.clone());
                                }
                            }
                        }
                        Err(e) => {
                            self.relay.hub.finished(&sha, &from, false);
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    /// Runs the agent's fetch on this host, then the engine's placing steps (mode, owner,
    /// rename, `then`, the hold record), all in one command.
    async fn fetch_from(
        &self,
        item: &PutItem,
        size: u64,
        addr: &str,
        hold: &str,
    ) -> Result<CmdResult, String> {
        let (dir, name) = item
            .dest
            .rsplit_once('/')
            .ok_or_else(|| format!("{}: not an absolute path", item.dest))?;
        let dir = if dir.is_empty() { "/" } else { dir };
        let tmp = format!(
            "{}/.{name}.ez-tmp-{:016x}",
            dir.trim_end_matches('/'),
            rand_u64()
        );
        let chown = item
            .owner
            .as_ref()
            .map(|o| format!(" && chown {} -- \"$t\"", sh_quote(o)))
            .unwrap_or_default();
        let then = item
            .then
            .as_ref()
            .map(|t| format!("{{ {t}\n}} || exit 12; "))
            .unwrap_or_default();
        let cmd = format!(
            "d={d}; t={tmp}; $d/ez-relay fetch --dir $d --from {addr} --sha {sha} --size {size} --out \"$t\" --stall-ms {stall} || exit $?; \
             chmod {mode:o} -- \"$t\"{chown} && mv -f -- \"$t\" {dest} || {{ rm -f -- \"$t\"; exit 12; }}; {then}{hold}",
            d = sh_quote(&self.relay.dir()),
            tmp = sh_quote(&tmp),
            addr = sh_quote(addr),
            sha = sh_quote(&item.sha256),
            stall = self.relay.hub.policy.stall.as_millis(),
            mode = item.mode,
            dest = sh_quote(&item.dest),
        );
        // Generous: a healthy transfer on a cluster network is far faster; a stall is the
        // agent's to detect.
        let timeout = Duration::from_secs(120 + size / (2 << 20));
        Ok(self.inner.run(&cmd, timeout).await?)
    }

    fn relayable(&self, item: &PutItem) -> Option<u64> {
        match &item.src {
            OwnedSource::File(p) => std::fs::metadata(p)
                .ok()
                .map(|m| m.len())
                .filter(|n| *n >= self.relay.hub.policy.min_size),
            OwnedSource::Bytes(_) => None,
        }
    }
}

impl Remote for RelayRemote {
    fn host(&self) -> &str {
        self.inner.host()
    }

    fn run<'a>(
        &'a self,
        cmd: &'a str,
        timeout: Duration,
    ) -> BoxFut<'a, Result<CmdResult, RemoteError>> {
        self.inner.run(cmd, timeout)
    }

    fn put<'a>(
        &'a self,
        src: Source<'a>,
        dest: &'a str,
        mode: u32,
        sha256: &'a str,
        then: Option<&'a str>,
    ) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            let item = PutItem {
                src: src.into(),
                dest: dest.to_string(),
                mode,
                owner: None,
                sha256: sha256.to_string(),
                then: then.map(str::to_string),
            };
            self.put_many(vec![item]).await
        })
    }

    /// Small files go together over SSH, large ones by relay. When every destination is
    /// distinct (order cannot matter), the small ones go first and each host starts the large
    /// ones at a different file, so the first copies of several files leave the deploy host
    /// at once instead of every host waiting for the same first file; otherwise in order.
    fn put_many<'a>(&'a self, items: Vec<PutItem>) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            let dests: std::collections::HashSet<&str> =
                items.iter().map(|i| i.dest.as_str()).collect();
            if dests.len() == items.len() {
                let (mut large, mut small) = (Vec::new(), Vec::new());
                for item in items {
                    match self.relayable(&item) {
                        Some(size) => large.push((item, size)),
                        None => small.push(item),
                    }
                }
                let mut sent = 0;
                if !small.is_empty() {
                    sent += self.inner.put_many(small).await?;
                }
                if !large.is_empty() {
                    let k = self.index % large.len();
                    large.rotate_left(k);
                }
                for (item, size) in large {
                    sent += self.put_large(item, size).await?;
                }
                return Ok(sent);
            }
            let mut sent = 0;
            let mut small = Vec::new();
            for item in items {
                match self.relayable(&item) {
                    Some(size) => {
                        if !small.is_empty() {
                            sent += self.inner.put_many(std::mem::take(&mut small)).await?;
                        }
                        sent += self.put_large(item, size).await?;
                    }
                    None => small.push(item),
                }
            }
            if !small.is_empty() {
                sent += self.inner.put_many(small).await?;
            }
            Ok(sent)
        })
    }

    fn planned_put<'a>(&'a self, src: &'a Path, sha256: &'a str, dest: &'a str) -> BoxFut<'a, ()> {
        Box::pin(async move {
            let size = std::fs::metadata(src).map(|m| m.len()).unwrap_or(0);
            if !self.relay.plan || size < self.relay.hub.policy.min_size {
                return;
            }
            let from = self.relay.hub.plan_pick(sha256, &self.inner.name);
            self.emit(
                &Moved {
                    file: dest,
                    sha: sha256,
                    bytes: size,
                },
                &from,
                RelayOutcome::Planned,
                String::new(),
                0,
            );
        })
    }

    fn get<'a>(&'a self, src: &'a str, dest: &'a Path) -> BoxFut<'a, Result<u64, RemoteError>> {
        self.inner.get(src, dest)
    }
}
