//! `ezctl stop`, `start`, `kca-renew` and `destroy` on test-bed hosts 17–19 (real etcd, containerd, nginx;
//! doubles for the Kubernetes server binaries): stop leaves every service inactive and
//! disabled, start brings them back with the node Ready, kca-renew puts a new CA on every host
//! (the old admin certificate is refused, the node Ready again), destroy leaves no unit, directory or
//! managed /etc/hosts block on any host, and setup then installs the cluster again cleanly.
//!
//! Hosts 17–19 belong to this file.

mod cluster_common;
use cluster_common::{node_name, sh};
mod support;

use cluster_common::ready;
use ez_cli::cmd::ops::{self, Lifecycle};
use ez_play::RunOptions;
use ez_testbed::{Host, Mode, Testbed};

const MASTER_UNITS: &str = "etcd kube-apiserver kube-controller-manager kube-scheduler kube-lb containerd kubelet kube-proxy";
const NODE_UNITS: &str = "kube-lb containerd kubelet kube-proxy";

async fn setup_all(ctx: &ez_cli::ctx::Ctx, name: &str) {
    for step in ["01", "02", "03", "04", "05", "06", "07"] {
        let opts = RunOptions {
            forks: 30,
            ..Default::default()
        };
        for s in ez_cli::cmd::setup::setup_summaries(ctx, name, step, opts)
            .await
            .unwrap()
        {
            assert!(s.failures().is_empty(), "step {step}: {:?}", s.failures());
        }
    }
}

async fn wait_ready(base: &std::path::Path, name: &str, node: &str) -> String {
    let mut r = String::new();
    for _ in 0..20 {
        r = ready(base, name, node);
        if r == "True" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_start_destroy_and_setup_again() {
    let tb = Testbed::new();
    let idx = [17, 18];
    let _ = tb.down(&idx);
    let Some(hosts) = Testbed::require(&idx, Mode::Systemd) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    if cluster_common::make_k8s_bundle(base).is_none() {
        return;
    }
    let (m, n) = (&hosts[0], &hosts[1]);
    let dir = support::cluster::make_cluster(base, "l", &[m], &[m], &[n]);
    let cfg = std::fs::read_to_string(dir.join("config.yml")).unwrap();
    assert!(cfg.contains("KUBELET_FAIL_CGROUP_V1: true"));
    let cfg = cfg.replace(
        "KUBELET_FAIL_CGROUP_V1: true",
        "KUBELET_FAIL_CGROUP_V1: false",
    );
    std::fs::write(dir.join("config.yml"), cfg).unwrap();
    let ctx = cluster_common::ctx(base);
    setup_all(&ctx, "l").await;
    assert_eq!(ready(base, "l", &node_name(n)), "True");

    // stop: every service inactive and disabled at boot, on both hosts.
    assert_eq!(
        ops::lifecycle_cmd(&ctx, "l", Lifecycle::Stop)
            .await
            .unwrap(),
        0
    );
    for (h, units) in [(m, MASTER_UNITS), (n, NODE_UNITS)] {
        let active = sh(h, &format!("systemctl is-active {units}"));
        assert!(
            active.lines().all(|l| l == "inactive"),
            "{}: {active}",
            h.name
        );
        let enabled = sh(h, &format!("systemctl is-enabled {units}"));
        assert!(
            enabled.lines().all(|l| l == "disabled"),
            "{}: {enabled}",
            h.name
        );
    }

    // start: everything active and enabled again, the node Ready.
    assert_eq!(
        ops::lifecycle_cmd(&ctx, "l", Lifecycle::Start)
            .await
            .unwrap(),
        0
    );
    for (h, units) in [(m, MASTER_UNITS), (n, NODE_UNITS)] {
        let active = sh(h, &format!("systemctl is-active {units}"));
        assert!(
            active.lines().all(|l| l == "active"),
            "{}: {active}",
            h.name
        );
        let enabled = sh(h, &format!("systemctl is-enabled {units}"));
        assert!(
            enabled.lines().all(|l| l == "enabled"),
            "{}: {enabled}",
            h.name
        );
    }
    assert_eq!(wait_ready(base, "l", &node_name(n)).await, "True");

    // kca-renew: a new CA on every host, the old admin certificate refused, the node Ready.
    let serial = |h: &Host| {
        sh(
            h,
            "openssl x509 -noout -serial -in /etc/kubernetes/ssl/ca.pem",
        )
    };
    let before = (serial(m), serial(n));
    let calico_uids = || {
        cluster_common::kubectl(
            base,
            "l",
            &[
                "-n",
                "kube-system",
                "get",
                "pod",
                "-l",
                "k8s-app=calico-node",
                "-o",
                "jsonpath={.items[*].metadata.uid}",
            ],
        )
        .1
    };
    let uids_before = calico_uids();
    assert!(
        !uids_before.trim().is_empty(),
        "no calico-node pod before kca-renew"
    );
    assert_eq!(ops::kca_renew_cmd(&ctx, "l").await.unwrap(), 0);
    // calico: the secret carries the new CA and certificate, its pods were recreated
    let (ok, ca_b64) = cluster_common::kubectl(
        base,
        "l",
        &[
            "-n",
            "kube-system",
            "get",
            "secret",
            "calico-etcd-secrets",
            "-o",
            "jsonpath={.data.etcd-ca}",
        ],
    );
    assert!(ok, "{ca_b64}");
    let decoded = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(ca_b64.trim().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        decoded.stdout,
        std::fs::read(dir.join("ssl/ca.pem")).unwrap(),
        "calico-etcd-secrets still holds the old CA"
    );
    let uids_after = calico_uids();
    assert!(
        uids_before
            .split_whitespace()
            .all(|u| !uids_after.contains(u)),
        "calico-node pods were not recreated: {uids_before} / {uids_after}"
    );
    let after = (serial(m), serial(n));
    assert!(
        after.0.starts_with("serial=") && after.0 == after.1,
        "{after:?}"
    );
    assert_ne!(before.0, after.0, "the CA on the hosts did not change");
    let old_ssl = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("ssl-"))
        .expect("ssl-<timestamp> backup");
    let curl = |ssl: &std::path::Path| {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(dir.join("ssl/ca.pem"))
            .arg("--cert")
            .arg(ssl.join("admin.pem"))
            .arg("--key")
            .arg(ssl.join("admin-key.pem"))
            .arg(format!("https://{}:6443/readyz", m.ip))
            .output()
            .unwrap()
    };
    assert_eq!(
        String::from_utf8_lossy(&curl(&dir.join("ssl")).stdout),
        "ok"
    );
    assert!(
        !curl(&old_ssl).status.success(),
        "the old admin certificate still works"
    );
    assert_eq!(wait_ready(base, "l", &node_name(n)).await, "True");
    let active = sh(m, &format!("systemctl is-active {MASTER_UNITS}"));
    assert!(active.lines().all(|l| l == "active"), "{active}");

    // destroy: no unit, no directory, no managed block left on any host.
    assert_eq!(
        ops::lifecycle_cmd(&ctx, "l", Lifecycle::Destroy)
            .await
            .unwrap(),
        0
    );
    for h in [m, n] {
        let units = sh(
            h,
            "ls /etc/systemd/system/ | grep -E '^(etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kube-lb|containerd|kubelet|kube-proxy)\\.service$'; \
             systemctl list-units --all --no-legend 'etcd*' 'kube*' 'containerd*' | grep -v 'not-found' ; true",
        );
        assert!(units.trim().is_empty(), "{}: units left: {units}", h.name);
        let dirs = sh(
            h,
            "for d in /etc/kubernetes /var/lib/etcd /var/lib/kubelet /var/lib/kube-proxy /etc/kube-lb /etc/containerd \
             /run/containerd /etc/cni /var/lib/cni /opt/cni /opt/kube /root/.kube /var/lib/kubeasz-rs /etc/calico /var/lib/calico \
             /etc/sysctl.d/95-k8s-sysctl.conf /etc/crictl.yaml; do [ -e $d ] && echo $d; done; \
             ls -A /var/lib/containerd; grep -c 'KUBEASZ MANAGED BLOCK' /etc/hosts; true",
        );
        assert_eq!(dirs.trim(), "0", "{}: left behind: {dirs}", h.name);
    }

    // setup again on the destroyed hosts: a clean install, the node Ready.
    setup_all(&ctx, "l").await;
    assert_eq!(wait_ready(base, "l", &node_name(n)).await, "True");
    let active = sh(m, &format!("systemctl is-active {MASTER_UNITS}"));
    assert!(active.lines().all(|l| l == "active"), "{active}");

    let _ = tb.down(&idx);
}
