//! Several architectures in one bundle (`ezdown -D --arch amd64,arm64`, for fleets that mix
//! them). The first architecture is the bundle itself, in kubeasz's layout (`bin/`, `down/`);
//! every other one is a whole bundle of its own under `arch/<arch>/`, with its own
//! manifest.json.
//!
//! Invariant: a sub-bundle is exactly what `ezdown -D --arch <arch> --base <base>/arch/<arch>`
//! makes, so it downloads, resumes and verifies like any bundle, and a single-arch bundle is
//! unchanged (no `arch/` folder).

use crate::catalog::Arch;
use crate::error::Result;
use crate::manifest::MANIFEST;
use std::path::{Path, PathBuf};

/// The folder of the other architectures' bundles, under the base.
pub use ez_inventory::layout::ARCH as DIR;

/// Where the bundle of `arch` lives when it is not the base's own architecture.
pub fn sub_base(base: &Path, arch: Arch) -> PathBuf {
    ez_inventory::BundleLayout::new(base)
        .for_arch(arch.as_str())
        .base()
        .to_path_buf()
}

/// The other architectures the bundle at `base` holds (a sub-bundle with a manifest.json),
/// in a stable order.
pub fn extra(base: &Path) -> Vec<Arch> {
    [Arch::Amd64, Arch::Arm64]
        .into_iter()
        .filter(|a| sub_base(base, *a).join(MANIFEST).is_file())
        .collect()
}

/// Parses `--arch`: one architecture or a comma-separated list (`amd64,arm64`), each once,
/// in the order given (the first is the bundle's own).
pub fn parse_list(s: &str) -> Result<Vec<Arch>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let a = Arch::parse(part)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(crate::BundleError::BadArch(s.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_order_and_drop_repeats() {
        assert_eq!(
            parse_list("arm64, amd64,arm64").unwrap(),
            vec![Arch::Arm64, Arch::Amd64]
        );
        assert_eq!(parse_list("x86_64").unwrap(), vec![Arch::Amd64]);
        assert!(parse_list("amd64,riscv64").is_err());
        assert!(parse_list(" , ").is_err());
    }

    #[test]
    fn sub_bundles_are_found_by_their_manifest() {
        let d = tempfile::tempdir().unwrap();
        assert!(extra(d.path()).is_empty());
        let arm = sub_base(d.path(), Arch::Arm64);
        std::fs::create_dir_all(&arm).unwrap();
        assert!(
            extra(d.path()).is_empty(),
            "a folder without manifest is not a bundle"
        );
        std::fs::write(arm.join(MANIFEST), "{}").unwrap();
        assert_eq!(extra(d.path()), vec![Arch::Arm64]);
        assert_eq!(arm, d.path().join("arch/arm64"));
    }
}
