//! Reading one file out of an image tar (ezdown's, or any `docker save` / docker-archive tar)
//! without a container runtime: the file as the image's filesystem has it, i.e. from the
//! topmost layer that holds it, unless a higher layer deleted it (an OCI whiteout).
//!
//! Used to take `e2e.test` out of the conformance image and ask it for its image list.

use crate::error::{BundleError, Result};
use std::io::{BufReader, Read};
use std::path::Path;

/// What a search found: the platform the image is built for, and whether the file exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// `architecture` of the image config (`amd64`, `arm64`, …), empty when not stated.
    pub architecture: String,
    /// True when the file was written to the destination.
    pub found: bool,
}

fn bad(tar: &Path, msg: impl std::fmt::Display) -> BundleError {
    BundleError::Archive {
        path: tar.to_path_buf(),
        msg: msg.to_string(),
    }
}

/// JSON documents small enough to be metadata (`manifest.json`, `index.json`, manifest and
/// config blobs) are read whole; layers never are.
const META_MAX: u64 = 4 << 20;

/// The image's config path and layer paths (bottom to top) inside the tar: from the
/// docker-archive `manifest.json` when there is one, else from the OCI layout (`index.json` →
/// [index →] manifest; the entry for this machine's architecture in a multi-platform index).
fn read_manifest(tar: &Path) -> Result<(String, Vec<String>)> {
    let f = std::fs::File::open(tar).map_err(|e| BundleError::io("open", tar, e))?;
    let mut a = tar::Archive::new(BufReader::new(f));
    let mut docs: std::collections::HashMap<String, serde_json::Value> = Default::default();
    for entry in a.entries().map_err(|e| bad(tar, e))? {
        let e = entry.map_err(|e| bad(tar, e))?;
        let name = e
            .path()
            .map_err(|e| bad(tar, e))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let wanted = name == "manifest.json" || name == "index.json" || name.starts_with("blobs/");
        if !wanted || e.header().size().unwrap_or(u64::MAX) > META_MAX {
            continue;
        }
        // Not JSON (a small layer): not metadata.
        if let Ok(v) = serde_json::from_reader::<_, serde_json::Value>(e) {
            docs.insert(name, v);
        }
    }
    if let Some(v) = docs.get("manifest.json") {
        let first = v
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| bad(tar, "manifest.json lists no image"))?;
        let config = first
            .get("Config")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string();
        let layers = first
            .get("Layers")
            .and_then(|l| l.as_array())
            .ok_or_else(|| bad(tar, "manifest.json has no Layers"))?
            .iter()
            .filter_map(|l| l.as_str().map(str::to_string))
            .collect();
        return Ok((config, layers));
    }
    let Some(index) = docs.get("index.json") else {
        return Err(bad(
            tar,
            "neither manifest.json nor index.json (not an image tar: docker save, ezdown, or an OCI archive)",
        ));
    };
    let blob = |d: &str| format!("blobs/{}", d.replace(':', "/"));
    let here = crate::catalog::Arch::host().as_str();
    let mut doc = index;
    // Follow indexes down to an image manifest (at most a few levels).
    for _ in 0..4 {
        let Some(entries) = doc.get("manifests").and_then(|m| m.as_array()) else {
            break;
        };
        let pick = entries
            .iter()
            .find(|m| m["platform"]["architecture"].as_str() == Some(here))
            .or_else(|| entries.first())
            .and_then(|m| m["digest"].as_str())
            .ok_or_else(|| bad(tar, "index.json lists no manifest"))?;
        doc = docs
            .get(&blob(pick))
            .ok_or_else(|| bad(tar, format!("{} is not in the archive", blob(pick))))?;
    }
    let config = doc["config"]["digest"]
        .as_str()
        .map(blob)
        .ok_or_else(|| bad(tar, "the image manifest has no config"))?;
    let layers = doc["layers"]
        .as_array()
        .ok_or_else(|| bad(tar, "the image manifest has no layers"))?
        .iter()
        .filter_map(|l| l["digest"].as_str().map(blob))
        .collect();
    Ok((config, layers))
}

/// A layer stream, decompressed by its magic bytes (gzip, zstd, or plain tar).
fn layer_reader<'a>(mut r: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        let k = r.read(&mut magic[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let whole = head.chain(r);
    Ok(if magic[..n.min(2)] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(whole))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Box::new(zstd::stream::read::Decoder::new(whole)?)
    } else {
        Box::new(whole)
    })
}

/// Writes the image's `path` (absolute, e.g. `/usr/local/bin/e2e.test`) to `dest` with mode
/// 0755. Layers are read in one pass over the tar, each decompressed once.
pub fn extract_file(tar: &Path, path: &str, dest: &Path) -> Result<Extracted> {
    let want = path.trim_start_matches('/').to_string();
    let (dir, base) = match want.rsplit_once('/') {
        Some((d, b)) => (format!("{d}/"), b.to_string()),
        None => (String::new(), want.clone()),
    };
    let whiteout = format!("{dir}.wh.{base}");
    let opaque = format!("{dir}.wh..wh..opq");
    let (config, layers) = read_manifest(tar)?;
    let index_of = |name: &str| layers.iter().rposition(|l| l == name);
    // Per layer index: Some(true) = holds the file, Some(false) = deletes it.
    let mut verdicts: Vec<Option<bool>> = vec![None; layers.len()];
    let mut best: Option<usize> = None;
    let mut architecture = String::new();
    let staged = dest.with_extension("ez-part");
    let f = std::fs::File::open(tar).map_err(|e| BundleError::io("open", tar, e))?;
    let mut outer = tar::Archive::new(BufReader::with_capacity(1 << 20, f));
    for entry in outer.entries().map_err(|e| bad(tar, e))? {
        let e = entry.map_err(|e| bad(tar, e))?;
        let name = e
            .path()
            .map_err(|e| bad(tar, e))?
            .to_string_lossy()
            .into_owned();
        let name = name.trim_start_matches("./").to_string();
        if name == config {
            let v: serde_json::Value = serde_json::from_reader(e).map_err(|e| bad(tar, e))?;
            architecture = v
                .get("architecture")
                .and_then(|a| a.as_str())
                .unwrap_or_default()
                .to_string();
            continue;
        }
        let Some(i) = index_of(&name) else {
            continue;
        };
        let mut inner = tar::Archive::new(layer_reader(e).map_err(|e| bad(tar, e))?);
        for le in inner
            .entries()
            .map_err(|e| bad(tar, format!("layer {name}: {e}")))?
        {
            let mut le = le.map_err(|e| bad(tar, format!("layer {name}: {e}")))?;
            let p = le
                .path()
                .map_err(|e| bad(tar, e))?
                .to_string_lossy()
                .into_owned();
            let p = p.trim_start_matches("./");
            if p == whiteout || p == opaque {
                verdicts[i].get_or_insert(false);
            } else if p == want && le.header().entry_type().is_file() {
                verdicts[i] = Some(true);
                if best.is_none_or(|b| i > b) {
                    let mut out = std::fs::File::create(&staged)
                        .map_err(|e| BundleError::io("create", &staged, e))?;
                    std::io::copy(&mut le, &mut out).map_err(|e| bad(tar, e))?;
                    best = Some(i);
                }
            }
        }
    }
    let deleted_above = |b: usize| verdicts[b + 1..].contains(&Some(false));
    let found = match best {
        Some(b) if !deleted_above(b) => {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| BundleError::io("chmod", &staged, e))?;
            std::fs::rename(&staged, dest).map_err(|e| BundleError::io("rename", dest, e))?;
            true
        }
        _ => {
            let _ = std::fs::remove_file(&staged);
            false
        }
    };
    Ok(Extracted {
        architecture,
        found,
    })
}

#[cfg(test)]
#[path = "test_image.rs"]
mod test_image;

#[cfg(test)]
mod tests {
    use super::test_image::{docker_archive, gz, oci_archive, tar_of};
    use super::*;

    fn image(dir: &Path, layers: &[Vec<u8>]) -> std::path::PathBuf {
        let p = dir.join("image.tar");
        docker_archive(&p, layers, "arm64");
        p
    }

    #[test]
    fn the_topmost_copy_wins_and_a_whiteout_deletes() {
        let d = tempfile::tempdir().unwrap();
        let old = gz(&tar_of(&[("usr/local/bin/e2e.test", b"old")]));
        let new = tar_of(&[("./usr/local/bin/e2e.test", b"new"), ("etc/x", b"x")]);
        let zst = zstd::encode_all(&tar_of(&[("usr/bin/other", b"o")])[..], 1).unwrap();
        let tarp = image(d.path(), &[old.clone(), new, zst]);
        let dest = d.path().join("e2e.test");
        let got = extract_file(&tarp, "/usr/local/bin/e2e.test", &dest).unwrap();
        assert_eq!(
            got,
            Extracted {
                architecture: "arm64".into(),
                found: true
            }
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // deleted by a higher layer: not there
        let wh = gz(&tar_of(&[("usr/local/bin/.wh.e2e.test", b"")]));
        let tarp = image(d.path(), &[old.clone(), wh]);
        let dest2 = d.path().join("gone");
        assert!(
            !extract_file(&tarp, "/usr/local/bin/e2e.test", &dest2)
                .unwrap()
                .found
        );
        assert!(!dest2.exists() && !dest2.with_extension("ez-part").exists());
        // a whiteout below the file does not hide it
        let wh = gz(&tar_of(&[("usr/local/bin/.wh.e2e.test", b"")]));
        let tarp = image(d.path(), &[wh, old]);
        assert!(
            extract_file(&tarp, "/usr/local/bin/e2e.test", &dest2)
                .unwrap()
                .found
        );
        assert_eq!(std::fs::read(&dest2).unwrap(), b"old");
    }

    #[test]
    fn an_oci_archive_without_docker_manifest_works_too() {
        let d = tempfile::tempdir().unwrap();
        let old = gz(&tar_of(&[("usr/local/bin/e2e.test", b"old")]));
        let new = gz(&tar_of(&[("usr/local/bin/e2e.test", b"new")]));
        let p = d.path().join("oci.tar");
        oci_archive(&p, &[old, new], "amd64");
        let dest = d.path().join("e2e.test");
        let got = extract_file(&p, "/usr/local/bin/e2e.test", &dest).unwrap();
        assert_eq!((got.architecture.as_str(), got.found), ("amd64", true));
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    }

    #[test]
    fn not_an_image_tar_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("plain.tar");
        std::fs::write(&p, tar_of(&[("hello", b"x")])).unwrap();
        let e = extract_file(&p, "/usr/local/bin/e2e.test", &d.path().join("o")).unwrap_err();
        assert!(e.to_string().contains("index.json"), "{e}");
    }
}
