//! `ezctl new` then `ezctl render`: every file the playbooks would lay down, per host, from
//! the deploy host alone (no host is contacted: the inventory's addresses are unreachable
//! documentation addresses), private keys never written.

use clap::Parser;
use std::path::Path;

async fn ezctl(base: &Path, args: &[&str]) -> u8 {
    let mut argv = vec!["ezctl", "--yes", "--base", base.to_str().unwrap()];
    argv.extend_from_slice(args);
    ez_cli::run_ezctl(ez_cli::EzctlCli::parse_from(argv))
        .await
        .unwrap()
}

#[tokio::test]
async fn render_writes_units_configs_and_certificates_but_no_private_key() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    // A bundle with two etcd binaries is enough for the etcd step's file list.
    std::fs::create_dir_all(base.join("bin")).unwrap();
    std::fs::write(base.join("bin/etcd"), b"etcd").unwrap();
    std::fs::write(base.join("bin/etcdctl"), b"etcdctl").unwrap();
    assert_eq!(ezctl(base, &["new", "r1"]).await, 0);
    let out = base.join("out");
    assert_eq!(
        ezctl(base, &["render", "r1", "--out", out.to_str().unwrap()]).await,
        0
    );

    // hosts.multi-node: etcd on 192.168.1.1-3, masters 1-3, nodes 4-5
    let etcd_unit =
        std::fs::read_to_string(out.join("192.168.1.2/etc/systemd/system/etcd.service")).unwrap();
    assert!(etcd_unit.contains("--name=etcd-192.168.1.2"), "{etcd_unit}");
    assert!(etcd_unit.contains("--initial-cluster=etcd-192.168.1.1=https://192.168.1.1:2380,etcd-192.168.1.2=https://192.168.1.2:2380,etcd-192.168.1.3=https://192.168.1.3:2380"));
    assert!(
        out.join("192.168.1.4/etc/sysctl.d/95-k8s-sysctl.conf")
            .is_file()
    );
    assert!(out.join("192.168.1.4/etc/containerd/config.toml").is_file());
    assert!(
        !out.join("192.168.1.4/etc/systemd/system/etcd.service")
            .exists(),
        "a worker got the etcd unit"
    );
    // certificates are shown (they are public), keys never
    let ca = std::fs::read_to_string(out.join("192.168.1.1/etc/kubernetes/ssl/ca.pem")).unwrap();
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let mut keys = Vec::new();
    for entry in walk(&out) {
        let text = std::fs::read(&entry).unwrap_or_default();
        if String::from_utf8_lossy(&text).contains("PRIVATE KEY") {
            keys.push(entry);
        }
    }
    assert!(keys.is_empty(), "private keys written by render: {keys:?}");
    let secrets = std::fs::read_to_string(out.join("192.168.1.1/.secrets")).unwrap();
    assert!(
        secrets.contains("/etc/kubernetes/ssl/etcd-key.pem"),
        "{secrets}"
    );
}

#[tokio::test]
async fn unknown_step_and_missing_cluster_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let err = ez_cli::run_ezctl(ez_cli::EzctlCli::parse_from([
        "ezctl",
        "--yes",
        "--base",
        base.to_str().unwrap(),
        "render",
        "nope",
    ]))
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("ezctl new nope"), "{err:#}");
    assert_eq!(ezctl(base, &["new", "r2"]).await, 0);
    let err = ez_cli::run_ezctl(ez_cli::EzctlCli::parse_from([
        "ezctl",
        "--yes",
        "--base",
        base.to_str().unwrap(),
        "setup",
        "r2",
        "42",
    ]))
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("unknown step `42`"), "{err:#}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
