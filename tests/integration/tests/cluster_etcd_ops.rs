//! etcd day-2 commands on test-bed hosts 13–16 (real etcd over mTLS, doubles for the
//! Kubernetes server binaries): `backup` (snapshot copied to clusters/<c>/backup/), `restore`
//! (a key changed after the backup is back, apiserver and nodes Ready again), `add-etcd` and
//! `del-etcd` (real member add/remove, certificates and apiserver flags updated, inventory
//! changed only on success, kubeasz's refusals with nothing changed, a member that cannot
//! start removed again, a member on a stopped host removed without its cleanup).
//!
//! Hosts 13–16 belong to this file.

mod cluster_common;
use cluster_common::{node_name, sh_status as sh};
mod support;

use cluster_common::ready;
use ez_cli::cmd::ops;
use ez_play::RunOptions;
use ez_testbed::{Host, Mode, Testbed};

const ETCDCTL: &str = "ETCDCTL_API=3 /opt/kube/bin/etcdctl --cacert=/etc/kubernetes/ssl/ca.pem --cert=/etc/kubernetes/ssl/etcd.pem --key=/etc/kubernetes/ssl/etcd-key.pem";

fn etcdctl(h: &Host, args: &str) -> String {
    let (ok, out) = sh(
        h,
        &format!("{ETCDCTL} --endpoints=https://{}:2379 {args}", h.ip),
    );
    assert!(ok, "etcdctl {args} on {}: {out}", h.name);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_restore_add_and_delete_etcd_members() {
    let tb = Testbed::new();
    let idx = [13, 14, 15, 16];
    let _ = tb.down(&idx);
    let Some(mut hosts) = Testbed::require(&idx, Mode::Systemd) else {
        return;
    };
    let extra = hosts.pop().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    if cluster_common::make_k8s_bundle(base).is_none() {
        return;
    }
    let (h13, h14, h15) = (&hosts[0], &hosts[1], &hosts[2]);
    let dir = support::cluster::make_cluster(base, "e", &[h13, h14, h15], &[h13], &[h15]);
    let cfg = std::fs::read_to_string(dir.join("config.yml")).unwrap();
    assert!(cfg.contains("KUBELET_FAIL_CGROUP_V1: true"));
    let cfg = cfg.replace(
        "KUBELET_FAIL_CGROUP_V1: true",
        "KUBELET_FAIL_CGROUP_V1: false",
    );
    std::fs::write(dir.join("config.yml"), cfg).unwrap();
    let ctx = cluster_common::ctx(base);
    // The last member is never deleted (checked before any host is contacted).
    support::cluster::make_cluster(base, "one", &[h13], &[h13], &[h13]);
    assert_eq!(
        ops::del_etcd_cmd(&ctx, "one", &h13.ip.to_string())
            .await
            .unwrap(),
        1
    );
    std::fs::remove_dir_all(base.join("clusters/one")).unwrap();
    for step in ["01", "02", "03", "04", "05"] {
        let opts = RunOptions {
            forks: 30,
            ..Default::default()
        };
        for s in ez_cli::cmd::setup::setup_summaries(&ctx, "e", step, opts)
            .await
            .unwrap()
        {
            assert!(s.failures().is_empty(), "step {step}: {:?}", s.failures());
        }
    }
    assert_eq!(ready(base, "e", &node_name(h15)), "True");

    // backup: a key written before it is in the snapshot.
    etcdctl(h13, "put /ez-test/key before-backup");
    assert_eq!(ops::backup_cmd(&ctx, "e").await.unwrap(), 0);
    let backups: Vec<String> = std::fs::read_dir(dir.join("backup"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let stamped: Vec<&String> = backups
        .iter()
        .filter(|n| n.starts_with("snapshot_") && n.ends_with(".db") && n.len() == 24)
        .collect();
    assert_eq!(stamped.len(), 1, "{backups:?}");
    let latest = std::fs::read(dir.join("backup/snapshot.db")).unwrap();
    assert!(latest.len() > 1000, "snapshot too small: {}", latest.len());
    assert_eq!(
        latest,
        std::fs::read(dir.join("backup").join(stamped[0])).unwrap()
    );
    // No snapshot left on the member.
    assert!(sh(h13, "ls /var/lib/etcd-backup").1.trim().is_empty());

    // Change the key, restore: the value of the backup is back on every member.
    etcdctl(h14, "put /ez-test/key after-backup");
    etcdctl(h13, "put /ez-test/only-after yes");
    assert_eq!(
        ops::restore_cmd(&ctx, "e", Some("no-such.db"))
            .await
            .unwrap(),
        1,
        "a missing snapshot must be refused"
    );
    assert_eq!(ops::restore_cmd(&ctx, "e", None).await.unwrap(), 0);
    for h in [h13, h14, h15] {
        let v = etcdctl(h, "get /ez-test/key --print-value-only");
        assert_eq!(v.trim(), "before-backup", "on {}", h.name);
        let gone = etcdctl(h, "get /ez-test/only-after --print-value-only");
        assert!(gone.trim().is_empty(), "on {}: {gone}", h.name);
    }
    let members = etcdctl(h13, "member list");
    assert_eq!(members.lines().count(), 3, "{members}");
    for h in [h13, h15] {
        let (ok, out) = sh(h, "systemctl is-active kube-lb kubelet kube-proxy");
        assert!(ok, "{}: {out}", h.name);
    }
    let (ok, out) = sh(
        h13,
        "systemctl is-active etcd kube-apiserver kube-controller-manager kube-scheduler",
    );
    assert!(ok, "{out}");
    let mut node_ready = String::new();
    for _ in 0..20 {
        node_ready = ready(base, "e", &node_name(h15));
        if node_ready == "True" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
    assert_eq!(node_ready, "True");

    // add-etcd: refusals first (kubeasz's messages and codes), nothing changed.
    let hosts_file = dir.join("hosts");
    let before = std::fs::read_to_string(&hosts_file).unwrap();
    assert_eq!(
        ops::add_etcd_cmd(&ctx, "e", "10.250.0.300").await.unwrap(),
        1
    );
    assert_eq!(
        ops::add_etcd_cmd(&ctx, "e", &h13.ip.to_string())
            .await
            .unwrap(),
        2
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);
    // A host that refuses the key: refused before any member is added.
    extra
        .ssh("mv /root/.ssh/authorized_keys /root/.ssh/ak.off")
        .unwrap();
    assert_eq!(
        ops::add_etcd_cmd(&ctx, "e", &extra.ip.to_string())
            .await
            .unwrap(),
        1
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);
    assert_eq!(etcdctl(h13, "member list").lines().count(), 3);
    let ak = extra.root_path().join("root/.ssh");
    std::fs::rename(ak.join("ak.off"), ak.join("authorized_keys")).unwrap();

    // A new member that cannot start (its data directory is a file): the member is removed
    // again, the certificate and the inventory are as before.
    let cert_before = std::fs::read(dir.join("ssl/etcd.pem")).unwrap();
    extra.ssh("touch /var/lib/etcd").unwrap();
    assert_eq!(
        ops::add_etcd_cmd(&ctx, "e", &extra.ip.to_string())
            .await
            .unwrap(),
        1
    );
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);
    assert_eq!(
        std::fs::read(dir.join("ssl/etcd.pem")).unwrap(),
        cert_before
    );
    let members = etcdctl(h13, "member list");
    assert_eq!(members.lines().count(), 3, "{members}");
    extra.ssh("rm -f /var/lib/etcd").unwrap();

    // add-etcd of host 16: a fourth member with the data, certificates and flags updated.
    let new_ip = extra.ip.to_string();
    assert_eq!(ops::add_etcd_cmd(&ctx, "e", &new_ip).await.unwrap(), 0);
    let members = etcdctl(h13, "member list");
    assert_eq!(members.lines().count(), 4, "{members}");
    assert!(
        members.contains(&format!("etcd-{new_ip}, https://{new_ip}:2380")),
        "{members}"
    );
    let v = etcdctl(&extra, "get /ez-test/key --print-value-only");
    assert_eq!(v.trim(), "before-backup");
    let inv = std::fs::read_to_string(&hosts_file).unwrap();
    assert!(inv.starts_with(&format!("[etcd]\n{new_ip}\n")), "{inv}");
    for h in [h13, h14, h15, &extra] {
        let (_, unit) = sh(h, "cat /etc/systemd/system/etcd.service");
        assert!(
            unit.contains(&format!("etcd-{new_ip}=https://{new_ip}:2380")),
            "{}: {unit}",
            h.name
        );
        let (_, cert) = sh(
            h,
            "openssl x509 -noout -ext subjectAltName -in /etc/kubernetes/ssl/etcd.pem",
        );
        assert!(
            cert.contains(&format!("IP Address:{new_ip}")),
            "{}: {cert}",
            h.name
        );
    }
    let (_, api) = sh(h13, "cat /etc/systemd/system/kube-apiserver.service");
    assert!(api.contains(&format!("https://{new_ip}:2379")), "{api}");

    // del-etcd: refusals, then host 14 removed for real.
    let before = std::fs::read_to_string(&hosts_file).unwrap();
    assert_eq!(
        ops::del_etcd_cmd(&ctx, "e", "10.250.0.99").await.unwrap(),
        2
    );
    assert_eq!(ops::del_etcd_cmd(&ctx, "e", "not-an-ip").await.unwrap(), 2);
    assert_eq!(std::fs::read_to_string(&hosts_file).unwrap(), before);
    let gone = h14.ip.to_string();
    assert_eq!(ops::del_etcd_cmd(&ctx, "e", &gone).await.unwrap(), 0);
    let members = etcdctl(h13, "member list");
    assert_eq!(members.lines().count(), 3, "{members}");
    assert!(!members.contains(&gone), "{members}");
    let (_, left) = sh(
        h14,
        "ls /etc/systemd/system/etcd.service /var/lib/etcd 2>&1; systemctl is-active etcd",
    );
    assert!(
        left.contains("No such file") && left.trim_end().ends_with("inactive"),
        "{left}"
    );
    let inv = std::fs::read_to_string(&hosts_file).unwrap();
    let etcd_section = inv.split("[kube_master]").next().unwrap();
    assert!(!etcd_section.contains(&gone), "{inv}");
    let (_, api) = sh(h13, "cat /etc/systemd/system/kube-apiserver.service");
    assert!(!api.contains(&format!("https://{gone}:2379")), "{api}");
    let (_, cert) = sh(
        h13,
        "openssl x509 -noout -ext subjectAltName -in /etc/kubernetes/ssl/etcd.pem",
    );
    assert!(!cert.contains(&format!("IP Address:{gone},")), "{cert}");
    let v = etcdctl(h15, "get /ez-test/key --print-value-only");
    assert_eq!(v.trim(), "before-backup");
    let (ok, out) = sh(
        h13,
        "/opt/kube/bin/kubectl --kubeconfig=/root/.kube/config --request-timeout=10s get --raw /readyz",
    );
    assert!(ok && out.trim() == "ok", "{out}");

    // del-etcd of a member whose host is down (the usual reason to remove one): the member is
    // removed through a healthy one, its files stay, the rest converges.
    extra.stop().unwrap();
    assert_eq!(ops::del_etcd_cmd(&ctx, "e", &new_ip).await.unwrap(), 0);
    let members = etcdctl(h13, "member list");
    assert_eq!(members.lines().count(), 2, "{members}");
    assert!(!members.contains(&new_ip), "{members}");
    let inv = std::fs::read_to_string(&hosts_file).unwrap();
    assert!(!inv.contains(&new_ip), "{inv}");
    let (_, api) = sh(h13, "cat /etc/systemd/system/kube-apiserver.service");
    assert!(!api.contains(&format!("https://{new_ip}:2379")), "{api}");
    for h in [h13, h15] {
        let (_, unit) = sh(h, "cat /etc/systemd/system/etcd.service");
        assert!(!unit.contains(&new_ip), "{}: {unit}", h.name);
    }
    assert_eq!(
        etcdctl(h15, "get /ez-test/key --print-value-only").trim(),
        "before-backup"
    );

    let _ = tb.down(&idx);
}
