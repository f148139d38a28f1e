//! `clusters/<c>/config.yml`: every key kubeasz 3.7.0 has, typed, with kubeasz's defaults.
//!
//! Reading never stops at the first problem: each top-level key is converted on its own, so
//! every type error is reported (at the key's value), and keys this version does not know are
//! kept in [`Config::extra`] with a warning — never dropped. A missing key takes its default,
//! so a config.yml written by kubeasz 3.6 (fewer keys) loads as it is.
//!
//! Booleans are read as Ansible (YAML 1.1) reads them: `yes/no/on/off` are accepted for a
//! boolean key, since that is what the key means to kubeasz's playbooks.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_yaml_ng::Value;

use crate::diag::{Diagnostic, Span};
use crate::versions::VersionTable;

/// `K8S_NODENAME` as kubeasz 3.7 defines it: the `k8s_nodename` host var (`_`→`-`, lowercase)
/// if set, else `k8s-` + the inventory name with `.` replaced by `-`.
pub const K8S_NODENAME_TEMPLATE: &str = "{%- if k8s_nodename != '' -%} {{ k8s_nodename|replace('_', '-')|lower }} {%- else -%} k8s-{{ inventory_hostname|replace('.', '-') }} {%- endif -%}";

macro_rules! config_keys {
    ($( $(#[$m:meta])* $field:ident : $key:literal : $ty:ty = $default:expr ;)*) => {
        /// Typed `config.yml`. Field docs give the kubeasz key; serde names are the keys.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct Config {
            $( $(#[$m])* #[doc = concat!("`", $key, "`")] #[serde(rename = $key)] pub $field: $ty, )*
            /// Keys this version does not know, kept as written.
            #[serde(flatten)]
            pub extra: BTreeMap<String, Value>,
            /// Where each key's value starts in the file (for diagnostics).
            #[serde(skip)]
            pub spans: BTreeMap<String, Span>,
        }

        impl Config {
            /// kubeasz 3.7.0's `example/config.yml` with the versions of `v` filled in.
            pub fn defaults_for(v: &VersionTable) -> Self {
                Config { $( $field: $default(v), )* extra: BTreeMap::new(), spans: BTreeMap::new() }
            }

            /// Converts and stores one key; `None` if the key is unknown.
            fn set(&mut self, key: &str, value: Value) -> Option<Result<(), serde_yaml_ng::Error>> {
                match key {
                    $( $key => Some(convert::<$ty>(value).map(|v| self.$field = v)), )*
                    _ => None,
                }
            }
        }

        /// Every key of kubeasz 3.7.0's config.yml, in its order.
        pub const KNOWN_KEYS: &[&str] = &[$($key),*];
    };
}

fn s(x: &str) -> impl Fn(&VersionTable) -> String + '_ {
    move |_| x.to_string()
}
fn b(x: bool) -> impl Fn(&VersionTable) -> bool {
    move |_| x
}
fn list(xs: &'static [&'static str]) -> impl Fn(&VersionTable) -> Vec<String> {
    move |_| xs.iter().map(|x| x.to_string()).collect()
}

config_keys! {
    install_source: "INSTALL_SOURCE": String = s("online");
    os_harden: "OS_HARDEN": bool = b(false);
    ca_expiry: "CA_EXPIRY": String = s("876000h");
    cert_expiry: "CERT_EXPIRY": String = s("438000h");
    change_ca: "CHANGE_CA": bool = b(false);
    cluster_name: "CLUSTER_NAME": String = s("cluster1");
    context_name: "CONTEXT_NAME": String = s("context-{{ CLUSTER_NAME }}");
    k8s_ver: "K8S_VER": String = |v: &VersionTable| v.kubernetes_plain().to_string();
    k8s_nodename: "K8S_NODENAME": String = s(K8S_NODENAME_TEMPLATE);
    enable_setting_hostname: "ENABLE_SETTING_HOSTNAME": bool = b(true);
    etcd_data_dir: "ETCD_DATA_DIR": String = s("/var/lib/etcd");
    etcd_wal_dir: "ETCD_WAL_DIR": String = s("");
    enable_mirror_registry: "ENABLE_MIRROR_REGISTRY": bool = b(true);
    insecure_reg: "INSECURE_REG": Vec<String> = list(&["http://easzlab.io.local:5000", "https://reg.yourcompany.com"]);
    sandbox_image: "SANDBOX_IMAGE": String = |v: &VersionTable| format!("easzlab.io.local:5000/easzlab/pause:{}", v.pause);
    containerd_root_dir: "CONTAINERD_ROOT_DIR": String = s("/var/lib/containerd");
    containerd_state_dir: "CONTAINERD_STATE_DIR": String = s("/run/containerd");
    containerd_config_dir: "CONTAINERD_CONFIG_DIR": String = s("/etc/containerd");
    containerd_service_name: "CONTAINERD_SERVICE_NAME": String = s("containerd.service");
    /// containerd CRI `restrict_oom_score_adj` (kubeasz-rs; kubeasz 3.7.0 never sets it).
    containerd_restrict_oom_score_adj: "CONTAINERD_RESTRICT_OOM_SCORE_ADJ": bool = b(false);
    docker_storage_dir: "DOCKER_STORAGE_DIR": String = s("/var/lib/docker");
    docker_enable_remote_api: "DOCKER_ENABLE_REMOTE_API": bool = b(false);
    master_cert_hosts: "MASTER_CERT_HOSTS": Vec<String> = list(&["10.1.1.1", "k8s.easzlab.io"]);
    node_cidr_len: "NODE_CIDR_LEN": u8 = |_| 24;
    enable_cluster_audit: "ENABLE_CLUSTER_AUDIT": bool = b(false);
    kubelet_root_dir: "KUBELET_ROOT_DIR": String = s("/var/lib/kubelet");
    max_pods: "MAX_PODS": u32 = |_| 110;
    kube_reserved_enabled: "KUBE_RESERVED_ENABLED": String = s("no");
    sys_reserved_enabled: "SYS_RESERVED_ENABLED": String = s("no");
    /// kubelet `failCgroupV1` (kubeasz-rs; kubeasz 3.7.0 hard-codes true).
    kubelet_fail_cgroup_v1: "KUBELET_FAIL_CGROUP_V1": bool = b(true);
    /// kubelet `evictionHard` `nodefs.available` (kubeasz-rs; kubeasz 3.7.0 hard-codes 10%).
    kubelet_eviction_nodefs_available: "KUBELET_EVICTION_NODEFS_AVAILABLE": String = s("10%");
    /// kubelet `evictionHard` `imagefs.available` (kubeasz-rs; kubeasz 3.7.0 hard-codes 15%).
    kubelet_eviction_imagefs_available: "KUBELET_EVICTION_IMAGEFS_AVAILABLE": String = s("15%");
    /// kube-proxy `conntrack.maxPerCore` (kubeasz-rs; kubeasz 3.7.0 hard-codes 32768).
    kube_proxy_conntrack_max_per_core: "KUBE_PROXY_CONNTRACK_MAX_PER_CORE": u32 = |_| 32768;
    flannel_backend: "FLANNEL_BACKEND": String = s("vxlan");
    direct_routing: "DIRECT_ROUTING": bool = b(false);
    flannel_ver: "flannel_ver": String = |v: &VersionTable| v.flannel.clone();
    calico_enable_overlay: "CALICO_ENABLE_OVERLAY": String = s("Always");
    ip_autodetection_method: "IP_AUTODETECTION_METHOD": String = s("can-reach={{ groups['kube_master'][0] }}");
    calico_networking_backend: "CALICO_NETWORKING_BACKEND": String = s("bird");
    calico_rr_enabled: "CALICO_RR_ENABLED": bool = b(false);
    calico_rr_nodes: "CALICO_RR_NODES": Vec<String> = list(&[]);
    calico_ver: "calico_ver": String = |v: &VersionTable| v.calico.clone();
    calico_ver_main: "calico_ver_main": String = s("{{ calico_ver.split('.')[0] }}.{{ calico_ver.split('.')[1] }}");
    cilium_ver: "cilium_ver": String = |v: &VersionTable| v.cilium.clone();
    cilium_connectivity_check: "cilium_connectivity_check": bool = b(false);
    cilium_hubble_enabled: "cilium_hubble_enabled": bool = b(false);
    cilium_hubble_ui_enabled: "cilium_hubble_ui_enabled": bool = b(false);
    kube_ovn_ver: "kube_ovn_ver": String = |v: &VersionTable| v.kube_ovn.clone();
    overlay_type: "OVERLAY_TYPE": String = s("full");
    firewall_enable: "FIREWALL_ENABLE": bool = b(true);
    kube_router_ver: "kube_router_ver": String = |v: &VersionTable| v.kube_router.clone();
    dns_install: "dns_install": String = s("yes");
    coredns_ver: "corednsVer": String = |v: &VersionTable| v.coredns.clone();
    enable_local_dns_cache: "ENABLE_LOCAL_DNS_CACHE": bool = b(true);
    dns_node_cache_ver: "dnsNodeCacheVer": String = |v: &VersionTable| v.nodelocaldns.clone();
    local_dns_cache: "LOCAL_DNS_CACHE": String = s("169.254.20.10");
    metricsserver_install: "metricsserver_install": String = s("yes");
    metrics_ver: "metricsVer": String = |v: &VersionTable| v.metrics_server.clone();
    headlamp_install: "headlamp_install": String = s("no");
    headlamp_ver: "headlampVer": String = |v: &VersionTable| v.headlamp.clone();
    local_path_provisioner_install: "local_path_provisioner_install": String = s("no");
    local_path_provisioner_ver: "local_path_provisioner_ver": String = |v: &VersionTable| v.local_path_provisioner.clone();
    local_path_storage_class: "local_path_storage_class": String = s("local-path");
    local_path_provisioner_dir: "local_path_provisioner_dir": String = s("/opt/local-path-provisioner");
    nfs_provisioner_install: "nfs_provisioner_install": String = s("no");
    nfs_provisioner_namespace: "nfs_provisioner_namespace": String = s("kube-system");
    nfs_provisioner_ver: "nfs_provisioner_ver": String = |v: &VersionTable| v.nfs_provisioner.clone();
    nfs_storage_class: "nfs_storage_class": String = s("managed-nfs-storage");
    nfs_server: "nfs_server": String = s("192.168.1.10");
    nfs_path: "nfs_path": String = s("/data/nfs");
    openebs_install: "openebs_install": String = s("no");
    openebs_ver: "openebs_ver": String = |v: &VersionTable| v.openebs.clone();
    openebs_namespace: "openebs_namespace": String = s("openebs");
    openebs_hostpath: "openebs_hostpath": String = s("/var/openebs/local");
    openebs_hostpath_storage_class: "openebs_hostpath_storage_class": String = s("openebs-hostpath");
    openebs_lvm_storage_class: "openebs_lvm_storage_class": String = s("openebs-lvmpv");
    openebs_lvm_vg: "openebs_lvm_vg": String = s("vg_k8s");
    prom_install: "prom_install": String = s("no");
    prom_namespace: "prom_namespace": String = s("monitor");
    prom_storage_class: "prom_storage_class": String = s("");
    prom_chart_ver: "prom_chart_ver": String = |v: &VersionTable| v.prom_chart.clone();
    network_check_enabled: "network_check_enabled": bool = b(false);
    network_check_schedule: "network_check_schedule": String = s("*/5 * * * *");
    node_problem_detector_install: "node_problem_detector_install": String = s("no");
    node_problem_detector_ver: "node_problem_detector_ver": String = |v: &VersionTable| v.node_problem_detector.clone();
    kubeblocks_ver: "kubeblocks_ver": String = |v: &VersionTable| v.kubeblocks.clone();
    kubeblocks_install: "kubeblocks_install": String = s("no");
    higress_install: "higress_install": String = s("no");
    higress_namespace: "higress_namespace": String = s("higress-system");
    higress_ver: "higress_ver": String = |v: &VersionTable| v.higress.clone();
    ingress_nginx_install: "ingress_nginx_install": String = s("no");
    ingress_nginx_namespace: "ingress_nginx_namespace": String = s("ingress-nginx");
    ingress_nginx_ver: "ingress_nginx_ver": String = |v: &VersionTable| v.ingress_nginx.clone();
    ingress_nginx_metrics_enabled: "ingress_nginx_metrics_enabled": bool = b(false);
    argocd_install: "argocd_install": String = s("no");
    harbor_ver: "HARBOR_VER": String = |v: &VersionTable| v.harbor.clone();
    harbor_domain: "HARBOR_DOMAIN": String = s("harbor.easzlab.io.local");
    harbor_path: "HARBOR_PATH": String = s("/var/data");
    harbor_tls_port: "HARBOR_TLS_PORT": u16 = |_| 8443;
    harbor_registry: "HARBOR_REGISTRY": String = s("{{ HARBOR_DOMAIN }}:{{ HARBOR_TLS_PORT }}");
    harbor_self_signed_cert: "HARBOR_SELF_SIGNED_CERT": bool = b(true);
    harbor_with_trivy: "HARBOR_WITH_TRIVY": bool = b(false);
}

impl Default for Config {
    fn default() -> Self {
        Config::defaults_for(&VersionTable::default())
    }
}

/// Keys kubeasz-rs reads that kubeasz's config.yml does not have, unset by default (the
/// templates then render kubeasz's values): kept in [`Config::extra`] without a warning.
pub const OPTIONAL_KEYS: &[&str] = &["CALICO_MTU", "DOCKER_IO_MIRRORS", "REGISTRY_MIRRORS"];

/// Inventory `[all:vars]` keys. Set in config.yml they override the hosts file for every host
/// (they are Ansible extra vars there), so they are accepted with a warning saying so.
pub const INVENTORY_KEYS: &[&str] = &[
    "SECURE_PORT",
    "CONTAINER_RUNTIME",
    "CLUSTER_NETWORK",
    "PROXY_MODE",
    "SERVICE_CIDR",
    "CLUSTER_CIDR",
    "NODE_PORT_RANGE",
    "CLUSTER_DNS_DOMAIN",
    "bin_dir",
    "base_dir",
    "cluster_dir",
    "ca_dir",
];

/// Keys of older kubeasz releases that 3.7.0 no longer reads, with what replaced them.
const LEGACY_KEYS: &[(&str, &str)] = &[
    (
        "dashboard_install",
        "kubeasz 3.7 replaced the dashboard with headlamp (`headlamp_install`)",
    ),
    (
        "dashboardVer",
        "kubeasz 3.7 replaced the dashboard with headlamp (`headlampVer`)",
    ),
    (
        "dashboardMetricsScraperVer",
        "kubeasz 3.7 replaced the dashboard with headlamp",
    ),
    (
        "kubeapps_install",
        "kubeapps is not installed by kubeasz 3.7",
    ),
    (
        "kubeapps_install_namespace",
        "kubeapps is not installed by kubeasz 3.7",
    ),
    (
        "kubeapps_working_namespace",
        "kubeapps is not installed by kubeasz 3.7",
    ),
    (
        "kubeapps_storage_class",
        "kubeapps is not installed by kubeasz 3.7",
    ),
    (
        "kubeapps_chart_ver",
        "kubeapps is not installed by kubeasz 3.7",
    ),
    (
        "CALICO_IPV4POOL_IPIP",
        "kubeasz 3.7 takes the IPIP mode from `CALICO_ENABLE_OVERLAY`",
    ),
];

/// Converts a YAML value to `T`, reading `yes/no/on/off/y/n` strings as booleans when `T`
/// wants one (YAML 1.1, as Ansible does).
fn convert<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, serde_yaml_ng::Error> {
    match serde_yaml_ng::from_value::<T>(value.clone()) {
        Ok(v) => Ok(v),
        Err(e) => {
            let yaml11 = match &value {
                Value::String(s) => match s.to_ascii_lowercase().as_str() {
                    "yes" | "on" | "y" | "true" => Some(true),
                    "no" | "off" | "n" | "false" => Some(false),
                    _ => None,
                },
                _ => None,
            };
            match yaml11 {
                Some(b) => serde_yaml_ng::from_value::<T>(Value::Bool(b)).map_err(|_| e),
                None => Err(e),
            }
        }
    }
}

/// serde_yaml_ng messages end with ` at line L column C`; the location is reported separately.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Finds where each top-level key's value starts: lines that begin (column 1) with `KEY:` or
/// a quoted `"KEY":`.
fn top_level_spans(text: &str) -> BTreeMap<String, Span> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some(first) = line.chars().next() else {
            continue;
        };
        if first.is_whitespace() || matches!(first, '#' | '-' | '{' | '[') {
            continue;
        }
        let (key, rest) = if first == '"' || first == '\'' {
            let Some(end) = line[1..].find(first) else {
                continue;
            };
            (&line[1..end + 1], &line[end + 2..])
        } else {
            match line.find(':') {
                Some(c) => (line[..c].trim_end(), &line[c..]),
                None => continue,
            }
        };
        let Some(after) = rest.trim_start().strip_prefix(':') else {
            continue;
        };
        let before_value = line.len() - after.len();
        let ws = after.chars().take_while(|c| c.is_whitespace()).count();
        let col = line[..before_value].chars().count() + ws + 1;
        out.entry(key.to_string()).or_insert(Span::new(i + 1, col));
    }
    out
}

impl Config {
    /// Parses config.yml text. Keys missing from the file take kubeasz 3.7.0's defaults.
    pub fn parse(file: &Path, text: &str) -> (Config, Vec<Diagnostic>) {
        Self::parse_with(file, text, &VersionTable::default())
    }

    /// As [`Config::parse`], taking the defaults of missing version keys from `versions`.
    pub fn parse_with(
        file: &Path,
        text: &str,
        versions: &VersionTable,
    ) -> (Config, Vec<Diagnostic>) {
        let text = &*crate::diag::normalize_newlines(text);
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut cfg = Config::defaults_for(versions);
        let mut diags = Vec::new();
        let root: Value = match serde_yaml_ng::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let span = e.location().map(|l| Span::new(l.line(), l.column()));
                diags.push(
                    Diagnostic::error(
                        "yaml-syntax",
                        file,
                        span,
                        format!(
                            "config.yml is not valid YAML: {}",
                            strip_location(&e.to_string())
                        ),
                    )
                    .with_hint("check the indentation and quoting around this position"),
                );
                return (cfg, diags);
            }
        };
        let map = match root {
            Value::Mapping(m) => m,
            Value::Null => return (cfg, diags),
            other => {
                diags.push(
                    Diagnostic::error(
                        "yaml-type",
                        file,
                        Some(Span::new(1, 1)),
                        format!(
                            "config.yml must be a mapping of keys to values, found {}",
                            kind(&other)
                        ),
                    )
                    .with_hint("each line is `KEY: value`, as in example/config.yml"),
                );
                return (cfg, diags);
            }
        };
        let spans = top_level_spans(text);
        for (k, v) in map {
            let Value::String(key) = k else {
                diags.push(
                    Diagnostic::error(
                        "yaml-type",
                        file,
                        None,
                        format!("a config.yml key is not a string: {k:?}"),
                    )
                    .with_hint("keys are names such as `CLUSTER_NAME`"),
                );
                continue;
            };
            let span = spans.get(&key).copied();
            match cfg.set(&key, v.clone()) {
                Some(Ok(())) => {}
                Some(Err(e)) => diags.push(
                    Diagnostic::error(
                        "yaml-type",
                        file,
                        span,
                        format!(
                            "`{key}` has the wrong type: {}",
                            strip_location(&e.to_string())
                        ),
                    )
                    .with_hint(type_hint(&key)),
                ),
                None if OPTIONAL_KEYS.contains(&key.as_str()) => {
                    cfg.extra.insert(key.clone(), v);
                }
                None => {
                    let d = if INVENTORY_KEYS.contains(&key.as_str()) {
                        Diagnostic::warning(
                            "config-overrides-hosts",
                            file,
                            span,
                            format!("`{key}` is an inventory variable; set in config.yml it overrides the hosts file for every host"),
                        )
                        .with_hint("kubeasz keeps it in the hosts file's [all:vars]; move it there unless the override is wanted")
                    } else if let Some((_, why)) = LEGACY_KEYS.iter().find(|(k, _)| *k == key) {
                        Diagnostic::warning(
                            "unknown-key",
                            file,
                            span,
                            format!("`{key}` is not read by kubeasz 3.7.0"),
                        )
                        .with_hint(format!("{why}; the value is kept but unused"))
                    } else {
                        let hint = match closest_key(&key) {
                            Some(k) => format!("did you mean `{k}`? the value is kept but unused"),
                            None => "the value is kept (and passed to templates) but no kubeasz role reads it".to_string(),
                        };
                        Diagnostic::warning(
                            "unknown-key",
                            file,
                            span,
                            format!("unknown key `{key}`"),
                        )
                        .with_hint(hint)
                    };
                    diags.push(d);
                    cfg.extra.insert(key.clone(), v);
                }
            }
            if let Some(sp) = span {
                cfg.spans.insert(key, sp);
            }
        }
        (cfg, diags)
    }

    /// Where `key`'s value is written, if it is in the file.
    pub fn span(&self, key: &str) -> Option<Span> {
        self.spans.get(key).copied()
    }

    /// A string value of an unknown/override key (e.g. `PROXY_MODE` written in config.yml).
    pub fn extra_str(&self, key: &str) -> Option<String> {
        match self.extra.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn type_hint(key: &str) -> String {
    let d = Config::default();
    let Ok(Value::Mapping(m)) = serde_yaml_ng::to_value(&d) else {
        return "see example/config.yml".into();
    };
    match m.get(key) {
        Some(Value::Bool(v)) => format!("`{key}` is true or false (default: {v})"),
        Some(Value::Number(n)) => format!("`{key}` is a whole number (default: {n})"),
        Some(Value::Sequence(_)) => format!("`{key}` is a list, e.g. `{key}: [\"a\", \"b\"]`"),
        Some(Value::String(s)) => format!("`{key}` is a string; quote it (default: \"{s}\")"),
        _ => "see example/config.yml".into(),
    }
}

/// A known key within edit distance 2 of `key` (case-insensitive), for "did you mean".
fn closest_key(key: &str) -> Option<&'static str> {
    let k = key.to_ascii_lowercase();
    KNOWN_KEYS
        .iter()
        .map(|c| (levenshtein(&k, &c.to_ascii_lowercase()), *c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Config, Vec<Diagnostic>) {
        Config::parse(Path::new("config.yml"), text)
    }

    #[test]
    fn known_keys_match_the_struct() {
        let Ok(Value::Mapping(m)) = serde_yaml_ng::to_value(Config::default()) else {
            panic!("mapping")
        };
        let keys: Vec<String> = m
            .keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        assert_eq!(
            keys,
            KNOWN_KEYS.iter().map(|k| k.to_string()).collect::<Vec<_>>()
        );
        // kubeasz 3.7.0 has 97; kubeasz-rs adds CONTAINERD_RESTRICT_OOM_SCORE_ADJ,
        // KUBELET_FAIL_CGROUP_V1, KUBELET_EVICTION_NODEFS_AVAILABLE,
        // KUBELET_EVICTION_IMAGEFS_AVAILABLE and KUBE_PROXY_CONNTRACK_MAX_PER_CORE.
        assert_eq!(KNOWN_KEYS.len(), 102);
    }

    #[test]
    fn empty_file_gives_defaults() {
        let (c, d) = parse("");
        assert!(d.is_empty());
        assert_eq!(c, Config::default());
        assert_eq!(c.k8s_ver, "1.36.3");
        assert_eq!(
            c.sandbox_image,
            "easzlab.io.local:5000/easzlab/pause:3.10.2"
        );
    }

    #[test]
    fn reads_values_and_yaml11_booleans() {
        let (c, d) = parse(
            "OS_HARDEN: yes\nMAX_PODS: 200\nMASTER_CERT_HOSTS:\n  - \"a\"\nCLUSTER_NAME: \"x\"\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert!(c.os_harden);
        assert_eq!(c.max_pods, 200);
        assert_eq!(c.master_cert_hosts, ["a"]);
        assert_eq!(c.span("MAX_PODS"), Some(Span::new(2, 11)));
    }

    #[test]
    fn every_type_error_is_reported_at_its_key() {
        let (_, d) =
            parse("MAX_PODS: lots\nNODE_CIDR_LEN: 24\nOS_HARDEN: maybe\nHARBOR_TLS_PORT: 70000\n");
        let pos: Vec<_> = d.iter().map(|d| (d.code, d.line(), d.column())).collect();
        assert_eq!(
            pos,
            [
                ("yaml-type", 1, 11),
                ("yaml-type", 3, 12),
                ("yaml-type", 4, 18)
            ]
        );
        assert!(
            d[0].hint
                .as_deref()
                .is_some_and(|h| h.contains("whole number"))
        );
    }

    #[test]
    fn syntax_error_has_a_location() {
        let (_, d) = parse("A: 1\nB: [unclosed\nC: 2\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "yaml-syntax");
        assert!(d[0].line() >= 2, "{d:?}");
        assert!(!d[0].message.contains(" at line "));
    }

    #[test]
    fn unknown_keys_are_kept_with_a_warning() {
        let (c, d) =
            parse("CLUSTER_NAM: x\nmy_custom: [1]\nPROXY_MODE: ipvs\ndashboard_install: \"yes\"\n");
        assert_eq!(c.extra.len(), 4);
        assert_eq!(c.extra_str("PROXY_MODE").as_deref(), Some("ipvs"));
        let codes: Vec<_> = d.iter().map(|d| (d.code, d.line())).collect();
        assert_eq!(
            codes,
            [
                ("unknown-key", 1),
                ("unknown-key", 2),
                ("config-overrides-hosts", 3),
                ("unknown-key", 4)
            ]
        );
        assert!(d.iter().all(|d| !d.is_error()));
        assert!(
            d[0].hint
                .as_deref()
                .is_some_and(|h| h.contains("CLUSTER_NAME"))
        );
    }

    #[test]
    fn lone_carriage_returns_count_as_line_breaks() {
        // Found by fuzzing: YAML counts a lone `\r` as a line break; spans must agree.
        let (_, d) = parse("A: 1\rB: [x\rC: 2\r");
        assert_eq!(d.len(), 1);
        assert!(d[0].line() <= 4, "{d:?}");
        let (c, d) = parse("\u{feff}MAX_PODS: 7\r\nOS_HARDEN: 3\r");
        assert_eq!(c.max_pods, 7);
        assert_eq!((d[0].line(), d[0].column()), (2, 12));
    }

    #[test]
    fn not_a_mapping_is_an_error() {
        let (_, d) = parse("- a\n- b\n");
        assert_eq!(d[0].code, "yaml-type");
    }
}
