//! Rules on config.yml values whose allowed set kubeasz documents (§ config.yml comments):
//! choice keys, the scheme of `INSECURE_REG` entries, the form of `REGISTRY_MIRRORS` entries,
//! the `LOCAL_DNS_CACHE` address.

use std::net::IpAddr;

use super::Ctx;
use crate::diag::Diagnostic;

/// The entries of `REGISTRY_MIRRORS` (a list of strings; anything else is one entry that
/// does not parse).
fn registry_mirrors(cfg: &crate::config::Config) -> Vec<String> {
    use serde_yaml_ng::Value;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    match cfg.extra.get("REGISTRY_MIRRORS") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(a)) => a.iter().map(text).collect(),
        Some(other) => vec![text(other)],
    }
}

/// Keys of config.yml with a fixed set of values, and that set.
pub const CONFIG_CHOICES: &[(&str, &[&str])] = &[
    ("INSTALL_SOURCE", &["online", "offline"]),
    ("CALICO_ENABLE_OVERLAY", &["Always", "CrossSubnet", "Never"]),
    ("CALICO_NETWORKING_BACKEND", &["bird", "vxlan", "none"]),
    ("OVERLAY_TYPE", &["full", "subnet"]),
    ("KUBE_RESERVED_ENABLED", &["yes", "no"]),
    ("SYS_RESERVED_ENABLED", &["yes", "no"]),
];

pub(super) fn config_values(c: &mut Ctx<'_, '_>) {
    let cfg = c.d.cfg;
    let file = c.d.cfg_file;
    let value = |key: &str| -> &str {
        match key {
            "INSTALL_SOURCE" => &cfg.install_source,
            "CALICO_ENABLE_OVERLAY" => &cfg.calico_enable_overlay,
            "CALICO_NETWORKING_BACKEND" => &cfg.calico_networking_backend,
            "OVERLAY_TYPE" => &cfg.overlay_type,
            "KUBE_RESERVED_ENABLED" => &cfg.kube_reserved_enabled,
            _ => &cfg.sys_reserved_enabled,
        }
    };
    for (key, allowed) in CONFIG_CHOICES {
        let v = value(key);
        if !allowed.contains(&v) {
            c.out.push(
                Diagnostic::error(
                    "config-value",
                    file,
                    cfg.span(key),
                    format!("{key}: \"{v}\" is not one of its values"),
                )
                .with_hint(format!("use one of: {}", allowed.join(", "))),
            );
        }
    }
    for r in &cfg.insecure_reg {
        if !(r.starts_with("http://") || r.starts_with("https://")) {
            c.out.push(
                Diagnostic::error(
                    "config-value",
                    file,
                    cfg.span("INSECURE_REG"),
                    format!("INSECURE_REG entry \"{r}\" has no scheme"),
                )
                .with_hint(format!(
                    "kubeasz needs the scheme: \"http://{r}\" or \"https://{r}\""
                )),
            );
        }
    }
    for m in registry_mirrors(cfg) {
        let mirrors = m.split_once('=').map(|(r, ms)| (r.trim(), ms.split(',')));
        let ok = mirrors.is_some_and(|(r, mut ms)| {
            !r.is_empty()
                && !r.contains("://")
                && ms.all(|u| u.trim().starts_with("http://") || u.trim().starts_with("https://"))
        });
        if !ok {
            c.out.push(
                Diagnostic::error(
                    "config-value",
                    file,
                    cfg.span("REGISTRY_MIRRORS"),
                    format!("REGISTRY_MIRRORS entry \"{m}\" is not REGISTRY=MIRROR[,MIRROR]"),
                )
                .with_hint(
                    "e.g. \"registry.k8s.io=http://10.0.0.10:5000\": the registry as images name it, then its mirrors with their scheme",
                ),
            );
        }
    }
    if cfg.local_dns_cache.parse::<IpAddr>().is_err() {
        c.out.push(
            Diagnostic::error(
                "config-value",
                file,
                cfg.span("LOCAL_DNS_CACHE"),
                format!(
                    "LOCAL_DNS_CACHE \"{}\" is not an IP address",
                    cfg.local_dns_cache
                ),
            )
            .with_hint(
                "node-local DNS listens on a link-local address, kubeasz: \"169.254.20.10\"",
            ),
        );
    }
}
