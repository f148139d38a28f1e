//! A bundle of two architectures (`ezdown -D --arch arm64,amd64`): its own architecture arm64
//! in `bin/`, amd64 a bundle of its own in `arch/amd64/`. `ezctl setup` 01–02 on an amd64
//! test-bed host installs etcd from `arch/amd64/bin/`: the host asked with `uname -m`, the
//! roles copying from `{{ base_dir }}/{{ bundle_arch_dir }}bin/`. The arm64 `bin/etcd` here
//! is a stand-in that cannot start (this machine has no arm64 binaries to run), so a wrong
//! pick fails the step, and the installed file is compared by sha256.
//!
//! Without the amd64 bundle, preflight refuses the host (the finding names the
//! `ezdown -D --arch arm64,amd64` that fixes it) and nothing changes.
//!
//! Host 37 belongs to this file.

mod support;

use ez_bundle::manifest::Manifest;
use ez_inventory::VersionTable;
use ez_play::RunOptions;

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_host_installs_its_own_architectures_binaries() {
    let Some(fx) = support::cluster::fixture(
        &[37],
        "a",
        1,
        &["01.prepare.yml", "02.etcd.yml"],
        &["prepare", "etcd"],
    ) else {
        return;
    };
    let (hosts, base, ctx) = (&fx.hosts, fx.base(), &fx.ctx);
    // the test bundle's (amd64) binaries become the amd64 bundle in arch/amd64/ ...
    let amd = ez_bundle::arches::sub_base(base, ez_bundle::catalog::Arch::Amd64);
    std::fs::create_dir_all(&amd).unwrap();
    let copied = std::process::Command::new("cp")
        .args(["-a"])
        .arg(base.join("bin"))
        .arg(&amd)
        .status()
        .unwrap();
    assert!(copied.success());
    Manifest::new("amd64", VersionTable::default())
        .write(&amd)
        .unwrap();
    // ... and the base's own bin/ is arm64's, whose etcd cannot run here
    let arm_etcd = b"#!/bin/sh\necho 'an arm64 binary on an amd64 host' >&2\nexit 126\n";
    for b in ["etcd", "etcdctl"] {
        std::fs::write(base.join("bin").join(b), arm_etcd).unwrap();
    }
    Manifest::new("arm64", VersionTable::default())
        .write(base)
        .unwrap();

    for step in ["01", "02"] {
        let sums = ez_cli::cmd::setup::setup_summaries(ctx, "a", step, RunOptions::default())
            .await
            .unwrap();
        for s in &sums {
            assert!(s.failures().is_empty(), "step {step}: {:?}", s.failures());
        }
    }
    let out = hosts[0].ssh("sha256sum /opt/kube/bin/etcd").unwrap();
    let on_host = String::from_utf8_lossy(&out.stdout).to_string();
    let want = sha256(&std::fs::read(amd.join("bin/etcd")).unwrap());
    assert!(on_host.starts_with(&want), "{on_host} (want {want})");
    assert!(!on_host.starts_with(&sha256(arm_etcd)));
    let active = hosts[0].ssh("systemctl is-active etcd").unwrap();
    assert_eq!(String::from_utf8_lossy(&active.stdout).trim(), "active");

    // a bundle without the host's architecture is refused before anything runs
    std::fs::remove_dir_all(base.join(ez_bundle::arches::DIR)).unwrap();
    let err = ez_cli::cmd::setup::setup_summaries(ctx, "a", "02", RunOptions::default())
        .await
        .map(|_| ())
        .expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains("preflight failed"), "{text}");
    let still = hosts[0].ssh("sha256sum /opt/kube/bin/etcd").unwrap();
    assert_eq!(
        String::from_utf8_lossy(&still.stdout),
        on_host,
        "nothing changed"
    );
}
