//! Values the playbooks need that come from the bundle on the deploy host (which binaries and
//! image tars it holds, the containerd generation), not from the inventory.

use crate::vars::Vars;
use serde_json::{Value as Json, json};
use std::path::Path;

/// Bundle facts as template variables:
/// `etcd_binaries`, `containerd_binaries`, `cni_binaries`, `image_tars` (lists of file names),
/// `bundle_has_crictl`, `bundle_has_calicoctl`, `bundle_has_pause_image` (a `down/pause_*.tar`), `kube_lb_modules` (dynamic nginx modules for kube-lb), and `containerd_config_version` (3 for containerd 2.x, 2 for 1.x).
pub fn bundle_vars(base_dir: &Path) -> Vars {
    let layout = ez_inventory::BundleLayout::new(base_dir);
    let bin = layout.bin();
    let mut v = Vars::new();
    // where a host's binaries and image tars are under the base: its own architecture's
    // bundle; empty unless the bundle holds several (the host var then says `arch/<arch>/`)
    v.insert("bundle_arch_dir".into(), json!(""));
    let etcd: Vec<Json> = ["etcd", "etcdctl", "etcdutl"]
        .iter()
        .filter(|b| bin.join(b).is_file())
        .map(|b| json!(b))
        .collect();
    v.insert("etcd_binaries".into(), Json::Array(etcd));
    v.insert(
        "containerd_binaries".into(),
        files_in(&layout.containerd_bin(), |_| true),
    );
    v.insert("cni_binaries".into(), files_in(&layout.cni_bin(), |_| true));
    v.insert(
        "image_tars".into(),
        files_in(&layout.down(), |n| n.ends_with(".tar")),
    );
    // nginx built with the stream module as a dynamic module (distribution packages) needs
    // its `.so` beside it: `bin/nginx-modules/*.so`, loaded by the kube-lb config.
    v.insert(
        "kube_lb_modules".into(),
        files_in(&bin.join("nginx-modules"), |n| n.ends_with(".so")),
    );
    v.insert(
        "bundle_has_crictl".into(),
        json!(bin.join("crictl").is_file()),
    );
    let has_pause = v["image_tars"].as_array().is_some_and(|a| {
        a.iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with("pause_")))
    });
    v.insert("bundle_has_pause_image".into(), json!(has_pause));
    v.insert(
        "bundle_has_calicoctl".into(),
        json!(bin.join("calicoctl").is_file()),
    );
    let version = containerd_major(&layout.containerd_bin().join("containerd"))
        .map(|m| if m >= 2 { 3 } else { 2 })
        .unwrap_or(3);
    v.insert("containerd_config_version".into(), json!(version));
    v
}

fn files_in(dir: &Path, keep: impl Fn(&str) -> bool) -> Json {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| keep(n) && !n.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    Json::Array(names.into_iter().map(Json::String).collect())
}

/// The major version of a containerd binary, read from `containerd --version`.
pub fn containerd_major(binary: &Path) -> Option<u32> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()?;
    parse_containerd_major(&String::from_utf8_lossy(&out.stdout))
}

/// Parses `containerd github.com/containerd/containerd/v2 v2.3.3 <sha>` or Debian's
/// `containerd github.com/containerd/containerd 1.6.20~ds1 ...` to the major version.
pub fn parse_containerd_major(text: &str) -> Option<u32> {
    text.split_whitespace().skip(2).find_map(|tok| {
        let t = tok.trim_start_matches('v');
        let major = t.split('.').next()?;
        if t.contains('.') {
            major.parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_versions() {
        assert_eq!(
            parse_containerd_major("containerd github.com/containerd/containerd/v2 v2.3.3 abc"),
            Some(2)
        );
        assert_eq!(
            parse_containerd_major(
                "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3"
            ),
            Some(1)
        );
        assert_eq!(parse_containerd_major("garbage"), None);
    }

    #[test]
    fn lists_what_the_bundle_holds() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("bin/cni-bin")).unwrap();
        std::fs::create_dir_all(d.path().join("down")).unwrap();
        std::fs::write(d.path().join("bin/etcd"), b"x").unwrap();
        std::fs::write(d.path().join("bin/cni-bin/bridge"), b"x").unwrap();
        std::fs::write(d.path().join("bin/cni-bin/loopback.part"), b"x").unwrap();
        std::fs::write(d.path().join("down/pause_3.10.2.tar"), b"x").unwrap();
        std::fs::write(d.path().join("down/notes.txt"), b"x").unwrap();
        let v = bundle_vars(d.path());
        assert_eq!(v["etcd_binaries"], json!(["etcd"]));
        assert_eq!(v["cni_binaries"], json!(["bridge"]));
        assert_eq!(v["image_tars"], json!(["pause_3.10.2.tar"]));
        assert_eq!(v["bundle_has_pause_image"], json!(true));
        assert_eq!(v["bundle_has_crictl"], json!(false));
        assert_eq!(v["containerd_config_version"], json!(3));
    }
}
