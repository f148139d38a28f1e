//! Plain inputs of the PKI engine ([`PkiSpec`]) and kubeasz duration parsing.
//!
//! The engine never reads the inventory itself: the caller fills a `PkiSpec`
//! from its cluster model, so this crate stays independent of it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::PkiError;

/// Default `CA_EXPIRY` of kubeasz (100 years).
pub const DEFAULT_CA_EXPIRY: &str = "876000h";
/// Default `CERT_EXPIRY` of kubeasz (50 years).
pub const DEFAULT_CERT_EXPIRY: &str = "438000h";
/// Default expiry of `kcfg-adm -A` user certificates.
pub const DEFAULT_USER_EXPIRY: &str = "4800h";
/// Port of the apiserver in every kubeasz kubeconfig.
pub const APISERVER_PORT: u16 = 6443;

/// A certificate lifetime given in whole hours, as kubeasz writes them (`"438000h"`).
///
/// Invariant: `hours > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    hours: u64,
}

impl Expiry {
    /// Parses a kubeasz duration (`^[1-9][0-9]*h$`, the form `kcfg-adm -e` enforces).
    /// `key` is the configuration key, used in the error message.
    pub fn parse(key: &str, value: &str) -> Result<Self, PkiError> {
        let bad = || PkiError::InvalidExpiry {
            key: key.to_string(),
            value: value.to_string(),
        };
        let digits = value.trim().strip_suffix('h').ok_or_else(bad)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let hours: u64 = digits.parse().map_err(|_| bad())?;
        Self::from_hours(hours).ok_or_else(bad)
    }

    /// A lifetime of `hours` hours; `None` for zero or for more than 10 000 years.
    pub fn from_hours(hours: u64) -> Option<Self> {
        // 10 000 years is far past X.509's year 9999 limit: reject it here.
        (hours > 0 && hours <= 10_000 * 8_766).then_some(Self { hours })
    }

    /// The lifetime in hours.
    pub fn hours(self) -> u64 {
        self.hours
    }

    /// The lifetime as a `std` duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.hours * 3600)
    }
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}h", self.hours)
    }
}

/// Key type of every generated private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// RSA 2048 with SHA-256 signatures: what kubeasz's cfssl CSRs ask for (`key: rsa 2048`).
    #[default]
    Rsa2048,
    /// ECDSA P-256 with SHA-256: smaller and faster; an opt-in difference from kubeasz.
    EcdsaP256,
}

impl KeyAlgorithm {
    /// Parses a config value: `rsa`, `rsa2048`, `ecdsa`, `ecdsa-p256`, `p256` (case-insensitive).
    pub fn parse(value: &str) -> Result<Self, PkiError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "rsa" | "rsa2048" | "rsa-2048" => Ok(Self::Rsa2048),
            "ecdsa" | "ecdsa-p256" | "ecdsa256" | "p256" => Ok(Self::EcdsaP256),
            other => Err(PkiError::InvalidSpec(format!(
                "unknown key algorithm {other:?}: use \"rsa2048\" (default, as kubeasz) or \"ecdsa-p256\""
            ))),
        }
    }
}

/// A host that runs kubelet: its `K8S_NODENAME` and its inventory IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub ip: IpAddr,
}

/// The optional harbor host (`[harbor]` group, `HARBOR_DOMAIN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarborSpec {
    pub ip: IpAddr,
    pub domain: String,
}

/// Everything the PKI of one cluster depends on.
///
/// Files go to `cluster_dir/ssl/` (certificates, keys, user kubeconfigs) and
/// `cluster_dir/` (component kubeconfigs), as kubeasz lays them out.
#[derive(Debug, Clone)]
pub struct PkiSpec {
    /// `clusters/<c>`; the certificates live in its `ssl/` subdirectory.
    pub cluster_dir: PathBuf,
    /// `CA_EXPIRY`.
    pub ca_expiry: Expiry,
    /// `CERT_EXPIRY` (profile `kubernetes`).
    pub cert_expiry: Expiry,
    /// `CLUSTER_NAME` (cluster entry of kubectl.kubeconfig and user kubeconfigs).
    pub cluster_name: String,
    /// `CONTEXT_NAME`.
    pub context_name: String,
    /// Every `[etcd]` IP.
    pub etcd_ips: Vec<IpAddr>,
    /// Every `[kube_master]` IP, in inventory order (the first is `kube_master[0]`).
    pub master_ips: Vec<IpAddr>,
    /// `EX_APISERVER_VIP` of `ex_lb[0]`, if the ex_lb group is non-empty.
    pub ex_lb_vip: Option<IpAddr>,
    /// `CLUSTER_KUBERNETES_SVC_IP` (SERVICE_CIDR base + 1).
    pub kubernetes_svc_ip: IpAddr,
    /// `MASTER_CERT_HOSTS`: IPs become IP SANs, anything else DNS SANs.
    pub master_cert_hosts: Vec<String>,
    /// `CLUSTER_DNS_DOMAIN` (e.g. `cluster.local`).
    pub cluster_dns_domain: String,
    /// Every host running kubelet (masters and nodes), with its `K8S_NODENAME`.
    pub nodes: Vec<NodeSpec>,
    /// The harbor host, if one is installed with a self-signed certificate.
    pub harbor: Option<HarborSpec>,
    /// Key type of new keys (existing keys are never converted).
    pub key_algorithm: KeyAlgorithm,
    /// Server of kubectl.kubeconfig and user kubeconfigs;
    /// `None` means `https://<kube_master[0]>:6443` as kubeasz.
    pub apiserver_url: Option<String>,
    /// Server of the component kubeconfigs (controller-manager, scheduler,
    /// kube-proxy, kubelet); `None` means `https://127.0.0.1:6443` (kube-lb).
    pub local_apiserver_url: Option<String>,
}

impl PkiSpec {
    /// A spec with kubeasz's defaults for everything but the hosts.
    pub fn new(cluster_dir: impl Into<PathBuf>, cluster_name: &str) -> Self {
        Self {
            cluster_dir: cluster_dir.into(),
            ca_expiry: Expiry { hours: 876_000 },
            cert_expiry: Expiry { hours: 438_000 },
            cluster_name: cluster_name.to_string(),
            context_name: format!("context-{cluster_name}"),
            etcd_ips: Vec::new(),
            master_ips: Vec::new(),
            ex_lb_vip: None,
            kubernetes_svc_ip: IpAddr::from([10, 68, 0, 1]),
            master_cert_hosts: Vec::new(),
            cluster_dns_domain: "cluster.local".to_string(),
            nodes: Vec::new(),
            harbor: None,
            key_algorithm: KeyAlgorithm::default(),
            apiserver_url: None,
            local_apiserver_url: None,
        }
    }

    /// `cluster_dir/ssl`.
    pub fn ssl_dir(&self) -> PathBuf {
        self.cluster_dir.join("ssl")
    }

    /// `cluster_dir`.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// Server written into kubectl.kubeconfig and user kubeconfigs.
    pub fn admin_server(&self) -> Result<String, PkiError> {
        if let Some(url) = &self.apiserver_url {
            return Ok(url.clone());
        }
        let first = self.master_ips.first().ok_or_else(|| {
            PkiError::InvalidSpec(
                "the kube_master group is empty: at least one master IP is needed for kubectl.kubeconfig"
                    .to_string(),
            )
        })?;
        Ok(server_url(*first))
    }

    /// Server written into the component kubeconfigs.
    pub fn local_server(&self) -> String {
        self.local_apiserver_url
            .clone()
            .unwrap_or_else(|| server_url(IpAddr::from([127, 0, 0, 1])))
    }

    /// Checks the invariants the engine relies on. Called by `ensure`.
    pub fn validate(&self) -> Result<(), PkiError> {
        if self.master_ips.is_empty() {
            return Err(PkiError::InvalidSpec(
                "the kube_master group is empty: list at least one master".to_string(),
            ));
        }
        if self.etcd_ips.is_empty() {
            return Err(PkiError::InvalidSpec(
                "the etcd group is empty: list at least one etcd member".to_string(),
            ));
        }
        if self.cluster_dns_domain.trim().is_empty() {
            return Err(PkiError::InvalidSpec(
                "CLUSTER_DNS_DOMAIN is empty".to_string(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for node in &self.nodes {
            check_file_name("K8S_NODENAME", &node.name)?;
            if !seen.insert(node.name.as_str()) {
                return Err(PkiError::InvalidSpec(format!(
                    "K8S_NODENAME {:?} is used by two hosts: node names must be unique",
                    node.name
                )));
            }
        }
        Ok(())
    }
}

/// `https://<ip>:6443`, with brackets around IPv6 addresses.
pub fn server_url(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("https://{v4}:{APISERVER_PORT}"),
        IpAddr::V6(v6) => format!("https://[{v6}]:{APISERVER_PORT}"),
    }
}

/// Rejects names that would escape `ssl/` or are not usable as a file-name stem.
pub(crate) fn check_file_name(what: &str, name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::InvalidSpec(format!(
            "{what} {name:?} is not usable as a file name: use letters, digits, '-', '_' and '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubeasz_hours() {
        assert_eq!(
            Expiry::parse("CA_EXPIRY", "876000h").unwrap().hours(),
            876_000
        );
        assert_eq!(
            Expiry::parse("X", "4800h").unwrap().duration().as_secs(),
            4800 * 3600
        );
        assert_eq!(Expiry::parse("X", "1h").unwrap().to_string(), "1h");
    }

    #[test]
    fn rejects_bad_durations_naming_the_key() {
        for bad in [
            "",
            "h",
            "0h",
            "12",
            "12m",
            "-5h",
            "1.5h",
            "99999999999999999999h",
            "90000000h",
        ] {
            let err = Expiry::parse("CERT_EXPIRY", bad).unwrap_err();
            assert!(err.to_string().contains("CERT_EXPIRY"), "{bad}: {err}");
        }
    }

    #[test]
    fn key_algorithm_parse() {
        assert_eq!(KeyAlgorithm::parse("RSA").unwrap(), KeyAlgorithm::Rsa2048);
        assert_eq!(
            KeyAlgorithm::parse("ecdsa-p256").unwrap(),
            KeyAlgorithm::EcdsaP256
        );
        assert!(KeyAlgorithm::parse("ed25519").is_err());
        assert_eq!(KeyAlgorithm::default(), KeyAlgorithm::Rsa2048);
    }

    #[test]
    fn servers_default_like_kubeasz() {
        let mut spec = PkiSpec::new("/tmp/c", "cluster1");
        assert!(spec.admin_server().is_err());
        spec.master_ips = vec![
            "192.168.1.1".parse().unwrap(),
            "192.168.1.2".parse().unwrap(),
        ];
        assert_eq!(spec.admin_server().unwrap(), "https://192.168.1.1:6443");
        assert_eq!(spec.local_server(), "https://127.0.0.1:6443");
        assert_eq!(spec.context_name, "context-cluster1");
        assert_eq!(
            server_url("fd00::1".parse().unwrap()),
            "https://[fd00::1]:6443"
        );
        spec.apiserver_url = Some("https://10.0.0.9:8443".into());
        assert_eq!(spec.admin_server().unwrap(), "https://10.0.0.9:8443");
    }

    #[test]
    fn validate_rejects_bad_node_names_and_duplicates() {
        let mut spec = PkiSpec::new("/tmp/c", "cluster1");
        spec.master_ips = vec!["10.0.0.1".parse().unwrap()];
        spec.etcd_ips = vec!["10.0.0.1".parse().unwrap()];
        spec.nodes = vec![NodeSpec {
            name: "../evil".into(),
            ip: "10.0.0.1".parse().unwrap(),
        }];
        assert!(spec.validate().is_err());
        spec.nodes = vec![
            NodeSpec {
                name: "k8s-a".into(),
                ip: "10.0.0.1".parse().unwrap(),
            },
            NodeSpec {
                name: "k8s-a".into(),
                ip: "10.0.0.2".parse().unwrap(),
            },
        ];
        assert!(spec.validate().is_err());
        spec.nodes.pop();
        spec.validate().unwrap();
        spec.etcd_ips.clear();
        assert!(spec.validate().is_err());
    }
}
