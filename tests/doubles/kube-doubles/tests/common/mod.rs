//! Shared by the doubles' tests: a PKI, a real etcd over mTLS, the API server's flags.

#![allow(dead_code)]

use ez_pki::{NodeSpec, Pki, PkiSpec, RenewPolicy};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cluster PKI for one host at 127.0.0.1 whose component kubeconfigs point at `api_port`.
pub fn pki(dir: &Path, api_port: u16) -> PathBuf {
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut spec = PkiSpec::new(dir, "t");
    spec.etcd_ips = vec![lo];
    spec.master_ips = vec![lo];
    spec.nodes = vec![NodeSpec {
        name: "n1".into(),
        ip: lo,
    }];
    spec.apiserver_url = Some(format!("https://127.0.0.1:{api_port}"));
    spec.local_apiserver_url = Some(format!("https://127.0.0.1:{api_port}"));
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    dir.join("ssl")
}

pub fn apiserver_args(ssl: &Path, port: u16, etcd: &str) -> Vec<String> {
    let f = |n: &str| ssl.join(n).display().to_string();
    vec![
        "--allow-privileged=true".into(),
        "--anonymous-auth=false".into(),
        "--authorization-mode=Node,RBAC".into(),
        "--bind-address=127.0.0.1".into(),
        format!("--client-ca-file={}", f("ca.pem")),
        format!("--etcd-cafile={}", f("ca.pem")),
        format!("--etcd-certfile={}", f("kubernetes.pem")),
        format!("--etcd-keyfile={}", f("kubernetes-key.pem")),
        format!("--etcd-servers={etcd}"),
        format!("--kubelet-certificate-authority={}", f("ca.pem")),
        format!("--kubelet-client-certificate={}", f("kubernetes.pem")),
        format!("--kubelet-client-key={}", f("kubernetes-key.pem")),
        format!("--secure-port={port}"),
        "--service-account-issuer=https://kubernetes.default.svc".into(),
        format!("--service-account-signing-key-file={}", f("ca-key.pem")),
        format!("--service-account-key-file={}", f("ca.pem")),
        "--service-cluster-ip-range=10.68.0.0/16".into(),
        format!("--tls-cert-file={}", f("kubernetes.pem")),
        format!("--tls-private-key-file={}", f("kubernetes-key.pem")),
        format!("--requestheader-client-ca-file={}", f("ca.pem")),
        "--requestheader-allowed-names=aggregator,system:aggregator:kube-apiserver".into(),
        format!("--proxy-client-cert-file={}", f("aggregator-proxy.pem")),
        format!("--proxy-client-key-file={}", f("aggregator-proxy-key.pem")),
        "--v=2".into(),
    ]
}

pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn curl(ssl: &Path, url: &str, cert: Option<&str>) -> (bool, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "5", "--cacert"])
        .arg(ssl.join("ca.pem"));
    if let Some(n) = cert {
        c.arg("--cert")
            .arg(ssl.join(format!("{n}.pem")))
            .arg("--key")
            .arg(ssl.join(format!("{n}-key.pem")));
    }
    let o = c.arg(url).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// An upstream kubectl on this machine (Google Cloud SDK ships them), if any.
pub fn real_kubectl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EZ_TEST_KUBECTL") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/google-cloud-sdk/bin")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            Some((
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("kubectl.1.")?
                    .parse()
                    .ok()?,
                e.path(),
            ))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// A real etcd (mTLS, on loopback) and the API server double in front of it, ready.
pub fn etcd_and_apiserver(bin: &str, dir: &Path, ssl: &Path, api_port: u16) -> (Kill, Kill) {
    let f = |n: &str| ssl.join(n).display().to_string();
    let (cport, pport) = (free_port(), free_port());
    let etcd_url = format!("https://127.0.0.1:{cport}");
    let etcd = Kill(
        Command::new("/usr/bin/etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(dir.join("etcd"))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{pport}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{pport}"
            ))
            .arg(format!("--initial-cluster=t=http://127.0.0.1:{pport}"))
            .args([
                "--client-cert-auth",
                "--trusted-ca-file",
                &f("ca.pem"),
                "--cert-file",
                &f("etcd.pem"),
                "--key-file",
                &f("etcd-key.pem"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("etcd", || {
        std::net::TcpStream::connect(("127.0.0.1", cport)).is_ok()
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut api = Command::new(bin);
    api.arg("kube-apiserver")
        .args(apiserver_args(ssl, api_port, &etcd_url))
        .stderr(Stdio::null());
    let api = Kill(api.spawn().unwrap());
    let base = format!("https://127.0.0.1:{api_port}");
    wait_until("/readyz", || {
        curl(ssl, &format!("{base}/readyz"), Some("admin")) == (true, "ok".into())
    });
    (etcd, api)
}

/// Runs `kubectl` with the admin kubeconfig in `dir`; (success, stdout+stderr).
pub fn kubectl_in(k: &Path, dir: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let kc = dir.join("kubectl.kubeconfig");
    let mut c = Command::new(k);
    c.arg(format!("--kubeconfig={}", kc.display()))
        .args(args)
        .env("HOME", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let o = child.wait_with_output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// Whether Debian's etcd is installed; in CI its absence fails the test, elsewhere it skips
/// loudly.
pub fn have_etcd() -> bool {
    if Path::new("/usr/bin/etcd").exists() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "etcd-server is not installed"
    );
    eprintln!("SKIPPED: /usr/bin/etcd missing (apt-get install etcd-server)");
    false
}

/// [`real_kubectl`], failing in CI and skipping loudly elsewhere when there is none.
pub fn kubectl_or_skip() -> Option<PathBuf> {
    let k = real_kubectl();
    if k.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "no upstream kubectl"
        );
        eprintln!("SKIPPED: no upstream kubectl");
    }
    k
}
