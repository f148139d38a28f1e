//! Steps 06 (calico) and 07 (cluster addons) render for kubeasz's example cluster
//! (hosts.multi-node + config.yml as `ezctl new` writes them): every manifest parses as YAML,
//! names exactly the images the bundle carries (crates/bundle's default image set), and carries
//! the cluster's values; the variants (calico backend, nodelocaldns by PROXY_MODE) differ as
//! they should; switching an addon off leaves its files out.

use ez_play::render::{FileContent, render_host};
use ez_play::{Inventory, Library};
use serde_json::{Value, json};
use std::path::Path;

fn lib() -> Library {
    Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks")).unwrap()
}

/// The example cluster with `extra` config.yml lines, and a bundle with calicoctl.
fn inventory(extra: &str) -> (Inventory, tempfile::TempDir) {
    let new =
        ez_inventory::templates::render_new("t", &ez_inventory::VersionTable::default(), true)
            .unwrap();
    let dir = Path::new("/etc/kubeasz/clusters/t");
    // Each `KEY: value` line of `extra` replaces that key's line (config.yml has most keys).
    let mut config = new.config.clone();
    for line in extra.lines() {
        let key = line.split(':').next().unwrap();
        let old = config
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .map(str::to_string);
        match old {
            Some(old) => config = config.replace(&old, line),
            None => config.push_str(&format!("\n{line}\n")),
        }
    }
    let cluster = ez_inventory::load::parse_cluster(
        "t",
        dir,
        &dir.join("hosts"),
        &new.hosts,
        &dir.join("config.yml"),
        &config,
    )
    .unwrap_or_else(|d| panic!("example cluster does not load: {:?}", d.0));
    let bundle = tempfile::tempdir().unwrap();
    for f in ["bin/calicoctl", "bin/kubectl", "down/pause_3.10.2.tar"] {
        let p = bundle.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }
    let inv = ez_play::cluster::inventory_from_cluster(&cluster, bundle.path(), "192.168.1.100");
    (inv, bundle)
}

/// The text of `path` as `stem` lays it down on `host`, if it does.
fn file(inv: &Inventory, stem: &str, host: &str, path: &str) -> Option<String> {
    let files = render_host(&lib(), stem, inv, host, &Default::default()).unwrap();
    files
        .into_iter()
        .find(|f| f.path == path)
        .map(|f| match f.content {
            FileContent::Bytes(b) => String::from_utf8(b).unwrap(),
            other => panic!("{path}: {other:?}"),
        })
}

fn docs(text: &str) -> Vec<Value> {
    assert!(
        !text.contains("{{") && !text.contains("{%"),
        "placeholder left:\n{text}"
    );
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(d).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn images(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for d in docs {
        let spec = &d["spec"]["template"]["spec"];
        for c in ["initContainers", "containers"] {
            for c in spec[c].as_array().into_iter().flatten() {
                out.push(c["image"].as_str().unwrap().to_string());
                assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{c}");
            }
        }
    }
    out
}

fn env<'a>(c: &'a Value, name: &str) -> &'a Value {
    &c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))["value"]
}

/// The bundle's image names as containerd records them after `ctr images import`.
fn bundle_images() -> Vec<String> {
    ez_bundle::images::default_images(&ez_inventory::VersionTable::default())
        .into_iter()
        .map(|i| format!("docker.io/{i}"))
        .collect()
}

#[test]
fn calico_manifest_secret_and_calicoctl() {
    let (inv, _b) = inventory("");
    let lib = lib();
    assert!(lib.playbook_for_step("06").is_some() && lib.playbook_for_step("network").is_some());
    let m = file(
        &inv,
        "06.network",
        "192.168.1.1",
        "/etc/kubernetes/addons/calico.yaml",
    )
    .expect("the first master renders the calico manifest");
    assert!(
        file(
            &inv,
            "06.network",
            "192.168.1.4",
            "/etc/kubernetes/addons/calico.yaml"
        )
        .is_none(),
        "only the first master applies manifests"
    );
    let d = docs(&m);
    let cm = find(&d, "ConfigMap", "calico-config");
    assert_eq!(
        cm["data"]["etcd_endpoints"],
        "https://192.168.1.1:2379,https://192.168.1.2:2379,https://192.168.1.3:2379"
    );
    assert_eq!(cm["data"]["calico_backend"], "bird");
    assert_eq!(cm["data"]["veth_mtu"], "0");
    let cni: Value = serde_json::from_str(
        &cm["data"]["cni_network_config"]
            .as_str()
            .unwrap()
            .replace("__CNI_MTU__", "1440"),
    )
    .unwrap();
    assert_eq!(cni["plugins"][0]["ipam"]["type"], "calico-ipam");
    // the chain is kubeasz's: calico then portmap
    assert_eq!(cni["plugins"].as_array().unwrap().len(), 2, "{cni}");
    assert_eq!(cni["plugins"][1]["type"], "portmap");
    let ds = find(&d, "DaemonSet", "calico-node");
    let node = &ds["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env(node, "CALICO_IPV4POOL_CIDR"), "172.20.0.0/16");
    assert_eq!(env(node, "CALICO_IPV4POOL_IPIP"), "Always");
    assert_eq!(
        env(node, "IP_AUTODETECTION_METHOD"),
        "can-reach=192.168.1.1"
    );
    assert_eq!(env(node, "FELIX_KUBENODEPORTRANGES"), "30000:32767");
    let secret_vol = ds["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "etcd-certs")
        .unwrap();
    assert_eq!(secret_vol["secret"]["secretName"], "calico-etcd-secrets");
    for kind in ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"] {
        find(&d, kind, "calico-node");
    }
    find(&d, "Deployment", "calico-kube-controllers");
    let ours = images(&d);
    assert_eq!(ours.len(), 3, "{ours:?}");
    let bundle = bundle_images();
    for i in &ours {
        assert!(
            bundle.contains(i),
            "{i} is not an image of the bundle {bundle:?}"
        );
    }
    // Every node: calicoctl.cfg against etcd with calico's certificate, certificate files.
    let cfg = file(
        &inv,
        "06.network",
        "192.168.1.4",
        "/etc/calico/calicoctl.cfg",
    )
    .unwrap();
    let cfg = &docs(&cfg)[0];
    assert_eq!(cfg["spec"]["datastoreType"], "etcdv3");
    assert_eq!(cfg["spec"]["etcdCertFile"], "/etc/calico/ssl/calico.pem");
    let files = render_host(&lib, "06.network", &inv, "192.168.1.5", &Default::default()).unwrap();
    let key = files
        .iter()
        .find(|f| f.path == "/etc/calico/ssl/calico-key.pem")
        .unwrap();
    assert!(matches!(key.content, FileContent::Secret(_)));
    assert!(files.iter().any(|f| f.path == "/opt/kube/bin/calicoctl"));

    // vxlan backend: VXLAN pool, no IPIP, no bird probes.
    let (inv, _b) = inventory("CALICO_NETWORKING_BACKEND: \"vxlan\"\nCALICO_MTU: 1400");
    let d = docs(
        &file(
            &inv,
            "06.network",
            "192.168.1.1",
            "/etc/kubernetes/addons/calico.yaml",
        )
        .unwrap(),
    );
    let node = &find(&d, "DaemonSet", "calico-node")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env(node, "CALICO_IPV4POOL_VXLAN"), "Always");
    // IPIP left unset: calico's default (Never), as kubeasz's manifest
    assert!(
        !node["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "CALICO_IPV4POOL_IPIP"),
        "{node}"
    );
    assert_eq!(
        node["readinessProbe"]["exec"]["command"],
        json!(["/bin/calico-node", "-felix-ready"])
    );
    assert_eq!(
        find(&d, "ConfigMap", "calico-config")["data"]["veth_mtu"],
        "1400"
    );
}

#[test]
fn addons_by_switch_and_proxy_mode() {
    let (inv, _b) = inventory("");
    assert!(
        lib().playbook_for_step("07").is_some()
            && lib().playbook_for_step("cluster-addon").is_some()
    );
    let at = |inv: &Inventory, f: &str| {
        file(
            inv,
            "07.cluster-addon",
            "192.168.1.1",
            &format!("/etc/kubernetes/addons/{f}"),
        )
    };
    let dns = docs(&at(&inv, "coredns.yaml").unwrap());
    assert_eq!(
        find(&dns, "Service", "kube-dns")["spec"]["clusterIP"],
        "10.68.0.2"
    );
    let corefile = find(&dns, "ConfigMap", "coredns")["data"]["Corefile"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        corefile.contains("kubernetes cluster.local in-addr.arpa"),
        "{corefile}"
    );
    let ms = docs(&at(&inv, "metrics-server.yaml").unwrap());
    find(&ms, "APIService", "v1beta1.metrics.k8s.io");
    let args = &find(&ms, "Deployment", "metrics-server")["spec"]["template"]["spec"]["containers"]
        [0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&json!("--kubelet-insecure-tls"))
    );
    // hosts.multi-node has PROXY_MODE="nftables": the iptables variant (as kubeasz).
    let nld = docs(&at(&inv, "nodelocaldns.yaml").unwrap());
    let c = &find(&nld, "DaemonSet", "node-local-dns")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"][1], "169.254.20.10,10.68.0.2");
    assert!(
        c["args"]
            .as_array()
            .unwrap()
            .contains(&json!("kube-dns-upstream"))
    );
    let cf = find(&nld, "ConfigMap", "node-local-dns")["data"]["Corefile"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cf.contains("bind 169.254.20.10 10.68.0.2") && cf.contains("__PILLAR__CLUSTER__DNS__"),
        "{cf}"
    );
    let bundle = bundle_images();
    for i in images(&dns).iter().chain(&images(&ms)).chain(&images(&nld)) {
        assert!(
            bundle.contains(i),
            "{i} is not an image of the bundle {bundle:?}"
        );
    }
    assert!(at(&inv, "coredns.yaml").is_some());
    assert!(
        file(
            &inv,
            "07.cluster-addon",
            "192.168.1.2",
            "/etc/kubernetes/addons/coredns.yaml"
        )
        .is_none()
    );

    // ipvs: binds only the local address and forwards to the kube-dns service IP.
    let (mut inv, _b) = inventory("dns_install: \"no\"\nmetricsserver_install: \"no\"");
    inv.vars.insert("PROXY_MODE".into(), json!("ipvs"));
    assert!(at(&inv, "coredns.yaml").is_none() && at(&inv, "metrics-server.yaml").is_none());
    let nld = docs(&at(&inv, "nodelocaldns.yaml").unwrap());
    let c = &find(&nld, "DaemonSet", "node-local-dns")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["args"],
        json!(["-localip", "169.254.20.10", "-conf", "/etc/Corefile"])
    );
    let cf = find(&nld, "ConfigMap", "node-local-dns")["data"]["Corefile"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        cf.contains("bind 169.254.20.10\n") && cf.contains("forward . 10.68.0.2"),
        "{cf}"
    );
    let (inv, _b) = inventory("ENABLE_LOCAL_DNS_CACHE: false");
    assert!(at(&inv, "nodelocaldns.yaml").is_none());
}

/// Step 03 names the bundle's pause image as SANDBOX_IMAGE only when the bundle has one.
#[test]
fn sandbox_tag_only_with_a_pause_image() {
    let (inv, _b) = inventory("");
    assert_eq!(inv.vars["bundle_has_pause_image"], json!(true));
    let task = lib().roles["containerd"]
        .tasks
        .iter()
        .find(|t| t.name.starts_with("sandbox image"))
        .cloned()
        .unwrap();
    assert_eq!(task.when.as_deref(), Some("bundle_has_pause_image"));
}

/// The calico step stops early for a calico minor it has no manifest template for.
#[test]
fn calico_version_without_template_is_refused() {
    let task = lib().roles["calico"].tasks[0].clone();
    let that = task.args["that"].as_str().unwrap().to_string();
    let (inv, _b) = inventory("");
    let ctx = inv.context_for("192.168.1.4");
    assert_eq!(ez_play::vars::render_str(&that, &ctx).unwrap(), "true");
    let (inv, _b) = inventory("calico_ver: \"v3.30.2\"");
    let ctx = inv.context_for("192.168.1.4");
    assert_eq!(ez_play::vars::render_str(&that, &ctx).unwrap(), "false");
}
