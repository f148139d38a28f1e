//! Helpers of the crate's unit tests.

use ez_bundle::checksum::Sha256;
use ez_bundle::manifest::{FileEntry, Kind, Manifest};
use ez_bundle::oci::ImageRef;
use ez_bundle::selection::Selection;
use ez_inventory::VersionTable;

/// A manifest listing `images` (as `down/<n>.tar`, empty files) made with `sel`, at the
/// default versions.
pub fn image_manifest(images: &[String], sel: Selection) -> Manifest {
    let mut m = Manifest::new("amd64", VersionTable::default());
    m.selection = sel;
    for (n, i) in images.iter().enumerate() {
        m.files.push(FileEntry {
            path: format!("down/{n}.tar"),
            size: 0,
            sha256: Sha256::of(b"").hex(),
            kind: Kind::Image,
            artifact: ImageRef::parse(i).expect("ref").full_name(),
            version: "v".into(),
            source: "x".into(),
            from: None,
        });
    }
    m
}
