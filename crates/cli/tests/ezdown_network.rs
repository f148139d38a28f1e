//! `ezdown -D --network flannel --without … --versions FILE` end to end against a loopback
//! file mirror (`--mirror-only`: a file the bundle should not need is not even served), then
//! `--verify` with and without a selection, `--list-urls`, and `ezctl new`'s version table read
//! back from the manifest.

#[path = "../../bundle/tests/support/mod.rs"]
mod support;

use clap::Parser;

async fn ezdown(args: &[&str]) -> u8 {
    let cli = ez_cli::ezdown::EzdownCli::parse_from(
        std::iter::once("ezdown").chain(args.iter().copied()),
    );
    ez_cli::ezdown::run(cli).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flannel_bundle_with_substituted_versions() {
    // kubeasz 3.7.0's table with the substitutes of our test bed
    let subst = support::SUBSTITUTES;
    let table = support::substituted_table();
    let m = support::Mirror::start().await;
    let mut tree = support::upstream_tree_for(&table, true);
    tree.retain(|k, _| support::in_flannel_bundle(k));
    m.put_all(&tree);
    let (_d, base) = support::tmp_base();
    let b = base.display().to_string();
    let versions = base.parent().unwrap().join("versions.yml");
    std::fs::write(&versions, subst).unwrap();
    let vf = versions.display().to_string();
    let common = [
        "--base",
        &b,
        "--arch",
        "amd64",
        "--mirror-only",
        "--binary-mirror",
        &m.url,
        "--json",
    ];
    let mut args = vec![
        "-D",
        "-k",
        "1.35.6",
        "--no-images",
        "--network",
        "flannel",
        "--without",
        "helm",
    ];
    args.extend(["--without", "nodelocaldns", "--versions", &vf]);
    args.extend(common);
    assert_eq!(ezdown(&args).await, 0);
    assert!(base.join("bin/kubelet").is_file());
    assert!(!base.join("bin/calicoctl").exists() && !base.join("bin/helm").exists());

    let man = ez_bundle::manifest::Manifest::load(&base).unwrap().unwrap();
    assert_eq!(
        man.selection.describe(),
        "network flannel, without nodelocaldns, helm"
    );
    assert_eq!(man.versions, table);
    let cd = man
        .files
        .iter()
        .find(|f| f.path == "bin/containerd-bin/containerd");
    assert_eq!(cd.map(|f| f.version.as_str()), Some("2.3.4"));
    // `ezctl new` takes the bundle's table: these land in config.yml
    let t = ez_cli::cmd::cluster::version_table(&base, None).unwrap();
    assert_eq!(
        (t.flannel.as_str(), t.calico.as_str()),
        ("v0.28.10", "v9.9.9")
    );

    // plain --verify: the files are all there
    assert_eq!(ezdown(&["--verify", "--base", &b]).await, 0);
    // a calico site: the bundle does not serve it
    assert_eq!(
        ezdown(&["--verify", "--base", &b, "--network", "calico"]).await,
        1
    );
    // a flannel site keeping helm: helm was left out
    assert_eq!(
        ezdown(&[
            "--verify",
            "--base",
            &b,
            "--network",
            "flannel",
            "--without",
            "nodelocaldns"
        ])
        .await,
        1
    );
    let r = ez_bundle::verify::verify_for(&base, 2, Some(&man.selection))
        .await
        .unwrap();
    // the selection is right, but --no-images left the flannel images out
    assert_eq!(r.shortfalls.len(), 2, "{r:?}");
    assert!(
        r.shortfalls.iter().all(|s| s.contains("flannel-io")),
        "{r:?}"
    );
    assert_eq!(
        ezdown(&["--verify", "--base", &b, "--network", "cilum"]).await,
        1
    );

    // the run again fetches nothing more and keeps the record
    assert_eq!(ezdown(&args).await, 0);
    let again = ez_bundle::manifest::Manifest::load(&base).unwrap().unwrap();
    assert_eq!(again.selection, man.selection);
}

/// `--arch amd64,arm64`: the first architecture is the bundle itself, arm64 a bundle of its
/// own under `arch/arm64/`; `--verify` checks both, `--export`/`--import` carry both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_architecture_bundle() {
    let subst = support::SUBSTITUTES;
    let table = support::substituted_table();
    let m = support::Mirror::start().await;
    let mut tree = support::upstream_tree_arches(&table, true, &["amd64", "arm64"]);
    tree.retain(|k, _| support::in_flannel_bundle(k));
    m.put_all(&tree);
    let (_d, base) = support::tmp_base();
    let b = base.display().to_string();
    let versions = base.parent().unwrap().join("versions.yml");
    std::fs::write(&versions, subst).unwrap();
    let vf = versions.display().to_string();
    let args = [
        "-D",
        "-k",
        "1.35.6",
        "--no-images",
        "--network",
        "flannel",
        "--without",
        "helm",
        "--without",
        "nodelocaldns",
        "--versions",
        &vf,
        "--base",
        &b,
        "--arch",
        "amd64,arm64",
        "--mirror-only",
        "--binary-mirror",
        &m.url,
        "--json",
    ];
    assert_eq!(ezdown(&args).await, 0);
    let own = ez_bundle::manifest::Manifest::load(&base).unwrap().unwrap();
    assert_eq!(own.arch, "amd64");
    let arm = base.join("arch/arm64");
    let sub = ez_bundle::manifest::Manifest::load(&arm).unwrap().unwrap();
    assert_eq!(sub.arch, "arm64");
    assert!(arm.join("bin/kubelet").is_file() && base.join("bin/kubelet").is_file());
    let src = |m: &ez_bundle::manifest::Manifest, p: &str| {
        m.files
            .iter()
            .find(|f| f.path == p)
            .map(|f| f.source.clone())
            .unwrap_or_default()
    };
    assert!(
        src(&sub, "bin/kubelet").contains("/linux/arm64/kubelet"),
        "{sub:?}"
    );
    assert!(src(&own, "bin/kubelet").contains("/linux/amd64/kubelet"));
    assert_eq!(
        ez_bundle::arches::extra(&base),
        vec![ez_bundle::catalog::Arch::Arm64]
    );
    // --verify covers the other architecture too
    assert_eq!(ezdown(&["--verify", "--base", &b]).await, 0);
    std::fs::write(arm.join("bin/kube-proxy"), b"tampered").unwrap();
    assert_eq!(ezdown(&["--verify", "--base", &b]).await, 1);
    // a re-run repairs the arm64 bundle and fetches nothing else
    assert_eq!(ezdown(&args).await, 0);
    assert_eq!(ezdown(&["--verify", "--base", &b]).await, 0);
    // one archive carries both
    let out = base.parent().unwrap().join("both.tar");
    let o = out.display().to_string();
    assert_eq!(ezdown(&["--export", &o, "--base", &b]).await, 0);
    let (_d2, other) = support::tmp_base();
    let ob = other.display().to_string();
    assert_eq!(ezdown(&["--import", &o, "--base", &ob]).await, 0);
    assert!(other.join("arch/arm64/bin/kubelet").is_file());
    assert_eq!(ezdown(&["--verify", "--base", &ob]).await, 0);
}
