//! Test doubles for the bundle tests: a loopback HTTP file mirror serving upstream-shaped
//! paths (`/<host>/<path>`, the `--binary-mirror` layout) with fault injection, and a fixture
//! builder that packs real Debian binaries into upstream-shaped archives with real checksum
//! files. Only ever binds 127.0.0.1.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One injected misbehaviour, consumed by one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Send headers (full length) and this many body bytes, then close.
    Cut(usize),
    /// Answer with this status (and an empty body).
    Status(u16),
    /// 429 with `Retry-After: <value>`.
    TooMany(String),
    /// Send headers and this many bytes, then go silent.
    Stall(usize),
    /// 200 with an HTML page.
    Html,
    /// Serve this body instead of the real one (a corrupt file).
    Body(Vec<u8>),
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: HashMap<String, VecDeque<Fault>>,
    ignore_range: bool,
    hits: HashMap<String, usize>,
    ranged: usize,
    /// When set, `/v2/...` needs `Authorization: Bearer <token>`; `/token` hands it out.
    bearer: Option<String>,
    /// When set, `/token` answers only a GET with this `Authorization` value (a login)...
    token_login: Option<String>,
    /// ... or a POST whose form has `refresh_token=<this>` (an identity token).
    refresh_token: Option<String>,
    token_requests: Vec<String>,
    types: HashMap<String, String>,
    url: String,
}

/// A file mirror on 127.0.0.1:<random port>.
#[derive(Clone)]
pub struct Mirror {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Mirror {
    pub async fn start() -> Mirror {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            url: url.clone(),
            ..State::default()
        }));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, st).await;
                });
            }
        });
        Mirror { url, state }
    }

    /// Serves `body` at `/<path>` (path without the leading slash, e.g. `dl.k8s.io/...`).
    pub fn put(&self, path: &str, body: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(format!("/{path}"), body);
    }

    pub fn put_all(&self, files: &HashMap<String, Vec<u8>>) {
        for (p, b) in files {
            self.put(p, b.clone());
        }
    }

    /// Queues faults for the next requests to `path`.
    pub fn fault(&self, path: &str, faults: &[Fault]) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(format!("/{path}"))
            .or_default()
            .extend(faults.iter().cloned());
    }

    /// Serves `body` with a Content-Type (registry manifests).
    pub fn put_typed(&self, path: &str, body: Vec<u8>, ctype: &str) {
        let mut s = self.state.lock().unwrap();
        s.files.insert(format!("/{path}"), body);
        s.types.insert(format!("/{path}"), ctype.to_string());
    }

    /// Turns on the Docker Hub style token flow with this token.
    pub fn require_bearer(&self, token: &str) {
        self.state.lock().unwrap().bearer = Some(token.to_string());
    }

    /// `/token` hands out the token only to this login (HTTP Basic), or to a POST carrying
    /// `refresh_token` (an identity token), like a private registry's token service.
    pub fn require_token_login(&self, basic: Option<(&str, &str)>, refresh_token: Option<&str>) {
        use base64::Engine;
        let mut s = self.state.lock().unwrap();
        s.token_login = basic.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        s.refresh_token = refresh_token.map(str::to_string);
    }

    /// Query strings of the token requests received.
    pub fn token_requests(&self) -> Vec<String> {
        self.state.lock().unwrap().token_requests.clone()
    }

    pub fn ignore_range(&self, yes: bool) {
        self.state.lock().unwrap().ignore_range = yes;
    }

    pub fn hits(&self, path: &str) -> usize {
        *self
            .state
            .lock()
            .unwrap()
            .hits
            .get(&format!("/{path}"))
            .unwrap_or(&0)
    }

    /// Requests answered with 206 so far.
    pub fn ranged(&self) -> usize {
        self.state.lock().unwrap().ranged
    }
}

async fn serve(mut sock: TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (path.clone(), String::new()),
    };
    let auth = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("authorization: ")
                .or_else(|| l.strip_prefix("Authorization: "))
        })
        .map(str::to_string);
    enum Auth {
        Token(String),
        Challenge(String),
        Denied,
        Pass,
    }
    let post = head.starts_with("POST ");
    let form = if post {
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(str::to_string)
            })
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let start = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(buf.len(), |i| i + 4);
        let mut body = buf[start..].to_vec();
        while body.len() < len {
            let n = sock.read(&mut tmp).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&tmp[..n]);
        }
        String::from_utf8_lossy(&body).to_string()
    } else {
        String::new()
    };
    let decision = {
        let mut s = st.lock().unwrap();
        match s.bearer.clone() {
            Some(tok) if path == "/token" => {
                s.token_requests
                    .push(if post { form.clone() } else { query.clone() });
                let gated = s.token_login.is_some() || s.refresh_token.is_some();
                let by_login = !post && s.token_login.is_some() && auth == s.token_login;
                let by_refresh = post
                    && s.refresh_token.as_ref().is_some_and(|r| {
                        form.split('&').any(|kv| kv == format!("refresh_token={r}"))
                            && form.split('&').any(|kv| kv == "grant_type=refresh_token")
                    });
                if gated && !by_login && !by_refresh {
                    Auth::Denied
                } else {
                    Auth::Token(format!("{{\"token\":\"{tok}\",\"expires_in\":300}}"))
                }
            }
            Some(tok)
                if path.starts_with("/v2/")
                    && auth.as_deref() != Some(&format!("Bearer {tok}")) =>
            {
                let rest = path.trim_start_matches("/v2/");
                let repo = rest.split("/manifests/").next().unwrap_or("");
                let repo = repo.split("/blobs/").next().unwrap_or("");
                Auth::Challenge(format!(
                    "Bearer realm=\"{}/token\",service=\"test-registry\",scope=\"repository:{repo}:pull\"",
                    s.url
                ))
            }
            _ => Auth::Pass,
        }
    };
    match decision {
        Auth::Token(body) => {
            return respond(
                &mut sock,
                200,
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await;
        }
        Auth::Challenge(ch) => {
            return respond(&mut sock, 401, &[("WWW-Authenticate", ch.as_str())], b"").await;
        }
        Auth::Denied => return respond(&mut sock, 401, &[], b"").await,
        Auth::Pass => {}
    }
    let range = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range: bytes=")
                .map(str::to_string)
        })
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    let (body, fault, ignore_range, ctype) = {
        let mut s = st.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        let fault = s.faults.get_mut(&path).and_then(|q| q.pop_front());
        let ctype = s
            .types
            .get(&path)
            .cloned()
            .unwrap_or_else(|| "application/octet-stream".into());
        (s.files.get(&path).cloned(), fault, s.ignore_range, ctype)
    };
    let Some(mut body) = body else {
        return respond(&mut sock, 404, &[], b"not found").await;
    };
    match fault {
        Some(Fault::Status(code)) => return respond(&mut sock, code, &[], b"").await,
        Some(Fault::TooMany(ra)) => {
            return respond(&mut sock, 429, &[("Retry-After", ra.as_str())], b"").await;
        }
        Some(Fault::Html) => {
            let page = b"<!DOCTYPE html><html><body>mirror error</body></html>";
            return respond(&mut sock, 200, &[("Content-Type", "text/html")], page).await;
        }
        Some(Fault::Body(ref b)) => body = b.clone(),
        _ => {}
    }
    let start = match range {
        Some(r) if !ignore_range && r < body.len() => r,
        _ => 0,
    };
    let status = if start > 0 { 206 } else { 200 };
    if status == 206 {
        st.lock().unwrap().ranged += 1;
    }
    let cr = format!("bytes {}-{}/{}", start, body.len() - 1, body.len());
    let mut headers = vec![("Content-Type", ctype.as_str())];
    if status == 206 {
        headers.push(("Content-Range", cr.as_str()));
    }
    let rest = &body[start..];
    match fault {
        Some(Fault::Cut(n)) => {
            write_head(&mut sock, status, &headers, rest.len()).await?;
            sock.write_all(&rest[..n.min(rest.len())]).await?;
            sock.shutdown().await
        }
        Some(Fault::Stall(n)) => {
            write_head(&mut sock, status, &headers, rest.len()).await?;
            sock.write_all(&rest[..n.min(rest.len())]).await?;
            sock.flush().await?;
            tokio::time::sleep(Duration::from_secs(120)).await;
            Ok(())
        }
        _ => respond(&mut sock, status, &headers, rest).await,
    }
}

async fn write_head(
    sock: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    len: usize,
) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status} X\r\nContent-Length: {len}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    sock.write_all(h.as_bytes()).await
}

async fn respond(
    sock: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    write_head(sock, status, headers, body.len()).await?;
    sock.write_all(body).await?;
    sock.shutdown().await
}

pub fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A real binary from a Debian package, or busybox-static when that one is not installed.
pub fn real_binary(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|_| {
        std::fs::read("/bin/busybox")
            .expect("busybox-static is needed: apt-get install busybox-static")
    })
}

/// `tar czf` of `files` (name in archive, bytes) using the system tar (fast even in debug).
pub fn targz(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let mut names = Vec::new();
    for (name, data) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        names.push(name.to_string());
    }
    let out = d.path().join("a.tgz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&root)
        .args(&names)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

/// Upstream-shaped files (keyed by `host/path`) for the default catalog on amd64, with each
/// upstream's checksum file in its own format. `small` uses busybox for every binary.
pub fn upstream_tree(small: bool) -> HashMap<String, Vec<u8>> {
    upstream_tree_for(&ez_inventory::VersionTable::default(), small)
}

/// The version substitutes of the test bed (none in the repository's checksum table, so a
/// mirror's checksum files vouch for them), as a `--versions` file.
pub const SUBSTITUTES: &str = "containerd: 2.3.4\ncrictl: v1.37.0\ncni_plugins: v1.9.2\n\
                 flannel: v0.28.10\nmetrics_server: v0.8.0\ncalico: v9.9.9\n";

/// kubeasz 3.7.0's table at Kubernetes v1.35.6 with [`SUBSTITUTES`].
pub fn substituted_table() -> ez_inventory::VersionTable {
    ez_inventory::VersionTable::default()
        .with_kubernetes("v1.35.6")
        .overlay(SUBSTITUTES)
        .unwrap()
}

/// Whether a mirror path belongs to a flannel bundle without helm (no calico, no calicoctl).
pub fn in_flannel_bundle(path: &str) -> bool {
    !path.contains("calicoctl") && !path.contains("/calico/") && !path.contains("helm")
}

/// [`upstream_tree`] for the versions of `v`.
pub fn upstream_tree_for(v: &ez_inventory::VersionTable, small: bool) -> HashMap<String, Vec<u8>> {
    upstream_tree_arch(v, small, "amd64")
}

/// The files of several architectures on one mirror: each architecture's tree, the checksum
/// files they share (etcd's SHA256SUMS, runc's) holding each architecture's own line.
pub fn upstream_tree_arches(
    v: &ez_inventory::VersionTable,
    small: bool,
    arches: &[&str],
) -> HashMap<String, Vec<u8>> {
    let mut t: HashMap<String, Vec<u8>> = HashMap::new();
    for arch in arches {
        for (k, body) in upstream_tree_arch(v, small, arch) {
            let shared = k.ends_with("SHA256SUMS") || k.ends_with("runc.sha256sum");
            match t.get_mut(&k) {
                Some(have) if shared => {
                    let text = String::from_utf8(body).unwrap();
                    for l in text.lines().filter(|l| l.contains(arch)) {
                        have.extend_from_slice(format!("{l}\n").as_bytes());
                    }
                }
                _ if shared => {
                    let text = String::from_utf8(body).unwrap();
                    let own: String = text
                        .lines()
                        .filter(|l| l.contains(arch))
                        .map(|l| format!("{l}\n"))
                        .collect();
                    t.insert(k, own.into_bytes());
                }
                _ => {
                    t.insert(k, body);
                }
            }
        }
    }
    t
}

/// [`upstream_tree_for`] with the files of `arch` (`amd64`, `arm64`); the contents are this
/// machine's binaries either way, only the names and checksums differ.
pub fn upstream_tree_arch(
    v: &ez_inventory::VersionTable,
    small: bool,
    arch: &str,
) -> HashMap<String, Vec<u8>> {
    let other = if arch == "amd64" { "arm64" } else { "amd64" };
    let bin = |p: &str| {
        if small {
            real_binary("/bin/busybox")
        } else {
            real_binary(p)
        }
    };
    let mut t = HashMap::new();
    let k8s = &v.kubernetes;
    for (name, src) in [
        ("kube-apiserver", "/usr/bin/etcd"),
        ("kube-controller-manager", "/usr/bin/ctr"),
        ("kube-scheduler", "/usr/bin/containerd-shim-runc-v2"),
        ("kubelet", "/usr/bin/containerd"),
        ("kube-proxy", "/usr/sbin/runc"),
        ("kubectl", "/usr/bin/etcdctl"),
    ] {
        let mut b = bin(src);
        b.extend_from_slice(name.as_bytes()); // distinct files
        let p = format!("dl.k8s.io/release/{k8s}/bin/linux/{arch}/{name}");
        t.insert(format!("{p}.sha256"), format!("{}\n", sha(&b)).into_bytes());
        t.insert(p, b);
    }
    let e = &v.etcd;
    let etcd = targz(&[
        (&format!("etcd-{e}-linux-{arch}/etcd"), bin("/usr/bin/etcd")),
        (
            &format!("etcd-{e}-linux-{arch}/etcdctl"),
            bin("/usr/bin/etcdctl"),
        ),
        (
            &format!("etcd-{e}-linux-{arch}/etcdutl"),
            bin("/usr/bin/etcdctl"),
        ),
        (
            &format!("etcd-{e}-linux-{arch}/README.md"),
            b"etcd".to_vec(),
        ),
    ]);
    let base = format!("github.com/etcd-io/etcd/releases/download/{e}");
    t.insert(
        format!("{base}/SHA256SUMS"),
        format!(
            "{}  etcd-{e}-linux-{other}.tar.gz\n{}  etcd-{e}-linux-{arch}.tar.gz\n",
            sha(b"x"),
            sha(&etcd)
        )
        .into_bytes(),
    );
    t.insert(format!("{base}/etcd-{e}-linux-{arch}.tar.gz"), etcd);
    let cd = &v.containerd;
    let c = targz(&[
        ("bin/containerd", bin("/usr/bin/containerd")),
        (
            "bin/containerd-shim-runc-v2",
            bin("/usr/bin/containerd-shim-runc-v2"),
        ),
        ("bin/ctr", bin("/usr/bin/ctr")),
    ]);
    let p = format!(
        "github.com/containerd/containerd/releases/download/v{cd}/containerd-static-{cd}-linux-{arch}.tar.gz"
    );
    t.insert(
        format!("{p}.sha256sum"),
        format!("{}  containerd-static-{cd}-linux-{arch}.tar.gz\n", sha(&c)).into_bytes(),
    );
    t.insert(p, c);
    let r = bin("/usr/sbin/runc");
    let base = format!(
        "github.com/opencontainers/runc/releases/download/{}",
        v.runc
    );
    t.insert(
        format!("{base}/runc.sha256sum"),
        format!("{} *runc.{arch}\n{} *runc.{other}\n", sha(&r), sha(b"y")).into_bytes(),
    );
    t.insert(format!("{base}/runc.{arch}"), r);
    let cni = &v.cni_plugins;
    let plugins: Vec<(String, Vec<u8>)> = ["bridge", "host-local", "loopback", "portmap"]
        .iter()
        .map(|n| (format!("./{n}"), bin(&format!("/usr/lib/cni/{n}"))))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = plugins
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let c = targz(&refs);
    let p = format!(
        "github.com/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{arch}-{cni}.tgz"
    );
    t.insert(
        format!("{p}.sha256"),
        format!("{}  cni-plugins-linux-{arch}-{cni}.tgz\n", sha(&c)).into_bytes(),
    );
    t.insert(p, c);
    let cr = &v.crictl;
    let c = targz(&[("crictl", bin("/bin/busybox"))]);
    let p = format!(
        "github.com/kubernetes-sigs/cri-tools/releases/download/{cr}/crictl-{cr}-linux-{arch}.tar.gz"
    );
    t.insert(format!("{p}.sha256"), format!("{}\n", sha(&c)).into_bytes());
    t.insert(p, c);
    let h = &v.helm;
    let c = targz(&[
        (&format!("linux-{arch}/helm"), bin("/bin/busybox")),
        (&format!("linux-{arch}/LICENSE"), b"license".to_vec()),
    ]);
    let p = format!("get.helm.sh/helm-{h}-linux-{arch}.tar.gz");
    t.insert(
        format!("{p}.sha256sum"),
        format!("SHA256 (helm-{h}-linux-{arch}.tar.gz) = {}\n", sha(&c)).into_bytes(),
    );
    t.insert(p, c);
    let mut cc = bin("/bin/busybox");
    cc.extend_from_slice(b"calicoctl");
    let base = format!(
        "github.com/projectcalico/calico/releases/download/{}",
        v.calicoctl
    );
    t.insert(
        format!("{base}/SHA256SUMS"),
        format!("{}  calicoctl-linux-{arch}\n", sha(&cc)).into_bytes(),
    );
    t.insert(format!("{base}/calicoctl-linux-{arch}"), cc);
    t
}

/// A session against `mirrors` only, with short timeouts and delays.
pub fn session(
    base: &Path,
    mirrors: &[&Mirror],
    events: ez_bundle::events::Events,
) -> ez_bundle::session::Session {
    let fetch = ez_bundle::fetch::FetchConfig {
        retries: 5,
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        retry_after_max: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(1500),
        ca_certs: vec![],
    };
    let sources = ez_bundle::mirrors::Sources {
        binary_mirrors: mirrors.iter().map(|m| m.url.clone()).collect(),
        registry_mirrors: vec![],
        mirror_only: true,
    };
    let mut s = ez_bundle::session::Session::new(base, fetch, sources, events, 4).unwrap();
    // Hermetic: the machine's own registry logins are never used here.
    s.registry_auth = vec![];
    s
}

/// Collects every event as JSON for assertions.
pub fn recorder() -> (
    ez_bundle::events::Events,
    Arc<Mutex<Vec<serde_json::Value>>>,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let ev = ez_bundle::events::Events::new(move |e| {
        l.lock().unwrap().push(serde_json::to_value(e).unwrap());
    });
    (ev, log)
}

pub fn tmp_base() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("kubeasz");
    (d, p)
}

// ---- real tools (docker-registry, skopeo, umoci): present in CI, else skipped loudly ----

pub use ez_testbed::tools::{have, sh_out};

/// Skips loudly (or fails under CI=true) when a tool is missing.
pub fn require(bins: &[&str]) -> bool {
    let missing: Vec<_> = bins.iter().filter(|b| !have(b)).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "registry tests need {missing:?}: apt-get install docker-registry skopeo umoci busybox-static"
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// Runs `cmd` with bash; panics with its output when it fails.
pub fn sh(cmd: &str) {
    sh_out(cmd);
}

pub struct Registry {
    child: std::process::Child,
    pub addr: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start_registry(dir: &Path) -> Registry {
    start_registry_with(dir, None)
}

/// A registry; with `htpasswd`, every request needs that HTTP Basic login.
pub fn start_registry_with(dir: &Path, htpasswd: Option<&Path>) -> Registry {
    let addr = format!("127.0.0.1:{}", free_port());
    let cfg = dir.join("config.yml");
    let auth = htpasswd
        .map(|p| {
            format!(
                "auth:\n  htpasswd:\n    realm: ezdown-test\n    path: {}\n",
                p.display()
            )
        })
        .unwrap_or_default();
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{auth}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Registry { child, addr };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("docker-registry did not come up on {addr}");
}

/// The first failure of a run, as text (empty when none).
pub fn first_failure(r: &ez_bundle::bundle::Report) -> String {
    r.failures
        .first()
        .map(|f| f.1.to_string())
        .unwrap_or_default()
}
