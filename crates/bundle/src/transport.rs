//! Moving a bundle to an offline host as one file: `ezdown --export FILE` / `--import FILE`.
//!
//! Export refuses a bundle that does not verify. Import extracts into a staging directory on
//! the same filesystem, verifies every file against the manifest inside the archive (nothing
//! missing, nothing changed, nothing unlisted), and only then moves the files into place —
//! manifest last. A corrupt or truncated archive leaves the target untouched.

use crate::checksum::hash_file_blocking;
use crate::error::{BundleError, Result};
use crate::manifest::{MANIFEST, Manifest, WORK_DIR, safe_relative};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Compression of an export, chosen by the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

impl Compression {
    /// `.tar.zst`/`.tzst` → zstd, `.tar.gz`/`.tgz` → gzip, `.tar` → none.
    pub fn from_name(p: &Path) -> Result<Compression> {
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if n.ends_with(".tar.zst") || n.ends_with(".tzst") {
            Ok(Compression::Zstd)
        } else if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
            Ok(Compression::Gzip)
        } else if n.ends_with(".tar") {
            Ok(Compression::None)
        } else {
            Err(BundleError::Other(format!(
                "--export {}: name the file .tar.zst (zstd), .tar.gz (gzip) or .tar",
                p.display()
            )))
        }
    }
}

/// Writes the manifest and every file it lists into `out` (via `out.part`). Blocking.
pub fn export(base: &Path, out: &Path) -> Result<u64> {
    let comp = Compression::from_name(out)?;
    let m = Manifest::load(base)?.ok_or_else(|| BundleError::Manifest {
        path: base.join(MANIFEST),
        msg: "no manifest: run `ezdown -D` first".into(),
    })?;
    let part = PathBuf::from(format!("{}.part", out.display()));
    let f = std::fs::File::create(&part).map_err(|e| BundleError::io("create", &part, e))?;
    let w = std::io::BufWriter::with_capacity(1 << 20, f);
    let io = |e: std::io::Error| BundleError::io("write", &part, e);
    let w: Box<dyn Write> = match comp {
        Compression::Zstd => {
            let mut enc = zstd::Encoder::new(w, 3).map_err(io)?;
            let _ = enc.multithread(2);
            Box::new(enc.auto_finish())
        }
        Compression::Gzip => Box::new(flate2::write::GzEncoder::new(
            w,
            flate2::Compression::fast(),
        )),
        Compression::None => Box::new(w),
    };
    let mut tar = tar::Builder::new(w);
    tar.follow_symlinks(false);
    let mut bytes = 0;
    for (prefix, m) in with_other_arches(base, m)? {
        let name = format!("{prefix}{MANIFEST}");
        tar.append_path_with_name(base.join(&name), &name)
            .map_err(io)?;
        for f in &m.files {
            let rel = format!("{prefix}{}", f.path);
            let src = base.join(&rel);
            let mut file =
                std::fs::File::open(&src).map_err(|e| BundleError::io("open", &src, e))?;
            tar.append_file(&rel, &mut file).map_err(io)?;
            bytes += f.size;
        }
    }
    let w = tar.into_inner().map_err(io)?;
    drop(w); // finishes the compressor and flushes
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&part)
        .map_err(|e| BundleError::io("open", &part, e))?;
    f.sync_all()
        .map_err(|e| BundleError::io("sync", &part, e))?;
    std::fs::rename(&part, out).map_err(|e| BundleError::io("rename", out, e))?;
    Ok(bytes)
}

/// Imports an exported bundle into `base`. Blocking. Returns the manifest.
pub fn import(file: &Path, base: &Path) -> Result<Manifest> {
    let arch_err = |msg: String| BundleError::Archive {
        path: file.to_path_buf(),
        msg,
    };
    std::fs::create_dir_all(base).map_err(|e| BundleError::io("create directory", base, e))?;
    let stage = base.join(WORK_DIR).join("import");
    let _ = std::fs::remove_dir_all(&stage);
    std::fs::create_dir_all(&stage).map_err(|e| BundleError::io("create directory", &stage, e))?;
    let mut f = std::fs::File::open(file).map_err(|e| BundleError::io("open", file, e))?;
    let mut magic = [0u8; 4];
    let n = f
        .read(&mut magic)
        .map_err(|e| BundleError::io("read", file, e))?;
    let f = std::fs::File::open(file).map_err(|e| BundleError::io("open", file, e))?;
    let r = std::io::BufReader::with_capacity(1 << 20, f);
    let reader: Box<dyn Read> = if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::Decoder::with_buffer(r).map_err(|e| arch_err(e.to_string()))?)
    } else if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(r))
    } else {
        Box::new(r)
    };
    let mut tar = tar::Archive::new(reader);
    let mut got = std::collections::BTreeSet::new();
    for entry in tar.entries().map_err(|e| arch_err(e.to_string()))? {
        let mut entry = entry.map_err(|e| arch_err(format!("corrupt or truncated: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| arch_err(e.to_string()))?
            .to_string_lossy()
            .to_string();
        if !entry.header().entry_type().is_file() {
            return Err(arch_err(format!("'{path}' is not a regular file")));
        }
        if !safe_relative(&path) || path.starts_with(WORK_DIR) {
            return Err(arch_err(format!("unsafe path '{path}'")));
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
        let dest = stage.join(&path);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(|e| BundleError::io("create directory", p, e))?;
        }
        let mut out =
            std::fs::File::create(&dest).map_err(|e| BundleError::io("create", &dest, e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| {
            if crate::error::is_disk_full(&e) {
                BundleError::DiskFull(dest.clone())
            } else {
                arch_err(format!("corrupt or truncated at '{path}': {e}"))
            }
        })?;
        out.sync_all()
            .map_err(|e| BundleError::io("sync", &dest, e))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
            .map_err(|e| BundleError::io("chmod", &dest, e))?;
        got.insert(path);
    }
    let m = Manifest::load(&stage)?
        .ok_or_else(|| arch_err("no manifest.json inside: not an ezdown export".into()))?;
    let all = with_other_arches(&stage, m.clone())?;
    for (prefix, sub) in &all {
        for f in &sub.files {
            let rel = format!("{prefix}{}", f.path);
            let (sha, size) = match hash_file_blocking(&stage.join(&rel)) {
                Ok(v) => v,
                Err(_) => {
                    return Err(arch_err(format!(
                        "'{rel}' is listed in the manifest but missing"
                    )));
                }
            };
            if sha.hex() != f.sha256 || size != f.size {
                return Err(arch_err(format!(
                    "'{rel}' does not match the manifest (sha256 {} expected {})",
                    sha.hex(),
                    f.sha256
                )));
            }
            got.remove(&rel);
        }
        got.remove(&format!("{prefix}{MANIFEST}"));
    }
    if let Some(extra) = got.iter().next() {
        return Err(arch_err(format!("'{extra}' is not listed in the manifest")));
    }
    // the other architectures first: the base's own manifest, moved last, marks the end
    for (prefix, sub) in all.iter().rev() {
        let names = sub.files.iter().map(|f| format!("{prefix}{}", f.path));
        for rel in names.chain(std::iter::once(format!("{prefix}{MANIFEST}"))) {
            let dest = base.join(&rel);
            if let Some(p) = dest.parent() {
                std::fs::create_dir_all(p)
                    .map_err(|e| BundleError::io("create directory", p, e))?;
            }
            std::fs::rename(stage.join(&rel), &dest)
                .map_err(|e| BundleError::io("rename", &dest, e))?;
        }
    }
    let _ = std::fs::remove_dir_all(&stage);
    Ok(m)
}

/// The bundle at `base` (manifest `m`) and each other architecture's bundle in it, as
/// (path prefix, manifest): `("", m)`, `("arch/arm64/", …)`.
fn with_other_arches(base: &Path, m: Manifest) -> Result<Vec<(String, Manifest)>> {
    let mut out = vec![(String::new(), m)];
    for a in crate::arches::extra(base) {
        let sub = crate::arches::sub_base(base, a);
        if let Some(sm) = Manifest::load(&sub)? {
            out.push((format!("{}/{}/", crate::arches::DIR, a.as_str()), sm));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::Sha256;
    use crate::manifest::{FileEntry, Kind};

    fn make_bundle(base: &Path) {
        std::fs::create_dir_all(base.join("bin")).unwrap();
        std::fs::write(base.join("bin/kubelet"), b"kubelet-bytes").unwrap();
        let mut m = Manifest::new("amd64", ez_inventory::VersionTable::default());
        m.files.push(FileEntry {
            path: "bin/kubelet".into(),
            size: 13,
            sha256: Sha256::of(b"kubelet-bytes").hex(),
            kind: Kind::Binary,
            artifact: "kubelet".into(),
            version: "v1".into(),
            source: "http://x".into(),
            from: None,
        });
        m.write(base).unwrap();
    }

    #[test]
    fn round_trip_every_compression() {
        for name in ["b.tar.zst", "b.tar.gz", "b.tar"] {
            let src = tempfile::tempdir().unwrap();
            let dst = tempfile::tempdir().unwrap();
            make_bundle(src.path());
            let out = src.path().join(name);
            export(src.path(), &out).unwrap();
            let m = import(&out, dst.path()).unwrap();
            assert_eq!(m.files.len(), 1);
            assert_eq!(
                std::fs::read(dst.path().join("bin/kubelet")).unwrap(),
                b"kubelet-bytes"
            );
            assert!(dst.path().join(MANIFEST).exists());
        }
    }

    #[test]
    fn tampered_archive_is_rejected_and_target_untouched() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        make_bundle(src.path());
        std::fs::write(src.path().join("bin/kubelet"), b"KUBELET-bytes").unwrap();
        let out = src.path().join("b.tar");
        export(src.path(), &out).unwrap();
        let e = import(&out, dst.path()).unwrap_err().to_string();
        assert!(e.contains("does not match the manifest"), "{e}");
        assert!(!dst.path().join("bin/kubelet").exists());
        assert!(!dst.path().join(MANIFEST).exists());
    }

    #[test]
    fn truncated_archive_is_rejected() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        make_bundle(src.path());
        let out = src.path().join("b.tar.gz");
        export(src.path(), &out).unwrap();
        let data = std::fs::read(&out).unwrap();
        std::fs::write(&out, &data[..data.len() / 2]).unwrap();
        assert!(import(&out, dst.path()).is_err());
        assert!(!dst.path().join(MANIFEST).exists());
    }

    #[test]
    fn bad_export_name() {
        assert!(Compression::from_name(Path::new("x.zip")).is_err());
    }
}
