//! The artifact catalog: which upstream files make a kubeasz bundle for a version table and an
//! architecture, where each one's checksum is published, and where it lands.
//!
//! Layout (kubeasz's): `bin/` (k8s, etcd, helm, calicoctl, crictl), `bin/containerd-bin/`
//! (containerd static + runc), `bin/cni-bin/`, `down/` (the archives themselves and image tars).
//!
//! Not in the catalog: **nginx for kube-lb**. kubeasz builds it from source inside its
//! `kubeasz-ext-build` image (nginx.org publishes sources only, no static binaries), so there
//! is no upstream binary to download and verify. Supply one with `ezdown --extra-file
//! bin/nginx=/path/to/nginx` (recorded with its sha256 in the manifest); see docs/en/ezdown.md.

use crate::error::{BundleError, Result};
use crate::selection::{Network, Part, Selection};
use ez_inventory::VersionTable;

/// Target CPU architecture, spelled as Go/OCI spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Amd64,
    Arm64,
}

impl Arch {
    pub fn parse(s: &str) -> Result<Arch> {
        match s {
            "amd64" | "x86_64" => Ok(Arch::Amd64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            other => Err(BundleError::BadArch(other.to_string())),
        }
    }

    /// The architecture of this machine (amd64 unless running on aarch64).
    pub fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Arm64
        } else {
            Arch::Amd64
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The name `uname -m` gives it (`x86_64`, `aarch64`).
    pub fn uname(&self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }
}

/// Where an artifact's SHA-256 comes from when the repository table has no entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumSource {
    /// An upstream checksum file (any format `checksum::parse_checksum_file` accepts).
    File(String),
    /// Nothing published: only the repository table can vouch for it.
    TableOnly,
}

/// How a downloaded file is installed into the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// A bare executable, moved to this path (relative to the bundle base), mode 0755.
    Binary { dest: String },
    /// An archive kept at `down/<file_name>`, from which regular files are extracted into
    /// `dest_dir`: only those whose base name is in `names`, or all of them when `names` is
    /// empty.
    Archive {
        dest_dir: String,
        names: Vec<String>,
    },
}

/// One upstream file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Short stable name, e.g. `kubelet`, `etcd`, `cni-plugins`.
    pub id: String,
    pub version: String,
    /// The upstream URL (https).
    pub url: String,
    pub checksum: ChecksumSource,
    pub install: Install,
}

impl Artifact {
    /// The last path segment of the URL.
    pub fn file_name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }

    /// Where the downloaded file itself lives in the bundle.
    pub fn download_path(&self) -> String {
        match &self.install {
            Install::Binary { dest } => dest.clone(),
            Install::Archive { .. } => format!("down/{}", self.file_name()),
        }
    }
}

/// Checks that a version looks like `v1.2.3` / `1.2.3` (optionally with a `-suffix`).
pub fn check_version(v: &str) -> Result<()> {
    let core = v.strip_prefix('v').unwrap_or(v);
    let core = core.split_once('-').map(|(c, _)| c).unwrap_or(core);
    let parts: Vec<&str> = core.split('.').collect();
    let ok = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(BundleError::BadVersion(v.to_string()))
    }
}

/// Rough size in MB of an artifact's download (amd64, recent releases), used only to start
/// the largest transfers first so that the parallel lanes end together instead of one big
/// file running alone at the end. Never used to check anything; an unknown id counts as 10.
pub fn typical_mb(id: &str) -> u32 {
    match id {
        "kube-apiserver" => 90,
        "kube-controller-manager" => 85,
        "kubelet" => 75,
        "calicoctl" => 65,
        "kube-scheduler" | "kube-proxy" => 55,
        "cni-plugins" => 50,
        "kubectl" => 48,
        "containerd" => 35,
        "etcd" | "sonobuoy" => 25,
        "crictl" => 20,
        "helm" => 18,
        "runc" => 12,
        _ => 10,
    }
}

/// The binary artifacts of kubeasz's bundle (k8s-bin + ext-bin, minus docker and the
/// from-source builds): [`binaries_for`] the default selection.
pub fn binaries(v: &VersionTable, arch: Arch) -> Result<Vec<Artifact>> {
    binaries_for(v, arch, &Selection::default())
}

/// The Kubernetes release's binaries a bundle holds, each as `bin/<name>` (dl.k8s.io's
/// `release/<v>/bin/linux/<arch>/<name>`).
pub const KUBERNETES_BINARIES: [&str; 6] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
];
/// The binary artifacts for a selection: calicoctl only with the calico network, helm unless
/// left out. Only the versions of the artifacts chosen are checked.
pub fn binaries_for(v: &VersionTable, arch: Arch, sel: &Selection) -> Result<Vec<Artifact>> {
    let calico = sel.network == Network::Calico;
    let helm = sel.has(Part::Helm);
    for ver in [&v.kubernetes, &v.etcd, &v.runc, &v.cni_plugins, &v.crictl] {
        check_version(ver)?;
    }
    if helm {
        check_version(&v.helm)?;
    }
    if calico {
        check_version(&v.calicoctl)?;
    }
    check_version(&v.containerd)?;
    let a = arch.as_str();
    let mut out = Vec::new();
    let k8s = &v.kubernetes;
    for bin in KUBERNETES_BINARIES {
        let url = format!("https://dl.k8s.io/release/{k8s}/bin/linux/{a}/{bin}");
        out.push(Artifact {
            id: bin.to_string(),
            version: k8s.clone(),
            checksum: ChecksumSource::File(format!("{url}.sha256")),
            url,
            install: Install::Binary {
                dest: format!("bin/{bin}"),
            },
        });
    }
    let etcd = &v.etcd;
    let base = format!("https://github.com/etcd-io/etcd/releases/download/{etcd}");
    out.push(Artifact {
        id: "etcd".into(),
        version: etcd.clone(),
        url: format!("{base}/etcd-{etcd}-linux-{a}.tar.gz"),
        checksum: ChecksumSource::File(format!("{base}/SHA256SUMS")),
        install: Install::Archive {
            dest_dir: "bin".into(),
            names: vec!["etcd".into(), "etcdctl".into(), "etcdutl".into()],
        },
    });
    let cd = v.containerd.trim_start_matches('v');
    let url = format!(
        "https://github.com/containerd/containerd/releases/download/v{cd}/containerd-static-{cd}-linux-{a}.tar.gz"
    );
    out.push(Artifact {
        id: "containerd".into(),
        version: cd.to_string(),
        checksum: ChecksumSource::File(format!("{url}.sha256sum")),
        url,
        install: Install::Archive {
            dest_dir: ez_inventory::layout::CONTAINERD_BIN.into(),
            names: vec![],
        },
    });
    let runc = &v.runc;
    let base = format!("https://github.com/opencontainers/runc/releases/download/{runc}");
    out.push(Artifact {
        id: "runc".into(),
        version: runc.clone(),
        url: format!("{base}/runc.{a}"),
        checksum: ChecksumSource::File(format!("{base}/runc.sha256sum")),
        install: Install::Binary {
            dest: format!("{}/runc", ez_inventory::layout::CONTAINERD_BIN),
        },
    });
    let cni = &v.cni_plugins;
    let url = format!(
        "https://github.com/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{a}-{cni}.tgz"
    );
    out.push(Artifact {
        id: "cni-plugins".into(),
        version: cni.clone(),
        checksum: ChecksumSource::File(format!("{url}.sha256")),
        url,
        install: Install::Archive {
            dest_dir: ez_inventory::layout::CNI_BIN.into(),
            names: vec![],
        },
    });
    let crictl = &v.crictl;
    let url = format!(
        "https://github.com/kubernetes-sigs/cri-tools/releases/download/{crictl}/crictl-{crictl}-linux-{a}.tar.gz"
    );
    out.push(Artifact {
        id: "crictl".into(),
        version: crictl.clone(),
        checksum: ChecksumSource::File(format!("{url}.sha256")),
        url,
        install: Install::Archive {
            dest_dir: "bin".into(),
            names: vec!["crictl".into()],
        },
    });
    if helm {
        out.push(helm_artifact(&v.helm, a));
    }
    if calico {
        out.push(calicoctl_artifact(&v.calicoctl, a));
    }
    Ok(out)
}

fn helm_artifact(helm: &str, a: &str) -> Artifact {
    let url = format!("https://get.helm.sh/helm-{helm}-linux-{a}.tar.gz");
    Artifact {
        id: "helm".into(),
        version: helm.to_string(),
        checksum: ChecksumSource::File(format!("{url}.sha256sum")),
        url,
        install: Install::Archive {
            dest_dir: "bin".into(),
            names: vec!["helm".into()],
        },
    }
}

fn calicoctl_artifact(cal: &str, a: &str) -> Artifact {
    let base = format!("https://github.com/projectcalico/calico/releases/download/{cal}");
    Artifact {
        id: "calicoctl".into(),
        version: cal.to_string(),
        url: format!("{base}/calicoctl-linux-{a}"),
        // Calico attaches a SHA256SUMS file to its GitHub releases; if a release lacks it,
        // add the value to the repository table.
        checksum: ChecksumSource::File(format!("{base}/SHA256SUMS")),
        install: Install::Binary {
            dest: "bin/calicoctl".into(),
        },
    }
}

/// Sonobuoy's release for `ezctl conformance run --runner sonobuoy` (fetched with
/// `-X conformance`): `bin/sonobuoy`, checked against the release's goreleaser checksums file.
pub const SONOBUOY_VERSION: &str = "v0.57.5";

/// The Sonobuoy CLI artifact for `arch`.
pub fn sonobuoy(arch: Arch) -> Artifact {
    let a = arch.as_str();
    let v = SONOBUOY_VERSION.trim_start_matches('v');
    let base =
        format!("https://github.com/vmware-tanzu/sonobuoy/releases/download/{SONOBUOY_VERSION}");
    Artifact {
        id: "sonobuoy".into(),
        version: SONOBUOY_VERSION.into(),
        url: format!("{base}/sonobuoy_{v}_linux_{a}.tar.gz"),
        checksum: ChecksumSource::File(format!("{base}/sonobuoy_{v}_checksums.txt")),
        install: Install::Archive {
            dest_dir: "bin".into(),
            names: vec!["sonobuoy".into()],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_artifact_has_a_size_hint_and_the_big_ones_come_first() {
        let mut all = binaries(&VersionTable::default(), Arch::Amd64).unwrap();
        all.push(sonobuoy(Arch::Amd64));
        for a in &all {
            assert_ne!(typical_mb(&a.id), 10, "{} has no size hint", a.id);
        }
        all.sort_by_key(|a| std::cmp::Reverse(typical_mb(&a.id)));
        let ids: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids[..3],
            ["kube-apiserver", "kube-controller-manager", "kubelet"]
        );
        assert_eq!(ids.last(), Some(&"runc"));
    }

    #[test]
    fn sonobuoy_lands_in_bin_from_its_release() {
        let s = sonobuoy(Arch::Arm64);
        assert_eq!(
            s.url,
            "https://github.com/vmware-tanzu/sonobuoy/releases/download/v0.57.5/sonobuoy_0.57.5_linux_arm64.tar.gz"
        );
        assert!(
            matches!(&s.checksum, ChecksumSource::File(f) if f.ends_with("/sonobuoy_0.57.5_checksums.txt"))
        );
        assert!(
            matches!(&s.install, Install::Archive { dest_dir, names } if dest_dir == "bin" && names == &["sonobuoy"])
        );
    }

    #[test]
    fn default_catalog_has_every_kubeasz_binary() {
        let c = binaries(&VersionTable::default(), Arch::Amd64).unwrap();
        let ids: Vec<&str> = c.iter().map(|a| a.id.as_str()).collect();
        for want in [
            "kube-apiserver",
            "kubelet",
            "kubectl",
            "etcd",
            "containerd",
            "runc",
            "cni-plugins",
            "crictl",
            "helm",
            "calicoctl",
        ] {
            assert!(ids.contains(&want), "{want}");
        }
        let kubelet = c.iter().find(|a| a.id == "kubelet").unwrap();
        assert_eq!(
            kubelet.url,
            "https://dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet"
        );
        assert_eq!(kubelet.download_path(), "bin/kubelet");
        let etcd = c.iter().find(|a| a.id == "etcd").unwrap();
        assert_eq!(
            etcd.url,
            "https://github.com/etcd-io/etcd/releases/download/v3.7.1/etcd-v3.7.1-linux-amd64.tar.gz"
        );
        assert_eq!(etcd.download_path(), "down/etcd-v3.7.1-linux-amd64.tar.gz");
        let cd = c.iter().find(|a| a.id == "containerd").unwrap();
        assert!(
            cd.url
                .ends_with("/v2.3.3/containerd-static-2.3.3-linux-amd64.tar.gz")
        );
    }

    #[test]
    fn a_selection_leaves_out_calicoctl_and_helm() {
        let v = VersionTable::default();
        let ids = |sel: &Selection| {
            binaries_for(&v, Arch::Amd64, sel)
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        };
        let all = ids(&Selection::default());
        assert_eq!(all.len(), 13);
        let flannel = ids(&Selection::parse(Some("flannel"), &[]).unwrap());
        assert_eq!(flannel.len(), 12);
        assert!(!flannel.iter().any(|i| i == "calicoctl") && flannel.contains(&"helm".into()));
        let bare = ids(&Selection::parse(Some("flannel"), &["helm".into()]).unwrap());
        assert_eq!(bare.len(), 11);
        assert!(!bare.iter().any(|i| i == "helm" || i == "calicoctl"));
        // a version not used is not checked
        let mut odd = v.clone();
        odd.calicoctl = "none".into();
        assert!(
            binaries_for(
                &odd,
                Arch::Amd64,
                &Selection::parse(Some("flannel"), &[]).unwrap()
            )
            .is_ok()
        );
        assert!(binaries(&odd, Arch::Amd64).is_err());
    }

    #[test]
    fn arm64_urls() {
        let c = binaries(&VersionTable::default(), Arch::Arm64).unwrap();
        assert!(c.iter().all(|a| a.url.contains("arm64")), "{c:#?}");
    }

    #[test]
    fn versions_are_checked() {
        assert!(check_version("v1.36.3").is_ok());
        assert!(check_version("2.3.3").is_ok());
        assert!(check_version("v1.36.0-rc.1").is_ok());
        for bad in ["latest", "v1.36", "v1.36.x", "../../etc", "v1.2.3/../x", ""] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
        let t = VersionTable::default().with_kubernetes("nonsense");
        assert!(matches!(
            binaries(&t, Arch::Amd64),
            Err(BundleError::BadVersion(_))
        ));
    }

    #[test]
    fn arch_parsing() {
        assert_eq!(Arch::parse("aarch64").unwrap(), Arch::Arm64);
        assert!(Arch::parse("riscv64").is_err());
    }
}
