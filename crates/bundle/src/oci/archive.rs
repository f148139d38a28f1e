//! The image tar: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) that is
//! at the same time a docker-archive (`manifest.json`, `repositories` pointing at the same
//! blobs). This is the shape `docker save` itself writes since Docker 25, so `docker load`
//! and `ctr -n k8s.io images import` both accept it.

use crate::checksum::Sha256;
use crate::error::{BundleError, Result};
use crate::oci::reference::ImageRef;
use serde_json::json;
use std::path::Path;

/// What goes into one image tar.
pub struct ImageTar<'a> {
    pub image: &'a ImageRef,
    /// Raw manifest bytes (an image manifest, not an index) and its media type.
    pub manifest: &'a [u8],
    pub manifest_media_type: &'a str,
    pub config: Sha256,
    /// Layer digests in order.
    pub layers: &'a [Sha256],
}

/// Writes the tar to `out` (fsynced), taking blobs from `blob_dir/<hex>`.
pub fn write(t: &ImageTar<'_>, blob_dir: &Path, out: &Path) -> Result<()> {
    let file = std::fs::File::create(out).map_err(|e| BundleError::io("create", out, e))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, file));
    tar.mode(tar::HeaderMode::Deterministic);
    let mdigest = Sha256::of(t.manifest);
    let io = |e: std::io::Error| BundleError::io("write", out, e);

    let mut seen = std::collections::HashSet::new();
    for d in std::iter::once(&t.config).chain(t.layers.iter()) {
        if !seen.insert(*d) {
            continue; // the same layer twice in one image is stored once
        }
        let src = blob_dir.join(d.hex());
        let mut f = std::fs::File::open(&src).map_err(|e| BundleError::io("open", &src, e))?;
        tar.append_file(format!("blobs/sha256/{}", d.hex()), &mut f)
            .map_err(io)?;
    }
    add(
        &mut tar,
        &format!("blobs/sha256/{}", mdigest.hex()),
        t.manifest,
    )
    .map_err(io)?;

    add(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": t.manifest_media_type,
            "digest": format!("sha256:{}", mdigest.hex()),
            "size": t.manifest.len(),
            "annotations": {
                "io.containerd.image.name": t.image.full_name(),
                "org.opencontainers.image.ref.name": t.image.tag,
            }
        }]
    });
    add(&mut tar, "index.json", &to_vec(&index)?).map_err(io)?;
    let docker = json!([{
        "Config": format!("blobs/sha256/{}", t.config.hex()),
        "RepoTags": [t.image.docker_name()],
        "Layers": t.layers.iter().map(|l| format!("blobs/sha256/{}", l.hex())).collect::<Vec<_>>(),
    }]);
    add(&mut tar, "manifest.json", &to_vec(&docker)?).map_err(io)?;
    let (repo, tag) = t
        .image
        .docker_name()
        .rsplit_once(':')
        .map(|(r, t)| (r.to_string(), t.to_string()))
        .unwrap_or_default();
    let top = t.layers.last().map(|l| l.hex()).unwrap_or_default();
    let repositories = json!({ repo: { tag: top } });
    add(&mut tar, "repositories", &to_vec(&repositories)?).map_err(io)?;

    let w = tar.into_inner().map_err(io)?;
    let f = w.into_inner().map_err(|e| io(e.into_error()))?;
    drop(f); // made durable by the syncfs before the manifest (manifest.rs)
    Ok(())
}

fn to_vec(v: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| BundleError::Other(format!("json: {e}")))
}

fn add<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_has_both_layouts() {
        let d = tempfile::tempdir().unwrap();
        let blobs = d.path().join("blobs");
        std::fs::create_dir_all(&blobs).unwrap();
        let cfg = br#"{"architecture":"amd64","os":"linux"}"#;
        let layer = b"layer-bytes";
        let (c, l) = (Sha256::of(cfg), Sha256::of(layer));
        std::fs::write(blobs.join(c.hex()), cfg).unwrap();
        std::fs::write(blobs.join(l.hex()), layer).unwrap();
        let image = ImageRef::parse("calico/cni:v3.32.1").unwrap();
        let manifest = br#"{"schemaVersion":2}"#;
        let out = d.path().join("cni_v3.32.1.tar");
        write(
            &ImageTar {
                image: &image,
                manifest,
                manifest_media_type: "m",
                config: c,
                layers: &[l, l],
            },
            &blobs,
            &out,
        )
        .unwrap();
        let mut names = Vec::new();
        let mut docker = String::new();
        let mut a = tar::Archive::new(std::fs::File::open(&out).unwrap());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            if p == "manifest.json" {
                std::io::Read::read_to_string(&mut e, &mut docker).unwrap();
            }
            names.push(p);
        }
        for want in ["oci-layout", "index.json", "manifest.json", "repositories"] {
            assert!(names.contains(&want.to_string()), "{names:?}");
        }
        assert_eq!(names.iter().filter(|n| n.starts_with("blobs/")).count(), 3);
        assert!(docker.contains("\"calico/cni:v3.32.1\""), "{docker}");
    }
}
