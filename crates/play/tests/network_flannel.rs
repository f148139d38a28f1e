//! Step 06 with `CLUSTER_NETWORK="flannel"` rendered for a two-host cluster (one master, one
//! worker), as `ezctl render` shows it: the flannel manifest on the first master only, with the
//! cluster's pod CIDR, the backend of config.yml and the images the bundle holds
//! (`ezdown --network flannel`); nothing of calico. And the other way round for calico.

use ez_play::render::{FileContent, RenderedFile, render_host};
use ez_play::{Inventory, Library};
use std::path::Path;

const MASTER: &str = "192.168.1.1";
const WORKER: &str = "192.168.1.2";

fn library() -> Library {
    Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks"))
        .expect("playbooks/ must load")
}

/// `ezctl new`'s files cut down to one master (also the etcd member) and one worker, with
/// `network` as CLUSTER_NETWORK and `config_edit` applied to config.yml.
fn two_hosts(network: &str, config_edit: &dyn Fn(String) -> String) -> Inventory {
    let new =
        ez_inventory::templates::render_new("t", &ez_inventory::VersionTable::default(), true)
            .unwrap();
    let mut hosts = String::new();
    let mut section = String::new();
    for line in new.hosts.lines() {
        if line.starts_with('[') {
            section = line.to_string();
            hosts.push_str(line);
            hosts.push('\n');
            match section.as_str() {
                "[etcd]" => hosts.push_str(&format!("{MASTER}\n")),
                "[kube_master]" => hosts.push_str(&format!("{MASTER} k8s_nodename='master-01'\n")),
                "[kube_node]" => hosts.push_str(&format!("{WORKER} k8s_nodename='worker-01'\n")),
                _ => {}
            }
            continue;
        }
        let is_host = line.starts_with(|c: char| c.is_ascii_digit());
        if is_host && ["[etcd]", "[kube_master]", "[kube_node]"].contains(&section.as_str()) {
            continue;
        }
        hosts.push_str(&line.replace(
            "CLUSTER_NETWORK=\"calico\"",
            &format!("CLUSTER_NETWORK=\"{network}\""),
        ));
        hosts.push('\n');
    }
    let config = config_edit(new.config.clone());
    let dir = Path::new("/etc/kubeasz/clusters/t");
    let cluster = ez_inventory::load::parse_cluster(
        "t",
        dir,
        &dir.join("hosts"),
        &hosts,
        &dir.join("config.yml"),
        &config,
    )
    .unwrap_or_else(|d| panic!("the two-host cluster does not load: {:?}", d.0));
    assert_eq!(cluster.derived.cluster_network, network);
    let bundle = tempfile::tempdir().unwrap();
    ez_play::cluster::inventory_from_cluster(&cluster, bundle.path(), "192.168.1.100")
}

fn text(files: &[RenderedFile], path: &str) -> Option<String> {
    files
        .iter()
        .find(|f| f.path == path)
        .map(|f| match &f.content {
            FileContent::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("{path}: {other:?}"),
        })
}

#[test]
fn flannel_renders_for_two_hosts() {
    let lib = library();
    let inv = two_hosts("flannel", &|c| c);
    let opts = Default::default();
    let m = render_host(&lib, "06.network", &inv, MASTER, &opts).unwrap();
    let w = render_host(&lib, "06.network", &inv, WORKER, &opts).unwrap();
    let manifest = text(&m, "/etc/kubernetes/addons/flannel.yaml").expect("flannel manifest");
    // on the first master only, and nothing of calico anywhere
    assert!(text(&w, "/etc/kubernetes/addons/flannel.yaml").is_none());
    for files in [&m, &w] {
        assert!(
            !files.iter().any(|f| f.path.contains("calico")),
            "{:?}",
            files.iter().map(|f| &f.path).collect::<Vec<_>>()
        );
    }
    // net-conf.json: the cluster's pod CIDR, vxlan, no nftables, no DirectRouting by default
    let cidr = inv.vars["CLUSTER_CIDR"].as_str().unwrap();
    assert_eq!(cidr, "172.20.0.0/16");
    assert!(
        manifest.contains(&format!("\"Network\": \"{cidr}\"")),
        "{manifest}"
    );
    assert!(manifest.contains("\"EnableNFTables\": false"));
    assert!(manifest.contains("\"Type\": \"vxlan\""));
    assert!(!manifest.contains("DirectRouting"));
    // the bundle's image names, never pulled
    let v = ez_inventory::VersionTable::default();
    let flannel = format!("image: ghcr.io/flannel-io/flannel:{}", v.flannel);
    assert_eq!(manifest.matches(&flannel).count(), 2, "{manifest}");
    assert!(manifest.contains("image: ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3"));
    let bundle_images = ez_bundle_names(&v);
    for i in &bundle_images {
        assert!(
            manifest.contains(&format!("image: {i}")),
            "{i} not in the manifest"
        );
    }
    assert_eq!(manifest.matches("imagePullPolicy: IfNotPresent").count(), 3);
    // the CNI configuration flannel writes, and the interface flanneld is told to use
    assert!(manifest.contains("/etc/cni/net.d/10-flannel.conflist"));
    assert!(
        manifest.contains("--iface=$(NODE_IP)") && manifest.contains("fieldPath: status.hostIP")
    );
    assert!(!manifest.contains("{{") && !manifest.contains("{%"));
    // every YAML document parses
    for doc in manifest.split("\n---\n") {
        let _: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(doc).unwrap_or_else(|e| panic!("{e}: {doc}"));
    }
}

/// The images `ezdown --network flannel` saves for the network (kept in step with
/// `ez_bundle::images::extra_set("flannel")`; ez-play does not depend on ez-bundle).
fn ez_bundle_names(v: &ez_inventory::VersionTable) -> Vec<String> {
    vec![
        format!("ghcr.io/flannel-io/flannel:{}", v.flannel),
        "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3".to_string(),
    ]
}

#[test]
fn flannel_backend_and_direct_routing_come_from_config() {
    let lib = library();
    let direct = two_hosts("flannel", &|c| {
        c.replace("DIRECT_ROUTING: false", "DIRECT_ROUTING: true")
    });
    let m = render_host(&lib, "06.network", &direct, MASTER, &Default::default()).unwrap();
    let manifest = text(&m, "/etc/kubernetes/addons/flannel.yaml").unwrap();
    assert!(
        manifest.contains("\"DirectRouting\": true,\n        \"Type\": \"vxlan\""),
        "{manifest}"
    );
    let hostgw = two_hosts("flannel", &|c| {
        c.replace("DIRECT_ROUTING: false", "DIRECT_ROUTING: true")
            .replace("FLANNEL_BACKEND: \"vxlan\"", "FLANNEL_BACKEND: \"host-gw\"")
    });
    let m = render_host(&lib, "06.network", &hostgw, MASTER, &Default::default()).unwrap();
    let manifest = text(&m, "/etc/kubernetes/addons/flannel.yaml").unwrap();
    assert!(manifest.contains("\"Type\": \"host-gw\"") && !manifest.contains("DirectRouting"));
}

#[test]
fn calico_clusters_get_no_flannel_and_add_node_follows_the_network() {
    let lib = library();
    let inv = two_hosts("calico", &|c| c);
    let m = render_host(&lib, "06.network", &inv, MASTER, &Default::default()).unwrap();
    assert!(text(&m, "/etc/kubernetes/addons/calico.yaml").is_some());
    assert!(!m.iter().any(|f| f.path.contains("flannel")));
    // add-node / add-master run the same role as step 06
    for pb in ["22.addnode", "23.addmaster"] {
        let plays = &lib.playbooks[pb].plays;
        for net in ["calico", "flannel"] {
            assert!(
                plays.iter().any(|p| p.roles.iter().any(|r| r == net)
                    && p.when.as_deref() == Some(&format!("CLUSTER_NETWORK == \"{net}\"") as &str)),
                "{pb} has no {net} play"
            );
        }
    }
}

/// `ENABLE_LOCAL_DNS_CACHE: false` (a bundle made with `ezdown --without nodelocaldns`): step 07
/// lays down no node-local-dns manifest anywhere and kubelet resolves through the kube-dns
/// service IP instead of the cache address.
#[test]
fn dns_cache_off_leaves_out_nodelocaldns() {
    let lib = library();
    let off = |c: String| {
        ez_inventory::templates::set_config_value(&c, "ENABLE_LOCAL_DNS_CACHE", "false")
    };
    for (edit, cache) in [(&off as &dyn Fn(String) -> String, false), (&|c| c, true)] {
        let inv = two_hosts("flannel", edit);
        let addons =
            render_host(&lib, "07.cluster-addon", &inv, MASTER, &Default::default()).unwrap();
        assert_eq!(
            text(&addons, "/etc/kubernetes/addons/nodelocaldns.yaml").is_some(),
            cache
        );
        assert!(text(&addons, "/etc/kubernetes/addons/coredns.yaml").is_some());
        let node = render_host(&lib, "05.kube-node", &inv, WORKER, &Default::default()).unwrap();
        let kubelet = text(&node, "/var/lib/kubelet/config.yaml").expect("kubelet config");
        let dns = if cache { "169.254.20.10" } else { "10.68.0.2" };
        assert!(kubelet.contains(&format!("- {dns}")), "{kubelet}");
    }
}
