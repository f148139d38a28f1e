//! What a bundle is made for: the network plugin (`ezdown --network`) and the optional parts a
//! site leaves out (`ezdown --without`). kubeasz's `ezdown -D` always fetches calico
//! (calicoctl + its images), nodelocaldns and helm; here the defaults are the same and a site
//! that uses flannel, or no node-local DNS cache, can leave those out. The selection is
//! recorded in the manifest, so later checks know what the bundle was made without.

use crate::error::{BundleError, Result};
use ez_inventory::VersionTable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The pod network plugin a bundle holds images (and tools) for; kubeasz's `CLUSTER_NETWORK`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// kubeasz's default: calicoctl and the calico images.
    #[default]
    Calico,
    Flannel,
    Cilium,
    KubeRouter,
    KubeOvn,
}

impl Network {
    pub const ALL: [Network; 5] = [
        Network::Calico,
        Network::Flannel,
        Network::Cilium,
        Network::KubeRouter,
        Network::KubeOvn,
    ];

    /// The name as `CLUSTER_NETWORK` and `--network` spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Network::Calico => "calico",
            Network::Flannel => "flannel",
            Network::Cilium => "cilium",
            Network::KubeRouter => "kube-router",
            Network::KubeOvn => "kube-ovn",
        }
    }

    pub fn parse(s: &str) -> Result<Network> {
        Network::ALL
            .into_iter()
            .find(|n| n.as_str() == s.trim())
            .ok_or_else(|| BundleError::UnknownNetwork(s.to_string(), names(&Network::ALL)))
    }

    /// The images of the plugin: calico's three (kubeasz's defaults), else its `-X` set.
    pub fn images(&self, v: &VersionTable) -> Result<Vec<String>> {
        match self {
            Network::Calico => Ok(vec![
                format!("calico/cni:{}", v.calico),
                format!("calico/kube-controllers:{}", v.calico),
                format!("calico/node:{}", v.calico),
            ]),
            other => crate::images::extra_set(other.as_str(), v),
        }
    }
}

/// An optional part of the default bundle that `--without` leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// The node-local DNS cache image (`easzlab/k8s-dns-node-cache`); config.yml
    /// `ENABLE_LOCAL_DNS_CACHE: false`.
    Nodelocaldns,
    /// The helm CLI (`bin/helm`), used only by helm-installed add-ons.
    Helm,
    /// The metrics-server image; config.yml `metricsserver_install: "no"`.
    MetricsServer,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Nodelocaldns, Part::Helm, Part::MetricsServer];

    pub fn as_str(&self) -> &'static str {
        match self {
            Part::Nodelocaldns => "nodelocaldns",
            Part::Helm => "helm",
            Part::MetricsServer => "metrics-server",
        }
    }

    pub fn parse(s: &str) -> Result<Part> {
        Part::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| BundleError::UnknownPart(s.to_string(), names(&Part::ALL)))
    }
}

fn names<T: Copy + Into<&'static str>>(all: &[T]) -> String {
    all.iter()
        .map(|x| (*x).into())
        .collect::<Vec<&str>>()
        .join(", ")
}

impl From<Network> for &'static str {
    fn from(n: Network) -> Self {
        n.as_str()
    }
}

impl From<Part> for &'static str {
    fn from(p: Part) -> Self {
        p.as_str()
    }
}

/// The network plugin and the parts left out; the default is kubeasz's bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    #[serde(default)]
    pub network: Network,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub without: BTreeSet<Part>,
}

impl Selection {
    /// From the command line: `--network NAME` (default calico) and `--without PART`s.
    pub fn parse(network: Option<&str>, without: &[String]) -> Result<Selection> {
        let network = match network {
            Some(n) => Network::parse(n)?,
            None => Network::default(),
        };
        let without = without
            .iter()
            .map(|p| Part::parse(p))
            .collect::<Result<BTreeSet<_>>>()?;
        Ok(Selection { network, without })
    }

    /// Whether the bundle holds `part`.
    pub fn has(&self, part: Part) -> bool {
        !self.without.contains(&part)
    }

    /// `network flannel, without helm, nodelocaldns` for messages.
    pub fn describe(&self) -> String {
        let mut s = format!("network {}", self.network.as_str());
        if !self.without.is_empty() {
            let w: Vec<&str> = self.without.iter().map(Part::as_str).collect();
            s.push_str(&format!(", without {}", w.join(", ")));
        }
        s
    }

    /// Why a bundle made for `self` does not serve a site that wants `wanted`: a different
    /// network plugin, or a part the bundle left out that the site keeps. Empty when it does.
    pub fn shortfalls(&self, wanted: &Selection) -> Vec<String> {
        let mut out = Vec::new();
        if self.network != wanted.network {
            out.push(format!(
                "the bundle was made for network {}, not {} (run `ezdown -D --network {}`)",
                self.network.as_str(),
                wanted.network.as_str(),
                wanted.network.as_str()
            ));
        }
        for p in self.without.difference(&wanted.without) {
            out.push(format!(
                "the bundle was made without {} (run `ezdown -D` without `--without {}`)",
                p.as_str(),
                p.as_str()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_list_the_valid() {
        for n in Network::ALL {
            assert_eq!(Network::parse(n.as_str()).unwrap(), n);
        }
        let e = Network::parse("weave").unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown network plugin 'weave'; valid: calico, flannel, cilium, kube-router, kube-ovn"
        );
        let e = Part::parse("dashboard").unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown part 'dashboard' for --without; valid: nodelocaldns, helm, metrics-server"
        );
        let s = Selection::parse(Some("flannel"), &["helm".into(), "nodelocaldns".into()]).unwrap();
        assert_eq!(s.network, Network::Flannel);
        assert!(!s.has(Part::Helm) && s.has(Part::MetricsServer));
        assert_eq!(s.describe(), "network flannel, without nodelocaldns, helm");
        assert_eq!(Selection::parse(None, &[]).unwrap(), Selection::default());
    }

    #[test]
    fn network_images() {
        let v = VersionTable::default();
        assert_eq!(
            Network::Flannel.images(&v).unwrap(),
            [
                "ghcr.io/flannel-io/flannel:v0.28.9",
                "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"
            ]
        );
        assert!(
            Network::Calico
                .images(&v)
                .unwrap()
                .iter()
                .all(|i| i.starts_with("calico/"))
        );
        for n in Network::ALL {
            assert!(!n.images(&v).unwrap().is_empty(), "{n:?}");
        }
    }

    #[test]
    fn serde_form_and_old_manifests() {
        let s = Selection::parse(Some("kube-router"), &["metrics-server".into()]).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(
            j,
            r#"{"network":"kube-router","without":["metrics-server"]}"#
        );
        let old: Selection = serde_json::from_str("{}").unwrap();
        assert_eq!(old, Selection::default());
    }

    #[test]
    fn shortfalls_name_what_the_bundle_lacks() {
        let made = Selection::parse(Some("flannel"), &["nodelocaldns".into()]).unwrap();
        assert!(made.shortfalls(&made).is_empty());
        let more =
            Selection::parse(Some("flannel"), &["nodelocaldns".into(), "helm".into()]).unwrap();
        assert!(
            made.shortfalls(&more).is_empty(),
            "leaving out more is fine"
        );
        let p = made.shortfalls(&Selection::default());
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("network flannel, not calico"), "{p:?}");
        assert!(p[1].contains("without nodelocaldns"), "{p:?}");
    }
}
