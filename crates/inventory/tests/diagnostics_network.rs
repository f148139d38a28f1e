//! One test per network/choice diagnostic kind (CIDRs, ports, proxy mode, network plugin,
//! runtime, ex_lb), at the right line and column, with a hint. See `diagnostics.rs`.

mod common;

use Severity::{Error, Warning};
use common::{base, diags, edit, one, pos};
use ez_inventory::Severity;

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
