//! `kubectl apply` against the API server double on a real etcd: every kind of the network
//! and addon manifests is created, read back, re-applied without change, and refused when
//! invalid.

mod common;

use common::*;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_kube-double");

#[test]
fn kubectl_apply_of_every_addon_kind() {
    if !Path::new("/usr/bin/etcd").exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "etcd-server is not installed"
        );
        eprintln!("SKIPPED: /usr/bin/etcd missing (apt-get install etcd-server)");
        return;
    }
    let Some(k) = real_kubectl() else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "no upstream kubectl"
        );
        eprintln!("SKIPPED: no upstream kubectl");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let ssl = pki(d.path(), api_port);
    let (_etcd, _api) = etcd_and_apiserver(BIN, d.path(), &ssl, api_port);
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample.yaml"),
    )
    .unwrap();
    let kc = |args: &[&str], input: Option<&str>| kubectl_in(&k, d.path(), args, input);
    let (ok, out) = kc(&["apply", "--server-side", "-f", "-"], Some(&manifest));
    assert!(ok, "{out}");
    assert_eq!(out.matches("serverside-applied").count(), 9, "{out}");
    let rv = |what: &str| {
        kc(
            &[
                "get",
                "-n",
                "kube-system",
                what,
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ],
            None,
        )
    };
    let before = rv("daemonset/calico-node");
    // Applying the same again changes nothing.
    let (ok, out) = kc(&["apply", "--server-side", "-f", "-"], Some(&manifest));
    assert!(ok, "{out}");
    assert_eq!(rv("daemonset/calico-node"), before);
    // Read back, with selectors and across namespaces.
    let (ok, out) = kc(
        &[
            "get",
            "svc",
            "-n",
            "kube-system",
            "kube-dns",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
        None,
    );
    assert!(ok && out == "10.68.0.2", "{out}");
    let (ok, out) = kc(
        &["get", "ds", "-A", "-l", "k8s-app=calico-node", "-o", "name"],
        None,
    );
    assert!(ok && out.trim() == "daemonset.apps/calico-node", "{out}");
    let (ok, out) = kc(
        &["get", "ds", "-A", "-l", "k8s-app=other", "-o", "name"],
        None,
    );
    assert!(ok && out.trim().is_empty(), "{out}");
    let (ok, out) = kc(
        &[
            "get",
            "clusterrolebinding",
            "calico-node",
            "-o",
            "jsonpath={.subjects[0].name}",
        ],
        None,
    );
    assert!(ok && out == "calico-node", "{out}");
    let (ok, out) = kc(
        &[
            "get",
            "apiservice",
            "v1beta1.metrics.k8s.io",
            "-o",
            "jsonpath={.spec.service.name}",
        ],
        None,
    );
    assert!(ok && out == "metrics-server", "{out}");
    // A changed manifest is applied: the DaemonSet's image and generation change.
    let changed = manifest.replace("calico/node:v3.32.1", "calico/node:v3.32.2");
    let (ok, out) = kc(&["apply", "--server-side", "-f", "-"], Some(&changed));
    assert!(ok, "{out}");
    let (_, out) = kc(
        &[
            "get",
            "ds",
            "-n",
            "kube-system",
            "calico-node",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}",
        ],
        None,
    );
    assert_eq!(out, "docker.io/calico/node:v3.32.2 2");
    // Refused as the real server refuses them.
    let bad_ip = manifest.replace("clusterIP: 10.68.0.2", "clusterIP: 10.99.0.2");
    let (ok, out) = kc(&["apply", "--server-side", "-f", "-"], Some(&bad_ip));
    assert!(!ok && out.contains("not in the valid range"), "{out}");
    let bad_sel = manifest.replace("k8s-app: kube-dns\n    spec:", "k8s-app: other\n    spec:");
    assert_ne!(bad_sel, manifest);
    let (ok, out) = kc(&["apply", "--server-side", "-f", "-"], Some(&bad_sel));
    assert!(!ok && out.contains("does not match template"), "{out}");
    // Another identity may read but not write.
    let (ok, out) = curl(
        &ssl,
        &format!(
            "https://127.0.0.1:{api_port}/api/v1/namespaces/kube-system/configmaps/calico-config"
        ),
        Some("kube-proxy"),
    );
    assert!(ok && out.contains("calico_backend"), "{out}");
    // Delete.
    let (ok, out) = kc(
        &["delete", "-n", "kube-system", "configmap", "calico-config"],
        None,
    );
    assert!(ok, "{out}");
    let (ok, _) = kc(
        &["get", "-n", "kube-system", "configmap", "calico-config"],
        None,
    );
    assert!(!ok);
}
