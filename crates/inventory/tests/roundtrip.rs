//! Round trip of the embedded example files: render → parse → model → expected values.

use std::net::IpAddr;
use std::path::Path;

use ez_inventory::templates::{self, AioWishes};
use ez_inventory::{VersionTable, parse_cluster};

fn load(hosts: &str, config: &str) -> ez_inventory::Cluster {
    let dir = Path::new("/etc/kubeasz/clusters/demo");
    match parse_cluster(
        "demo",
        dir,
        &dir.join("hosts"),
        hosts,
        &dir.join("config.yml"),
        config,
    ) {
        Ok(c) => c,
        Err(d) => panic!("example did not load:\n{d}"),
    }
}

#[test]
fn new_cluster_files_load_without_any_diagnostic() {
    let v = VersionTable::default();
    let files = templates::render_new("demo", &v, true).expect("render");
    assert!(
        files
            .hosts
            .contains("cluster_dir=\"{{ base_dir }}/clusters/demo\"")
    );
    assert!(!files.config.contains("{#"));
    let c = load(&files.hosts, &files.config);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    // Groups, order and hosts.
    let ips = |hs: Vec<&ez_inventory::Host>| hs.iter().map(|h| h.name.clone()).collect::<Vec<_>>();
    assert_eq!(ips(c.etcd()), ["192.168.1.1", "192.168.1.2", "192.168.1.3"]);
    assert_eq!(
        ips(c.kube_master()),
        ["192.168.1.1", "192.168.1.2", "192.168.1.3"]
    );
    assert_eq!(ips(c.kube_node()), ["192.168.1.4", "192.168.1.5"]);
    assert_eq!(c.first_master().name, "192.168.1.1");
    let groups: Vec<_> = c.inventory.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        groups,
        [
            "etcd",
            "kube_master",
            "kube_node",
            "harbor",
            "ex_lb",
            "chrony",
            "all"
        ]
    );

    // Node names and vars.
    let m1 = c.host("192.168.1.1").expect("master");
    assert_eq!(m1.node_name, "master-01");
    assert_eq!(m1.groups, ["etcd", "kube_master"]);
    assert_eq!(m1.vars["cluster_dir"], "/etc/kubeasz/clusters/demo");
    assert_eq!(m1.vars["ansible_python_interpreter"], "/usr/bin/python3");
    assert_eq!(c.host("192.168.1.5").expect("w2").node_name, "worker-02");

    // Derived values.
    let d = &c.derived;
    assert_eq!(
        d.kubernetes_svc_ip,
        "10.68.0.1".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(d.dns_svc_ip, "10.68.0.2".parse::<IpAddr>().expect("ip"));
    assert_eq!(
        d.cluster_cidr_gw,
        "172.20.0.1".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(d.node_port_range, (30000, 32767));
    assert_eq!(
        (
            d.proxy_mode.as_str(),
            d.cluster_network.as_str(),
            d.container_runtime.as_str()
        ),
        ("nftables", "calico", "containerd")
    );
    assert_eq!(
        c.etcd_endpoints(),
        "https://192.168.1.1:2379,https://192.168.1.2:2379,https://192.168.1.3:2379"
    );
    assert_eq!(
        c.etcd_initial_cluster(),
        "etcd-192.168.1.1=https://192.168.1.1:2380,etcd-192.168.1.2=https://192.168.1.2:2380,etcd-192.168.1.3=https://192.168.1.3:2380"
    );
    assert_eq!(c.kube_apiserver(), "https://192.168.1.1:6443");

    // Config values carry the version table.
    assert_eq!(c.config.k8s_ver, "1.36.3");
    assert_eq!(c.config.calico_ver, v.calico);
    assert_eq!(
        c.config.sandbox_image,
        format!("easzlab.io.local:5000/easzlab/pause:{}", v.pause)
    );
    assert!(c.config.enable_mirror_registry);
    assert_eq!(c.context_name(), "context-cluster1");
    assert_eq!(c.calico_ver_main(), "v3.32");
    assert_eq!(c.harbor_registry(), "harbor.easzlab.io.local:8443");
    assert_eq!(c.ip_autodetection_method(), "can-reach=192.168.1.1");
    assert_eq!(c.config, {
        let mut d = ez_inventory::Config::defaults_for(&v);
        d.spans = c.config.spans.clone();
        d
    });

    // The template context.
    let vals = c.values();
    assert_eq!(vals["CLUSTER_KUBERNETES_SVC_IP"], "10.68.0.1");
    assert_eq!(vals["CLUSTER_DNS_SVC_IP"], "10.68.0.2");
    assert_eq!(vals["MAX_PODS"], 110);
    assert_eq!(vals["ENABLE_LOCAL_DNS_CACHE"], true);
    assert_eq!(vals["groups"]["kube_master"][0], "192.168.1.1");
    assert_eq!(vals["SERVICE_CIDR"], "10.68.0.0/16");
    let hv = c.host_values(m1);
    assert_eq!(hv["K8S_NODENAME"], "master-01");
    assert_eq!(hv["inventory_hostname"], "192.168.1.1");
    let out = tera::Tera::one_off(
        "{{ K8S_NODENAME }} {{ CLUSTER_DNS_SVC_IP }} {{ groups.etcd | length }} {{ ETCD_ENDPOINTS }}",
        &c.host_context(m1),
        false,
    )
    .expect("render");
    assert_eq!(out, format!("master-01 10.68.0.2 3 {}", c.etcd_endpoints()));
    let block = tera::Tera::one_off(
        "{% for h in groups.kube_node %}{{ h }} {{ hostvars[h].K8S_NODENAME }};{% endfor %}",
        &c.template_context(),
        false,
    )
    .expect("render");
    assert_eq!(block, "192.168.1.4 worker-01;192.168.1.5 worker-02;");
}

#[test]
fn new_follows_another_version_table() {
    let v = VersionTable::default().with_kubernetes("1.35.6");
    let files = templates::render_new("other", &v, false).expect("render");
    let c = load(&files.hosts, &files.config);
    assert_eq!(c.config.k8s_ver, "1.35.6");
    assert!(!c.config.enable_mirror_registry);
    assert_eq!(c.vars["cluster_dir"], "/etc/kubeasz/clusters/other");
}

#[test]
fn allinone_forces_calico_and_iptables() {
    let ip: IpAddr = "10.0.0.5".parse().expect("ip");
    let (hosts, notes) =
        templates::render_allinone("default", ip, &AioWishes::default()).expect("render");
    assert!(notes.is_empty());
    let cfg = templates::render_new("default", &VersionTable::default(), true)
        .expect("render")
        .config;
    let c = load(&hosts, &cfg);
    assert_eq!(c.hosts.len(), 1);
    let h = &c.hosts[0];
    assert_eq!(h.groups, ["etcd", "kube_master", "kube_node"]);
    assert_eq!(h.node_name, "k8s-10-0-0-5");
    assert_eq!(c.derived.cluster_network, "calico");
    assert_eq!(c.derived.proxy_mode, "iptables");

    let wishes = AioWishes {
        cluster_network: Some("cilium".into()),
        proxy_mode: Some("iptables".into()),
    };
    let (_, notes) = templates::render_allinone("default", ip, &wishes).expect("render");
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("CLUSTER_NETWORK=\"calico\"") && notes[0].contains("cilium"),
        "{notes:?}"
    );
}

#[test]
fn allinone_may_use_flannel_and_leave_the_dns_cache_off() {
    let ip: IpAddr = "10.0.0.5".parse().expect("ip");
    let wishes = AioWishes {
        cluster_network: Some("flannel".into()),
        proxy_mode: None,
    };
    let (hosts, notes) = templates::render_allinone("default", ip, &wishes).expect("render");
    assert!(notes.is_empty(), "{notes:?}");
    let cfg = templates::render_new("default", &VersionTable::default(), true)
        .expect("render")
        .config;
    let cfg = templates::set_config_value(&cfg, "ENABLE_LOCAL_DNS_CACHE", "false");
    let c = load(&hosts, &cfg);
    assert_eq!(c.derived.cluster_network, "flannel");
    assert_eq!(c.derived.proxy_mode, "iptables");
    assert!(!c.config.enable_local_dns_cache);
    assert_eq!(c.config.flannel_backend, "vxlan");
}

#[test]
fn allinone_ipv6_host() {
    let ip: IpAddr = "fd00::5".parse().expect("ip");
    let (hosts, _) = templates::render_allinone("v6", ip, &AioWishes::default()).expect("render");
    let hosts = hosts
        .replace("10.68.0.0/16", "fd00:10:68::/108")
        .replace("172.20.0.0/16", "fd00:172:20::/56");
    let cfg = templates::render_new("v6", &VersionTable::default(), true)
        .expect("render")
        .config
        .replace("NODE_CIDR_LEN: 24", "NODE_CIDR_LEN: 64");
    let c = load(&hosts, &cfg);
    assert_eq!(c.hosts[0].node_name, "k8s-fd00--5");
    assert_eq!(
        c.derived.kubernetes_svc_ip,
        "fd00:10:68::1".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(c.etcd_endpoints(), "https://[fd00::5]:2379");
}

#[test]
fn bad_cluster_names_are_refused() {
    for bad in ["", "../x", "a/b", ".hidden", "-x", "sp ace"] {
        assert!(
            templates::render_new(bad, &VersionTable::default(), true).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn rendered_files_keep_kubeasz_key_order() {
    let files = templates::render_new("demo", &VersionTable::default(), true).expect("render");
    let map: serde_yaml_ng::Mapping = serde_yaml_ng::from_str(&files.config).expect("yaml");
    let keys: Vec<&str> = map.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(keys, ez_inventory::config::KNOWN_KEYS);
    let (inv, _) = ez_inventory::Inventory::parse(Path::new("hosts"), &files.hosts);
    let vars: Vec<&str> = inv.all_vars().iter().map(|v| v.key.as_str()).collect();
    assert_eq!(
        vars,
        [
            "SECURE_PORT",
            "CONTAINER_RUNTIME",
            "CLUSTER_NETWORK",
            "PROXY_MODE",
            "SERVICE_CIDR",
            "CLUSTER_CIDR",
            "NODE_PORT_RANGE",
            "CLUSTER_DNS_DOMAIN",
            "bin_dir",
            "base_dir",
            "cluster_dir",
            "ca_dir",
            "k8s_nodename",
            "ansible_python_interpreter"
        ]
    );
}
