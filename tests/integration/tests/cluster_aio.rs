//! `ezctl start-aio` on test-bed host 41, then `add-node` of host 42, with the bundle of
//! `cluster_common` (real etcd/containerd/runc/CNI/nginx/kubectl, doubles for the Kubernetes
//! server binaries). Checks: every unit active, apiserver /readyz with the admin certificate
//! (and refused without one), both nodes Ready through the API; adding an existing node is
//! refused (rc 2); add-node to a stopped host leaves cluster and inventory as they were; a
//! failed add-node leaves the inventory and a re-run converges; del-node then add-node of
//! the same host works; `--ask-pass` authorizes the deploy key with a password (a wrong one
//! is refused). Steps 06/07 (start-aio runs 01–07, add-node includes the network role):
//! calico's secret and config, calico-node Running on both nodes, coredns, node-local-dns and
//! metrics-server running from the bundle's images (the kubelet double starts a container from
//! each image through containerd), calicoctl.cfg on the nodes; an image missing from a node's
//! containerd leaves its pod in ErrImageNeverPull until it is imported; re-runs of 04–07
//! change nothing.
//!
//! Hosts 41–43 belong to this file.

mod cluster_common;
mod support;

use cluster_common::{kubectl, pod_status, ready};
use ez_cli::cmd::ops::{self, StartAio};
use ez_testbed::{Mode, Testbed};
use std::process::Command;

fn active(h: &ez_testbed::Host, units: &str) -> (bool, String) {
    let out = h.ssh(&format!("systemctl is-active {units}")).unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn start_aio_then_add_and_delete_nodes() {
    let tb = Testbed::new();
    let _ = tb.down(&[41, 42, 43]);
    let Some(hosts) = Testbed::require(&[41, 42, 43], Mode::Systemd) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    if cluster_common::make_k8s_bundle(base).is_none() {
        return;
    }
    let ctx = cluster_common::ctx(base);
    let (h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2]);
    let (n1, n2) = (
        format!("k8s-{}", h1.ip.to_string().replace('.', "-")),
        format!("k8s-{}", h2.ip.to_string().replace('.', "-")),
    );

    // start-aio on host 41. The test bed is cgroup v1: a real kubelet 1.36 (failCgroupV1:
    // true, kubeasz's default) refuses it, and so does the double, hence the override.
    let aio = StartAio {
        ip: Some(h1.ip.into()),
        ssh_key: Some(tb.client_key()),
        extra: vec!["KUBELET_FAIL_CGROUP_V1=false".into()],
        network: None,
    };
    assert_eq!(
        ops::start_aio(&ctx, &aio).await.unwrap(),
        0,
        "start-aio failed"
    );
    let (ok, out) = active(
        h1,
        "etcd containerd kube-lb kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy",
    );
    assert!(ok, "units on {}: {out}", h1.name);
    // A second start-aio is refused as in kubeasz.
    assert_eq!(ops::start_aio(&ctx, &aio).await.unwrap(), 1);

    // /readyz from this machine with the admin certificate, refused without a client certificate.
    let ssl = base.join("clusters/default/ssl");
    let url = format!("https://{}:6443/readyz", h1.ip);
    let curl = |with_cert: bool| {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "10", "--cacert"])
            .arg(ssl.join("ca.pem"));
        if with_cert {
            c.arg("--cert")
                .arg(ssl.join("admin.pem"))
                .arg("--key")
                .arg(ssl.join("admin-key.pem"));
        }
        let o = c.arg(&url).output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert_eq!(curl(true), (true, "ok".to_string()));
    assert!(
        !curl(false).0,
        "the apiserver accepted a client without a certificate"
    );
    assert_eq!(ready(base, "default", &n1), "True");
    let (ok, out) = kubectl(
        base,
        "default",
        &[
            "get",
            "clusterrolebinding",
            "kubernetes-crb",
            "-o",
            "jsonpath={.roleRef.name}",
        ],
    );
    assert!(ok && out == "system:kubelet-api-admin", "{out}");

    // Step 06: calico's secret holds calico's certificate; its config and calicoctl.cfg are there.
    let (ok, cert) = kubectl(
        base,
        "default",
        &[
            "-n",
            "kube-system",
            "get",
            "secret",
            "calico-etcd-secrets",
            "-o",
            "jsonpath={.data.etcd-cert}",
        ],
    );
    let pem = std::fs::read(ssl.join("calico.pem")).unwrap();
    let decoded = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(cert.as_bytes()).unwrap();
            c.wait_with_output().unwrap().stdout
        })
        .unwrap();
    assert!(ok && decoded == pem, "secret calico-etcd-secrets: {cert}");
    let (ok, out) = kubectl(
        base,
        "default",
        &[
            "-n",
            "kube-system",
            "get",
            "configmap",
            "calico-config",
            "-o",
            "jsonpath={.data.etcd_endpoints}",
        ],
    );
    assert!(ok && out == format!("https://{}:2379", h1.ip), "{out}");
    let out = h1.ssh("grep -c etcdv3 /etc/calico/calicoctl.cfg; test ! -e /etc/cni/net.d/10-default.conf && echo no-bootstrap-cni").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\nno-bootstrap-cni\n"
    );
    // Pods from the bundle's images, started by the kubelet double through containerd.
    assert_eq!(
        pod_status(base, "default", "k8s-app=calico-node", &n1),
        "Running"
    );
    for app in [
        "kube-dns",
        "node-local-dns",
        "metrics-server",
        "calico-kube-controllers",
    ] {
        assert_eq!(
            pod_status(base, "default", &format!("k8s-app={app}"), &n1),
            "Running",
            "{app}"
        );
    }
    let out = h1
        .ssh("journalctl -u kubelet --no-pager | grep -c 'started from a bundle image on'")
        .unwrap();
    let started: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(started >= 6, "containers started on {}: {started}", h1.name);
    // containerd finds its sandbox image under SANDBOX_IMAGE (tagged in step 03).
    let out = h1.ssh("/opt/kube/bin/containerd-bin/ctr -n k8s.io images ls -q | grep -c '^easzlab.io.local:5000/easzlab/pause:'").unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // The bundle's images are pinned: kubelet's image garbage collection keeps them.
    let out = h1
        .ssh("/opt/kube/bin/containerd-bin/ctr -n k8s.io images ls | grep -c 'io.cri-containerd.pinned=pinned'")
        .unwrap();
    let pinned: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(pinned >= 6, "pinned images on {}: {pinned}", h1.name);

    // Same node again: refused with kubeasz's message and rc 2, inventory untouched.
    let hosts_file = base.join("clusters/default/hosts");
    let before = std::fs::read_to_string(&hosts_file).unwrap();
    assert_eq!(
        ops::add_node_cmd(&ctx, "default", &h1.ip.to_string())
            .await
            .unwrap(),
        2
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);

    // A host that refuses the deploy key: nothing changes (the message tells how to authorize it).
    h3.ssh("mv /root/.ssh/authorized_keys /root/.ssh/authorized_keys.off")
        .unwrap();
    assert_eq!(
        ops::add_node_cmd(&ctx, "default", &h3.ip.to_string())
            .await
            .unwrap(),
        1
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);

    let ak = h3.root_path().join("root/.ssh");
    std::fs::rename(ak.join("authorized_keys.off"), ak.join("authorized_keys")).unwrap();

    // A stopped host: nothing changes, neither the inventory nor the cluster.
    h3.stop().unwrap();
    assert_eq!(
        ops::add_node_cmd(&ctx, "default", &h3.ip.to_string())
            .await
            .unwrap(),
        1
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);
    assert!(
        !base
            .join(format!(
                "clusters/default/ssl/k8s-{}-kubelet.pem",
                h3.ip.to_string().replace('.', "-")
            ))
            .exists(),
        "certificates made for an unreachable node"
    );
    assert_eq!(curl(true), (true, "ok".to_string()));

    // add-node of host 42.
    assert_eq!(
        ops::add_node_cmd(&ctx, "default", &h2.ip.to_string())
            .await
            .unwrap(),
        0,
        "add-node failed"
    );
    let after = std::fs::read_to_string(&hosts_file).unwrap();
    assert!(
        after.contains(&format!("[kube_node]\n{}\n", h2.ip)),
        "{after}"
    );
    let (ok, out) = active(h2, "containerd kube-lb kubelet kube-proxy");
    assert!(ok, "units on {}: {out}", h2.name);
    assert_eq!(ready(base, "default", &n2), "True");
    let (ok, table) = kubectl(base, "default", &["get", "nodes"]);
    assert!(ok && table.contains(&n1) && table.contains(&n2), "{table}");
    // The new node's kube-lb balances to the master: the kubelet reached the API through it.
    let out = h2.ssh("/opt/kube/bin/kubectl --kubeconfig=/root/.kube/config --server=https://127.0.0.1:6443 get --raw /readyz").unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
    // The network role ran on the new node: calico-node Running there, calicoctl.cfg. The role
    // waited for its calico-node; a DaemonSet pod can still be replaced right after (seen
    // Pending once under CI load), so both are polled like the kubelet would be.
    let running = |selector: &str| {
        let mut status = String::new();
        for _ in 0..30 {
            status = pod_status(base, "default", selector, &n2);
            if status == "Running" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        status
    };
    assert_eq!(running("k8s-app=calico-node"), "Running");
    assert_eq!(running("k8s-app=node-local-dns"), "Running");
    assert!(
        h2.ssh("test -s /etc/calico/calicoctl.cfg && test -s /etc/calico/ssl/calico-key.pem")
            .unwrap()
            .status
            .success()
    );
    // An image that is not in the node's containerd: the pod waits in ErrImageNeverPull
    // (nothing is pulled); once the bundle's tar is imported again, it runs.
    let ctr = "/opt/kube/bin/containerd-bin/ctr -n k8s.io";
    let out = h2
        .ssh(&format!(
            "{ctr} images rm docker.io/calico/node:{v}",
            v = ez_inventory::VersionTable::default().calico
        ))
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, out) = kubectl(
        base,
        "default",
        &[
            "-n",
            "kube-system",
            "delete",
            "pod",
            "-l",
            "k8s-app=calico-node",
            "--field-selector",
            &format!("spec.nodeName={n2}"),
        ],
    );
    assert!(ok, "{out}");
    let mut status = String::new();
    for _ in 0..40 {
        status = pod_status(base, "default", "k8s-app=calico-node", &n2);
        if status == "ErrImageNeverPull" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert_eq!(status, "ErrImageNeverPull");
    let out = h2
        .ssh(&format!(
            "{ctr} images import /opt/kube/images/node_{v}.tar",
            v = ez_inventory::VersionTable::default().calico
        ))
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for _ in 0..40 {
        status = pod_status(base, "default", "k8s-app=calico-node", &n2);
        if status == "Running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert_eq!(status, "Running");

    // del-node, then the node is gone from the API and the inventory, its services stopped.
    assert_eq!(
        ops::del_node_cmd(&ctx, "default", &h2.ip.to_string())
            .await
            .unwrap(),
        0
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);
    let (ok, out) = kubectl(base, "default", &["get", "node", &n2]);
    assert!(!ok && out.contains("NotFound"), "{out}");
    assert!(!active(h2, "kubelet").0);
    assert_eq!(
        ops::del_node_cmd(&ctx, "default", &h2.ip.to_string())
            .await
            .unwrap(),
        2,
        "deleting a node twice"
    );
    assert_eq!(
        ops::del_node_cmd(&ctx, "default", &h1.ip.to_string())
            .await
            .unwrap(),
        1,
        "the last master was deleted"
    );

    // Re-adding it fails once (a file where kube-lb's directory goes), the inventory stays;
    // after the fix the re-run converges.
    h2.ssh("rm -rf /etc/kube-lb && touch /etc/kube-lb").unwrap();
    assert_eq!(
        ops::add_node_cmd(&ctx, "default", &h2.ip.to_string())
            .await
            .unwrap(),
        1
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);
    h2.ssh("rm -f /etc/kube-lb").unwrap();
    assert_eq!(
        ops::add_node_cmd(&ctx, "default", &h2.ip.to_string())
            .await
            .unwrap(),
        0,
        "re-run after a failure"
    );
    assert_eq!(ready(base, "default", &n2), "True");
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), after);

    // Steps 04 to 07 on the converged cluster change nothing.
    for step in ["04", "05", "06", "07"] {
        let opts = ez_play::RunOptions {
            forks: 30,
            ..Default::default()
        };
        for s in ez_cli::cmd::setup::setup_summaries(&ctx, "default", step, opts)
            .await
            .unwrap()
        {
            assert!(
                s.failures().is_empty(),
                "re-run of {step}: {:?}",
                s.failures()
            );
            assert_eq!(s.changed(), 0, "re-run of {step} changed something: {s:?}");
        }
    }

    // --ask-pass: host 43 lets root in with a password only; add-node installs the deploy
    // key with it, then runs with the key.
    h3.start(Mode::Systemd).unwrap();
    let out = h3
        .ssh("echo root:ez-test-pass | chpasswd && printf 'PermitRootLogin yes\nPasswordAuthentication yes\n' > /etc/ssh/sshd_config.d/00-ez-test.conf && systemctl reload ssh && mv /root/.ssh/authorized_keys /root/.ssh/authorized_keys.off")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ip3 = h3.ip.to_string();
    assert_eq!(
        ops::add_node_cmd(&ctx, "default", &ip3).await.unwrap(),
        1,
        "the key is not authorized yet"
    );
    assert_eq!(
        ops::add_node_with_password(&ctx, "default", &ip3, "wrong")
            .await
            .ok(),
        None,
        "a wrong password was accepted"
    );
    assert_eq!(
        ops::add_node_with_password(&ctx, "default", &ip3, "ez-test-pass")
            .await
            .unwrap(),
        0
    );
    let n3 = format!("k8s-{}", ip3.replace('.', "-"));
    assert_eq!(ready(base, "default", &n3), "True");
    let _ = tb.down(&[41, 42, 43]);
}
