//! Test support, compiled only into tests (included with `#[path]` by ez-bundle's
//! `oci::extract` tests and ez-cli's conformance e2e-list tests): image tars built in memory.

use std::path::Path;

/// A plain tar of `(path, contents)`, every entry a regular file with mode 0755.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// `data` gzip-compressed.
pub fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes a docker-archive to `out`: `layers` are the layer blobs as given (any compression),
/// bottom first; the config states `arch`. The outer tar holds the layers in reverse order, so
/// a reader must follow `manifest.json`, not the tar order.
pub fn docker_archive(out: &Path, layers: &[Vec<u8>], arch: &str) {
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("blobs/sha256/{i:064}"))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": "blobs/sha256/config", "RepoTags": ["registry.k8s.io/conformance:v1.36.3"], "Layers": names
    }]))
    .unwrap();
    let config =
        serde_json::to_vec(&serde_json::json!({"architecture": arch, "os": "linux"})).unwrap();
    let mut files: Vec<(&str, &[u8])> = vec![
        ("manifest.json", &manifest),
        ("blobs/sha256/config", &config),
    ];
    for (n, l) in names.iter().zip(layers).rev() {
        files.push((n, l));
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(out, tar_of(&files)).unwrap();
}

/// Writes an OCI image-layout archive (no docker `manifest.json`) to `out`: `index.json` →
/// image manifest → config (`arch`) and `layers` (blobs as given, bottom first).
pub fn oci_archive(out: &Path, layers: &[Vec<u8>], arch: &str) {
    use sha2::Digest;
    let d = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
    let config =
        serde_json::to_vec(&serde_json::json!({"architecture": arch, "os": "linux"})).unwrap();
    let layer_descs: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(l), "size": l.len()}))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(&config), "size": config.len()},
        "layers": layer_descs,
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d(&manifest), "size": manifest.len()}],
    }))
    .unwrap();
    let path = |b: &[u8]| format!("blobs/{}", d(b).replace(':', "/"));
    let names: Vec<String> = [&config[..], &manifest[..]]
        .into_iter()
        .chain(layers.iter().map(|l| &l[..]))
        .map(path)
        .collect();
    let mut files: Vec<(&str, &[u8])> = vec![
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
        ("index.json", &index),
        (&names[0], &config),
        (&names[1], &manifest),
    ];
    for (n, l) in names[2..].iter().zip(layers) {
        files.push((n, l));
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(out, tar_of(&files)).unwrap();
}
