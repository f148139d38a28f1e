//! The doubles refuse what the real binaries refuse, and work with what the installer lays
//! down: a PKI made by ez-pki, a real etcd (Debian's) over mTLS on loopback.

use ez_pki::{NodeSpec, Pki, PkiSpec, RenewPolicy};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kube-double");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cluster PKI for one host at 127.0.0.1 whose component kubeconfigs point at `api_port`.
fn pki(dir: &Path, api_port: u16) -> PathBuf {
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

fn apiserver_args(ssl: &Path, port: u16, etcd: &str) -> Vec<String> {
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

fn run(role: &str, args: &[String]) -> (bool, String) {
    let out = Command::new(BIN).arg(role).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refuses_unknown_flags_foreign_certificates_and_missing_etcd() {
    let d = tempfile::tempdir().unwrap();
    let ssl = pki(d.path(), 6443);
    let closed = format!("https://127.0.0.1:{}", free_port());
    let good = apiserver_args(&ssl, free_port(), &closed);

    let mut bad = good.clone();
    bad.push("--insecure-port=8080".into());
    let (ok, err) = run("kube-apiserver", &bad);
    assert!(
        !ok && err.contains("unknown flag: --insecure-port"),
        "{err}"
    );

    // Serving certificate of another cluster's CA.
    let other = tempfile::tempdir().unwrap();
    let other_ssl = pki(other.path(), 6443);
    let swapped: Vec<String> = good
        .iter()
        .map(|a| {
            if a.starts_with("--tls-cert-file=") {
                format!(
                    "--tls-cert-file={}",
                    other_ssl.join("kubernetes.pem").display()
                )
            } else {
                a.clone()
            }
        })
        .collect();
    let (ok, err) = run("kube-apiserver", &swapped);
    assert!(!ok && err.contains("--tls-cert-file"), "{err}");

    // A key that is not the certificate's.
    let swapped: Vec<String> = good
        .iter()
        .map(|a| {
            if a.starts_with("--etcd-keyfile=") {
                format!("--etcd-keyfile={}", ssl.join("admin-key.pem").display())
            } else {
                a.clone()
            }
        })
        .collect();
    let (ok, err) = run("kube-apiserver", &swapped);
    assert!(!ok && err.contains("is not the key of"), "{err}");

    // Everything right but no etcd: the real server does not start either.
    let (ok, err) = run("kube-apiserver", &good);
    assert!(!ok && err.contains("no etcd server answers"), "{err}");

    // A scheduler given the controller-manager's kubeconfig.
    let (ok, err) = run(
        "kube-scheduler",
        &[format!(
            "--kubeconfig={}",
            d.path()
                .join("kube-controller-manager.kubeconfig")
                .display()
        )],
    );
    assert!(
        !ok && err.contains("expected \"system:kube-scheduler\""),
        "{err}"
    );
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(ssl: &Path, url: &str, cert: Option<&str>) -> (bool, String) {
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

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn apiserver_on_real_etcd_and_kubelet_registration() {
    if !Path::new("/usr/bin/etcd").exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "etcd-server is not installed"
        );
        eprintln!("SKIPPED: /usr/bin/etcd missing (apt-get install etcd-server)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let ssl = pki(d.path(), api_port);
    let f = |n: &str| ssl.join(n).display().to_string();
    let (cport, pport) = (free_port(), free_port());
    let etcd_url = format!("https://127.0.0.1:{cport}");
    let _etcd = Kill(
        Command::new("/usr/bin/etcd")
            .args(["--name", "t", "--data-dir"])
            .arg(d.path().join("etcd"))
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
    let mut api = Command::new(BIN);
    api.arg("kube-apiserver")
        .args(apiserver_args(&ssl, api_port, &etcd_url))
        .stderr(Stdio::null());
    let _api = Kill(api.spawn().unwrap());
    let base = format!("https://127.0.0.1:{api_port}");
    wait_until("/readyz", || {
        curl(&ssl, &format!("{base}/readyz"), Some("admin")) == (true, "ok".into())
    });
    assert!(
        !curl(&ssl, &format!("{base}/readyz"), None).0,
        "served a client without a certificate"
    );

    // kubelet: a KubeletConfiguration with the node certificate and a runtime socket.
    let sock = d.path().join("containerd.sock");
    let _runtime = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let config = d.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  x509:\n    clientCAFile: {}\ncgroupDriver: systemd\nclusterDNS:\n- 10.68.0.2\ncontainerRuntimeEndpoint: unix://{}\nfailCgroupV1: false\nfailSwapOn: false\ntlsCertFile: {}\ntlsPrivateKeyFile: {}\n",
            f("ca.pem"),
            sock.display(),
            f("n1-kubelet.pem"),
            f("n1-kubelet-key.pem")
        ),
    )
    .unwrap();
    let kubelet_args = |kubeconfig: &str, name: &str| {
        vec![
            format!("--config={}", config.display()),
            format!("--hostname-override={name}"),
            format!("--kubeconfig={}", d.path().join(kubeconfig).display()),
            "--node-ip=127.0.0.1".to_string(),
        ]
    };
    // The kube-proxy kubeconfig is not a node's: refused.
    let (ok, err) = run("kubelet", &kubelet_args("kube-proxy.kubeconfig", "n1"));
    assert!(!ok && err.contains("system:node:n1"), "{err}");
    // Another node's name than the certificate's: refused.
    let (ok, err) = run("kubelet", &kubelet_args("n1-kubelet.kubeconfig", "n2"));
    assert!(!ok && err.contains("expected \"system:node:n2\""), "{err}");
    let mut kubelet = Command::new(BIN);
    kubelet
        .arg("kubelet")
        .args(kubelet_args("n1-kubelet.kubeconfig", "n1"))
        .stderr(Stdio::null());
    let _kubelet = Kill(kubelet.spawn().unwrap());
    wait_until("node n1 Ready", || {
        let (ok, body) = curl(&ssl, &format!("{base}/api/v1/nodes/n1"), Some("admin"));
        ok && body.contains("\"type\":\"Ready\"") && body.contains("\"status\":\"True\"")
    });
    // Read access for another identity (kube-proxy) sees the same node, stored in etcd.
    let (ok, list) = curl(&ssl, &format!("{base}/api/v1/nodes"), Some("kube-proxy"));
    assert!(ok && list.contains("\"name\":\"n1\""), "{list}");
    // With a real kubectl (when this machine has one): the commands the installer runs.
    if let Some(k) = real_kubectl() {
        let kc = d.path().join("kubectl.kubeconfig");
        let kubectl = |args: &[&str]| {
            let o = Command::new(&k)
                .arg(format!("--kubeconfig={}", kc.display()))
                .args(args)
                .env("HOME", d.path())
                .output()
                .unwrap();
            (
                o.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            )
        };
        let (ok, out) = kubectl(&["get", "nodes"]);
        assert!(ok && out.contains("n1") && out.contains("Ready"), "{out}");
        let (ok, out) = kubectl(&[
            "create",
            "clusterrolebinding",
            "kubernetes-crb",
            "--clusterrole=system:kubelet-api-admin",
            "--user=kubernetes",
        ]);
        assert!(ok, "{out}");
        let (ok, out) = kubectl(&[
            "get",
            "clusterrolebinding",
            "kubernetes-crb",
            "-o",
            "jsonpath={.subjects[0].name}",
        ]);
        assert!(ok && out == "kubernetes", "{out}");
        let (ok, out) = kubectl(&[
            "create",
            "clusterrolebinding",
            "kubernetes-crb",
            "--clusterrole=system:kubelet-api-admin",
            "--user=kubernetes",
        ]);
        assert!(!ok && out.contains("already exists"), "{out}");
    }

    // kube-proxy may read but not delete nodes; admin may.
    let del = |who: &str| {
        let o = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "DELETE",
                "--max-time",
                "5",
                "--cacert",
                &f("ca.pem"),
                "--cert",
                &f(&format!("{who}.pem")),
                "--key",
                &f(&format!("{who}-key.pem")),
            ])
            .arg(format!("{base}/api/v1/nodes/n1"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(del("kube-proxy"), "403");
    assert_eq!(del("admin"), "200");
}

/// An upstream kubectl on this machine (Google Cloud SDK ships them), if any.
fn real_kubectl() -> Option<PathBuf> {
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
