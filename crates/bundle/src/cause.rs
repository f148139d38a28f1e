//! Why a request got no HTTP answer ([`NetFailure`]), and the run-wide [`Breaker`] that stops
//! every transfer once all requests fail the same way (a proxy refusing, names not resolving,
//! no route, an untrusted certificate), so `ezdown` says it once, at once, instead of retrying
//! each item for a minute and printing the same cause forty times.
//!
//! Invariant: the breaker trips only while no request of the run has had an HTTP answer and
//! every failure so far has the same kind through the same proxy, and only when that cannot be
//! one source's trouble: the failures went through a proxy (every request does), or reached
//! two hosts or more, or every host the run may contact (`--mirror-only`).

use std::collections::BTreeSet;
use std::error::Error as StdError;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What kind of network failure a request met, as far as the transport tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetKind {
    /// The peer (or the proxy) refused the TCP connection.
    Refused,
    /// No route to the host or network unreachable.
    NoRoute,
    /// The host name did not resolve.
    Dns,
    /// The TLS handshake failed (an untrusted certificate, most often).
    Tls,
    /// Connecting or waiting for the answer timed out.
    Timeout,
    /// The connection was reset or closed before an answer.
    Reset,
    /// Anything else the transport reported.
    Other,
}

/// One request that got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetFailure {
    pub kind: NetKind,
    /// The proxy the request went through, with the variable it came from
    /// (`("http://127.0.0.1:3128", "HTTPS_PROXY")`); `None` for a direct connection.
    pub proxy: Option<(String, String)>,
    /// `host:port` the request was for.
    pub host: String,
    /// The error and all its sources, outermost first: the last part is the root cause.
    pub chain: String,
}

impl NetFailure {
    /// Classifies a reqwest error for `url`.
    pub fn from_reqwest(url: &str, e: &reqwest::Error) -> NetFailure {
        let parsed = reqwest::Url::parse(url).ok();
        NetFailure {
            kind: classify(e),
            proxy: parsed.as_ref().and_then(proxy_for),
            host: parsed
                .as_ref()
                .map(host_port)
                .unwrap_or_else(|| url.to_string()),
            chain: error_chain(e),
        }
    }

    /// A request that sent no byte of answer within the read timeout.
    pub fn timeout(url: &str, secs: u64) -> NetFailure {
        let parsed = reqwest::Url::parse(url).ok();
        NetFailure {
            kind: NetKind::Timeout,
            proxy: parsed.as_ref().and_then(proxy_for),
            host: parsed
                .as_ref()
                .map(host_port)
                .unwrap_or_else(|| url.to_string()),
            chain: format!("no answer within {secs} s"),
        }
    }

    /// The innermost error message (`Connection refused (os error 111)`).
    pub fn root(&self) -> &str {
        self.chain.rsplit(": ").next().unwrap_or(&self.chain)
    }

    /// Failures with the same key have one cause: the kind, and the proxy if any.
    fn same_cause(&self, other: &NetFailure) -> bool {
        self.kind == other.kind && self.proxy == other.proxy
    }

    /// A short label for grouping failures in the summary, e.g.
    /// `the proxy http://127.0.0.1:9 (HTTPS_PROXY) refuses connections`.
    pub fn label(&self) -> String {
        let what = match self.kind {
            NetKind::Refused => "refuses connections",
            NetKind::NoRoute => "is unreachable (no route)",
            NetKind::Dns => "does not resolve",
            NetKind::Tls => "presents a certificate that is not trusted",
            NetKind::Timeout => "does not answer in time",
            NetKind::Reset => "drops the connection",
            NetKind::Other => "fails",
        };
        match &self.proxy {
            Some((p, var)) => format!("the proxy {p} ({var}) {what}"),
            None => format!("{} {what}", self.host),
        }
    }
}

/// The error and its sources joined with `": "`, each once (reqwest repeats the URL).
pub fn error_chain(e: &dyn StdError) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    parts.join(": ")
}

fn classify(e: &reqwest::Error) -> NetKind {
    if e.is_timeout() {
        return NetKind::Timeout;
    }
    let mut kind = NetKind::Other;
    let mut src: Option<&dyn StdError> = Some(e);
    while let Some(s) = src {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return NetKind::Tls;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return NetKind::Refused,
                K::HostUnreachable | K::NetworkUnreachable => return NetKind::NoRoute,
                K::TimedOut => return NetKind::Timeout,
                K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof => {
                    kind = NetKind::Reset
                }
                _ => {}
            }
            // tokio-rustls wraps the handshake's error in an io::Error
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return NetKind::Tls;
            }
        }
        src = s.source();
    }
    // hyper-util's resolver error is a private type: its message is the only sign of it.
    let text = error_chain(e);
    if text.contains("dns error") || text.contains("failed to lookup address") {
        return NetKind::Dns;
    }
    if kind == NetKind::Other && text.contains("certificate") {
        return NetKind::Tls;
    }
    kind
}

/// `host:port` of a URL (the scheme's port when none is given).
pub fn host_port(u: &reqwest::Url) -> String {
    let host = u.host_str().unwrap_or("?");
    match u.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// The proxy reqwest takes from the environment for `u` (its rules: `HTTPS_PROXY` /
/// `HTTP_PROXY` by scheme, then `ALL_PROXY`, upper case first; `NO_PROXY` host suffixes and
/// `*`), with the variable's name.
pub fn proxy_for(u: &reqwest::Url) -> Option<(String, String)> {
    proxy_from(u, |n| std::env::var(n).ok())
}

fn proxy_from(u: &reqwest::Url, env: impl Fn(&str) -> Option<String>) -> Option<(String, String)> {
    let get = |n: &str| env(n).filter(|v| !v.trim().is_empty());
    let host = u.host_str()?.trim_matches(['[', ']']);
    if let Some(np) = get("NO_PROXY").or_else(|| get("no_proxy")) {
        for entry in np.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let suffix = entry.trim_start_matches('.');
            if entry == "*" || host == suffix || host.ends_with(&format!(".{suffix}")) {
                return None;
            }
        }
    }
    let names: &[&str] = match u.scheme() {
        "https" => &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"],
        "http" => &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"],
        _ => return None,
    };
    names
        .iter()
        .find_map(|n| get(n).map(|v| (v.trim().to_string(), n.to_string())))
}

/// Every request of a run failed the same way: what the breaker tells the user, once.
#[derive(Debug, Clone)]
pub struct Systemic {
    /// The first failure (they all have its kind and proxy).
    pub failure: NetFailure,
    /// The hosts the failed requests were for.
    pub hosts: Vec<String>,
    pub requests: usize,
    /// From the run's first failure to the trip.
    pub after: Duration,
}

impl Systemic {
    /// One line: what fails, through what, the root cause, and what to check.
    pub fn message(&self) -> String {
        let f = &self.failure;
        let hosts = self.hosts.join(", ");
        let (what, check) = match (&f.kind, &f.proxy) {
            (NetKind::Refused, Some((p, var))) => (
                format!("the proxy {p} (from {var}) refuses connections"),
                format!("check that the proxy runs and that {var} is right, or unset it to connect directly"),
            ),
            (NetKind::Refused, None) => (
                format!("{hosts} refuse connections"),
                "check the addresses and ports (--binary-mirror, --registry-mirror) and the firewall, or set HTTPS_PROXY".to_string(),
            ),
            (NetKind::NoRoute, Some((p, var))) => (
                format!("there is no route to the proxy {p} (from {var})"),
                format!("check this machine's network, or {var}"),
            ),
            (NetKind::NoRoute, None) => (
                format!("there is no route to {hosts}"),
                "check this machine's network and default route, or set HTTPS_PROXY to a proxy that reaches them".to_string(),
            ),
            (NetKind::Dns, Some((p, var))) => (
                format!("the proxy's host name in {var} ({p}) does not resolve"),
                format!("check {var} and the resolvers in /etc/resolv.conf ({})", resolvers()),
            ),
            (NetKind::Dns, None) => (
                format!("the names {hosts} do not resolve"),
                format!("check the resolvers in /etc/resolv.conf ({}), or use mirrors by IP address", resolvers()),
            ),
            (NetKind::Tls, _) => (
                format!("the TLS certificates of {hosts} are not trusted{}", via(f)),
                "a TLS-inspecting proxy or an intranet CA: pass its CA with --ca-cert FILE or add it to the system trust store".to_string(),
            ),
            (NetKind::Timeout, _) => (
                format!("connections to {hosts}{} time out", via(f)),
                "a firewall dropping packets? check the network and the proxy settings (HTTPS_PROXY, NO_PROXY)".to_string(),
            ),
            (NetKind::Reset | NetKind::Other, _) => (
                format!("requests to {hosts}{} fail", via(f)),
                "check the network and the proxy settings (HTTPS_PROXY, NO_PROXY)".to_string(),
            ),
        };
        format!(
            "stopped after {:.1} s: all {} requests failed the same way: {what} ({}); {check}; then run the same command again (what is done is kept)",
            self.after.as_secs_f64(),
            self.requests,
            f.root()
        )
    }
}

fn via(f: &NetFailure) -> String {
    match &f.proxy {
        Some((p, var)) => format!(" through the proxy {p} ({var})"),
        None => String::new(),
    }
}

/// The `nameserver` lines of /etc/resolv.conf, for naming the resolver that fails.
fn resolvers() -> String {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let ns: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    if ns.is_empty() {
        "none listed".into()
    } else {
        format!("nameserver {}", ns.join(", "))
    }
}

/// Distinct requests and failures needed before the breaker may trip: a first round of
/// parallel transfers plus one retry.
const MIN_URLS: usize = 3;
const MIN_FAILURES: usize = 5;
/// Fewer requests suffice once this much time has passed since the first failure (`-j 1`).
const SLOW_TRIP: Duration = Duration::from_secs(4);

#[derive(Default)]
struct State {
    answered: bool,
    mixed: bool,
    first: Option<(NetFailure, Instant)>,
    urls: BTreeSet<String>,
    hosts: BTreeSet<String>,
    failures: usize,
    trip: Option<Systemic>,
}

/// Shared by every transfer of a run: told of each answer and each network failure; once
/// tripped, every retry loop and every job not started yet ends with [`Systemic`].
#[derive(Default)]
pub struct Breaker {
    tripped: AtomicBool,
    wake: tokio::sync::Notify,
    state: Mutex<State>,
    /// With `--mirror-only`: every host the run may contact; failing on all of them is
    /// enough even when that is one host.
    sole_hosts: Option<BTreeSet<String>>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Breaker(tripped={})",
            self.tripped.load(Ordering::Relaxed)
        )
    }
}

impl Breaker {
    /// A breaker for a run that may only contact `sole_hosts` (`host:port`), if known.
    pub fn new(sole_hosts: Option<BTreeSet<String>>) -> Breaker {
        Breaker {
            sole_hosts,
            ..Breaker::default()
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A request got an HTTP answer (any status): the network works, never trip.
    pub fn answered(&self) {
        self.state().answered = true;
    }

    /// A request for `url` got no answer. Returns the verdict when this failure trips.
    pub fn failed(&self, url: &str, f: &NetFailure) -> Option<Systemic> {
        let mut s = self.state();
        if let Some(t) = &s.trip {
            return Some(t.clone());
        }
        match &s.first {
            None => s.first = Some((f.clone(), Instant::now())),
            Some((first, _)) if !first.same_cause(f) => s.mixed = true,
            Some(_) => {}
        }
        s.failures += 1;
        s.urls.insert(url.to_string());
        s.hosts.insert(f.host.clone());
        let (first, since) = s.first.clone()?;
        let covered = first.proxy.is_some()
            || s.hosts.len() >= 2
            || self
                .sole_hosts
                .as_ref()
                .is_some_and(|all| !all.is_empty() && all.is_subset(&s.hosts));
        let enough = (s.urls.len() >= MIN_URLS && s.failures >= MIN_FAILURES)
            || (s.failures >= MIN_URLS && since.elapsed() >= SLOW_TRIP);
        if s.answered || s.mixed || !covered || !enough {
            return None;
        }
        let t = Systemic {
            failure: first,
            hosts: s.hosts.iter().cloned().collect(),
            requests: s.failures,
            after: since.elapsed(),
        };
        s.trip = Some(t.clone());
        drop(s);
        self.tripped.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
        Some(t)
    }

    /// The verdict, once tripped.
    pub fn tripped(&self) -> Option<Systemic> {
        if !self.tripped.load(Ordering::SeqCst) {
            return None;
        }
        self.state().trip.clone()
    }

    /// Sleeps `d` (a retry's backoff), cut short with the verdict when the breaker trips.
    pub async fn pause(&self, d: Duration) -> Result<(), Systemic> {
        let woken = self.wake.notified();
        if let Some(t) = self.tripped() {
            return Err(t);
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = woken => self.tripped().map_or(Ok(()), Err),
        }
    }
}

#[cfg(test)]
mod tests;
