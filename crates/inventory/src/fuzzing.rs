//! Entry points shared by the cargo-fuzz targets (`fuzz/`) and the stable proptest harness
//! (`tests/fuzz_harness.rs`): feed arbitrary bytes through the parsers and the whole
//! model/validation pipeline and check the invariants that must hold for any input.
//!
//! A violated invariant panics on purpose: that is what the fuzzer looks for.

use std::path::Path;

use crate::diag::Diagnostic;
use crate::load::parse_cluster;
use crate::model::Cluster;
use crate::templates::render_new;
use crate::versions::VersionTable;
use crate::{Config, Inventory};

fn check_spans(text: &str, diags: &[Diagnostic]) {
    let lines = crate::diag::normalize_newlines(text).lines().count().max(1);
    for d in diags {
        assert!(!d.message.is_empty(), "empty message: {d:?}");
        assert!(
            d.hint.as_deref().is_none_or(|h| !h.is_empty()),
            "empty hint: {d:?}"
        );
        if let Some(s) = d.span {
            assert!(s.line >= 1 && s.column >= 1, "0-based span: {d:?}");
            // YAML errors may point just past the last line.
            assert!(
                s.line <= lines + 1,
                "span past the end ({lines} lines): {d:?}"
            );
        }
    }
}

fn example() -> (String, String) {
    static EXAMPLE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    EXAMPLE
        .get_or_init(
            || match render_new("fuzz", &VersionTable::default(), true) {
                Ok(f) => (f.hosts, f.config),
                Err(e) => panic!("embedded templates must render: {e}"),
            },
        )
        .clone()
}

/// Arbitrary bytes as a hosts file: parse, then build a whole cluster with the example config.
pub fn inventory(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (inv, diags) = Inventory::parse(Path::new("hosts"), &text);
    check_spans(&text, &diags);
    for g in &inv.groups {
        assert!(!g.name.is_empty());
    }
    // The example config, parsed once: the fuzzer's time goes to the hosts side.
    static CONFIG: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    let cfg = CONFIG
        .get_or_init(|| Config::parse(Path::new("config.yml"), &example().1).0)
        .clone();
    let dir = Path::new("/fuzz/clusters/c");
    check_result(Cluster::from_parts(
        "c",
        dir,
        inv,
        cfg,
        &dir.join("config.yml"),
        diags,
    ));
}

/// Arbitrary bytes as a config.yml: parse, then build a whole cluster with the example hosts.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (cfg, diags) = Config::parse(Path::new("config.yml"), &text);
    check_spans(&text, &diags);
    for k in cfg.extra.keys() {
        assert!(
            !crate::config::KNOWN_KEYS.contains(&k.as_str()),
            "known key {k} in extra"
        );
    }
    static HOSTS: std::sync::OnceLock<Inventory> = std::sync::OnceLock::new();
    let inv = HOSTS
        .get_or_init(|| Inventory::parse(Path::new("hosts"), &example().0).0)
        .clone();
    let dir = Path::new("/fuzz/clusters/c");
    check_result(Cluster::from_parts(
        "c",
        dir,
        inv,
        cfg,
        &dir.join("config.yml"),
        diags,
    ));
}

/// Bytes split at the first NUL: hosts before, config after.
pub fn both(data: &[u8]) {
    let (h, c) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    whole(&String::from_utf8_lossy(h), &String::from_utf8_lossy(c));
}

fn whole(hosts: &str, config: &str) {
    let dir = Path::new("/fuzz/clusters/c");
    check_result(parse_cluster(
        "c",
        dir,
        &dir.join("hosts"),
        hosts,
        &dir.join("config.yml"),
        config,
    ));
}

fn check_result(r: Result<Cluster, crate::diag::Diagnostics>) {
    match r {
        Ok(c) => {
            assert!(c.warnings.iter().all(|d| !d.is_error()));
            assert!(!c.etcd().is_empty() && !c.kube_master().is_empty());
            assert!(c.etcd().len() % 2 == 1);
            let d = &c.derived;
            assert!(
                d.service_cidr.contains(&d.kubernetes_svc_ip)
                    && d.service_cidr.contains(&d.dns_svc_ip)
            );
            assert!(d.cluster_cidr.contains(&d.cluster_cidr_gw));
            for h in c.k8s_hosts() {
                assert!(
                    crate::validate::is_rfc1123_subdomain(&h.node_name),
                    "{}",
                    h.node_name
                );
            }
            let _ = c.template_context();
            for h in &c.hosts {
                let _ = c.host_context(h);
            }
        }
        Err(d) => assert!(d.errors().count() > 0, "Err without an error"),
    }
}
