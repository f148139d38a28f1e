//! Image sets: kubeasz 3.7.0's default images and its `-X` extras (reference §1.5), with
//! versions from the shared version table where it has them.

use crate::error::{BundleError, Result};
use crate::selection::{Part, Selection};
use ez_inventory::VersionTable;

/// The images kubeasz's `ezdown -D` always saves (NS `easzlab` in kubeasz's local registry):
/// [`images_for`] the default selection (calico, every part).
pub fn default_images(v: &VersionTable) -> Vec<String> {
    // The default selection's images are all fixed names: this cannot fail.
    images_for(v, &Selection::default()).unwrap_or_default()
}

/// The images `ezdown -D` saves for a selection: the network plugin's, coredns, the
/// node-local DNS cache and metrics-server unless left out, and pause.
pub fn images_for(v: &VersionTable, sel: &Selection) -> Result<Vec<String>> {
    let mut out = sel.network.images(v)?;
    out.push(format!("coredns/coredns:{}", v.coredns));
    if sel.has(Part::Nodelocaldns) {
        out.push(format!("easzlab/k8s-dns-node-cache:{}", v.nodelocaldns));
    }
    if sel.has(Part::MetricsServer) {
        out.push(format!("easzlab/metrics-server:{}", v.metrics_server));
    }
    out.push(format!("easzlab/pause:{}", v.pause));
    Ok(out)
}

/// Names accepted by `-X`, in the order `ezdown` lists them.
pub const EXTRA_SETS: &[&str] = &[
    "argocd",
    "cilium",
    "conformance",
    "flannel",
    "headlamp",
    "higress",
    "ingress-nginx",
    "kubeblocks",
    "kb-addon-mysql",
    "kb-addon-pg",
    "kb-addon-redis",
    "kb-addon-mongodb",
    "kb-addon-elasticsearch",
    "kb-addon-clickhouse",
    "kb-addon-minio",
    "kube-ovn",
    "kube-router",
    "local-path-provisioner",
    "nacos",
    "network-check",
    "nfs-provisioner",
    "node-problem-detector",
    "openebs",
    "prometheus",
    "rocketmq",
    "sonobuoy",
];

const APECLOUD: &str = "apecloud-registry.cn-zhangjiakou.cr.aliyuncs.com/apecloud";

/// The images of one `-X` set. `conformance` needs the e2e image list, see
/// [`conformance_images`]; here it yields only the conformance image itself.
pub fn extra_set(name: &str, v: &VersionTable) -> Result<Vec<String>> {
    let s = |x: &[&str]| x.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    let ap = |x: &[&str]| {
        x.iter()
            .map(|i| format!("{APECLOUD}/{i}"))
            .collect::<Vec<_>>()
    };
    let hub = |x: &[&str]| {
        x.iter()
            .map(|i| format!("apecloud/{i}"))
            .collect::<Vec<_>>()
    };
    Ok(match name {
        "argocd" => s(&[
            "quay.io/argoproj/argocd:v3.2.5",
            "ghcr.io/dexidp/dex:v2.44.0",
            "ecr-public.aws.com/docker/library/redis:8.2.2-alpine",
        ]),
        "cilium" => vec![
            format!("cilium/cilium:v{}", v.cilium.trim_start_matches('v')),
            format!(
                "cilium/operator-generic:v{}",
                v.cilium.trim_start_matches('v')
            ),
            format!("cilium/hubble-relay:v{}", v.cilium.trim_start_matches('v')),
            "cilium/hubble-ui-backend:v0.13.2".into(),
            "cilium/hubble-ui:v0.13.2".into(),
        ],
        "conformance" => conformance_images(&v.kubernetes, &[]),
        "flannel" => vec![
            format!("ghcr.io/flannel-io/flannel:{}", v.flannel),
            "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3".into(),
        ],
        "headlamp" => vec![format!(
            "ghcr.io/headlamp-k8s/headlamp:v{}",
            v.headlamp.trim_start_matches('v')
        )],
        "higress" => ["console", "higress", "gateway", "pilot"]
            .iter()
            .map(|i| {
                format!(
                    "higress-registry.cn-hangzhou.cr.aliyuncs.com/higress/{i}:{}",
                    v.higress
                )
            })
            .collect(),
        "ingress-nginx" => s(&[
            "easzlab/ingress-nginx-controller:v1.13.0",
            "easzlab/kube-webhook-certgen:v1.6.0",
        ]),
        "kubeblocks" => {
            let mut out = s(&["easzlab/snapshot-controller:v8.3.0"]);
            out.extend(ap(&[
                "kubeblocks-charts:1.0.1",
                "kubeblocks:1.0.1",
                "kubeblocks-tools:1.0.0",
                "kubeblocks-tools:1.0.1",
                "kubeblocks-dataprotection:1.0.1",
                "datasafed:0.2.1",
            ]));
            out
        }
        "kb-addon-mysql" => hub(&[
            "mysql_audit_log:8.0.33",
            "xtrabackup:8.0",
            "jemalloc:5.3.0",
            "syncer:0.5.0",
            "mysql:8.0.39",
            "mysqld-exporter:0.15.1",
            "proxysql:2.4.4",
            "percona-xtrabackup:8.0",
            "wal-g-mysql:2.0.1-1-ubuntu",
        ]),
        "kb-addon-pg" => hub(&[
            "spilo:16.4.0",
            "spilo-init:0.1",
            "dbctl:0.2.0",
            "pgbouncer:1.19.0",
            "postgres-exporter:v0.15.0",
        ]),
        "kb-addon-redis" => hub(&[
            "dbctl:0.1.8",
            "agamotto:0.1.2-beta.1",
            "redis:8.2.1",
            "redis-stack-server:7.2.0-v14",
            "redis-stack-server:7.2.0-v18",
        ]),
        "kb-addon-mongodb" => hub(&["syncer:0.3.7", "mongo:5.0.30"]),
        "kb-addon-elasticsearch" => ap(&[
            "elasticsearch-plugins:0.1.0",
            "elasticsearch:8.8.2",
            "elasticsearch-agent:0.1.0",
            "elasticsearch-exporter:v1.7.0",
            "curl-jq:0.1.0",
        ]),
        "kb-addon-clickhouse" => ap(&["busybox:1.36", "clickhouse:24.8.3-debian-12-r1"]),
        "kb-addon-minio" => ap(&["minio:RELEASE.2024-06-29T01-20-47Z"]),
        "kube-ovn" => vec![format!("kubeovn/kube-ovn:{}", v.kube_ovn)],
        "kube-router" => vec![format!("cloudnativelabs/kube-router:{}", v.kube_router)],
        "local-path-provisioner" => vec![format!(
            "rancher/local-path-provisioner:{}",
            v.local_path_provisioner
        )],
        "nacos" => s(&["nacos/nacos-server:v2.4.3"]),
        "network-check" => s(&["easzlab/json-mock:v1.3.0", "easzlab/alpine-curl:v7.85.0"]),
        "nfs-provisioner" => vec![format!(
            "easzlab/nfs-subdir-external-provisioner:{}",
            v.nfs_provisioner
        )],
        "node-problem-detector" => vec![format!(
            "easzlab/node-problem-detector:{}",
            v.node_problem_detector
        )],
        "openebs" => {
            let mut out = s(&["bitnami/kubectl:1.25.15"]);
            out.push(format!("openebs/provisioner-localpv:{}", v.openebs));
            out.extend(s(&[
                "openebs/linux-utils:4.5.0",
                "openebs/lvm-driver:1.9.1",
                "easzlab/csi-node-driver-registrar:v2.13.0",
                "easzlab/csi-resizer:v2.0.0",
                "easzlab/csi-snapshotter:v7.0.0",
                "easzlab/csi-provisioner:v6.1.0",
                "easzlab/snapshot-controller:v7.0.0",
            ]));
            out
        }
        "prometheus" => s(&[
            "easzlab/kube-state-metrics:v2.19.1",
            "easzlab/kube-webhook-certgen:1.8.5",
            "grafana/grafana:13.1.2",
            "quay.io/kiwigrid/k8s-sidecar:2.10.1",
            "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.0",
            "quay.io/prometheus-operator/prometheus-operator:v0.93.0",
            "quay.io/prometheus/alertmanager:v0.33.1",
            "quay.io/prometheus/node-exporter:v1.12.1-distroless",
            "quay.io/prometheus/prometheus:v3.13.2-distroless",
        ]),
        // The Sonobuoy CLI only (a binary, see ezdown): no image of its own here.
        "sonobuoy" => Vec::new(),
        "rocketmq" => s(&[
            "apache/rocketmq-operator:latest",
            "apacherocketmq/rocketmq-broker:4.5.0-alpine-operator-0.3.0",
            "apacherocketmq/rocketmq-nameserver:4.5.0-alpine-operator-0.3.0",
            "apacherocketmq/rocketmq-console:2.0.0",
        ]),
        other => {
            return Err(BundleError::UnknownSet(
                other.to_string(),
                EXTRA_SETS.join(", "),
            ));
        }
    })
}

/// The seam for the conformance crate: `registry.k8s.io/conformance:<k8s>` plus the e2e test
/// images it lists (e.g. `registry.k8s.io/e2e-test-images/busybox:1.36.1-1`), de-duplicated.
pub fn conformance_images(k8s_version: &str, e2e_images: &[String]) -> Vec<String> {
    let mut out = vec![format!("registry.k8s.io/conformance:{k8s_version}")];
    for i in e2e_images {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::ImageRef;

    #[test]
    fn defaults_follow_the_table() {
        let d = default_images(&VersionTable::default());
        assert_eq!(d.len(), 7);
        assert!(d.contains(&"calico/node:v3.32.1".to_string()));
        assert!(d.contains(&"easzlab/pause:3.10.2".to_string()));
    }

    #[test]
    fn a_selection_changes_the_network_and_drops_parts() {
        let v = VersionTable::default();
        let sel = Selection::parse(Some("flannel"), &["nodelocaldns".into()]).unwrap();
        let d = images_for(&v, &sel).unwrap();
        assert_eq!(
            d,
            [
                "ghcr.io/flannel-io/flannel:v0.28.9",
                "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
                "coredns/coredns:1.14.6",
                "easzlab/metrics-server:v0.9.0",
                "easzlab/pause:3.10.2",
            ]
        );
        let sel = Selection::parse(Some("cilium"), &["metrics-server".into()]).unwrap();
        let d = images_for(&v, &sel).unwrap();
        assert!(d[0].starts_with("cilium/cilium:"), "{d:?}");
        assert!(
            !d.iter()
                .any(|i| i.contains("calico") || i.contains("metrics"))
        );
        assert!(d.iter().any(|i| i.contains("k8s-dns-node-cache")));
    }

    #[test]
    fn every_set_parses_and_unknown_lists_valid_ones() {
        let v = VersionTable::default();
        for set in EXTRA_SETS {
            let imgs = extra_set(set, &v).unwrap();
            // sonobuoy is a binary only (ezdown adds the artifact)
            assert_eq!(imgs.is_empty(), *set == "sonobuoy", "{set}");
            for i in imgs {
                ImageRef::parse(&i).unwrap_or_else(|e| panic!("{set}: {i}: {e}"));
            }
        }
        let e = extra_set("nope", &v).unwrap_err().to_string();
        assert!(
            e.contains("unknown extra image set 'nope'") && e.contains("cilium"),
            "{e}"
        );
        assert_eq!(extra_set("cilium", &v).unwrap()[0], "cilium/cilium:v1.17.4");
    }

    #[test]
    fn conformance_seam() {
        let l = conformance_images(
            "v1.36.3",
            &["registry.k8s.io/e2e-test-images/busybox:1.36.1-1".into()],
        );
        assert_eq!(l[0], "registry.k8s.io/conformance:v1.36.3");
        assert_eq!(l.len(), 2);
    }
}
