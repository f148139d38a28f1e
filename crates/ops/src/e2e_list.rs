//! The e2e image list of a Kubernetes version, asked of the conformance image's own
//! `e2e.test --list-images`: the binary is read out of the image tar ezdown saved (no docker,
//! no cluster) and run on this machine. This is how a version with no embedded list (a release
//! newer than this build) still gets its complete list, offline.

use anyhow::{Context, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the conformance image of `version` lies in a bundle (`ezdown -X conformance`).
pub fn bundled_image(base: &Path, version: &str) -> PathBuf {
    ez_inventory::BundleLayout::new(base).down_file(&format!("conformance_{version}.tar"))
}

/// How long `e2e.test --list-images` may take (it prints a list and exits, in well under a
/// second; the bound only keeps a wrong binary from hanging the caller).
const LIST_TIMEOUT: Duration = Duration::from_secs(120);

/// A temporary directory removed on drop.
/// Runs the image's `/usr/local/bin/e2e.test --list-images`; returns its output (one image
/// a line). Refuses an image built for another architecture than this machine's.
pub fn list_from_image(tar: &Path) -> anyhow::Result<String> {
    let scratch = tempfile::Builder::new()
        .prefix("ezctl-e2e-")
        .tempdir()
        .context("creating a scratch directory")?;
    let bin = scratch.path().join("e2e.test");
    let got = ez_bundle::oci::extract::extract_file(tar, "/usr/local/bin/e2e.test", &bin)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !got.found {
        bail!(
            "{}: no /usr/local/bin/e2e.test in the image (is it registry.k8s.io/conformance?)",
            tar.display()
        );
    }
    let here = ez_bundle::catalog::Arch::host().as_str();
    if !got.architecture.is_empty() && got.architecture != here {
        bail!(
            "{} is a linux/{} image: its e2e.test cannot run on this {here} machine; run this on \
             a linux/{} machine, or give the list (`e2e.test --list-images` output) with \
             --list-file / --e2e-images",
            tar.display(),
            got.architecture,
            got.architecture
        );
    }
    let mut child = std::process::Command::new(&bin)
        .arg("--list-images")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} from {}", bin.display(), tar.display()))?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + LIST_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "e2e.test --list-images from {} did not finish in {} s",
                tar.display(),
                LIST_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading e2e.test's output failed"))??;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        bail!(
            "e2e.test --list-images from {} failed ({status}): {}",
            tar.display(),
            err.trim()
        );
    }
    for l in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        ez_bundle::oci::ImageRef::parse(l).map_err(|e| {
            anyhow::anyhow!("e2e.test --list-images printed '{l}', not an image: {e}")
        })?;
    }
    Ok(out)
}
