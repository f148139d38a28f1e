//! `kubectl apply` against the API server double on a real etcd: every kind of the network
//! and addon manifests is created, read back, re-applied without change, and refused when
//! invalid.

mod common;

use common::*;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_kube-double");

#[test]
fn kubectl_apply_of_every_addon_kind() {
    if !have_etcd() {
        return;
    }
    let Some(k) = kubectl_or_skip() else {
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

/// The controller-manager double makes one pod per node for a DaemonSet and `replicas` pods
/// for a Deployment, the scheduler double binds the latter, status follows the pods' readiness,
/// and pods of a deleted owner go away.
#[test]
fn controllers_and_scheduler_make_and_bind_pods() {
    if !have_etcd() {
        return;
    }
    let Some(k) = kubectl_or_skip() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let ssl = pki(d.path(), api_port);
    let (_etcd, _api) = etcd_and_apiserver(BIN, d.path(), &ssl, api_port);
    let kc = |args: &[&str], input: Option<&str>| kubectl_in(&k, d.path(), args, input);
    let f = |n: &str| ssl.join(n).display().to_string();
    let spawn = |role: &str, args: Vec<String>| {
        Kill(
            std::process::Command::new(BIN)
                .arg(role)
                .args(args)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let cm_kc = format!(
        "--kubeconfig={}",
        d.path()
            .join("kube-controller-manager.kubeconfig")
            .display()
    );
    let _cm = spawn(
        "kube-controller-manager",
        vec![
            cm_kc,
            format!("--cluster-signing-cert-file={}", f("ca.pem")),
            format!("--cluster-signing-key-file={}", f("ca-key.pem")),
            format!("--root-ca-file={}", f("ca.pem")),
            format!("--service-account-private-key-file={}", f("ca-key.pem")),
        ],
    );
    let _sched = spawn(
        "kube-scheduler",
        vec![format!(
            "--kubeconfig={}",
            d.path().join("kube-scheduler.kubeconfig").display()
        )],
    );
    // A Ready node, registered as the admin (no kubelet here).
    let node = format!(
        r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"n1","labels":{{"kubernetes.io/os":"linux"}}}},"status":{{"conditions":[{{"type":"Ready","status":"True","lastHeartbeatTime":"{}"}}]}}}}"#,
        time_now()
    );
    let o = std::process::Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &f("ca.pem"),
            "--cert",
            &f("admin.pem"),
            "--key",
            &f("admin-key.pem"),
            "-H",
            "Content-Type: application/json",
            "-d",
            &node,
        ])
        .arg(format!("https://127.0.0.1:{api_port}/api/v1/nodes"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"uid\""),
        "{o:?}"
    );
    let manifest = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sample.yaml"),
    )
    .unwrap();
    let (ok, out) = kc(&["apply", "--server-side", "-f", "-"], Some(&manifest));
    assert!(ok, "{out}");
    let pods = |sel: &str| {
        kc(
            &[
                "get",
                "pods",
                "-n",
                "kube-system",
                "-l",
                sel,
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}",
            ],
            None,
        )
        .1
    };
    wait_until("a calico-node pod on n1", || {
        pods("k8s-app=calico-node").trim().ends_with(" n1")
    });
    wait_until("the coredns pod bound to n1", || {
        pods("k8s-app=kube-dns").trim().ends_with(" n1")
    });
    assert_eq!(pods("k8s-app=calico-node").lines().count(), 1);
    let (_, desired) = kc(
        &[
            "get",
            "ds",
            "-n",
            "kube-system",
            "calico-node",
            "-o",
            "jsonpath={.status.desiredNumberScheduled}/{.status.numberReady}",
        ],
        None,
    );
    assert_eq!(desired, "1/0");
    // The pod reported Running and Ready (what a kubelet does): the Deployment is available.
    let name = pods("k8s-app=kube-dns")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (ok, out) = kc(
        &[
            "patch",
            "pod",
            "-n",
            "kube-system",
            &name,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    wait_until("coredns available", || {
        kc(
            &[
                "get",
                "deploy",
                "-n",
                "kube-system",
                "coredns",
                "-o",
                "jsonpath={.status.availableReplicas}",
            ],
            None,
        )
        .1 == "1"
    });
    // Owner deleted: its pods are collected.
    let (ok, out) = kc(&["delete", "ds", "-n", "kube-system", "calico-node"], None);
    assert!(ok, "{out}");
    wait_until("calico-node pods deleted", || {
        pods("k8s-app=calico-node").trim().is_empty()
    });
}

fn time_now() -> String {
    let o = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
