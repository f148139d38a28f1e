//! Network rules: ports, the NodePort range, SERVICE_CIDR / CLUSTER_CIDR and how they sit
//! with each other and with the hosts.

use ipnet::IpNet;

use super::{Ctx, parse_port, parse_port_range};
use crate::diag::Diagnostic;
use crate::net::{self, CidrError};

/// Host vars that hold a TCP port.
const PORT_VARS: &[&str] = &["ansible_port", "ansible_ssh_port", "EX_APISERVER_PORT"];

pub(super) fn ports(c: &mut Ctx<'_, '_>) -> Option<(u16, (u16, u16))> {
    let secure = match c.var("SECURE_PORT") {
        None => Some(6443),
        Some(v) => {
            let p = parse_port(v);
            if p.is_none() {
                c.at_var(
                    true,
                    "port-invalid",
                    "SECURE_PORT",
                    format!("SECURE_PORT=\"{v}\" is not a port"),
                    "a port is a number from 1 to 65535 (kubeasz: 6443)".into(),
                );
            }
            p
        }
    };
    let range = match c.var("NODE_PORT_RANGE").map(str::to_string) {
        None => None,
        Some(v) => match parse_port_range(&v) {
            Ok(r) => Some(r),
            Err(e) => {
                c.at_var(
                    true,
                    "node-port-range",
                    "NODE_PORT_RANGE",
                    e,
                    "kubeasz's default is \"30000-32767\"".into(),
                );
                None
            }
        },
    };
    if c.d.cfg.harbor_tls_port == 0 {
        let span = c.d.cfg.span("HARBOR_TLS_PORT");
        c.out.push(
            Diagnostic::error("port-invalid", c.d.cfg_file, span, "HARBOR_TLS_PORT is 0")
                .with_hint("a port is a number from 1 to 65535"),
        );
    }
    let file = c.d.inv.file.clone();
    for h in &c.d.hosts {
        for k in PORT_VARS {
            let Some(v) = h.vars.get(*k) else { continue };
            if parse_port(v).is_none() {
                let span = h.origins.get(*k).and_then(|o| o.span);
                c.out.push(
                    Diagnostic::error(
                        "port-invalid",
                        &file,
                        span,
                        format!("{k}={v} of {} is not a port", h.name),
                    )
                    .with_hint("a port is a number from 1 to 65535"),
                );
            }
        }
    }
    Some((secure?, range?))
}

fn cidr(c: &mut Ctx<'_, '_>, key: &str) -> Option<IpNet> {
    let v = c.var(key)?.to_string();
    match net::parse_cidr(&v) {
        Ok(n) => {
            let room = match n {
                IpNet::V4(_) => n.prefix_len() <= 30,
                IpNet::V6(_) => n.prefix_len() <= 126,
            };
            if !room {
                c.at_var(
                    true,
                    "cidr-invalid",
                    key,
                    format!("{key}=\"{v}\" is too small"),
                    "it needs room for the network address + 2; use a /30 or larger".into(),
                );
                return None;
            }
            Some(n)
        }
        Err(e @ CidrError::HostBits { network, .. }) => {
            c.at_var(
                true,
                "cidr-invalid",
                key,
                format!("{key}: {e}"),
                format!("write it as \"{network}\""),
            );
            None
        }
        Err(e) => {
            c.at_var(
                true,
                "cidr-invalid",
                key,
                format!("{key}: {e}"),
                "e.g. SERVICE_CIDR=\"10.68.0.0/16\"".into(),
            );
            None
        }
    }
}

pub(super) fn cidrs(c: &mut Ctx<'_, '_>) -> Option<(IpNet, IpNet)> {
    let svc = cidr(c, "SERVICE_CIDR");
    let pod = cidr(c, "CLUSTER_CIDR");
    if let Some(s) = svc {
        let too_big = match s {
            IpNet::V4(_) => s.prefix_len() < 12,
            IpNet::V6(_) => s.prefix_len() < 108,
        };
        if too_big {
            c.at_var(
                false,
                "cidr-invalid",
                "SERVICE_CIDR",
                format!("SERVICE_CIDR {s} has more than 2^20 addresses"),
                "kube-apiserver's default allocator refuses service ranges over 20 host bits (IPv4 /12, IPv6 /108)".into(),
            );
        }
    }
    if let (Some(s), Some(p)) = (svc, pod) {
        if net::overlaps(&s, &p) {
            c.at_var(
                true,
                "cidr-overlap",
                "CLUSTER_CIDR",
                format!("CLUSTER_CIDR {p} overlaps SERVICE_CIDR {s}"),
                "pod and service addresses must be disjoint; pick another private range for one of them".into(),
            );
        }
        if matches!(s, IpNet::V4(_)) != matches!(p, IpNet::V4(_)) {
            c.at_var(
                true,
                "cidr-family",
                "CLUSTER_CIDR",
                format!("CLUSTER_CIDR {p} and SERVICE_CIDR {s} are of different IP families"),
                "use IPv4 (or IPv6) for both".into(),
            );
        }
        let len = c.d.cfg.node_cidr_len;
        if len <= p.prefix_len() || len > p.max_prefix_len() {
            let span = c.d.cfg.span("NODE_CIDR_LEN");
            c.out.push(
                Diagnostic::error(
                    "node-cidr-len",
                    c.d.cfg_file,
                    span,
                    format!(
                        "NODE_CIDR_LEN {len} does not split CLUSTER_CIDR {p} into per-node ranges"
                    ),
                )
                .with_hint(format!(
                    "it must be longer than /{} and at most /{} (kubeasz: 24)",
                    p.prefix_len(),
                    p.max_prefix_len()
                )),
            );
        }
    }
    let file = c.d.inv.file.clone();
    for h in &c.d.hosts {
        let Some(a) = h.addr else { continue };
        for (key, n) in [("SERVICE_CIDR", svc), ("CLUSTER_CIDR", pod)] {
            if let Some(n) = n
                && n.contains(&a)
            {
                c.out.push(
                    Diagnostic::error(
                        "host-in-cidr",
                        &file,
                        Some(h.span),
                        format!("host {a} is inside {key} {n}"),
                    )
                    .with_hint(format!(
                        "{key} must not overlap the hosts' network; pick a range no host uses"
                    )),
                );
            }
        }
    }
    Some((svc?, pod?))
}
