//! `ezdown --verify`: re-hash every file of the manifest in parallel and report missing,
//! changed and extra files.

use crate::checksum::hash_file_blocking;
use crate::error::{BundleError, Result};
use crate::manifest::{MANIFEST, Manifest, WORK_DIR};
use crate::oci::ImageRef;
use crate::selection::Selection;
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

/// The outcome of a verification.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub bytes: u64,
    pub missing: Vec<String>,
    /// `(path, expected, actual)`.
    pub changed: Vec<(String, String, String)>,
    /// Files under `bin/` or `down/` that the manifest does not list.
    pub extra: Vec<String>,
    /// The manifest says an earlier run did not finish.
    pub incomplete: bool,
    /// What the bundle was made for (`ezdown --network`, `--without`), from the manifest.
    pub selection: Selection,
    /// Why the bundle does not serve the selection asked for with `--verify --network …
    /// --without …`: another network plugin, a part left out, a network image not saved.
    pub shortfalls: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.changed.is_empty()
            && self.extra.is_empty()
            && !self.incomplete
            && self.shortfalls.is_empty()
    }
}

/// Verifies the bundle at `base` with up to `jobs` files hashed at once.
pub async fn verify(base: &Path, jobs: usize) -> Result<VerifyReport> {
    verify_for(base, jobs, None).await
}

/// [`verify`], and when `wanted` is given, also whether the bundle was made for that network
/// plugin with nothing left out that `wanted` keeps, and holds that plugin's images.
pub async fn verify_for(
    base: &Path,
    jobs: usize,
    wanted: Option<&Selection>,
) -> Result<VerifyReport> {
    let m = Manifest::load(base)?.ok_or_else(|| BundleError::Manifest {
        path: base.join(MANIFEST),
        msg: "no manifest: this is not a bundle made by ezdown (run `ezdown -D` first)".into(),
    })?;
    let mut report = VerifyReport {
        incomplete: !m.complete,
        selection: m.selection.clone(),
        shortfalls: wanted.map(|w| shortfalls(&m, w)).unwrap_or_default(),
        ..Default::default()
    };
    let results: Vec<_> = futures::stream::iter(m.files.iter().cloned())
        .map(|f| {
            let p = base.join(&f.path);
            async move {
                let r = tokio::task::spawn_blocking(move || hash_file_blocking(&p)).await;
                (f, r)
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    for (f, r) in results {
        report.checked += 1;
        match r {
            Ok(Ok((sha, size))) => {
                report.bytes += size;
                if sha.hex() != f.sha256 || size != f.size {
                    report.changed.push((f.path, f.sha256, sha.hex()));
                }
            }
            Ok(Err(BundleError::Io { source, .. }))
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                report.missing.push(f.path)
            }
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(BundleError::Other(format!("hashing task failed: {e}"))),
        }
    }
    let listed: BTreeSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    for top in ["bin", "down"] {
        walk(base, &base.join(top), &mut |rel| {
            if !listed.contains(rel) {
                report.extra.push(rel.to_string());
            }
        })?;
    }
    report.missing.sort();
    report.changed.sort();
    report.extra.sort();
    Ok(report)
}

/// What a bundle lacks for `wanted`: [`Selection::shortfalls`], and the images of the wanted
/// network plugin (at the manifest's versions) that the manifest does not list.
pub fn shortfalls(m: &Manifest, wanted: &Selection) -> Vec<String> {
    let mut out = m.selection.shortfalls(wanted);
    let listed = m.listed_images();
    match wanted.network.images(&m.versions) {
        Ok(images) => {
            for i in images {
                let full = ImageRef::parse(&i).map(|r| r.full_name()).unwrap_or(i);
                if !listed.contains(full.as_str()) {
                    out.push(format!(
                        "image {full} of network {} is not in the bundle",
                        wanted.network.as_str()
                    ));
                }
            }
        }
        Err(e) => out.push(e.to_string()),
    }
    out
}

/// Calls `f` with the base-relative path of every regular file or symlink under `dir`.
pub fn walk(base: &Path, dir: &Path, f: &mut dyn FnMut(&str)) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BundleError::io("read directory", dir, e)),
    };
    for e in rd {
        let e = e.map_err(|e| BundleError::io("read directory", dir, e))?;
        let p = e.path();
        let ft = e.file_type().map_err(|e| BundleError::io("stat", &p, e))?;
        if ft.is_dir() {
            if p.file_name().is_some_and(|n| n == WORK_DIR) {
                continue;
            }
            walk(base, &p, f)?;
        } else if let Ok(rel) = p.strip_prefix(base) {
            f(&rel.to_string_lossy());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::Sha256;
    use crate::manifest::{FileEntry, Kind};
    use ez_inventory::VersionTable;

    fn image(artifact: &str) -> FileEntry {
        FileEntry {
            path: format!("down/{}.tar", artifact.replace(['/', ':'], "_")),
            size: 0,
            sha256: Sha256::of(b"").hex(),
            kind: Kind::Image,
            artifact: artifact.into(),
            version: "v".into(),
            source: "x".into(),
            from: None,
        }
    }

    #[tokio::test]
    async fn verify_for_a_selection_names_what_is_missing() {
        let d = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("amd64", VersionTable::default());
        m.selection = Selection::parse(Some("flannel"), &["nodelocaldns".into()]).unwrap();
        m.files.push(image("ghcr.io/flannel-io/flannel:v0.28.9"));
        for f in &m.files {
            std::fs::create_dir_all(d.path().join("down")).unwrap();
            std::fs::write(d.path().join(&f.path), b"").unwrap();
        }
        m.write(d.path()).unwrap();
        // plain --verify: the files are fine
        let r = verify(d.path(), 1).await.unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.selection.network.as_str(), "flannel");
        // --verify --network flannel --without nodelocaldns: the CNI plugin image is missing
        let want = m.selection.clone();
        let r = verify_for(d.path(), 1, Some(&want)).await.unwrap();
        assert!(!r.ok());
        assert_eq!(
            r.shortfalls,
            [
                "image ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3 of network flannel is not in the bundle"
            ]
        );
        // --verify (calico, everything): another network, and nodelocaldns left out
        let r = verify_for(d.path(), 1, Some(&Selection::default()))
            .await
            .unwrap();
        assert!(
            r.shortfalls[0].contains("made for network flannel, not calico"),
            "{r:?}"
        );
        assert!(r.shortfalls[1].contains("without nodelocaldns"), "{r:?}");
        assert!(
            r.shortfalls
                .iter()
                .any(|s| s.contains("docker.io/calico/node:v3.32.1"))
        );
    }
}
