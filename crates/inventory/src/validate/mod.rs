//! Validation rules. Each rule adds diagnostics with a stable `code` (listed in
//! `docs/en/cluster-model.md`) and never stops the others: the caller gets every problem at once.
//!
//! [`check`] returns the derived values when the inputs they need are valid, so a
//! [`crate::Cluster`] never holds a half-computed value.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use crate::diag::{Diagnostic, Span};
use crate::model::{Derived, Draft};
use crate::net;

pub const PROXY_MODES: &[&str] = &["iptables", "ipvs", "nftables"];
pub const CLUSTER_NETWORKS: &[&str] = &[
    "calico",
    "flannel",
    "kube-router",
    "cilium",
    "kube-ovn",
    "none",
];
pub const CONTAINER_RUNTIMES: &[&str] = &["containerd", "docker"];

/// `[all:vars]` keys the playbooks need (Ansible runs with `error_on_undefined_vars`): every
/// inventory key but `SECURE_PORT`, which has a default.
pub const REQUIRED_VARS: &[&str] = crate::config::INVENTORY_KEYS.split_at(1).1;

static RFC1123_LABEL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$").ok());

/// Whether `name` is a valid Kubernetes node name (RFC 1123 subdomain: lowercase labels of
/// `a-z0-9-`, at most 63 characters each, joined by dots, at most 253 in all).
pub fn is_rfc1123_subdomain(name: &str) -> bool {
    let Some(re) = RFC1123_LABEL.as_ref() else {
        return false;
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(|l| re.is_match(l))
}

/// Parses `A-B` (NODE_PORT_RANGE) into an ordered pair of valid ports.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let Some((a, b)) = s.trim().split_once('-') else {
        return Err(format!(
            "`{s}` is not a port range (expected FIRST-LAST, e.g. 30000-32767)"
        ));
    };
    let p = |x: &str| x.trim().parse::<u16>().ok().filter(|p| *p > 0);
    match (p(a), p(b)) {
        (Some(a), Some(b)) if a < b => Ok((a, b)),
        (Some(a), Some(b)) => Err(format!(
            "the range `{s}` is empty or reversed ({a} is not below {b})"
        )),
        _ => Err(format!(
            "`{s}` has a part that is not a port between 1 and 65535"
        )),
    }
}

pub(crate) fn parse_port(s: &str) -> Option<u16> {
    s.trim().parse::<u16>().ok().filter(|p| *p > 0)
}

/// The Kubernetes minor of `K8S_VER` (`1.36.3` → 36).
pub fn k8s_minor(ver: &str) -> Option<u32> {
    let mut it = ver.trim().trim_start_matches('v').split('.');
    match (it.next(), it.next()) {
        (Some("1"), Some(m)) => m.parse().ok(),
        _ => None,
    }
}

struct Ctx<'d, 'a> {
    d: &'d Draft<'a>,
    out: &'d mut Vec<Diagnostic>,
}

mod config_values;
mod network;
pub use config_values::CONFIG_CHOICES;
use network::{cidrs, ports};

impl Ctx<'_, '_> {
    fn inv_file(&self) -> &Path {
        &self.d.inv.file
    }

    fn at_var(
        &mut self,
        sev_error: bool,
        code: &'static str,
        key: &str,
        msg: String,
        hint: String,
    ) {
        let (file, span) = self.d.origin(key);
        let d = if sev_error {
            Diagnostic::error(code, &file, span, msg)
        } else {
            Diagnostic::warning(code, &file, span, msg)
        };
        self.out.push(d.with_hint(hint));
    }

    fn err_at(&mut self, code: &'static str, span: Option<Span>, msg: String, hint: &str) {
        let d = Diagnostic::error(code, self.inv_file(), span, msg).with_hint(hint);
        self.out.push(d);
    }

    fn var(&self, key: &str) -> Option<&str> {
        self.d.vars.get(key).map(String::as_str)
    }
}

/// Runs every rule; returns the derived values if the inputs they depend on are valid.
pub(crate) fn check(d: &Draft<'_>, out: &mut Vec<Diagnostic>) -> Option<Derived> {
    let mut c = Ctx { d, out };
    groups(&mut c);
    hosts(&mut c);
    let required_ok = required(&mut c);
    let choices = choices(&mut c);
    let ports = ports(&mut c);
    let cidrs = cidrs(&mut c);
    ex_lb(&mut c);
    config_values::config_values(&mut c);
    let (svc, pod) = cidrs?;
    let (secure_port, node_port_range) = ports?;
    let (proxy_mode, cluster_network, container_runtime) = choices?;
    if !required_ok {
        return None;
    }
    Some(Derived {
        kubernetes_svc_ip: net::nth_addr(&svc, 1)?,
        dns_svc_ip: net::nth_addr(&svc, 2)?,
        cluster_cidr_gw: net::nth_addr(&pod, 1)?,
        service_cidr: svc,
        cluster_cidr: pod,
        node_port_range,
        secure_port,
        proxy_mode,
        cluster_network,
        container_runtime,
    })
}

fn groups(c: &mut Ctx<'_, '_>) {
    for g in ["etcd", "kube_master"] {
        match c.d.inv.group(g) {
            None => c.err_at(
                "group-empty",
                None,
                format!("the hosts file has no [{g}] group"),
                &format!("add a [{g}] section listing at least one host"),
            ),
            Some(grp) if grp.hosts.is_empty() => c.err_at(
                "group-empty",
                grp.span,
                format!("the [{g}] group is empty"),
                &format!("list at least one host under [{g}]"),
            ),
            Some(_) => {}
        }
    }
    if let Some(etcd) = c.d.inv.group("etcd") {
        let n = etcd.hosts.len();
        if n > 0 && n % 2 == 0 {
            c.err_at(
                "etcd-even",
                etcd.span,
                format!("the [etcd] group has {n} members; etcd needs an odd number"),
                &format!(
                    "with {n} members etcd tolerates as many failures as with {}; add or remove one member",
                    n - 1
                ),
            );
        }
    }
    for g in &c.d.inv.groups {
        if g.name == "ungrouped" && !g.hosts.is_empty() {
            let span = g.hosts.first().map(|h| h.span);
            c.out.push(
                Diagnostic::warning(
                    "host-ungrouped",
                    &c.d.inv.file,
                    span,
                    "hosts listed before any [group] header belong to no kubeasz group",
                )
                .with_hint("move them under [etcd], [kube_master] or [kube_node]"),
            );
        }
    }
}

fn hosts(c: &mut Ctx<'_, '_>) {
    let file = c.d.inv.file.clone();
    // Addresses and duplicates within a group.
    for g in &c.d.inv.groups {
        let mut seen: BTreeMap<IpAddr, Span> = BTreeMap::new();
        for h in &g.hosts {
            match h.name.parse::<IpAddr>() {
                Err(_) => c.out.push(
                    Diagnostic::error("host-invalid-ip", &file, Some(h.span), format!("`{}` is not an IP address", h.name))
                        .with_hint("kubeasz addresses hosts by IP (it names etcd members and certs after it); write the host's IP here"),
                ),
                Ok(ip) => {
                    if let Some(first) = seen.get(&ip) {
                        c.out.push(
                            Diagnostic::error(
                                "host-duplicate",
                                &file,
                                Some(h.span),
                                format!("{ip} is listed twice in [{}] (first at line {})", g.name, first.line),
                            )
                            .with_hint("remove one of the lines; merge their vars if they differ"),
                        );
                    } else {
                        seen.insert(ip, h.span);
                    }
                }
            }
        }
    }
    // The same address written two ways in different groups would be two hosts to Ansible.
    let mut by_addr: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for h in &c.d.hosts {
        let Some(a) = h.addr else { continue };
        match by_addr.get(&a) {
            Some(other) if *other != h.name => c.out.push(
                Diagnostic::error(
                    "host-duplicate",
                    &file,
                    Some(h.span),
                    format!(
                        "`{}` and `{other}` are the same address written two ways",
                        h.name
                    ),
                )
                .with_hint(
                    "write each address the same way everywhere (Ansible compares names as text)",
                ),
            ),
            _ => {
                by_addr.insert(a, &h.name);
            }
        }
    }
    // Node names of the hosts that run a kubelet.
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for h in c.d.hosts.iter().filter(|h| {
        h.groups
            .iter()
            .any(|g| g == "kube_master" || g == "kube_node")
    }) {
        let span = h
            .origins
            .get("k8s_nodename")
            .and_then(|o| o.span)
            .or(Some(h.span));
        if !is_rfc1123_subdomain(&h.node_name) {
            c.out.push(
                Diagnostic::error(
                    "nodename-invalid",
                    &file,
                    span,
                    format!("node name `{}` of {} is not a valid Kubernetes node name", h.node_name, h.name),
                )
                .with_hint("use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (RFC 1123)"),
            );
        }
        match names.get(h.node_name.as_str()) {
            Some(other) if *other != h.name => c.out.push(
                Diagnostic::error(
                    "nodename-duplicate",
                    &file,
                    span,
                    format!(
                        "node name `{}` of {} is already used by {other}",
                        h.node_name, h.name
                    ),
                )
                .with_hint("give each host a unique k8s_nodename"),
            ),
            _ => {
                names.insert(&h.node_name, &h.name);
            }
        }
    }
}

fn required(c: &mut Ctx<'_, '_>) -> bool {
    let mut ok = true;
    for k in REQUIRED_VARS {
        if c.var(k).is_none() {
            ok = false;
            let span = c.d.inv.group("all").and_then(|g| g.span);
            c.err_at(
                "var-missing",
                span,
                format!("`{k}` is not set in [all:vars]"),
                "kubeasz's playbooks need it; copy the line from example/hosts.multi-node",
            );
        }
    }
    ok
}

fn choices(c: &mut Ctx<'_, '_>) -> Option<(String, String, String)> {
    let one = |c: &mut Ctx<'_, '_>, key: &str, allowed: &[&str]| -> Option<String> {
        let v = c.var(key)?.trim().to_string();
        if allowed.contains(&v.as_str()) {
            Some(v)
        } else {
            let code = match key {
                "PROXY_MODE" => "proxy-mode",
                "CLUSTER_NETWORK" => "cluster-network",
                _ => "container-runtime",
            };
            c.at_var(
                true,
                code,
                key,
                format!("{key}=\"{v}\" is not supported"),
                format!("use one of: {}", allowed.join(", ")),
            );
            None
        }
    };
    let proxy = one(c, "PROXY_MODE", PROXY_MODES);
    let cni = one(c, "CLUSTER_NETWORK", CLUSTER_NETWORKS);
    let cri = one(c, "CONTAINER_RUNTIME", CONTAINER_RUNTIMES);
    let k8s = c.d.cfg.k8s_ver.clone();
    let minor = k8s_minor(&k8s);
    if minor.is_none() {
        let span = c.d.cfg.span("K8S_VER");
        c.out.push(
            Diagnostic::error(
                "k8s-version",
                c.d.cfg_file,
                span,
                format!("K8S_VER \"{k8s}\" is not a Kubernetes version"),
            )
            .with_hint("write it as ezctl new does, e.g. \"1.36.3\""),
        );
    }
    if cri.as_deref() == Some("docker") && minor.is_some_and(|m| m >= 24) {
        c.at_var(
            true,
            "container-runtime",
            "CONTAINER_RUNTIME",
            format!("CONTAINER_RUNTIME=\"docker\" is not supported by Kubernetes {k8s} (dockershim was removed in 1.24)"),
            "use CONTAINER_RUNTIME=\"containerd\"".into(),
        );
        return None;
    }
    if proxy.as_deref() == Some("nftables") && cni.as_deref() == Some("kube-ovn") {
        c.at_var(
            false,
            "proxy-mode",
            "PROXY_MODE",
            "kubeasz's kube-ovn role has no nftables variant of node-local DNS; it will not be installed".into(),
            "use PROXY_MODE=\"iptables\" or \"ipvs\" with kube-ovn, or set ENABLE_LOCAL_DNS_CACHE: false".into(),
        );
    }
    Some((proxy?, cni?, cri?))
}

fn ex_lb(c: &mut Ctx<'_, '_>) {
    let file = c.d.inv.file.clone();
    for h in
        c.d.hosts
            .iter()
            .filter(|h| h.groups.iter().any(|g| g == "ex_lb"))
    {
        let at = |k: &str| h.origins.get(k).and_then(|o| o.span).or(Some(h.span));
        match h.vars.get("LB_ROLE").map(String::as_str) {
            Some("master" | "backup") => {}
            other => c.out.push(
                Diagnostic::error(
                    "ex-lb-vars",
                    &file,
                    at("LB_ROLE"),
                    format!(
                        "ex_lb host {} has LB_ROLE={}",
                        h.name,
                        other.unwrap_or("(unset)")
                    ),
                )
                .with_hint("each ex_lb host needs LB_ROLE=master or LB_ROLE=backup"),
            ),
        }
        match h.vars.get("EX_APISERVER_VIP") {
            Some(v) if v.parse::<IpAddr>().is_ok() => {}
            other => c.out.push(
                Diagnostic::error(
                    "ex-lb-vars",
                    &file,
                    at("EX_APISERVER_VIP"),
                    format!(
                        "ex_lb host {} has EX_APISERVER_VIP={}",
                        h.name,
                        other.map_or("(unset)", String::as_str)
                    ),
                )
                .with_hint(
                    "EX_APISERVER_VIP is the virtual IP keepalived moves between the ex_lb hosts",
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123() {
        for ok in [
            "master-01",
            "k8s-192-168-1-1",
            "a",
            "node.example.com",
            "0x",
        ] {
            assert!(is_rfc1123_subdomain(ok), "{ok}");
        }
        for bad in [
            "",
            "Master",
            "-a",
            "a-",
            "a_b",
            "a..b",
            &"x".repeat(64),
            "fd00::1",
        ] {
            assert!(!is_rfc1123_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("30000-32767"), Ok((30000, 32767)));
        assert!(parse_port_range("32767-30000").is_err());
        assert!(parse_port_range("30000:32767").is_err());
        assert!(parse_port_range("0-10").is_err());
        assert!(parse_port_range("1-70000").is_err());
        assert_eq!(k8s_minor("1.36.3"), Some(36));
        assert_eq!(k8s_minor("v1.23.1"), Some(23));
        assert_eq!(k8s_minor("latest"), None);
    }
}
