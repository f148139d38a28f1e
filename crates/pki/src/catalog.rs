//! The certificate set of kubeasz (reference §4): which certificates exist,
//! with which subject, SANs, profile and lifetime, derived from a [`PkiSpec`].
//!
//! Invariants: names are unique within one catalog; SAN lists are free of
//! duplicates and keep kubeasz's order (the order does not matter when an
//! existing certificate is compared, only the set does).

use std::fmt;
use std::net::IpAddr;

use crate::spec::{Expiry, PkiSpec};

/// Subject attributes every kubeasz CSR carries (`names:` in the cfssl CSR JSON).
pub const SUBJECT_C: &str = "CN";
/// `ST` of every subject.
pub const SUBJECT_ST: &str = "HangZhou";
/// `L` of every subject.
pub const SUBJECT_L: &str = "XS";
/// `OU` of every subject.
pub const SUBJECT_OU: &str = "System";

/// Name (file stem) of the CA: `ca.pem` / `ca-key.pem`.
pub const CA_NAME: &str = "ca";
/// CN of the CA.
pub const CA_CN: &str = "kubernetes-ca";
/// O of the CA and of most component certificates.
pub const ORG_K8S: &str = "k8s";

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum San {
    Ip(IpAddr),
    Dns(String),
}

impl San {
    /// An IP SAN if `host` parses as an IP address, a DNS SAN otherwise
    /// (how cfssl treats the `hosts` list).
    pub fn from_host(host: &str) -> Self {
        let host = host.trim();
        match host.parse::<IpAddr>() {
            Ok(ip) => San::Ip(ip),
            Err(_) => San::Dns(host.to_string()),
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Dns(name) => write!(f, "DNS:{name}"),
        }
    }
}

/// The cfssl signing profile a certificate is issued under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `gencert -initca`: CA:TRUE, cert sign + CRL sign.
    Ca,
    /// `kubernetes`: signing, key encipherment, server auth, client auth.
    Kubernetes,
    /// `kcfg`: signing, key encipherment, client auth.
    Kcfg,
}

impl Profile {
    /// Whether the profile carries the serverAuth EKU.
    pub fn server_auth(self) -> bool {
        matches!(self, Profile::Kubernetes)
    }

    /// Whether the profile carries the clientAuth EKU.
    pub fn client_auth(self) -> bool {
        matches!(self, Profile::Kubernetes | Profile::Kcfg)
    }
}

/// One certificate to have in `ssl/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    /// File stem relative to `ssl/`: `<name>.pem` and `<name>-key.pem`
    /// (`users/<user>` for kcfg-adm users).
    pub name: String,
    pub cn: String,
    pub org: String,
    pub sans: Vec<San>,
    pub profile: Profile,
    pub expiry: Expiry,
}

impl CertSpec {
    fn new(name: &str, cn: &str, org: &str, expiry: Expiry) -> Self {
        Self {
            name: name.to_string(),
            cn: cn.to_string(),
            org: org.to_string(),
            sans: Vec::new(),
            profile: Profile::Kubernetes,
            expiry,
        }
    }

    fn with_sans(mut self, sans: impl IntoIterator<Item = San>) -> Self {
        for san in sans {
            if !self.sans.contains(&san) {
                self.sans.push(san);
            }
        }
        self
    }

    /// The CA itself (`ca.pem`), CN kubernetes-ca, O k8s, lifetime CA_EXPIRY.
    pub fn ca(expiry: Expiry) -> Self {
        let mut spec = Self::new(CA_NAME, CA_CN, ORG_K8S, expiry);
        spec.profile = Profile::Ca;
        spec
    }

    /// A kcfg-adm user certificate `users/<user>.pem` (O k8s, client auth only).
    pub fn user(user: &str, expiry: Expiry) -> Self {
        let mut spec = Self::new(&format!("users/{user}"), user, ORG_K8S, expiry);
        spec.profile = Profile::Kcfg;
        spec
    }

    /// The subject as `openssl x509 -subject -nameopt RFC2253`-like text, in kubeasz's order.
    pub fn subject_text(&self) -> String {
        format!(
            "C={SUBJECT_C}, ST={SUBJECT_ST}, L={SUBJECT_L}, O={}, OU={SUBJECT_OU}, CN={}",
            self.org, self.cn
        )
    }
}

/// File stem of a node's kubelet certificate: `<K8S_NODENAME>-kubelet`.
pub fn kubelet_name(node_name: &str) -> String {
    format!("{node_name}-kubelet")
}

/// CN of a node's kubelet certificate: `system:node:<K8S_NODENAME>`.
pub fn kubelet_cn(node_name: &str) -> String {
    format!("system:node:{node_name}")
}

fn localhost() -> San {
    San::Ip(IpAddr::from([127, 0, 0, 1]))
}

/// SANs of `kubernetes.pem` (the apiserver cert), in kubeasz's order.
pub fn apiserver_sans(spec: &PkiSpec) -> Vec<San> {
    let mut sans = vec![localhost()];
    sans.extend(spec.ex_lb_vip.map(San::Ip));
    sans.extend(spec.master_ips.iter().copied().map(San::Ip));
    sans.push(San::Ip(spec.kubernetes_svc_ip));
    sans.extend(
        spec.master_cert_hosts
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| San::from_host(h)),
    );
    let domain = spec.cluster_dns_domain.trim().trim_end_matches('.');
    for name in [
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
        format!("kubernetes.default.svc.{domain}"),
    ] {
        sans.push(San::Dns(name));
    }
    sans
}

/// Every certificate of the cluster except the CA and the kcfg-adm users,
/// in the order kubeasz makes them.
pub fn cluster_certs(spec: &PkiSpec) -> Vec<CertSpec> {
    let exp = spec.cert_expiry;
    let mut certs = vec![
        CertSpec::new("admin", "admin", "system:masters", exp),
        CertSpec::new(
            "kube-controller-manager",
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            exp,
        ),
        CertSpec::new(
            "kube-scheduler",
            "system:kube-scheduler",
            "system:kube-scheduler",
            exp,
        ),
        CertSpec::new("kube-proxy", "system:kube-proxy", ORG_K8S, exp),
        CertSpec::new("etcd", "etcd", ORG_K8S, exp).with_sans(
            spec.etcd_ips
                .iter()
                .copied()
                .map(San::Ip)
                .chain([localhost()]),
        ),
        CertSpec::new("kubernetes", "kubernetes", ORG_K8S, exp).with_sans(apiserver_sans(spec)),
        CertSpec::new("aggregator-proxy", "aggregator", ORG_K8S, exp),
    ];
    for node in &spec.nodes {
        certs.push(
            CertSpec::new(
                &kubelet_name(&node.name),
                &kubelet_cn(&node.name),
                "system:nodes",
                exp,
            )
            .with_sans([localhost(), San::Ip(node.ip), San::Dns(node.name.clone())]),
        );
    }
    certs.push(CertSpec::new("calico", "calico", ORG_K8S, exp));
    certs.push(CertSpec::new("etcd-client", "etcd-client", ORG_K8S, exp));
    if let Some(harbor) = &spec.harbor {
        certs.push(CertSpec::new("harbor", "harbor", ORG_K8S, exp).with_sans([
            localhost(),
            San::Ip(harbor.ip),
            San::from_host(&harbor.domain),
        ]));
    }
    certs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{HarborSpec, NodeSpec};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn spec() -> PkiSpec {
        let mut spec = PkiSpec::new("/tmp/x", "cluster1");
        spec.master_ips = vec![ip("192.168.1.1"), ip("192.168.1.2")];
        spec.etcd_ips = vec![ip("192.168.1.1"), ip("192.168.1.3")];
        spec.ex_lb_vip = Some(ip("192.168.1.250"));
        spec.master_cert_hosts = vec!["10.1.1.1".into(), "k8s.easzlab.io".into()];
        spec.nodes = vec![NodeSpec {
            name: "k8s-192-168-1-1".into(),
            ip: ip("192.168.1.1"),
        }];
        spec
    }

    #[test]
    fn apiserver_sans_follow_kubeasz_order_without_duplicates() {
        let sans = apiserver_sans(&spec());
        let text: Vec<String> = sans.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "IP:127.0.0.1",
                "IP:192.168.1.250",
                "IP:192.168.1.1",
                "IP:192.168.1.2",
                "IP:10.68.0.1",
                "IP:10.1.1.1",
                "DNS:k8s.easzlab.io",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster",
                "DNS:kubernetes.default.svc.cluster.local",
                "DNS:kubernetes.default.svc.cluster.local",
            ]
        );
        // The catalog entry deduplicates the repeated cluster.local name.
        let certs = cluster_certs(&spec());
        let k = certs.iter().find(|c| c.name == "kubernetes").unwrap();
        assert_eq!(k.sans.len(), 12);
    }

    #[test]
    fn custom_dns_domain_adds_its_own_name() {
        let mut s = spec();
        s.cluster_dns_domain = "corp.example.".into();
        let sans = apiserver_sans(&s);
        assert!(sans.contains(&San::Dns("kubernetes.default.svc.corp.example".into())));
        assert!(sans.contains(&San::Dns("kubernetes.default.svc.cluster.local".into())));
    }

    #[test]
    fn catalog_has_kubeasz_set() {
        let mut s = spec();
        let names: Vec<String> = cluster_certs(&s).into_iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "admin",
                "kube-controller-manager",
                "kube-scheduler",
                "kube-proxy",
                "etcd",
                "kubernetes",
                "aggregator-proxy",
                "k8s-192-168-1-1-kubelet",
                "calico",
                "etcd-client",
            ]
        );
        s.harbor = Some(HarborSpec {
            ip: ip("192.168.1.8"),
            domain: "harbor.easzlab.io.local".into(),
        });
        let certs = cluster_certs(&s);
        let harbor = certs.last().unwrap();
        assert_eq!(harbor.name, "harbor");
        assert_eq!(harbor.sans[2], San::Dns("harbor.easzlab.io.local".into()));
        let etcd = certs.iter().find(|c| c.name == "etcd").unwrap();
        assert_eq!(
            etcd.sans,
            [
                San::Ip(ip("192.168.1.1")),
                San::Ip(ip("192.168.1.3")),
                San::Ip(ip("127.0.0.1"))
            ]
        );
        let kubelet = &certs[7];
        assert_eq!(kubelet.cn, "system:node:k8s-192-168-1-1");
        assert_eq!(kubelet.org, "system:nodes");
        assert_eq!(
            kubelet.subject_text(),
            "C=CN, ST=HangZhou, L=XS, O=system:nodes, OU=System, CN=system:node:k8s-192-168-1-1"
        );
    }

    #[test]
    fn profiles_map_to_ekus() {
        assert!(Profile::Kubernetes.server_auth() && Profile::Kubernetes.client_auth());
        assert!(!Profile::Kcfg.server_auth() && Profile::Kcfg.client_auth());
        assert!(!Profile::Ca.server_auth() && !Profile::Ca.client_auth());
        let user = CertSpec::user("user-202601010000", Expiry::from_hours(4800).unwrap());
        assert_eq!(user.name, "users/user-202601010000");
        assert_eq!(user.profile, Profile::Kcfg);
    }
}
