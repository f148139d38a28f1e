//! The doubles refuse what the real binaries refuse, and work with what the installer lays
//! down: a PKI made by ez-pki, a real etcd (Debian's) over mTLS on loopback.

mod common;

use common::*;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kube-double");

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

#[test]
fn apiserver_on_real_etcd_and_kubelet_registration() {
    if !have_etcd() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let ssl = pki(d.path(), api_port);
    let f = |n: &str| ssl.join(n).display().to_string();
    let (_etcd, _api) = etcd_and_apiserver(BIN, d.path(), &ssl, api_port);
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
