//! The preflight check `bundle`: whether the bundle (`<base>/manifest.json`, made by `ezdown`)
//! holds the images the cluster's settings use. Only what the settings use is asked for: the
//! images of CLUSTER_NETWORK (none of calico's on a flannel cluster), coredns when
//! `dns_install: "yes"`, the node-local DNS cache only when `ENABLE_LOCAL_DNS_CACHE`,
//! metrics-server only when `metricsserver_install: "yes"`. Step 03 imports whatever image tars
//! the bundle has and demands none; a missing image would be pulled by the node
//! (`imagePullPolicy: IfNotPresent`), which an offline site cannot, so this is said before
//! anything is installed, as a warning (an online site may well pull).

use super::preflight::Finding;
use ez_bundle::manifest::Manifest;
use ez_bundle::oci::ImageRef;
use ez_bundle::selection::{Network, Part, Selection};
use ez_inventory::Cluster;
use std::collections::BTreeSet;
use std::path::Path;

/// The check's name for `--skip-preflight`.
pub const CHECK: &str = "bundle";

/// The images the cluster's settings use, at the versions of its config.yml, as the bundle
/// names them (`docker.io/calico/node:v3.32.1`).
pub fn images_used(cluster: &Cluster, bundle_versions: &ez_inventory::VersionTable) -> Vec<String> {
    let c = &cluster.config;
    let mut v = bundle_versions.clone();
    v.calico.clone_from(&c.calico_ver);
    v.flannel.clone_from(&c.flannel_ver);
    v.coredns.clone_from(&c.coredns_ver);
    v.nodelocaldns.clone_from(&c.dns_node_cache_ver);
    v.metrics_server.clone_from(&c.metrics_ver);
    let mut out = Vec::new();
    // CLUSTER_NETWORK="none" (or a plugin without images here): no network images.
    if let Ok(n) = Network::parse(&cluster.derived.cluster_network)
        && let Ok(images) = n.images(&v)
    {
        out.extend(images);
    }
    let mut without = BTreeSet::new();
    if !c.enable_local_dns_cache {
        without.insert(Part::Nodelocaldns);
    }
    if c.metricsserver_install != "yes" {
        without.insert(Part::MetricsServer);
    }
    let sel = Selection {
        network: Network::default(),
        without,
    };
    // images_for's own network images are calico's: keep only the addons (and no pause: step
    // 03 tags the bundle's pause when there is one, else containerd fetches SANDBOX_IMAGE).
    let network_images = Network::default().images(&v).unwrap_or_default();
    for i in ez_bundle::images::images_for(&v, &sel).unwrap_or_default() {
        let coredns = i.starts_with("coredns/");
        if network_images.contains(&i) || i.starts_with("easzlab/pause:") {
            continue;
        }
        if coredns && c.dns_install != "yes" {
            continue;
        }
        out.push(i);
    }
    out.into_iter()
        .map(|i| ImageRef::parse(&i).map(|r| r.full_name()).unwrap_or(i))
        .collect()
}

/// The bundle's files each step runs (paths under `<base>/`), by playbook stem prefix.
const STEP_BINARIES: &[(&str, &[&str])] = &[
    ("02", &["bin/etcd", "bin/etcdctl"]),
    ("03", &["bin/containerd-bin/containerd", "bin/cni-bin"]),
    (
        "04",
        &[
            "bin/kube-apiserver",
            "bin/kube-controller-manager",
            "bin/kube-scheduler",
            "bin/kubectl",
        ],
    ),
    ("05", &["bin/kubelet", "bin/kube-proxy"]),
];

/// The files the playbooks `stems` (`02.etcd`, `05.kube-node`, …) run from the bundle that
/// `base` lacks. Invariant: asks only for what those steps use, so a partial bundle serves
/// the steps it covers.
pub fn missing_binaries(base: &Path, stems: &[String]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for (prefix, files) in STEP_BINARIES {
        if !stems.iter().any(|s| s.starts_with(prefix)) {
            continue;
        }
        out.extend(files.iter().filter(|f| !base.join(f).exists()).copied());
    }
    out
}

/// An error finding when the steps' binaries are not in the bundle (no `ezdown -D` yet, or
/// another `--base`): said before any host is touched, not two minutes into step 02.
pub fn check_binaries(base: &Path, stems: &[String], skip: &[String]) -> Option<Finding> {
    if skip.iter().any(|s| s == CHECK || s == "all") {
        return None;
    }
    let missing = missing_binaries(base, stems);
    if missing.is_empty() {
        return None;
    }
    let none = !ez_inventory::BundleLayout::new(base).manifest().is_file();
    Some(Finding {
        host: "deploy host".into(),
        check: CHECK,
        message: format!(
            "{} in {} lacks {}",
            if none {
                "no bundle: the base"
            } else {
                "the bundle"
            },
            base.display(),
            missing.join(", ")
        ),
        fix: format!(
            "run `./ezdown -D --base {}` (binaries and images), then this command again",
            base.display()
        ),
        warning: false,
    })
}

/// Whether `path` is one of the Kubernetes binaries kubeasz's upgrade has the user replace
/// by hand in `<base>/bin` with the new release's before `ezctl upgrade` (which then records
/// them in the manifest).
pub fn is_kube_binary(path: &str) -> bool {
    path.strip_prefix("bin/")
        .is_some_and(|n| ez_bundle::catalog::KUBERNETES_BINARIES.contains(&n))
}

/// The manifest's files that are missing or of another size than recorded, as
/// `(path, "path (N bytes, manifest: M)")`; sizes only, so this stays instant.
fn mismatches(base: &Path, m: &Manifest) -> Vec<(String, String)> {
    m.files
        .iter()
        .filter_map(|f| {
            match std::fs::metadata(base.join(&f.path)) {
                Ok(md) if md.len() == f.size => None,
                Ok(md) => Some(format!(
                    "{} ({} bytes, manifest: {})",
                    f.path,
                    md.len(),
                    f.size
                )),
                Err(_) => Some(format!("{} (missing)", f.path)),
            }
            .map(|d| (f.path.clone(), d))
        })
        .collect()
}

/// An error finding when the bundle is half-fetched (`complete: false`: an `ezdown -D` that
/// failed) or its files do not match its manifest (a file missing or of another size than
/// recorded; sizes only, so this stays instant: `ezdown --verify` re-hashes everything).
/// None without a manifest (a hand-made bundle: [`check_binaries`] speaks for it).
pub fn check_integrity(base: &Path, skip: &[String]) -> Option<Finding> {
    integrity(base, skip, false).0
}

/// [`check_integrity`] for `ezctl upgrade`: Kubernetes binaries ([`is_kube_binary`]) that
/// differ from the manifest are not a finding but returned (their paths), to be recorded
/// once the upgrade is confirmed; anything else that differs is the same error.
pub fn check_integrity_for_upgrade(base: &Path, skip: &[String]) -> (Option<Finding>, Vec<String>) {
    integrity(base, skip, true)
}

fn integrity(base: &Path, skip: &[String], upgrade: bool) -> (Option<Finding>, Vec<String>) {
    if skip.iter().any(|s| s == CHECK || s == "all") {
        return (None, Vec::new());
    }
    let Some(m) = Manifest::load(base).ok().flatten() else {
        return (None, Vec::new());
    };
    let b = base.display();
    let finding = |message: String, fix: String| Finding {
        host: "deploy host".into(),
        check: CHECK,
        message,
        fix,
        warning: false,
    };
    if !m.complete {
        let f = finding(
            format!(
                "the bundle in {b} is half-fetched: its last `ezdown -D` failed (manifest.json says complete: false)"
            ),
            format!(
                "run `./ezdown -D --base {b}` again (it resumes and keeps what is verified), then this command again"
            ),
        );
        return (Some(f), Vec::new());
    }
    let all = mismatches(base, &m);
    // a binary replaced, not removed: a missing one is an error for upgrade too
    let replaced_kube = |(p, _): &&(String, String)| is_kube_binary(p) && base.join(p).is_file();
    type Mismatch<'a> = Vec<&'a (String, String)>;
    let (replaced, changed): (Mismatch, Mismatch) = if upgrade {
        all.iter().partition(replaced_kube)
    } else {
        (Vec::new(), all.iter().collect())
    };
    let replaced: Vec<String> = replaced.into_iter().map(|(p, _)| p.clone()).collect();
    if changed.is_empty() {
        return (None, replaced);
    }
    let shown: Vec<&str> = changed.iter().take(5).map(|(_, d)| d.as_str()).collect();
    let more = changed.len().saturating_sub(shown.len());
    let mut fix = format!(
        "run `./ezdown --verify --base {b}` to see every difference, then `./ezdown -D --base {b}` to fetch them again"
    );
    if changed.iter().all(|(p, _)| is_kube_binary(p)) && !upgrade {
        fix.push_str(
            "; if you put a new release's Kubernetes binaries there to upgrade (kubeasz's way), run `ezctl upgrade <cluster>`: it records them in the manifest",
        );
    }
    let f = finding(
        format!(
            "the bundle in {b} does not match its manifest: {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
        fix,
    );
    (Some(f), replaced)
}

/// The bundle's architectures as `uname -m` names them (`x86_64`, `aarch64`), its own first
/// then the other architectures' bundles in it; empty without a manifest.
pub fn bundle_uname_arches(base: &Path) -> Vec<String> {
    let Some(m) = Manifest::load(base).ok().flatten() else {
        return Vec::new();
    };
    let uname = |a: &str| {
        ez_bundle::catalog::Arch::parse(a).map_or_else(|_| a.to_string(), |x| x.uname().to_string())
    };
    let mut out = vec![uname(&m.arch)];
    out.extend(
        ez_bundle::arches::extra(base)
            .iter()
            .map(|a| a.uname().to_string()),
    );
    out
}

/// What a command about to run the steps `stems` needs from the bundle: its binaries, a
/// complete bundle matching its manifest. Printed as the command's error, before any key,
/// folder or host is touched; true when the command must stop.
pub fn refuse_inputs(base: &Path, stems: &[&str], skip: &[String]) -> bool {
    let stems: Vec<String> = stems.iter().map(|s| s.to_string()).collect();
    let findings: Vec<Finding> = check_binaries(base, &stems, skip)
        .into_iter()
        .chain(check_integrity(base, skip))
        .collect();
    print_refusals(&findings)
}

/// Prints error findings as the command's error; true when there was one.
pub fn print_refusals(findings: &[Finding]) -> bool {
    for f in findings {
        eprintln!("ezctl: error: {}", f.message);
        eprintln!("       {}", f.fix);
    }
    !findings.is_empty()
}

/// The finding, if the bundle at `base` lacks images the cluster uses; none without a
/// manifest (not a bundle made by ezdown) or when `skip` names the check or `all`.
pub fn check(cluster: &Cluster, base: &Path, skip: &[String]) -> Option<Finding> {
    if skip.iter().any(|s| s == CHECK || s == "all") {
        return None;
    }
    let m = Manifest::load(base).ok().flatten()?;
    let listed = m.listed_images();
    let missing: Vec<String> = images_used(cluster, &m.versions)
        .into_iter()
        .filter(|i| !listed.contains(i.as_str()))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let net = &cluster.derived.cluster_network;
    Some(Finding {
        host: "deploy host".into(),
        check: CHECK,
        message: format!(
            "the bundle in {} ({}) lacks image(s) this cluster's settings use: {}; the nodes would have to pull them",
            base.display(),
            m.selection.describe(),
            missing.join(", ")
        ),
        fix: format!(
            "add them to the bundle (`ezdown -D --network {net}` with the versions of config.yml, or `ezdown --image REF`), or change the setting that uses them (CLUSTER_NETWORK, ENABLE_LOCAL_DNS_CACHE: false, metricsserver_install: \"no\", dns_install: \"no\")"
        ),
        warning: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ez_bundle::checksum::Sha256;
    use ez_bundle::manifest::{FileEntry, Kind};
    use ez_inventory::VersionTable;

    fn cluster(network: &str, config_edit: &dyn Fn(String) -> String) -> Cluster {
        let new = ez_inventory::templates::render_new("t", &VersionTable::default(), false)
            .expect("render");
        let hosts = new.hosts.replace(
            "CLUSTER_NETWORK=\"calico\"",
            &format!("CLUSTER_NETWORK=\"{network}\""),
        );
        let dir = Path::new("/etc/kubeasz/clusters/t");
        ez_inventory::load::parse_cluster(
            "t",
            dir,
            &dir.join("hosts"),
            &hosts,
            &dir.join("config.yml"),
            &config_edit(new.config),
        )
        .unwrap_or_else(|d| panic!("{:?}", d.0))
    }

    fn bundle(images: &[String], sel: Selection) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tmp");
        crate::test_support::image_manifest(images, sel)
            .write(d.path())
            .expect("manifest");
        d
    }

    #[test]
    fn a_half_fetched_or_changed_bundle_is_refused_with_the_command_that_fixes_it() {
        let d = bundle(
            &["docker.io/library/busybox:1".to_string()],
            Selection::default(),
        );
        std::fs::create_dir_all(d.path().join("down")).expect("down");
        std::fs::write(d.path().join("down/0.tar"), b"").expect("tar");
        assert!(check_integrity(d.path(), &[]).is_none());
        // a file of another size than recorded
        std::fs::write(d.path().join("down/0.tar"), b"changed").expect("tar");
        let f = check_integrity(d.path(), &[]).expect("finding");
        assert!(
            f.message.contains("down/0.tar (7 bytes, manifest: 0)"),
            "{f:?}"
        );
        assert!(f.fix.contains("ezdown --verify"), "{f:?}");
        assert!(check_integrity(d.path(), &["bundle".into()]).is_none());
        // a failed `ezdown -D`
        let mut m = Manifest::load(d.path()).expect("load").expect("manifest");
        m.complete = false;
        m.write(d.path()).expect("write");
        let f = check_integrity(d.path(), &[]).expect("finding");
        assert!(f.message.contains("half-fetched"), "{f:?}");
        assert!(f.fix.contains("ezdown -D --base"), "{f:?}");
        assert_eq!(bundle_uname_arches(d.path()), vec!["x86_64".to_string()]);
    }

    #[test]
    fn kube_binaries_replaced_by_hand_are_for_upgrade_to_record_anything_else_is_refused() {
        let d = bundle(&[], Selection::default());
        let mut m = Manifest::load(d.path()).expect("load").expect("manifest");
        for (p, data) in [("bin/kubelet", "old"), ("bin/etcd", "etcd")] {
            std::fs::create_dir_all(d.path().join("bin")).expect("bin");
            std::fs::write(d.path().join(p), data).expect("write");
            m.files.push(FileEntry {
                path: p.into(),
                size: data.len() as u64,
                sha256: Sha256::of(data.as_bytes()).hex(),
                kind: Kind::Binary,
                artifact: p.trim_start_matches("bin/").into(),
                version: "v1".into(),
                source: "x".into(),
                from: None,
            });
        }
        m.write(d.path()).expect("write");
        assert_eq!(check_integrity_for_upgrade(d.path(), &[]), (None, vec![]));
        // the new release's kubelet put in by hand
        std::fs::write(d.path().join("bin/kubelet"), "new release").expect("write");
        let f = check_integrity(d.path(), &[]).expect("finding");
        assert!(f.fix.contains("ezctl upgrade"), "{f:?}");
        assert_eq!(
            check_integrity_for_upgrade(d.path(), &[]),
            (None, vec!["bin/kubelet".to_string()])
        );
        // etcd changed too: still refused, the kubelet still returned
        std::fs::write(d.path().join("bin/etcd"), "other").expect("write");
        let (f, replaced) = check_integrity_for_upgrade(d.path(), &[]);
        let f = f.expect("finding");
        assert!(f.message.contains("bin/etcd (5 bytes") && !f.message.contains("kubelet"));
        assert_eq!(replaced, ["bin/kubelet"]);
        let f = check_integrity(d.path(), &[]).expect("finding");
        assert!(!f.fix.contains("ezctl upgrade"), "{f:?}");
        // a removed kubelet is no upgrade
        std::fs::write(d.path().join("bin/etcd"), "etcd").expect("write");
        std::fs::remove_file(d.path().join("bin/kubelet")).expect("rm");
        let (f, replaced) = check_integrity_for_upgrade(d.path(), &[]);
        assert!(
            f.expect("finding")
                .message
                .contains("bin/kubelet (missing)")
        );
        assert!(replaced.is_empty());
    }

    #[test]
    fn a_flannel_cluster_without_the_dns_cache_asks_for_neither_calico_nor_node_cache() {
        let v = VersionTable::default();
        let sel = Selection::parse(Some("flannel"), &["nodelocaldns".into()]).expect("sel");
        let imgs = ez_bundle::images::images_for(&v, &sel).expect("images");
        let b = bundle(&imgs, sel);
        let off = |c: String| {
            ez_inventory::templates::set_config_value(&c, "ENABLE_LOCAL_DNS_CACHE", "false")
        };
        let c = cluster("flannel", &off);
        assert_eq!(
            images_used(&c, &v),
            [
                "ghcr.io/flannel-io/flannel:v0.28.9",
                "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
                "docker.io/coredns/coredns:1.14.6",
                "docker.io/easzlab/metrics-server:v0.9.0",
            ]
        );
        assert!(check(&c, b.path(), &[]).is_none());
        // the same bundle for a calico cluster keeping the DNS cache: both are said
        let f = check(&cluster("calico", &|c| c), b.path(), &[]).expect("finding");
        assert!(f.warning && f.check == "bundle");
        assert!(
            f.message.contains("docker.io/calico/node:v3.32.1")
                && f.message
                    .contains("docker.io/easzlab/k8s-dns-node-cache:1.26.8")
                && f.message.contains("network flannel, without nodelocaldns"),
            "{}",
            f.message
        );
        assert!(check(&cluster("calico", &|c| c), b.path(), &["bundle".into()]).is_none());
    }

    #[test]
    fn versions_come_from_config_and_no_manifest_is_no_finding() {
        let v = VersionTable::default();
        let c = cluster("flannel", &|c| {
            ez_inventory::templates::set_config_value(&c, "flannel_ver", "\"v0.28.10\"")
        });
        let used = images_used(&c, &v);
        assert_eq!(used[0], "ghcr.io/flannel-io/flannel:v0.28.10");
        assert!(used.iter().any(|i| i.contains("k8s-dns-node-cache")));
        let none = cluster("none", &|c| {
            let c = ez_inventory::templates::set_config_value(&c, "dns_install", "\"no\"");
            ez_inventory::templates::set_config_value(&c, "metricsserver_install", "\"no\"")
        });
        assert_eq!(
            images_used(&none, &v),
            ["docker.io/easzlab/k8s-dns-node-cache:1.26.8"]
        );
        let empty = tempfile::tempdir().expect("tmp");
        assert!(check(&c, empty.path(), &[]).is_none());
    }
}
