//! The repository's `playbooks/` load, and every template renders for a realistic host.

use ez_play::{Inventory, Library, Vars};
use serde_json::json;
use std::path::Path;

fn playbooks_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks")
}

fn sample_inventory() -> Inventory {
    let mut inv = Inventory::default();
    let ips = ["10.250.0.11", "10.250.0.12", "10.250.0.13"];
    for g in ["etcd", "kube_master", "kube_node"] {
        inv.groups
            .insert(g.into(), ips.iter().map(|s| s.to_string()).collect());
    }
    let vars = json!({
        "bin_dir": "/opt/kube/bin", "ca_dir": "/etc/kubernetes/ssl", "base_dir": "/etc/kubeasz",
        "cluster_dir": "/etc/kubeasz/clusters/t", "ETCD_DATA_DIR": "/var/lib/etcd", "ETCD_WAL_DIR": "",
        "ETCD_ENDPOINTS": "https://10.250.0.11:2379,https://10.250.0.12:2379,https://10.250.0.13:2379",
        "ETCD_INITIAL_CLUSTER": "etcd-10.250.0.11=https://10.250.0.11:2380",
        "CONTAINERD_ROOT_DIR": "/var/lib/containerd", "CONTAINERD_STATE_DIR": "/run/containerd",
        "CONTAINERD_CONFIG_DIR": "/etc/containerd", "CONTAINERD_SERVICE_NAME": "containerd.service",
        "SANDBOX_IMAGE": "easzlab.io.local:5000/easzlab/pause:3.10.2", "containerd_config_version": 3,
        "INSECURE_REG": ["http://easzlab.io.local:5000"], "ENABLE_MIRROR_REGISTRY": true,
        "DOCKER_IO_MIRRORS": ["https://docker.1ms.run"], "PROXY_MODE": "iptables",
        "CONTAINER_RUNTIME": "containerd", "ENABLE_SETTING_HOSTNAME": true, "deploy_ip": "10.250.0.1",
        "node_names": {"10.250.0.11": "k8s-10-250-0-11"},
        "etcd_binaries": ["etcd", "etcdctl"], "containerd_binaries": ["containerd", "runc"],
        "cni_binaries": ["bridge"], "image_tars": [], "bundle_has_crictl": false
    });
    let serde_json::Value::Object(v) = vars else {
        unreachable!()
    };
    inv.vars = v;
    let mut hv = Vars::new();
    hv.insert("K8S_NODENAME".into(), json!("k8s-10-250-0-11"));
    inv.host_vars.insert("10.250.0.11".into(), hv);
    inv
}

#[test]
fn repository_playbooks_load_and_name_their_steps() {
    let lib = Library::load(&playbooks_dir()).expect("playbooks/ must load");
    for step in ["01", "prepare", "02", "etcd", "03", "container-runtime"] {
        assert!(
            lib.playbook_for_step(step).is_some(),
            "step {step} has no playbook"
        );
    }
    assert!(lib.playbook_for_step("42").is_none());
}

#[test]
fn every_template_renders_for_a_host() {
    let lib = Library::load(&playbooks_dir()).unwrap();
    let ctx = sample_inventory().context_for("10.250.0.11");
    for name in lib.templates.get_template_names() {
        let mut c = ctx.clone();
        c.insert("item", "http://easzlab.io.local:5000");
        let out = lib
            .templates
            .render(name, &c)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(!out.contains("{{"), "{name} left a placeholder");
    }
    let unit = lib.templates.render("etcd/etcd.service.j2", &ctx).unwrap();
    assert!(unit.contains("--name=etcd-10.250.0.11 \\"));
    assert!(
        !unit.contains("--wal-dir"),
        "an empty ETCD_WAL_DIR must leave the flag out"
    );
    let cfg = lib
        .templates
        .render("containerd/config.toml.j2", &ctx)
        .unwrap();
    assert!(cfg.contains("version = 3") && cfg.contains("io.containerd.cri.v1.images"));
}

#[test]
fn render_lists_the_files_of_a_host_and_hides_private_keys() {
    use ez_play::render::{FileContent, render_host};
    let lib = Library::load(&playbooks_dir()).unwrap();
    let inv = sample_inventory();
    let files = render_host(&lib, "02.etcd", &inv, "10.250.0.11", &Default::default()).unwrap();
    let unit = files
        .iter()
        .find(|f| f.path == "/etc/systemd/system/etcd.service")
        .expect("etcd unit");
    assert!(
        matches!(&unit.content, FileContent::Bytes(b) if String::from_utf8_lossy(b).contains("--initial-cluster="))
    );
    let key = files
        .iter()
        .find(|f| f.path.ends_with("etcd-key.pem"))
        .expect("key placement");
    assert!(matches!(key.content, FileContent::Secret(_)));
    assert_eq!(key.mode, "0600");
    let bins: Vec<_> = files
        .iter()
        .filter(|f| f.path.starts_with("/opt/kube/bin/"))
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(bins, ["/opt/kube/bin/etcd", "/opt/kube/bin/etcdctl"]);
    // a host outside the play's groups gets nothing from it
    assert!(
        render_host(&lib, "02.etcd", &inv, "10.9.9.9", &Default::default())
            .unwrap()
            .is_empty()
    );
    // tag filters apply
    let opts = ez_play::RunOptions {
        tags: vec!["change_cert".into()],
        ..Default::default()
    };
    let only_certs = render_host(&lib, "02.etcd", &inv, "10.250.0.11", &opts).unwrap();
    assert!(
        only_certs
            .iter()
            .all(|f| f.path.starts_with("/etc/kubernetes/ssl/")),
        "{only_certs:?}"
    );
}
