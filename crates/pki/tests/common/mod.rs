//! Shared fixtures of the ez-pki integration tests.
#![allow(dead_code)]

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ez_pki::{HarborSpec, KeyAlgorithm, NodeSpec, PkiSpec};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Two masters (also nodes), one worker, three etcd members, an ex_lb VIP,
/// MASTER_CERT_HOSTS with an IP and a name, and harbor.
pub fn spec(dir: &Path, alg: KeyAlgorithm) -> PkiSpec {
    let mut spec = PkiSpec::new(dir.join("clusters/k1"), "k1");
    spec.key_algorithm = alg;
    spec.master_ips = vec![ip("192.168.1.1"), ip("192.168.1.2")];
    spec.etcd_ips = vec![ip("192.168.1.1"), ip("192.168.1.2"), ip("192.168.1.3")];
    spec.ex_lb_vip = Some(ip("192.168.1.250"));
    spec.master_cert_hosts = vec!["10.1.1.1".into(), "k8s.easzlab.io".into()];
    spec.cluster_dns_domain = "cluster.local".into();
    spec.nodes = vec![
        NodeSpec {
            name: "k8s-192-168-1-1".into(),
            ip: ip("192.168.1.1"),
        },
        NodeSpec {
            name: "k8s-192-168-1-2".into(),
            ip: ip("192.168.1.2"),
        },
        NodeSpec {
            name: "worker-a".into(),
            ip: ip("192.168.1.4"),
        },
    ];
    spec.harbor = Some(HarborSpec {
        ip: ip("192.168.1.8"),
        domain: "harbor.easzlab.io.local".into(),
    });
    spec
}

pub fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every regular file under `dir` with its bytes, sorted by path.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

pub fn openssl_available() -> bool {
    std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}
