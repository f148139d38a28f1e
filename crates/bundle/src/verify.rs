//! `ezdown --verify`: re-hash every file of the manifest in parallel and report missing,
//! changed and extra files.

use crate::checksum::hash_file_blocking;
use crate::error::{BundleError, Result};
use crate::manifest::{MANIFEST, Manifest, WORK_DIR};
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
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.changed.is_empty()
            && self.extra.is_empty()
            && !self.incomplete
    }
}

/// Verifies the bundle at `base` with up to `jobs` files hashed at once.
pub async fn verify(base: &Path, jobs: usize) -> Result<VerifyReport> {
    let m = Manifest::load(base)?.ok_or_else(|| BundleError::Manifest {
        path: base.join(MANIFEST),
        msg: "no manifest: this is not a bundle made by ezdown (run `ezdown -D` first)".into(),
    })?;
    let mut report = VerifyReport {
        incomplete: !m.complete,
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
