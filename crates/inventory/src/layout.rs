//! The bundle's layout, kubeasz's `/etc/kubeasz`: one place for the paths `ezdown` writes,
//! the engine's facts read, the playbooks' variables name and `ezctl` checks.
//!
//! ```text
//! <base>/bin/                  kube-*, kubelet, kubectl, etcd*, helm, calicoctl, crictl
//! <base>/bin/containerd-bin/   containerd, its shims, ctr, runc
//! <base>/bin/cni-bin/          the CNI plugins
//! <base>/down/                 upstream archives and one <name>_<tag>.tar per image
//! <base>/manifest.json         what ezdown verified (written last)
//! <base>/.ezdown/              ezdown's work area (not part of the bundle)
//! <base>/arch/<arch>/          another architecture's whole bundle, same layout
//! ```
//!
//! Invariant: every path is relative to one base; [`BundleLayout::for_arch`] is the same
//! layout one level down, so code written for a bundle works for each architecture's.

use std::path::{Path, PathBuf};

/// `bin/`, relative to the base.
pub const BIN: &str = "bin";
/// `bin/containerd-bin/`.
pub const CONTAINERD_BIN: &str = "bin/containerd-bin";
/// `bin/cni-bin/`.
pub const CNI_BIN: &str = "bin/cni-bin";
/// `down/`: archives and image tars.
pub const DOWN: &str = "down";
/// The manifest ezdown writes last.
pub const MANIFEST: &str = "manifest.json";
/// ezdown's work area: `.part` files, blob cache, staging.
pub const WORK: &str = ".ezdown";
/// Other architectures' bundles: `arch/<arch>/`.
pub const ARCH: &str = "arch";

/// A bundle's paths under its base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleLayout {
    base: PathBuf,
}

impl BundleLayout {
    pub fn new(base: impl Into<PathBuf>) -> BundleLayout {
        BundleLayout { base: base.into() }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn bin(&self) -> PathBuf {
        self.base.join(BIN)
    }

    /// `bin/<name>` (`kubectl`, `kube-apiserver`, …).
    pub fn bin_file(&self, name: &str) -> PathBuf {
        self.bin().join(name)
    }

    pub fn containerd_bin(&self) -> PathBuf {
        self.base.join(CONTAINERD_BIN)
    }

    pub fn cni_bin(&self) -> PathBuf {
        self.base.join(CNI_BIN)
    }

    pub fn down(&self) -> PathBuf {
        self.base.join(DOWN)
    }

    /// `down/<name>` (an image tar or an archive).
    pub fn down_file(&self, name: &str) -> PathBuf {
        self.down().join(name)
    }

    pub fn manifest(&self) -> PathBuf {
        self.base.join(MANIFEST)
    }

    pub fn work(&self) -> PathBuf {
        self.base.join(WORK)
    }

    /// The bundle of another architecture inside this one (`arch/arm64/`).
    pub fn for_arch(&self, arch: &str) -> BundleLayout {
        BundleLayout::new(self.base.join(ARCH).join(arch))
    }

    /// The folders a bundle has, in the order to create them.
    pub fn dirs(&self) -> [PathBuf; 4] {
        [
            self.bin(),
            self.containerd_bin(),
            self.cni_bin(),
            self.down(),
        ]
    }

    /// Total bytes of the image tars in `down/` (0 when there is none).
    pub fn image_tar_bytes(&self) -> u64 {
        std::fs::read_dir(self.down())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".tar"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeasz_paths_and_the_same_layout_per_architecture() {
        let l = BundleLayout::new("/etc/kubeasz");
        assert_eq!(l.bin_file("kubectl"), Path::new("/etc/kubeasz/bin/kubectl"));
        assert_eq!(
            l.containerd_bin(),
            Path::new("/etc/kubeasz/bin/containerd-bin")
        );
        assert_eq!(l.cni_bin(), Path::new("/etc/kubeasz/bin/cni-bin"));
        assert_eq!(
            l.down_file("pause_3.10.tar"),
            Path::new("/etc/kubeasz/down/pause_3.10.tar")
        );
        assert_eq!(l.manifest(), Path::new("/etc/kubeasz/manifest.json"));
        let arm = l.for_arch("arm64");
        assert_eq!(
            arm.bin_file("kubelet"),
            Path::new("/etc/kubeasz/arch/arm64/bin/kubelet")
        );
        assert_eq!(
            arm.manifest(),
            Path::new("/etc/kubeasz/arch/arm64/manifest.json")
        );
    }

    #[test]
    fn image_bytes_count_only_tars() {
        let d = tempfile::tempdir().unwrap();
        let l = BundleLayout::new(d.path());
        std::fs::create_dir_all(l.down()).unwrap();
        std::fs::write(l.down_file("a.tar"), [0u8; 10]).unwrap();
        std::fs::write(l.down_file("b.tgz"), [0u8; 7]).unwrap();
        assert_eq!(l.image_tar_bytes(), 10);
    }
}
