//! One test per diagnostic kind (files, syntax, variables, groups, hosts): the rule fires, at
//! the right line and column, with a hint. Inputs are the rendered example files with one
//! edit each; positions are computed from the edited text so the assertions pin the place.
//! Network rules are in `diagnostics_network.rs`.

mod common;

use std::path::Path;

use Severity::{Error, Warning};
use common::{DIR, base, diags, edit, one, pos};
use ez_inventory::{Severity, load_cluster, parse_cluster};

#[test]
fn ini_syntax() {
    let (h, c) = base();
    let h = edit(&h, "[kube_node]", "[kube_node");
    let ds = diags(&h, &c);
    one(
        &ds,
        "ini-syntax",
        Error,
        "hosts",
        Some(pos(&h, "[kube_node")),
    );
}

#[test]
fn yaml_syntax() {
    let (h, c) = base();
    let c = edit(&c, "MAX_PODS: 110", "MAX_PODS: [110");
    let d = one(
        &diags(&h, &c),
        "yaml-syntax",
        Error,
        "config.yml",
        diags(&h, &c)[0].span.map(|s| (s.line, s.column)),
    );
    // The parser reports the position where it gave up: at or after the bad line.
    assert!(d.line() >= pos(&c, "MAX_PODS").0, "{d}");
}

#[test]
fn yaml_type() {
    let (h, c) = base();
    let c = edit(&c, "MAX_PODS: 110", "MAX_PODS: lots");
    let d = one(
        &diags(&h, &c),
        "yaml-type",
        Error,
        "config.yml",
        Some(pos(&c, "lots")),
    );
    assert!(d.message.contains("MAX_PODS"), "{d}");
}

#[test]
fn unknown_key_is_kept_with_a_warning() {
    let (h, c) = base();
    let c = format!("{c}MAX_POD: 3\n");
    let ds = diags(&h, &c);
    let d = one(
        &ds,
        "unknown-key",
        Warning,
        "config.yml",
        Some(pos(&c, "MAX_POD: 3")).map(|(l, _)| (l, 10)),
    );
    assert!(
        d.hint.as_deref().is_some_and(|h| h.contains("MAX_PODS")),
        "{d}"
    );
}

#[test]
fn config_overrides_hosts() {
    let (h, c) = base();
    let c = format!("{c}PROXY_MODE: \"ipvs\"\n");
    let dir = Path::new(DIR);
    let cl = parse_cluster(
        "demo",
        dir,
        &dir.join("hosts"),
        &h,
        &dir.join("config.yml"),
        &c,
    )
    .expect("valid");
    one(
        &cl.warnings,
        "config-overrides-hosts",
        Warning,
        "config.yml",
        Some(pos(&c, "\"ipvs\"")),
    );
    assert_eq!(cl.derived.proxy_mode, "ipvs");
    assert_eq!(cl.values()["PROXY_MODE"], "ipvs");
}

#[test]
fn var_cycle() {
    let (h, c) = base();
    let h = edit(
        &h,
        "base_dir=\"/etc/kubeasz\"",
        "base_dir=\"{{ cluster_dir }}/x\"",
    );
    one(
        &diags(&h, &c),
        "var-cycle",
        Error,
        "hosts",
        Some(pos(&h, "\"{{ cluster_dir }}/x\"")),
    );
}

#[test]
fn var_undefined() {
    let (h, c) = base();
    let h = edit(
        &h,
        "bin_dir=\"/opt/kube/bin\"",
        "bin_dir=\"{{ nope }}/bin\"",
    );
    one(
        &diags(&h, &c),
        "var-undefined",
        Warning,
        "hosts",
        Some(pos(&h, "\"{{ nope }}/bin\"")),
    );
}

#[test]
fn var_missing() {
    let (h, c) = base();
    let h = edit(&h, "CLUSTER_DNS_DOMAIN=\"cluster.local\"", "");
    let d = one(
        &diags(&h, &c),
        "var-missing",
        Error,
        "hosts",
        Some(pos(&h, "[all:vars]")),
    );
    assert!(d.message.contains("CLUSTER_DNS_DOMAIN"));
}

#[test]
fn group_empty() {
    let (h, c) = base();
    let h = edit(
        &h,
        "192.168.1.1 k8s_nodename='master-01'\n192.168.1.2 k8s_nodename='master-02'\n192.168.1.3 k8s_nodename='master-03'\n",
        "",
    );
    one(
        &diags(&h, &c),
        "group-empty",
        Error,
        "hosts",
        Some(pos(&h, "[kube_master]")),
    );
    // A missing group has no position.
    let (h, c) = base();
    let h = edit(&h, "[etcd]\n192.168.1.1\n192.168.1.2\n192.168.1.3\n", "");
    one(&diags(&h, &c), "group-empty", Error, "hosts", None);
}

#[test]
fn etcd_even() {
    let (h, c) = base();
    let h = edit(&h, "192.168.1.3\n", "");
    let d = one(
        &diags(&h, &c),
        "etcd-even",
        Error,
        "hosts",
        Some(pos(&h, "[etcd]")),
    );
    assert!(d.message.contains("2 members"));
}

#[test]
fn host_invalid_ip() {
    let (h, c) = base();
    let h = edit(&h, "192.168.1.4 k8s", "192.168.1.400 k8s");
    one(
        &diags(&h, &c),
        "host-invalid-ip",
        Error,
        "hosts",
        Some(pos(&h, "192.168.1.400")),
    );
}

#[test]
fn host_duplicate() {
    let (h, c) = base();
    let h = edit(
        &h,
        "192.168.1.5 k8s_nodename='worker-02'\n",
        "192.168.1.5 k8s_nodename='worker-02'\n192.168.1.5\n",
    );
    let (l, _) = pos(&h, "192.168.1.5 k8s_nodename");
    one(
        &diags(&h, &c),
        "host-duplicate",
        Error,
        "hosts",
        Some((l + 1, 1)),
    );
}

#[test]
fn nodename_invalid() {
    let (h, c) = base();
    let h = edit(&h, "k8s_nodename='worker-02'", "k8s_nodename='Worker_02!'");
    let d = one(
        &diags(&h, &c),
        "nodename-invalid",
        Error,
        "hosts",
        Some(pos(&h, "'Worker_02!'")),
    );
    assert!(d.message.contains("worker-02!"), "{d}");
}

#[test]
fn nodename_duplicate() {
    let (h, c) = base();
    let h = edit(&h, "k8s_nodename='worker-02'", "k8s_nodename='worker-01'");
    let (l, _) = pos(&h, "192.168.1.5");
    let (_, col) = pos(&h, "'worker-01'\n\n");
    one(
        &diags(&h, &c),
        "nodename-duplicate",
        Error,
        "hosts",
        Some((l, col)),
    );
}

#[test]
fn host_ungrouped_warns() {
    let (h, c) = base();
    let h = format!("10.1.1.1\n{h}");
    one(
        &diags(&h, &c),
        "host-ungrouped",
        Warning,
        "hosts",
        Some((1, 1)),
    );
}

#[test]
fn custom_nodename_template_warns() {
    let (h, c) = base();
    let start = c.find("K8S_NODENAME: ").expect("key");
    let end = start + c[start..].find('\n').expect("eol");
    let c = format!(
        "{}K8S_NODENAME: \"{{{{ inventory_hostname|upper }}}}\"{}",
        &c[..start],
        &c[end..]
    );
    one(
        &diags(&h, &c),
        "custom-nodename-template",
        Warning,
        "config.yml",
        Some(pos(&c, "\"{{ inventory_hostname|upper")),
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let (h, c) = base();
    let h = edit(&h, "192.168.1.3\n", "");
    let h = edit(&h, "PROXY_MODE=\"nftables\"", "PROXY_MODE=\"x\"");
    let h = edit(&h, "CLUSTER_NETWORK=\"calico\"", "CLUSTER_NETWORK=\"y\"");
    let h = edit(&h, "SERVICE_CIDR=\"10.68.0.0/16\"", "SERVICE_CIDR=\"nope\"");
    let c = edit(&c, "MAX_PODS: 110", "MAX_PODS: many");
    let mut codes: Vec<_> = diags(&h, &c)
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.code)
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "cidr-invalid",
            "cluster-network",
            "etcd-even",
            "proxy-mode",
            "yaml-type"
        ]
    );
}

#[test]
fn io_missing_folder_and_file() {
    let t = tempfile::tempdir().expect("tmp");
    let d = load_cluster(&t.path().join("nope")).expect_err("missing");
    assert_eq!(d.0.len(), 1);
    assert_eq!(d.0[0].code, "io-missing");
    assert!(
        d.0[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("ezctl new nope"))
    );
    let dir = t.path().join("c1");
    std::fs::create_dir(&dir).expect("mkdir");
    let (h, _) = base();
    std::fs::write(dir.join("hosts"), h).expect("write");
    let d = load_cluster(&dir).expect_err("no config");
    assert_eq!(d.0.len(), 1);
    assert_eq!(
        (d.0[0].code, d.0[0].file.clone(), d.0[0].span),
        ("io-missing", dir.join("config.yml"), None)
    );
}

#[test]
fn io_permission() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().expect("tmp");
    let dir = t.path().join("locked");
    std::fs::create_dir(&dir).expect("mkdir");
    let (h, c) = base();
    std::fs::write(dir.join("hosts"), h).expect("write");
    std::fs::write(dir.join("config.yml"), c).expect("write");
    std::fs::set_permissions(
        dir.join("config.yml"),
        std::fs::Permissions::from_mode(0o000),
    )
    .expect("chmod");
    let readable = std::fs::read(dir.join("config.yml")).is_ok();
    let r = load_cluster(&dir);
    if readable {
        // root ignores file modes: the folder loads.
        assert!(r.is_ok());
    } else {
        let d = r.expect_err("unreadable");
        assert_eq!(d.0[0].code, "io-permission");
    }
}

#[test]
fn config_value() {
    let (h, c) = base();
    let c = edit(
        &c,
        "CALICO_NETWORKING_BACKEND: \"bird\"",
        "CALICO_NETWORKING_BACKEND: \"bgp\"",
    );
    let d = one(
        &diags(&h, &c),
        "config-value",
        Error,
        "config.yml",
        Some(pos(&c, "\"bgp\"")),
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("bird, vxlan, none"))
    );
    let (h, c) = base();
    let c = edit(
        &c,
        "  - \"https://reg.yourcompany.com\"",
        "  - \"reg.yourcompany.com\"",
    );
    let (l, _) = pos(&c, "INSECURE_REG:");
    one(
        &diags(&h, &c),
        "config-value",
        Error,
        "config.yml",
        Some((l, 14)),
    );
    let (h, c) = base();
    let c = edit(
        &c,
        "LOCAL_DNS_CACHE: \"169.254.20.10\"",
        "LOCAL_DNS_CACHE: \"dns\"",
    );
    one(
        &diags(&h, &c),
        "config-value",
        Error,
        "config.yml",
        Some(pos(&c, "\"dns\"")),
    );
}
