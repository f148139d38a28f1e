//! The one version table shared by `ezdown` and `ezctl new`, so the two can never disagree.
//!
//! Defaults are kubeasz 3.7.0's (ezdown header + the 3.7.0 release notes). A bundle records
//! the table it was made from in its manifest; `ezctl new` substitutes the same values into
//! `config.yml`.

use serde::{Deserialize, Serialize};

/// Versions of every component kubeasz-rs installs or downloads.
///
/// Invariant: every field is a non-empty version string as its upstream spells it in release
/// URLs and image tags (a leading `v` is kept where the upstream uses one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionTable {
    /// kubeasz release this table follows.
    pub kubeasz: String,
    /// Kubernetes server/client binaries (`K8S_BIN_VER`), e.g. `v1.36.3`.
    pub kubernetes: String,
    pub etcd: String,
    pub containerd: String,
    pub runc: String,
    pub cni_plugins: String,
    pub crictl: String,
    pub helm: String,
    pub calico: String,
    pub calicoctl: String,
    pub flannel: String,
    pub cilium: String,
    pub kube_router: String,
    pub kube_ovn: String,
    pub coredns: String,
    pub nodelocaldns: String,
    pub metrics_server: String,
    pub pause: String,
    pub headlamp: String,
    pub higress: String,
    pub local_path_provisioner: String,
    pub nfs_provisioner: String,
    pub node_problem_detector: String,
    pub openebs: String,
    pub prom_chart: String,
    pub kubeblocks: String,
    pub ingress_nginx: String,
    pub harbor: String,
    pub docker: String,
    /// kube-lb (nginx stream build) shipped by kubeasz's ext-bin.
    pub nginx: String,
}

impl Default for VersionTable {
    fn default() -> Self {
        Self::kubeasz_3_7_0()
    }
}

impl VersionTable {
    /// The set kubeasz 3.7.0 ships (`ezdown` defaults and ext-bin 1.14.2).
    pub fn kubeasz_3_7_0() -> Self {
        let s = |v: &str| v.to_string();
        VersionTable {
            kubeasz: s("3.7.0"),
            kubernetes: s("v1.36.3"),
            etcd: s("v3.7.1"),
            containerd: s("2.3.3"),
            runc: s("v1.5.1"),
            cni_plugins: s("v1.9.1"),
            crictl: s("v1.36.0"),
            helm: s("v4.2.3"),
            calico: s("v3.32.1"),
            calicoctl: s("v3.32.1"),
            flannel: s("v0.28.9"),
            cilium: s("1.17.4"),
            kube_router: s("v1.5.4"),
            kube_ovn: s("v1.11.5"),
            coredns: s("1.14.6"),
            nodelocaldns: s("1.26.8"),
            metrics_server: s("v0.9.0"),
            pause: s("3.10.2"),
            headlamp: s("0.43.0"),
            higress: s("2.2.3"),
            local_path_provisioner: s("v0.0.31"),
            nfs_provisioner: s("v4.0.2"),
            node_problem_detector: s("v1.35.3"),
            openebs: s("4.5.1"),
            prom_chart: s("88.1.5"),
            kubeblocks: s("1.0.1"),
            ingress_nginx: s("4.13.0"),
            harbor: s("v2.12.4"),
            docker: s("28.5.2"),
            nginx: s("1.30.4"),
        }
    }

    /// The table with another Kubernetes version (`ezdown -k`); the rest is unchanged.
    pub fn with_kubernetes(mut self, version: &str) -> Self {
        let v = version.trim();
        self.kubernetes = if v.starts_with('v') {
            v.to_string()
        } else {
            format!("v{v}")
        };
        self
    }

    /// `K8S_VER` as config.yml spells it (no leading `v`).
    pub fn kubernetes_plain(&self) -> &str {
        self.kubernetes.trim_start_matches('v')
    }

    /// The Kubernetes minor as `1.NN`, e.g. `1.36`.
    pub fn kubernetes_minor(&self) -> String {
        let plain = self.kubernetes_plain();
        let mut parts = plain.split('.');
        match (parts.next(), parts.next()) {
            (Some(a), Some(b)) => format!("{a}.{b}"),
            _ => plain.to_string(),
        }
    }
}

/// Why a version overlay was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("not valid YAML/JSON: {0}")]
    Syntax(String),
    #[error("a version table overlay must be a mapping of component to version")]
    NotAMapping,
    #[error("unknown component `{0}` (known: {1})")]
    UnknownComponent(String, String),
    #[error("the version of `{0}` must be a non-empty string")]
    BadValue(String),
}

impl VersionTable {
    /// This table with some components replaced, from a YAML or JSON mapping such as
    /// `{kubernetes: v1.35.6, calico: v3.28.4}` (the `versions` object of a bundle manifest is
    /// a complete one). Unknown components are refused, so a typo cannot go unnoticed.
    pub fn overlay(&self, text: &str) -> Result<VersionTable, VersionError> {
        use serde_yaml_ng::Value;
        let given: Value =
            serde_yaml_ng::from_str(text).map_err(|e| VersionError::Syntax(e.to_string()))?;
        let Value::Mapping(given) = given else {
            return Err(VersionError::NotAMapping);
        };
        let Ok(Value::Mapping(mut base)) = serde_yaml_ng::to_value(self) else {
            return Err(VersionError::NotAMapping);
        };
        for (k, v) in given {
            let key = k.as_str().unwrap_or_default().to_string();
            if !base.contains_key(key.as_str()) {
                let known: Vec<&str> = base.keys().filter_map(Value::as_str).collect();
                return Err(VersionError::UnknownComponent(key, known.join(", ")));
            }
            let v = match v {
                Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => return Err(VersionError::BadValue(key)),
            };
            base.insert(Value::String(key), Value::String(v));
        }
        let mut t: VersionTable = serde_yaml_ng::from_value(Value::Mapping(base))
            .map_err(|e| VersionError::Syntax(e.to_string()))?;
        // Keep the one spelling of the Kubernetes version.
        t = t.clone().with_kubernetes(&t.kubernetes);
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_kubeasz_3_7_0() {
        let t = VersionTable::default();
        assert_eq!(t.kubernetes, "v1.36.3");
        assert_eq!(t.kubernetes_plain(), "1.36.3");
        assert_eq!(t.kubernetes_minor(), "1.36");
        assert_eq!(t.etcd, "v3.7.1");
    }

    #[test]
    fn overlay_replaces_some_components() {
        let t = VersionTable::default()
            .overlay("kubernetes: 1.35.6\ncalico: v3.28.4\n")
            .expect("overlay");
        assert_eq!(t.kubernetes, "v1.35.6");
        assert_eq!(t.calico, "v3.28.4");
        assert_eq!(t.etcd, VersionTable::default().etcd);
        let json = serde_json_like(&t);
        assert_eq!(VersionTable::default().overlay(&json).expect("full"), t);
        assert!(matches!(
            VersionTable::default().overlay("kubernets: v1"),
            Err(VersionError::UnknownComponent(..))
        ));
        assert!(matches!(
            VersionTable::default().overlay("etcd: ''"),
            Err(VersionError::BadValue(_))
        ));
        assert!(matches!(
            VersionTable::default().overlay("- a"),
            Err(VersionError::NotAMapping)
        ));
    }

    /// A complete table written as YAML flow (JSON-like) text.
    fn serde_json_like(t: &VersionTable) -> String {
        serde_yaml_ng::to_string(t).expect("yaml")
    }

    #[test]
    fn with_kubernetes_normalises_the_prefix() {
        assert_eq!(
            VersionTable::default().with_kubernetes("1.35.6").kubernetes,
            "v1.35.6"
        );
        assert_eq!(
            VersionTable::default()
                .with_kubernetes("v1.34.1")
                .kubernetes_minor(),
            "1.34"
        );
    }
}
