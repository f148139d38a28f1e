//! One test per diagnostic kind: the rule fires, at the right line and column, with a hint.
//! Inputs are the rendered example files with one edit each; positions are computed from the
//! edited text so the assertions pin the exact place.

use std::path::Path;

use ez_inventory::templates::render_new;
use ez_inventory::{Diagnostic, Severity, VersionTable, load_cluster, parse_cluster};

const DIR: &str = "/etc/kubeasz/clusters/demo";

fn base() -> (String, String) {
    let f = render_new("demo", &VersionTable::default(), true).expect("render");
    (f.hosts, f.config)
}

/// Every diagnostic for the two texts.
fn diags(hosts: &str, config: &str) -> Vec<Diagnostic> {
    let dir = Path::new(DIR);
    match parse_cluster(
        "demo",
        dir,
        &dir.join("hosts"),
        hosts,
        &dir.join("config.yml"),
        config,
    ) {
        Ok(c) => c.warnings,
        Err(d) => d.0,
    }
}

/// 1-based line and column of the first occurrence of `needle` in `text`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in text"));
    let line = text[..at].matches('\n').count() + 1;
    let col = text[..at]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.chars().count())
        + 1;
    (line, col)
}

fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in text");
    text.replacen(from, to, 1)
}

/// The only diagnostic with `code`, checked for severity, file, position and hint.
#[track_caller]
fn one(
    ds: &[Diagnostic],
    code: &str,
    sev: Severity,
    file: &str,
    at: Option<(usize, usize)>,
) -> Diagnostic {
    let found: Vec<_> = ds.iter().filter(|d| d.code == code).collect();
    assert_eq!(found.len(), 1, "expected one `{code}`, got {ds:#?}");
    let d = found[0].clone();
    assert_eq!(d.severity, sev, "{d}");
    assert_eq!(d.file, Path::new(DIR).join(file), "{d}");
    assert_eq!(d.span.map(|s| (s.line, s.column)), at, "{d}");
    assert!(
        d.hint.as_deref().is_some_and(|h| !h.is_empty()),
        "no hint: {d}"
    );
    d
}

use Severity::{Error, Warning};

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
fn cidr_invalid() {
    let (h, c) = base();
    let h = edit(
        &h,
        "SERVICE_CIDR=\"10.68.0.0/16\"",
        "SERVICE_CIDR=\"10.68.0.1/16\"",
    );
    let d = one(
        &diags(&h, &c),
        "cidr-invalid",
        Error,
        "hosts",
        Some(pos(&h, "\"10.68.0.1/16\"")),
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("10.68.0.0/16")),
        "{d}"
    );
    let (h, c) = base();
    let h = edit(
        &h,
        "CLUSTER_CIDR=\"172.20.0.0/16\"",
        "CLUSTER_CIDR=\"172.20.0.0/31\"",
    );
    one(
        &diags(&h, &c),
        "cidr-invalid",
        Error,
        "hosts",
        Some(pos(&h, "\"172.20.0.0/31\"")),
    );
}

#[test]
fn cidr_overlap() {
    let (h, c) = base();
    let h = edit(
        &h,
        "CLUSTER_CIDR=\"172.20.0.0/16\"",
        "CLUSTER_CIDR=\"10.68.128.0/17\"",
    );
    one(
        &diags(&h, &c),
        "cidr-overlap",
        Error,
        "hosts",
        Some(pos(&h, "\"10.68.128.0/17\"")),
    );
}

#[test]
fn cidr_family() {
    let (h, c) = base();
    let h = edit(
        &h,
        "CLUSTER_CIDR=\"172.20.0.0/16\"",
        "CLUSTER_CIDR=\"fd00:20::/56\"",
    );
    let c = edit(&c, "NODE_CIDR_LEN: 24", "NODE_CIDR_LEN: 64");
    one(
        &diags(&h, &c),
        "cidr-family",
        Error,
        "hosts",
        Some(pos(&h, "\"fd00:20::/56\"")),
    );
}

#[test]
fn host_in_cidr() {
    let (h, c) = base();
    let h = edit(
        &h,
        "SERVICE_CIDR=\"10.68.0.0/16\"",
        "SERVICE_CIDR=\"192.168.1.0/29\"",
    );
    let ds = diags(&h, &c);
    let found: Vec<_> = ds.iter().filter(|d| d.code == "host-in-cidr").collect();
    assert_eq!(found.len(), 5, "{ds:#?}");
    assert_eq!(
        found[0].span.map(|s| (s.line, s.column)),
        Some(pos(&h, "192.168.1.1\n"))
    );
}

#[test]
fn node_cidr_len() {
    let (h, c) = base();
    let c = edit(&c, "NODE_CIDR_LEN: 24", "NODE_CIDR_LEN: 16");
    one(
        &diags(&h, &c),
        "node-cidr-len",
        Error,
        "config.yml",
        Some(pos(&c, "16\n")),
    );
}

#[test]
fn proxy_mode() {
    let (h, c) = base();
    let h = edit(&h, "PROXY_MODE=\"nftables\"", "PROXY_MODE=\"userspace\"");
    let d = one(
        &diags(&h, &c),
        "proxy-mode",
        Error,
        "hosts",
        Some(pos(&h, "\"userspace\"")),
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("iptables, ipvs, nftables"))
    );
}

#[test]
fn proxy_mode_nftables_with_kube_ovn_warns() {
    let (h, c) = base();
    let h = edit(
        &h,
        "CLUSTER_NETWORK=\"calico\"",
        "CLUSTER_NETWORK=\"kube-ovn\"",
    );
    one(
        &diags(&h, &c),
        "proxy-mode",
        Warning,
        "hosts",
        Some(pos(&h, "\"nftables\"")),
    );
}

#[test]
fn cluster_network() {
    let (h, c) = base();
    let h = edit(
        &h,
        "CLUSTER_NETWORK=\"calico\"",
        "CLUSTER_NETWORK=\"weave\"",
    );
    one(
        &diags(&h, &c),
        "cluster-network",
        Error,
        "hosts",
        Some(pos(&h, "\"weave\"")),
    );
}

#[test]
fn container_runtime() {
    let (h, c) = base();
    let h = edit(
        &h,
        "CONTAINER_RUNTIME=\"containerd\"",
        "CONTAINER_RUNTIME=\"docker\"",
    );
    let d = one(
        &diags(&h, &c),
        "container-runtime",
        Error,
        "hosts",
        Some(pos(&h, "\"docker\"")),
    );
    assert!(d.message.contains("1.36.3"), "{d}");
    // docker is fine below 1.24.
    let c = edit(&c, "K8S_VER: \"1.36.3\"", "K8S_VER: \"1.23.17\"");
    assert!(diags(&h, &c).iter().all(|d| d.code != "container-runtime"));
    let (h, c) = base();
    let h = edit(
        &h,
        "CONTAINER_RUNTIME=\"containerd\"",
        "CONTAINER_RUNTIME=\"cri-o\"",
    );
    one(
        &diags(&h, &c),
        "container-runtime",
        Error,
        "hosts",
        Some(pos(&h, "\"cri-o\"")),
    );
}

#[test]
fn k8s_version() {
    let (h, c) = base();
    let c = edit(&c, "K8S_VER: \"1.36.3\"", "K8S_VER: \"latest\"");
    one(
        &diags(&h, &c),
        "k8s-version",
        Error,
        "config.yml",
        Some(pos(&c, "\"latest\"")),
    );
}

#[test]
fn port_invalid() {
    let (h, c) = base();
    let h = edit(&h, "SECURE_PORT=\"6443\"", "SECURE_PORT=\"0\"");
    let h = edit(
        &h,
        "192.168.1.4 k8s_nodename='worker-01'",
        "192.168.1.4 k8s_nodename='worker-01' ansible_ssh_port=70000",
    );
    let ds = diags(&h, &c);
    let found: Vec<_> = ds
        .iter()
        .filter(|d| d.code == "port-invalid")
        .map(|d| d.span.map(|s| (s.line, s.column)))
        .collect();
    assert_eq!(
        found,
        [Some(pos(&h, "\"0\"")), Some(pos(&h, "70000"))],
        "{ds:#?}"
    );
}

#[test]
fn node_port_range() {
    let (h, c) = base();
    let h = edit(
        &h,
        "NODE_PORT_RANGE=\"30000-32767\"",
        "NODE_PORT_RANGE=\"32767-30000\"",
    );
    one(
        &diags(&h, &c),
        "node-port-range",
        Error,
        "hosts",
        Some(pos(&h, "\"32767-30000\"")),
    );
}

#[test]
fn ex_lb_vars() {
    let (h, c) = base();
    let h = edit(
        &h,
        "#192.168.1.6 LB_ROLE=backup",
        "192.168.1.6 LB_ROLE=backupp",
    );
    one(
        &diags(&h, &c),
        "ex-lb-vars",
        Error,
        "hosts",
        Some(pos(&h, "backupp")),
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
