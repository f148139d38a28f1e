//! Test support (compiled only into tests, and included by `tests/pull.rs`): image tars
//! written by ezdown's own writer (`ez_bundle::oci::archive`), as `down/*.tar` holds them.

use ez_bundle::checksum::Sha256;
use ez_bundle::oci::archive::{ImageTar, write};
use ez_bundle::oci::reference::ImageRef;
use std::path::Path;

/// What one written tar holds.
pub struct Written {
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer: Vec<u8>,
}

/// Writes `out`, an image tar of `name` for `arch` with one layer: a real tar holding
/// `/etc/os-release` with `content`, gzipped.
pub fn image_tar(out: &Path, name: &str, arch: &str, content: &str) -> Written {
    let work = out.with_extension("blobs");
    std::fs::create_dir_all(&work).unwrap();
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    t.append_data(&mut h, "etc/os-release", content.as_bytes())
        .unwrap();
    let raw = t.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let layer = gz.finish().unwrap();
    let diff_id = Sha256::of(&raw);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", diff_id.hex())]},
    }))
    .unwrap();
    let (c, l) = (Sha256::of(&config), Sha256::of(&layer));
    std::fs::write(work.join(c.hex()), &config).unwrap();
    std::fs::write(work.join(l.hex()), &layer).unwrap();
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", c.hex()), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": format!("sha256:{}", l.hex()), "size": layer.len()}],
    }))
    .unwrap();
    let image = ImageRef::parse(name).unwrap();
    write(
        &ImageTar {
            image: &image,
            manifest: &manifest,
            manifest_media_type: mt,
            config: c,
            layers: &[l],
        },
        &work,
        out,
    )
    .unwrap();
    std::fs::remove_dir_all(&work).unwrap();
    Written {
        manifest_digest: format!("sha256:{}", Sha256::of(&manifest).hex()),
        config_digest: format!("sha256:{}", c.hex()),
        layer_digest: format!("sha256:{}", l.hex()),
        layer,
    }
}
