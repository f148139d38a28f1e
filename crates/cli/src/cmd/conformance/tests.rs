//! CLI tests of `ezctl conformance …` through a parser holding only this command group (so the
//! other groups' state does not matter), on the real fixtures in `tests/fixtures/conformance/`.

use super::*;
use clap::Parser;

#[derive(Debug, Parser)]
struct T {
    #[command(flatten)]
    global: crate::ctx::GlobalArgs,
    #[command(subcommand)]
    cmd: Top,
}

#[derive(Debug, clap::Subcommand)]
enum Top {
    Conformance(ConformanceArgs),
}

/// The real conformance results kept in the repository (`tests/fixtures/conformance/`; see
/// `tests/fixtures/README.md`). Panics when missing: they are part of the checkout.
pub(super) fn data() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/conformance");
    assert!(
        d.is_dir(),
        "conformance fixtures not found at {}",
        d.display()
    );
    d
}

/// Parses `ezctl <args>` of `conformance images` into (global args, images args).
pub(super) fn parse(args: &[&str]) -> (crate::ctx::GlobalArgs, images::ImagesArgs) {
    let t = T::try_parse_from(std::iter::once("ezctl").chain(args.iter().copied())).unwrap();
    let Top::Conformance(c) = t.cmd;
    match c.command {
        Some(ConformanceCommand::Images(a)) => (t.global, a),
        other => panic!("not `conformance images`: {other:?}"),
    }
}

pub(super) fn exec(args: &[&str]) -> u8 {
    let t = T::try_parse_from(std::iter::once("ezctl").chain(args.iter().copied())).unwrap();
    let ctx = crate::ctx::from_args(&t.global);
    let Top::Conformance(c) = t.cmd;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(&ctx, c)).unwrap()
}

use std::path::{Path, PathBuf};

/// A scratch directory removed on drop (ez-cli has no tempfile dev-dependency).
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("ez-conf-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn report_exit_codes() {
    let d = data();
    let s = |p: &str| d.join(p).display().to_string();
    assert_eq!(
        exec(&["conformance", "report", &s("submissions/v1.26/kind")]),
        0
    );
    assert_eq!(
        exec(&[
            "--json",
            "conformance",
            "report",
            &s("submissions/v1.32/previder-failed")
        ]),
        1
    );
    assert_eq!(
        exec(&["conformance", "report", "/nonexistent/results"]),
        EXIT_UNREADABLE
    );
    let xml = s("sonobuoy/testdata/pkg/client/results/testdata/item_good_junit.json");
    let log = s("submissions/v1.20/kubeasz/e2e.log");
    assert_eq!(
        exec(&["conformance", "report", &log, &xml]),
        EXIT_UNREADABLE
    );
}

#[test]
fn submission_then_verify() {
    let d = data();
    let kind = d.join("submissions/v1.26/kind");
    let tmp = TempDir::new("submission");
    let out = tmp.path().display().to_string();
    let product = kind.join("PRODUCT.yaml").display().to_string();
    // Written, but today's latest release is newer than v1.26: the bot would refuse it (exit 1).
    let code = exec(&[
        "conformance",
        "submission",
        "--results",
        &kind.display().to_string(),
        "--out",
        &out,
        "--product-config",
        &product,
    ]);
    assert_eq!(code, 1);
    let sub = tmp.path().join("v1.26/kind");
    assert!(sub.join("README.md").is_file());
    let dir = sub.display().to_string();
    let ok = [
        "conformance",
        "verify",
        &dir,
        "--pr-title",
        "Conformance results for v1.26/kind",
        "--latest-release",
        "v1.26",
    ];
    assert_eq!(exec(&ok), 0);
    std::fs::write(sub.join("kind.svg"), "<svg/>").unwrap();
    assert_eq!(exec(&ok), 1);
    assert_eq!(
        exec(&["conformance", "verify", "/nonexistent"]),
        EXIT_UNREADABLE
    );
}

#[test]
fn images_remap_and_write_repo_list() {
    let tmp = TempDir::new("images");
    let out = tmp.path().join("repo-list.yaml");
    let out_s = out.display().to_string();
    let args = [
        "conformance",
        "images",
        "--version",
        "v1.26.6",
        "--local-registry",
        "easzlab.io.local:5000",
        "--write-repo-list",
        &out_s,
    ];
    assert_eq!(exec(&args), 0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("promoterE2eRegistry: easzlab.io.local:5000/e2e-test-images"),
        "{text}"
    );
    assert_eq!(
        exec(&["conformance", "images", "--version", "v1.26"]),
        EXIT_UNREADABLE
    );
}

/// The pipeline records nothing when a stage fails, refuses a start-aio stage for another
/// cluster than `default`, needs workers, and checks an existing bundle instead of
/// downloading (no test here touches the network: an existing manifest is only verified).
#[test]
fn pipeline_stages_fail_clearly_and_record_nothing() {
    let tmp = TempDir::new("pipeline");
    let base = tmp.path().display().to_string();
    let state = tmp.path().join("conformance/c1/pipeline.json");
    // start-aio always makes `default`
    assert_eq!(
        exec(&[
            "--base",
            &base,
            "conformance",
            "--cluster",
            "c1",
            "--from",
            "start-aio"
        ]),
        2
    );
    assert!(!state.exists());
    // workers: none given
    assert_eq!(
        exec(&[
            "--base",
            &base,
            "conformance",
            "--cluster",
            "c1",
            "--from",
            "workers"
        ]),
        2
    );
    assert!(!state.exists());
    // bundle: a manifest that lists a missing file fails verification, locally
    std::fs::write(tmp.path().join("manifest.json"), b"not a manifest").unwrap();
    assert_ne!(
        exec(&["--base", &base, "conformance", "--cluster", "c1"]),
        0
    );
    assert!(!state.exists());
    assert_eq!(
        exec(&[
            "--base",
            &base,
            "conformance",
            "--cluster",
            "c1",
            "--from",
            "nope"
        ]),
        2
    );
}
