//! Golden render: every file `ezctl render` lays down for two inventories, compared with the
//! recorded expectation under `tests/golden/<inventory>/`, so that no change moves a flag, a
//! unit line or a manifest field silently.
//!
//! The two inventories are the ones issue 17 compares with kubeasz 3.7.0:
//! - `aio`: `example/hosts.allinone` as `ezctl start-aio` writes it (host 192.168.1.10) with
//!   `example/config.yml` as `ezctl new` writes it;
//! - `three-node`: `tests/golden/inventories/hosts.three-node` (etcd on 3 hosts, 1 master, 2
//!   workers) with the same config.yml, ENABLE_MIRROR_REGISTRY on (what `ezctl new` writes
//!   when the deploy host's docker has registry mirrors, kubeasz's example default), so the
//!   docker.io mirror file is covered too.
//!
//! Layout of a golden: `<host>/<absolute path>` holds the file as the host receives it;
//! `<host>/FILES` lists, per playbook, each file's mode, kind and path (kinds: `template`,
//! `edit` (a block or line kept in an existing file), `copy` (bundle binary or certificate,
//! recorded by its source), `secret` (a private key, recorded by its source only));
//! `pki/certificates` and `pki/kubeconfigs` list the certificate requests (subject, SANs,
//! profile, lifetime) and the kubeconfigs' names.
//!
//! What varies between runs is left out, with its reason: certificate and key material (new
//! keys each run: only the request is recorded), the bundle's contents (copies are recorded by
//! source path; the bundle is a fixed list of names, see `bundle()`), and the deploy host's
//! address and paths (fixed: `/etc/kubeasz`, deploy host `192.168.1.100`). No timestamp or
//! temporary path reaches a rendered file.
//!
//! On an intended change, review the drift this test prints, then record it:
//!     EZ_UPDATE_GOLDEN=1 cargo test -p ez-integration --test golden_render
//! and commit the `tests/golden/` diff with the change.

use ez_play::render::{FileContent, render_host};
use ez_play::{Inventory, Library};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const BASE: &str = "/etc/kubeasz";
const DEPLOY_IP: &str = "192.168.1.100";
const AIO_IP: &str = "192.168.1.10";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A bundle as `ezdown -D` lays it down (names only: render reads no binary).
fn bundle() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    let v = ez_inventory::VersionTable::default();
    let mut files: Vec<String> = [
        "bin/etcd",
        "bin/etcdctl",
        "bin/etcdutl",
        "bin/kube-apiserver",
        "bin/kube-controller-manager",
        "bin/kube-scheduler",
        "bin/kubelet",
        "bin/kube-proxy",
        "bin/kubectl",
        "bin/crictl",
        "bin/calicoctl",
        "bin/helm",
        "bin/containerd-bin/containerd",
        "bin/containerd-bin/containerd-shim-runc-v2",
        "bin/containerd-bin/ctr",
        "bin/containerd-bin/runc",
        "bin/cni-bin/bridge",
        "bin/cni-bin/host-local",
        "bin/cni-bin/loopback",
        "bin/cni-bin/portmap",
        "bin/cni-bin/bandwidth",
        "bin/cni-bin/tuning",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for image in ez_bundle::images::default_images(&v) {
        let r = ez_bundle::oci::ImageRef::parse(&image).expect("image name");
        files.push(format!("down/{}", r.tar_name()));
    }
    for f in files {
        let p = d.path().join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, b"").expect("write");
    }
    d
}

fn cluster(name: &str, hosts: &str, mirror: bool) -> ez_inventory::Cluster {
    let config =
        ez_inventory::templates::render_new(name, &ez_inventory::VersionTable::default(), mirror)
            .expect("config.yml renders")
            .config;
    let dir = Path::new(BASE).join("clusters").join(name);
    ez_inventory::load::parse_cluster(
        name,
        &dir,
        &dir.join("hosts"),
        hosts,
        &dir.join("config.yml"),
        &config,
    )
    .unwrap_or_else(|d| panic!("{name}: inventory does not load: {:?}", d.0))
}

fn inventory(c: &ez_inventory::Cluster) -> Inventory {
    let b = bundle();
    let facts = ez_play::facts::bundle_vars(b.path());
    ez_play::cluster::inventory_with_facts(c, Path::new(BASE), DEPLOY_IP, facts)
}

/// Everything the golden holds for `c`: relative path -> content.
fn render_all(c: &ez_inventory::Cluster) -> BTreeMap<String, Vec<u8>> {
    let lib = Library::load(&repo().join("playbooks")).expect("playbooks load");
    let inv = inventory(c);
    let stems = lib.step_stems();
    let mut out: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for host in &c.hosts {
        let mut index = String::new();
        for stem in &stems {
            let files = render_host(&lib, stem, &inv, &host.name, &Default::default())
                .unwrap_or_else(|e| panic!("{stem} on {}: {e}", host.name));
            if !files.is_empty() {
                let _ = writeln!(index, "# {stem}");
            }
            for f in files {
                let (kind, body): (&str, Option<Vec<u8>>) = match f.content {
                    FileContent::Bytes(b) => ("template", Some(b)),
                    FileContent::Edit(t) => ("edit", Some(t.into_bytes())),
                    FileContent::Copy(src) => {
                        let _ =
                            writeln!(index, "{:4} copy {} <- {}", f.mode, f.path, src.display());
                        continue;
                    }
                    FileContent::Secret(src) => {
                        let _ =
                            writeln!(index, "{:4} secret {} <- {}", f.mode, f.path, src.display());
                        continue;
                    }
                };
                let _ = writeln!(index, "{:4} {kind} {}", f.mode, f.path);
                if let Some(b) = body {
                    let suffix = if kind == "edit" { ".managed-part" } else { "" };
                    let rel = format!("{}{}{suffix}", host.name, f.path);
                    // Edits of one file all apply. A later template replaces the file; the
                    // earlier, different text is kept as `<path>.earlier` (a file written
                    // twice, or alternatives of which one applies on a host, `unless`).
                    match out.get_mut(&rel) {
                        Some(prev) if kind == "edit" && *prev != b => prev.extend(b),
                        Some(prev) if *prev != b => {
                            let earlier = std::mem::replace(prev, b);
                            out.insert(format!("{rel}.earlier"), earlier);
                        }
                        _ => {
                            out.insert(rel, b);
                        }
                    }
                }
            }
        }
        out.insert(format!("{}/FILES", host.name), index.into_bytes());
    }
    let spec = ez_cli::deploy::pki::pki_spec(c).expect("pki spec");
    let mut certs = String::new();
    for cert in ez_pki::catalog::cluster_certs(&spec) {
        let sans: Vec<String> = cert
            .sans
            .iter()
            .map(|s| match s {
                ez_pki::San::Ip(ip) => format!("IP:{ip}"),
                ez_pki::San::Dns(n) => format!("DNS:{n}"),
            })
            .collect();
        let _ = writeln!(
            certs,
            "{}\n  subject: {}\n  profile: {:?}\n  expiry: {}\n  sans: {}",
            cert.name,
            cert.subject_text(),
            cert.profile,
            cert.expiry,
            sans.join(", ")
        );
    }
    out.insert("pki/certificates".into(), certs.into_bytes());
    let mut kcfg = String::new();
    for k in ez_pki::kcfg_files::cluster_kubeconfigs(&spec).expect("kubeconfigs") {
        let _ = writeln!(
            kcfg,
            "{}\n  cluster: {}\n  user: {}\n  context: {}\n  server: {}\n  cert: {}",
            k.path.display(),
            k.names.cluster,
            k.names.user,
            k.names.context,
            k.names.server,
            k.cert
        );
    }
    out.insert("pki/kubeconfigs".into(), kcfg.into_bytes());
    out
}

fn read_tree(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if e.path().is_dir() {
            read_tree(&e.path(), &rel, out);
        } else {
            out.insert(rel, std::fs::read(e.path()).expect("read golden"));
        }
    }
}

/// The lines that differ, after the common head and tail, with their line numbers.
fn drift(expected: &[u8], actual: &[u8]) -> String {
    let e: Vec<&str> = std::str::from_utf8(expected)
        .unwrap_or("")
        .lines()
        .collect();
    let a: Vec<&str> = std::str::from_utf8(actual).unwrap_or("").lines().collect();
    let head = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let tail = e[head..]
        .iter()
        .rev()
        .zip(a[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut s = format!("  first difference at line {}\n", head + 1);
    for l in e[head..e.len() - tail].iter().take(30) {
        let _ = writeln!(s, "  - {l}");
    }
    for l in a[head..a.len() - tail].iter().take(30) {
        let _ = writeln!(s, "  + {l}");
    }
    s
}

fn check(name: &str, actual: BTreeMap<String, Vec<u8>>) {
    let dir = repo().join("tests/golden").join(name);
    if std::env::var_os("EZ_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&dir);
        for (rel, body) in &actual {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir golden");
            std::fs::write(&p, body).expect("write golden");
        }
        return;
    }
    let mut expected = BTreeMap::new();
    read_tree(&dir, "", &mut expected);
    let mut report = String::new();
    for (rel, body) in &actual {
        match expected.get(rel) {
            None => {
                let _ = writeln!(report, "new file (not in the golden): {rel}");
            }
            Some(e) if e != body => {
                let _ = writeln!(report, "changed: {rel}\n{}", drift(e, body));
            }
            Some(_) => {}
        }
    }
    for rel in expected.keys().filter(|r| !actual.contains_key(*r)) {
        let _ = writeln!(report, "no longer rendered: {rel}");
    }
    assert!(
        report.is_empty(),
        "the render of `{name}` drifted from tests/golden/{name}:\n{report}\n\
         If the change is intended, review it and record it with\n    \
         EZ_UPDATE_GOLDEN=1 cargo test -p ez-integration --test golden_render\n\
         then commit tests/golden/ with the change (see docs/en/fidelity.md)."
    );
}

#[test]
fn all_in_one_renders_as_recorded() {
    let (hosts, _) = ez_inventory::templates::render_allinone(
        "aio",
        AIO_IP.parse().expect("ip"),
        &Default::default(),
    )
    .expect("hosts.allinone renders");
    check("aio", render_all(&cluster("aio", &hosts, false)));
}

#[test]
fn three_node_renders_as_recorded() {
    let hosts = std::fs::read_to_string(repo().join("tests/golden/inventories/hosts.three-node"))
        .expect("fixture");
    check(
        "three-node",
        render_all(&cluster("three-node", &hosts, true)),
    );
}

/// `REGISTRY_MIRRORS` (kubeasz-rs): one `certs.d/<registry>/hosts.toml` per entry, its
/// mirrors in order before the registry itself; unset, nothing more than kubeasz's files.
#[test]
fn registry_mirrors_give_each_registry_its_hosts_toml() {
    let (hosts, _) = ez_inventory::templates::render_allinone(
        "default",
        AIO_IP.parse().expect("ip"),
        &Default::default(),
    )
    .expect("hosts");
    let with = |value: &str| {
        let config = ez_inventory::templates::render_new(
            "default",
            &ez_inventory::VersionTable::default(),
            false,
        )
        .expect("config.yml")
        .config
            + &format!("REGISTRY_MIRRORS: {value}\n");
        let dir = Path::new(BASE).join("clusters/default");
        ez_inventory::load::parse_cluster(
            "default",
            &dir,
            &dir.join("hosts"),
            &hosts,
            &dir.join("config.yml"),
            &config,
        )
        .unwrap_or_else(|d| panic!("does not load: {:?}", d.0))
    };
    let c = with(
        r#"["registry.k8s.io=http://10.0.0.10:5000, https://m2.example.org", "quay.io=http://10.0.0.10:5001/v2/quay.io"]"#,
    );
    let out = render_all(&c);
    let k8s = String::from_utf8(
        out[&format!("{AIO_IP}/etc/containerd/certs.d/registry.k8s.io/hosts.toml")].clone(),
    )
    .expect("utf-8");
    assert!(
        k8s.contains("server = \"https://registry.k8s.io\"\n"),
        "{k8s}"
    );
    let first = k8s
        .find("[host.\"http://10.0.0.10:5000\"]")
        .expect("first mirror");
    let second = k8s
        .find("[host.\"https://m2.example.org\"]")
        .expect("second mirror");
    assert!(first < second, "{k8s}");
    assert_eq!(
        k8s.matches("capabilities = [\"pull\", \"resolve\"]")
            .count(),
        2
    );
    assert!(!k8s.contains("override_path"), "{k8s}");
    // a mirror with a path: the registry's API root as given
    let quay = &out[&format!("{AIO_IP}/etc/containerd/certs.d/quay.io/hosts.toml")];
    let quay = String::from_utf8_lossy(quay);
    let want = "[host.\"http://10.0.0.10:5001/v2/quay.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n";
    assert!(quay.contains(want), "{quay}");
    // a malformed entry is refused by the inventory's checks
    let bad = ez_inventory::load::parse_cluster(
        "default",
        &Path::new(BASE).join("clusters/default"),
        &Path::new(BASE).join("clusters/default/hosts"),
        &hosts,
        &Path::new(BASE).join("clusters/default/config.yml"),
        &(ez_inventory::templates::render_new("default", &Default::default(), false)
            .expect("config.yml")
            .config
            + "REGISTRY_MIRRORS: [\"registry.k8s.io\"]\n"),
    );
    assert!(bad.is_err(), "an entry without a mirror loads");
    // unset: no mirror file
    let plain = render_all(&with("[]"));
    assert!(!plain.keys().any(|k| k.contains("certs.d/registry.k8s.io")));
}
