//! `ezctl add-master`, `upgrade` and `del-master` on test-bed hosts 19, 20 and 36 (real etcd,
//! containerd, nginx as kube-lb, kubectl; doubles for the Kubernetes server binaries, whose
//! version the test stamps to make the "new binaries" of an upgrade). Checks kubeasz's
//! refusals (nothing changed), a second master serving the cluster with every kube-lb listing
//! both masters, the upgrade refused at the running version and then rolled out (every
//! binary and every Node's kubeletVersion at the new version, nodes Ready), and the master
//! removed again with every kube-lb back to one backend; then del-node of the worker and
//! add-node of the same host again.
//!
//! Hosts 19, 20 and 36 belong to this file.

mod cluster_common;
use cluster_common::{node_name, sh};
mod support;

use cluster_common::{kubectl, ready};
use ez_cli::cmd::ops;
use ez_play::RunOptions;
use ez_testbed::{Host, Mode, Testbed};
use std::io::Write;

async fn wait_ready(base: &std::path::Path, node: &str) -> String {
    let mut r = String::new();
    for _ in 0..20 {
        r = ready(base, "m", node);
        if r == "True" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    r
}

fn lb_backends(h: &Host) -> Vec<String> {
    sh(h, "cat /etc/kube-lb/conf/kube-lb.conf")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .filter(|b| b.contains(':'))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_master_upgrade_and_delete_master() {
    let tb = Testbed::new();
    let idx = [19, 20, 36];
    let _ = tb.down(&idx);
    let Some(hosts) = Testbed::require(&idx, Mode::Systemd) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    if cluster_common::make_k8s_bundle(base).is_none() {
        return;
    }
    let (m1, w, m2) = (&hosts[0], &hosts[1], &hosts[2]);
    let dir = support::cluster::make_cluster(base, "m", &[m1], &[m1], &[m1, w]);
    let cfg = std::fs::read_to_string(dir.join("config.yml")).unwrap();
    assert!(cfg.contains("KUBELET_FAIL_CGROUP_V1: true"));
    let cfg = cfg.replace(
        "KUBELET_FAIL_CGROUP_V1: true",
        "KUBELET_FAIL_CGROUP_V1: false",
    );
    std::fs::write(dir.join("config.yml"), cfg).unwrap();
    let ctx = cluster_common::ctx(base);
    for step in ["01", "02", "03", "04", "05", "06", "07"] {
        let opts = RunOptions {
            forks: 30,
            ..Default::default()
        };
        for s in ez_cli::cmd::setup::setup_summaries(&ctx, "m", step, opts)
            .await
            .unwrap()
        {
            assert!(s.failures().is_empty(), "step {step}: {:?}", s.failures());
        }
    }
    let (ip1, ipw, ip2) = (m1.ip.to_string(), w.ip.to_string(), m2.ip.to_string());

    // Refusals: kubeasz's messages and codes, nothing changed.
    let hosts_file = dir.join("hosts");
    let before = std::fs::read_to_string(&hosts_file).unwrap();
    assert_eq!(ops::add_master_cmd(&ctx, "m", &ip1).await.unwrap(), 2);
    assert_eq!(
        ops::add_master_cmd(&ctx, "m", "10.250.0.").await.unwrap(),
        1
    );
    assert_eq!(ops::del_master_cmd(&ctx, "m", &ipw).await.unwrap(), 2);
    assert_eq!(ops::del_master_cmd(&ctx, "m", &ip1).await.unwrap(), 1);
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);

    // add-master of host 36: it serves, it is a Ready node, every kube-lb lists both masters.
    assert_eq!(ops::add_master_cmd(&ctx, "m", &ip2).await.unwrap(), 0);
    let inv = std::fs::read_to_string(&hosts_file).unwrap();
    assert!(
        inv.contains(&format!("[kube_master]\n{ip2}\n{ip1}\n")),
        "{inv}"
    );
    let (ok, out) = kubectl(
        base,
        "m",
        &[
            "--server",
            &format!("https://{ip2}:6443"),
            "get",
            "--raw",
            "/readyz",
        ],
    );
    assert!(ok && out == "ok", "{out}");
    assert_eq!(wait_ready(base, &node_name(m2)).await, "True");
    for h in [m1, w, m2] {
        let mut b = lb_backends(h);
        b.sort();
        let mut want = vec![format!("{ip1}:6443"), format!("{ip2}:6443")];
        want.sort();
        assert_eq!(b, want, "kube-lb of {}", h.name);
    }

    // upgrade: refused at the running version, nothing changed.
    let version = |h: &Host, bin: &str| sh(h, &format!("/opt/kube/bin/{bin} --version"));
    assert!(version(m1, "kube-apiserver").contains("v1.36.3"));
    assert_eq!(ops::upgrade_cmd(&ctx, "m").await.unwrap(), 1);
    assert!(version(m1, "kube-apiserver").contains("v1.36.3"));
    // New binaries in the bundle (the doubles stamped as v1.36.99), rolled out.
    for b in cluster_common::DOUBLES {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(base.join("bin").join(b))
            .unwrap();
        f.write_all(b"\nKUBE_DOUBLE_VERSION=v1.36.99\n").unwrap();
    }
    assert_eq!(ops::upgrade_cmd(&ctx, "m").await.unwrap(), 0);
    for h in [m1, m2] {
        for b in [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
        ] {
            assert!(version(h, b).contains("v1.36.99"), "{} {b}", h.name);
        }
    }
    for h in [m1, w, m2] {
        for b in ["kubelet", "kube-proxy"] {
            assert!(version(h, b).contains("v1.36.99"), "{} {b}", h.name);
        }
        let active = sh(h, "systemctl is-active kubelet kube-proxy kube-lb");
        assert!(
            active.lines().all(|l| l == "active"),
            "{}: {active}",
            h.name
        );
        assert_eq!(wait_ready(base, &node_name(h)).await, "True", "{}", h.name);
        let (_, kv) = kubectl(
            base,
            "m",
            &[
                "get",
                "node",
                &node_name(h),
                "-o",
                "jsonpath={.status.nodeInfo.kubeletVersion}",
            ],
        );
        assert_eq!(kv, "v1.36.99", "{}", h.name);
    }
    let (_, v) = kubectl(base, "m", &["get", "--raw", "/version"]);
    assert!(v.contains("v1.36.99"), "{v}");

    // del-master of host 36: gone from the API, its services removed, kube-lb back to one.
    assert_eq!(ops::del_master_cmd(&ctx, "m", &ip2).await.unwrap(), 0);
    let inv = std::fs::read_to_string(&hosts_file).unwrap();
    assert!(!inv.contains(&ip2), "{inv}");
    let (ok, out) = kubectl(base, "m", &["get", "node", &node_name(m2)]);
    assert!(!ok && out.contains("NotFound"), "{out}");
    for h in [m1, w] {
        assert_eq!(
            lb_backends(h),
            vec![format!("{ip1}:6443")],
            "kube-lb of {}",
            h.name
        );
        let hosts = sh(h, "cat /etc/hosts");
        assert!(!hosts.contains(&node_name(m2)), "{}: {hosts}", h.name);
    }
    let left = sh(
        m2,
        "ls /etc/systemd/system/kube-apiserver.service /etc/systemd/system/kubelet.service 2>&1; systemctl is-active kube-apiserver kubelet",
    );
    assert_eq!(left.matches("No such file").count(), 2, "{left}");
    assert!(!left.contains("\nactive"), "{left}");
    assert_eq!(wait_ready(base, &node_name(w)).await, "True");

    // del-node (32.delnode.yml) of the worker, then add-node of the same host again.
    assert_eq!(ops::del_node_cmd(&ctx, "m", &ipw).await.unwrap(), 0);
    let (ok, out) = kubectl(base, "m", &["get", "node", &node_name(w)]);
    assert!(!ok && out.contains("NotFound"), "{out}");
    let left = sh(
        w,
        "systemctl is-active kubelet kube-proxy kube-lb; ls /etc/kube-lb /var/lib/kubelet 2>&1",
    );
    assert!(!left.lines().any(|l| l == "active"), "{left}");
    assert_eq!(left.matches("No such file").count(), 2, "{left}");
    let inv = std::fs::read_to_string(&hosts_file).unwrap();
    assert!(!inv.contains(&format!("\n{ipw}\n")), "{inv}");
    assert_eq!(ops::del_node_cmd(&ctx, "m", &ipw).await.unwrap(), 2);
    assert_eq!(ops::add_node_cmd(&ctx, "m", &ipw).await.unwrap(), 0);
    assert_eq!(wait_ready(base, &node_name(w)).await, "True");
    let inv = std::fs::read_to_string(&hosts_file).unwrap();
    assert!(
        inv.contains(&format!("[kube_node]\n{ipw}\n{ip1}\n")),
        "{inv}"
    );

    let _ = tb.down(&idx);
}
