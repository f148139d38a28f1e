//! The e2e list asked of a conformance image's own e2e.test: image tars (docker-archive, as
//! ezdown saves them) holding the e2e.test test double (`tests/doubles/e2e-test/`).

use super::EXIT_UNREADABLE;
#[path = "../../../../bundle/src/oci/test_image.rs"]
mod test_image;
use super::e2e_list::{bundled_image, list_from_image};
use super::tests::{TempDir, exec};
use std::path::{Path, PathBuf};
use test_image::{docker_archive, gz, oci_archive, tar_of};

fn double() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/doubles/e2e-test/e2e.test");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A docker-archive at `out`: `layers` (plain tars) bottom first, gzip-compressed.
fn image(out: &Path, layers: &[Vec<u8>], arch: &str) {
    let gzl: Vec<Vec<u8>> = layers.iter().map(|l| gz(l)).collect();
    docker_archive(out, &gzl, arch);
}

fn here() -> &'static str {
    ez_bundle::catalog::Arch::host().as_str()
}

fn conformance_image(out: &Path, arch: &str) {
    let stale = b"#!/bin/sh\necho registry.k8s.io/stale:1\n".to_vec();
    let d = double();
    image(
        out,
        &[
            tar_of(&[
                ("usr/local/bin/e2e.test", &stale),
                ("usr/local/bin/ginkgo", b"g"),
            ]),
            tar_of(&[("usr/local/bin/e2e.test", &d)]),
        ],
        arch,
    );
}

#[test]
fn the_list_comes_from_the_topmost_e2e_test_of_the_image() {
    let tmp = TempDir::new("e2e-list");
    let tarp = tmp.path().join("c.tar");
    conformance_image(&tarp, here());
    let out = list_from_image(&tarp).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert!(lines.contains(&"registry.k8s.io/e2e-test-images/agnhost:2.61"));
    assert!(
        !out.contains("stale"),
        "the lower layer's copy was used: {out}"
    );
    // the same image as an OCI archive (skopeo's oci-archive:, no docker manifest.json)
    let oci = tmp.path().join("c-oci.tar");
    let layer = gz(&tar_of(&[("usr/local/bin/e2e.test", &double())]));
    oci_archive(&oci, &[layer], here());
    assert_eq!(list_from_image(&oci).unwrap(), out);
}

#[test]
fn a_foreign_image_or_one_without_e2e_test_is_refused_with_what_to_do() {
    let tmp = TempDir::new("e2e-foreign");
    let other = if here() == "amd64" { "arm64" } else { "amd64" };
    let tarp = tmp.path().join("c.tar");
    conformance_image(&tarp, other);
    let e = format!("{:#}", list_from_image(&tarp).unwrap_err());
    assert!(
        e.contains(&format!("linux/{other}")) && e.contains("--list-file"),
        "{e}"
    );
    let none = tmp.path().join("n.tar");
    image(&none, &[tar_of(&[("usr/bin/x", b"x")])], here());
    let e = format!("{:#}", list_from_image(&none).unwrap_err());
    assert!(e.contains("no /usr/local/bin/e2e.test"), "{e}");
    // a binary that fails: its stderr is in the message
    let bad = tmp.path().join("b.tar");
    image(
        &bad,
        &[tar_of(&[(
            "usr/local/bin/e2e.test",
            b"#!/bin/sh\necho boom >&2\nexit 3\n",
        )])],
        here(),
    );
    let e = format!("{:#}", list_from_image(&bad).unwrap_err());
    assert!(e.contains("boom"), "{e}");
}

#[test]
fn images_uses_the_bundled_conformance_image_for_a_version_with_no_embedded_list() {
    let tmp = TempDir::new("e2e-cli");
    let base = tmp.path().display().to_string();
    let out = tmp.path().join("repo-list.yaml");
    let out_s = out.display().to_string();
    // `ezctl --base <tmp> conformance images --version <v> <more…>`
    let images = |v: &'static str, more: &[&str]| -> Vec<String> {
        ["--base", &base, "conformance", "images", "--version", v]
            .iter()
            .chain(more)
            .map(|a| a.to_string())
            .collect()
    };
    let owned = images(
        "v1.36.3",
        &[
            "--local-registry",
            "easzlab.io.local:5000",
            "--write-repo-list",
            &out_s,
        ],
    );
    let args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let source = |argv: &[&str]| {
        let t = super::tests::parse(argv);
        let ctx = crate::ctx::from_args(&t.0);
        super::images::list_source(&ctx, &t.1).ok().flatten()
    };
    // no bundle yet: the embedded floor, still exit 0
    assert_eq!(exec(&args), 0);
    assert_eq!(source(&args), None);
    // with the bundle's conformance image: its e2e.test is asked
    conformance_image(&bundled_image(tmp.path(), "v1.36.3"), here());
    assert_eq!(exec(&args), 0);
    let (text, origin) = source(&args).expect("the bundled image is used");
    assert!(
        text.contains("registry.k8s.io/e2e-test-images/agnhost:2.61"),
        "{text}"
    );
    assert!(origin.contains("conformance_v1.36.3.tar"), "{origin}");
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("promoterE2eRegistry: easzlab.io.local:5000/e2e-test-images")
    );
    // a version with an embedded list keeps it, bundle or not
    conformance_image(&bundled_image(tmp.path(), "v1.33.4"), here());
    let emb = images("v1.33.4", &[]);
    assert_eq!(
        source(&emb.iter().map(String::as_str).collect::<Vec<_>>()),
        None
    );
    // a named image that cannot be run here is an error
    let other = if here() == "amd64" { "arm64" } else { "amd64" };
    let foreign = tmp.path().join("foreign.tar");
    conformance_image(&foreign, other);
    let f = foreign.display().to_string();
    let named = images("v1.36.3", &["--from-image", &f]);
    assert_eq!(
        exec(&named.iter().map(String::as_str).collect::<Vec<_>>()),
        EXIT_UNREADABLE
    );
}
