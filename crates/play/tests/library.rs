//! The repository's `playbooks/` load, and every template renders for a realistic host.

use ez_play::{Inventory, Library};
use std::path::Path;

fn playbooks_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks")
}

/// The engine's view of kubeasz's own example cluster (hosts.multi-node + config.yml, as
/// `ezctl new` writes them), built the way `ezctl setup` builds it, plus the facts of a
/// bundle holding one binary of each kind.
fn sample_inventory() -> Inventory {
    let new =
        ez_inventory::templates::render_new("t", &ez_inventory::VersionTable::default(), true)
            .unwrap();
    let dir = Path::new("/etc/kubeasz/clusters/t");
    let cluster = ez_inventory::load::parse_cluster(
        "t",
        dir,
        &dir.join("hosts"),
        &new.hosts,
        &dir.join("config.yml"),
        &new.config,
    )
    .unwrap_or_else(|d| panic!("example cluster does not load: {:?}", d.0));
    let bundle = tempfile::tempdir().unwrap();
    for f in [
        "bin/etcd",
        "bin/containerd-bin/containerd",
        "bin/cni-bin/bridge",
        "down/pause_3.10.2.tar",
    ] {
        let p = bundle.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }
    ez_play::cluster::inventory_from_cluster(&cluster, bundle.path(), "192.168.1.100")
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
    let ctx = sample_inventory().context_for("192.168.1.1");
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
    assert!(unit.contains("--name=etcd-192.168.1.1 \\"));
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
    let files = render_host(&lib, "02.etcd", &inv, "192.168.1.1", &Default::default()).unwrap();
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
    assert_eq!(bins, ["/opt/kube/bin/etcd"]);
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
    let only_certs = render_host(&lib, "02.etcd", &inv, "192.168.1.1", &opts).unwrap();
    assert!(
        only_certs
            .iter()
            .all(|f| f.path.starts_with("/etc/kubernetes/ssl/")),
        "{only_certs:?}"
    );
}
