//! Cluster folders as kubeasz 3.6 and 3.7 write them load as they are.

use std::path::Path;

use ez_inventory::{Severity, load_cluster};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn kubeasz_3_7_folder_loads_cleanly() {
    let c = match load_cluster(&fixture("kubeasz-3.7")) {
        Ok(c) => c,
        Err(d) => panic!("{d}"),
    };
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.name, "kubeasz-3.7");
    assert_eq!(c.config.k8s_ver, "1.36.3");
    assert_eq!(c.derived.proxy_mode, "nftables");
    // `_` becomes `-` in k8s_nodename, as kubeasz's template does.
    let w2 = c.host("192.168.1.5").expect("worker 2");
    assert_eq!(w2.node_name, "worker-02");
    let ssh = w2.ssh_vars();
    assert_eq!(
        ssh.get("ansible_ssh_port").map(String::as_str),
        Some("2222")
    );
    assert_eq!(ssh.get("ansible_user").map(String::as_str), Some("ops"));
    assert_eq!(ssh.get("ansible_become").map(String::as_str), Some("true"));
    assert!(!ssh.contains_key("ansible_python_interpreter"));
    assert_eq!(
        c.host_vars("192.168.1.5")
            .map(|v| v["ansible_python_interpreter"].as_str()),
        Some("/usr/bin/python3")
    );
    assert_eq!(c.var("cluster_dir"), Some("/etc/kubeasz/clusters/k8s-37"));
    assert_eq!(c.k8s_hosts().len(), 5);
    let names: Vec<_> = c.k8s_hosts().iter().map(|h| h.node_name.clone()).collect();
    assert_eq!(
        names,
        [
            "master-01",
            "master-02",
            "master-03",
            "worker-01",
            "worker-02"
        ]
    );
}

#[test]
fn kubeasz_3_6_folder_loads_with_warnings_only_for_retired_keys() {
    let c = match load_cluster(&fixture("kubeasz-3.6")) {
        Ok(c) => c,
        Err(d) => panic!("{d}"),
    };
    assert!(
        c.warnings
            .iter()
            .all(|d| d.severity == Severity::Warning && d.code == "unknown-key"),
        "{:?}",
        c.warnings
    );
    assert_eq!(c.warnings.len(), 8);
    assert!(c.config.extra.contains_key("dashboard_install"));
    assert_eq!(c.config.headlamp_install, "no");
    assert_eq!(c.derived.proxy_mode, "ipvs");
    assert_eq!(c.config.k8s_ver, "1.35.6");
    // 3.6's rule: the IP when k8s_nodename is empty.
    assert_eq!(c.host("192.168.1.1").expect("m1").node_name, "master-01");
    assert_eq!(c.host("192.168.1.2").expect("m2").node_name, "192.168.1.2");
    assert_eq!(c.host("192.168.1.4").expect("w1").node_name, "192.168.1.4");
    assert_eq!(c.values()["dashboardVer"], "v2.7.0");
}
