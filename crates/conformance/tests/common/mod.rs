//! Locating the shared real-data fixtures (`shared/data/conformance/`).
//!
//! `$EZ_SHARED_DIR` or `<workspace>/../shared`. When absent: panic under `CI=true`, otherwise
//! print a loud notice and let the test return early.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn conformance_data() -> Option<PathBuf> {
    let shared = std::env::var_os("EZ_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("data/conformance");
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "conformance fixtures not found at {} (set EZ_SHARED_DIR)",
            dir.display()
        );
    }
    eprintln!(
        "\n!!! SKIPPED: conformance fixtures not found at {} (set EZ_SHARED_DIR) !!!\n",
        dir.display()
    );
    None
}

/// `data/conformance/<rel>`, or return from the test when the fixtures are absent.
#[macro_export]
macro_rules! fixture {
    ($rel:expr) => {
        match common::conformance_data() {
            Some(d) => d.join($rel),
            None => return,
        }
    };
}
