//! Locating the real-data fixtures, kept in the repository under `tests/fixtures/conformance/`
//! (see `tests/fixtures/README.md` for where each file came from).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `tests/fixtures/conformance/` of this checkout. Panics when it is missing: the fixtures are
/// part of the repository, so their absence is a broken checkout, not a reason to skip.
pub fn conformance_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/conformance");
    assert!(
        dir.is_dir(),
        "conformance fixtures not found at {}",
        dir.display()
    );
    dir
}

/// `tests/fixtures/conformance/<rel>`.
pub fn fixture(rel: impl AsRef<Path>) -> PathBuf {
    conformance_data().join(rel)
}
