//! `ezctl setup` 01–07 on a cluster with two masters and one worker (test-bed hosts 44–46):
//! kube-lb on every host balances to both apiservers, both apiservers share the nodes through
//! etcd, every node is Ready; a master's apiserver stopping does not cut the worker off (kube-lb
//! fails over); calico-node runs on every node and coredns on one, from the bundle's images;
//! a second run of 04–07 changes nothing; `add-nodes` of a fourth host joins it behind both
//! masters, with its own calico-node.
//!
//! Hosts 44–47 belong to this file.

mod cluster_common;
mod support;

use cluster_common::{kubectl, pod_status, ready};
use ez_play::RunOptions;
use ez_testbed::{Mode, Testbed};

fn opts() -> RunOptions {
    RunOptions {
        forks: 30,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_masters_one_worker_through_kube_lb() {
    let tb = Testbed::new();
    let _ = tb.down(&[44, 45, 46, 47]);
    let Some(mut hosts) = Testbed::require(&[44, 45, 46, 47], Mode::Systemd) else {
        return;
    };
    let extra = hosts.pop().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    if cluster_common::make_k8s_bundle(base).is_none() {
        return;
    }
    let all: Vec<&_> = hosts.iter().collect();
    let dir = support::cluster::make_cluster(base, "m", &all[..1], &all[..2], &all[2..]);
    // cgroup v1 test bed: see cluster_aio.rs.
    let cfg = std::fs::read_to_string(dir.join("config.yml")).unwrap();
    assert!(cfg.contains("KUBELET_FAIL_CGROUP_V1: true"));
    let cfg = cfg.replace(
        "KUBELET_FAIL_CGROUP_V1: true",
        "KUBELET_FAIL_CGROUP_V1: false",
    );
    std::fs::write(dir.join("config.yml"), cfg).unwrap();
    let ctx = cluster_common::ctx(base);

    for step in ["01", "02", "03", "04", "05", "06", "07"] {
        for s in ez_cli::cmd::setup::setup_summaries(&ctx, "m", step, opts())
            .await
            .unwrap()
        {
            assert!(s.failures().is_empty(), "step {step}: {:?}", s.failures());
        }
    }
    let name = |h: &ez_testbed::Host| format!("k8s-{}", h.ip.to_string().replace('.', "-"));
    for h in &hosts {
        assert_eq!(ready(base, "m", &name(h)), "True", "{}", h.name);
    }
    for h in &hosts {
        assert_eq!(
            pod_status(base, "m", "k8s-app=calico-node", &name(h)),
            "Running",
            "{}",
            h.name
        );
    }
    let (ok, out) = kubectl(
        base,
        "m",
        &[
            "-n",
            "kube-system",
            "get",
            "deploy",
            "coredns",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ],
    );
    assert!(ok && out == "1", "{out}");
    // Both apiservers serve the same three nodes (they live in etcd).
    for m in &hosts[..2] {
        let (ok, out) = kubectl(
            base,
            "m",
            &[
                "--server",
                &format!("https://{}:6443", m.ip),
                "get",
                "nodes",
                "-o",
                "name",
            ],
        );
        assert!(ok, "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");
    }
    // Roles: masters labelled master, the worker node.
    let (_, role) = kubectl(
        base,
        "m",
        &[
            "get",
            "node",
            &name(&hosts[2]),
            "-o",
            "jsonpath={.metadata.labels.kubernetes\\.io/role}",
        ],
    );
    assert_eq!(role, "node");
    let (_, role) = kubectl(
        base,
        "m",
        &[
            "get",
            "node",
            &name(&hosts[0]),
            "-o",
            "jsonpath={.metadata.labels.kubernetes\\.io/role}",
        ],
    );
    assert_eq!(role, "master");
    // The worker's kube-lb lists both masters.
    let conf = hosts[2].ssh("cat /etc/kube-lb/conf/kube-lb.conf").unwrap();
    let conf = String::from_utf8_lossy(&conf.stdout);
    for m in &hosts[..2] {
        assert!(conf.contains(&format!("server {}:6443", m.ip)), "{conf}");
    }
    // Stop the first master's apiserver: the worker still reaches an apiserver through kube-lb.
    hosts[0].ssh("systemctl stop kube-apiserver").unwrap();
    let via_lb = "/opt/kube/bin/kubectl --kubeconfig=/root/.kube/config --server=https://127.0.0.1:6443 --request-timeout=5s get --raw /readyz";
    let mut answered = 0;
    for _ in 0..4 {
        let out = hosts[2].ssh(via_lb).unwrap();
        if String::from_utf8_lossy(&out.stdout) == "ok" {
            answered += 1;
        }
    }
    assert_eq!(
        answered, 4,
        "kube-lb did not fail over to the second master"
    );
    hosts[0].ssh("systemctl start kube-apiserver").unwrap();

    // Converged: 04 to 07 again change nothing (the apiserver is running again).
    for step in ["04", "05", "06", "07"] {
        for s in ez_cli::cmd::setup::setup_summaries(&ctx, "m", step, opts())
            .await
            .unwrap()
        {
            assert!(s.failures().is_empty(), "re-run {step}: {:?}", s.failures());
            assert_eq!(s.changed(), 0, "re-run of {step} changed something: {s:?}");
        }
    }

    // add-nodes of host 47: Ready, in the inventory, its kube-lb in front of both masters.
    let ip = extra.ip.to_string();
    assert_eq!(
        ez_cli::cmd::ops::add_nodes_cmd(&ctx, "m", std::slice::from_ref(&ip))
            .await
            .unwrap(),
        0
    );
    assert_eq!(ready(base, "m", &name(&extra)), "True");
    assert_eq!(
        pod_status(base, "m", "k8s-app=calico-node", &name(&extra)),
        "Running"
    );
    let inv = std::fs::read_to_string(dir.join("hosts")).unwrap();
    assert!(inv.contains(&format!("[kube_node]\n{ip}\n")), "{inv}");
    let conf = extra.ssh("cat /etc/kube-lb/conf/kube-lb.conf").unwrap();
    let conf = String::from_utf8_lossy(&conf.stdout);
    assert!(
        hosts[..2]
            .iter()
            .all(|m| conf.contains(&format!("server {}:6443", m.ip))),
        "{conf}"
    );
    // Every host's /etc/hosts now names the new node.
    for h in &hosts {
        let out = h
            .ssh(&format!(
                "grep -cx '{ip}    {} # generated by kubeasz' /etc/hosts",
                name(&extra)
            ))
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1",
            "{}",
            h.name
        );
    }
    let _ = tb.down(&[44, 45, 46, 47]);
}
