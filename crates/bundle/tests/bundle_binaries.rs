//! `ezdown -D` (binaries) against a real loopback mirror serving upstream-shaped archives of
//! real Debian binaries, with fault injection.

mod support;

use ez_bundle::bundle::{Request, download};
use ez_bundle::catalog::{self, Arch};
use ez_bundle::checksum::ChecksumTable;
use ez_bundle::manifest::Manifest;
use ez_inventory::VersionTable;
use support::*;

fn request(table: ChecksumTable) -> Request {
    let v = VersionTable::default();
    Request {
        artifacts: catalog::binaries(&v, Arch::Amd64).unwrap(),
        versions: v,
        arch: Arch::Amd64,
        images: vec![],
        extra_files: vec![],
        table,
        selection: Default::default(),
    }
}

fn kubelet_path() -> String {
    format!(
        "dl.k8s.io/release/{}/bin/linux/amd64/kubelet",
        VersionTable::default().kubernetes
    )
}

#[tokio::test]
async fn full_bundle_in_kubeasz_layout_then_rerun_fetches_nothing() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(false));
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let s = session(&base, &[&m], ev);
    let r = download(&s, &request(ChecksumTable::default()))
        .await
        .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    for p in [
        "bin/kube-apiserver",
        "bin/kubelet",
        "bin/kubectl",
        "bin/etcd",
        "bin/etcdctl",
        "bin/etcdutl",
        "bin/containerd-bin/containerd",
        "bin/containerd-bin/ctr",
        "bin/containerd-bin/runc",
        "bin/cni-bin/bridge",
        "bin/cni-bin/loopback",
        "bin/crictl",
        "bin/helm",
        "bin/calicoctl",
        "down/cni-plugins-linux-amd64-v1.9.1.tgz",
    ] {
        let meta = std::fs::metadata(base.join(p)).unwrap_or_else(|_| panic!("{p} missing"));
        if p.starts_with("bin/") {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                meta.permissions().mode() & 0o111,
                0o111,
                "{p} not executable"
            );
        }
    }
    assert_eq!(
        std::fs::read(base.join("bin/etcd")).unwrap(),
        real_binary("/usr/bin/etcd")
    );
    assert!(!base.join("bin/helm.part").exists() && !base.join("bin/LICENSE").exists());
    let man = Manifest::load(&base).unwrap().unwrap();
    assert!(man.complete);
    let kubelet = man.files.iter().find(|f| f.path == "bin/kubelet").unwrap();
    assert!(kubelet.source.ends_with(&kubelet_path()) && kubelet.version == "v1.36.3");
    let etcd = man.files.iter().find(|f| f.path == "bin/etcd").unwrap();
    assert_eq!(
        etcd.from.as_deref(),
        Some("down/etcd-v3.7.1-linux-amd64.tar.gz")
    );
    assert!(r.bytes_fetched > 5_000_000, "{}", r.bytes_fetched);

    // Second run: nothing fetched, every artifact skipped.
    log.lock().unwrap().clear();
    let (ev2, log2) = recorder();
    let s2 = session(&base, &[&m], ev2);
    let hits = m.hits(&kubelet_path());
    let r2 = download(&s2, &request(ChecksumTable::default()))
        .await
        .unwrap();
    assert!(r2.failures.is_empty());
    assert_eq!(r2.bytes_fetched, 0);
    assert_eq!(m.hits(&kubelet_path()), hits);
    let summary = log2
        .lock()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "summary")
        .cloned()
        .unwrap();
    assert_eq!(summary["bytes_fetched"], 0);
    let v = ez_bundle::verify::verify(&base, 2).await.unwrap();
    assert!(v.ok(), "{v:?}");
}

#[tokio::test]
async fn cut_body_is_resumed_with_range() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    m.fault(&kubelet_path(), &[Fault::Cut(300_000), Fault::Cut(200_000)]);
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let r = download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(
        m.ranged() >= 2,
        "expected ranged requests, got {}",
        m.ranged()
    );
    let log = log.lock().unwrap();
    assert!(
        log.iter()
            .any(|e| e["event"] == "start" && e["id"] == "kubelet" && e["resumed_from"] == 300_000)
    );
    assert!(
        log.iter()
            .any(|e| e["event"] == "retry" && e["id"] == "kubelet")
    );
}

#[tokio::test]
async fn server_ignoring_range_restarts_cleanly() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    m.ignore_range(true);
    m.fault(&kubelet_path(), &[Fault::Cut(300_000)]);
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let r = download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(m.ranged(), 0);
    assert!(ez_bundle::verify::verify(&base, 2).await.unwrap().ok());
}

#[tokio::test]
async fn transient_errors_are_retried_429_retry_after_500_and_stall() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    m.fault(
        &kubelet_path(),
        &[
            Fault::TooMany("1".into()),
            Fault::Status(500),
            Fault::Stall(1000),
        ],
    );
    let date = "Thu, 01 Jan 1970 00:00:00 GMT"; // a past HTTP-date: retry at once
    let kubectl = kubelet_path().replace("kubelet", "kubectl");
    m.fault(&kubectl, &[Fault::TooMany(date.into()), Fault::Status(503)]);
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let r = download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let log = log.lock().unwrap();
    let retries: Vec<_> = log
        .iter()
        .filter(|e| e["event"] == "retry" && e["id"] == "kubelet")
        .collect();
    // 429, 500, stall; a loaded machine may add a spurious stall, never fewer.
    assert!(retries.len() >= 3, "{retries:?}");
    assert_eq!(retries[0]["delay_ms"], 1000, "Retry-After seconds honoured");
    assert!(
        retries
            .iter()
            .any(|r| r["reason"].as_str().unwrap().contains("no data")),
        "{:?}",
        retries[2]
    );
    let r2: Vec<_> = log
        .iter()
        .filter(|e| e["event"] == "retry" && e["id"] == "kubectl")
        .collect();
    assert_eq!(r2[0]["delay_ms"], 0, "past HTTP-date means now");
}

#[tokio::test]
async fn html_mirror_is_skipped_and_404_falls_back_to_next_source() {
    let bad = Mirror::start().await;
    let good = Mirror::start().await;
    let tree = upstream_tree(true);
    bad.put_all(&tree);
    good.put_all(&tree);
    bad.fault(&kubelet_path(), &[Fault::Html]);
    let kubectl = kubelet_path().replace("kubelet", "kubectl");
    let mut missing = tree.clone();
    missing.remove(&kubectl);
    let bad2 = Mirror::start().await; // 404 for kubectl
    bad2.put_all(&missing);
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let r = download(
        &session(&base, &[&bad2, &bad, &good], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let man = Manifest::load(&base).unwrap().unwrap();
    let kubelet = man.files.iter().find(|f| f.path == "bin/kubelet").unwrap();
    assert!(kubelet.source.starts_with(&bad2.url) || kubelet.source.starts_with(&good.url));
    let kubectl_e = man.files.iter().find(|f| f.path == "bin/kubectl").unwrap();
    assert!(
        kubectl_e.source.starts_with(&bad.url),
        "{}",
        kubectl_e.source
    );
    let log = log.lock().unwrap();
    assert!(
        log.iter()
            .any(|e| e["event"] == "source_failed" && e["error"].as_str().unwrap().contains("404"))
    );
}

#[tokio::test]
async fn html_instead_of_binary_is_detected() {
    let bad = Mirror::start().await;
    let good = Mirror::start().await;
    let tree = upstream_tree(true);
    bad.put_all(&tree);
    good.put_all(&tree);
    bad.fault(&kubelet_path(), &[Fault::Html]);
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let r = download(
        &session(&base, &[&bad, &good], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert!(r.failures.is_empty());
    let man = Manifest::load(&base).unwrap().unwrap();
    let kubelet = man.files.iter().find(|f| f.path == "bin/kubelet").unwrap();
    assert!(kubelet.source.starts_with(&good.url));
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "source_failed"
                && e["id"] == "kubelet"
                && e["error"].as_str().unwrap().contains("HTML"))
    );
}

#[tokio::test]
async fn wrong_checksum_is_refetched_once_then_fails_loudly() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    // Once corrupt: the second fetch is good.
    m.fault(&kubelet_path(), &[Fault::Body(b"corrupt".to_vec())]);
    // Always corrupt: fails, nothing lands in bin/.
    let kubectl = kubelet_path().replace("kubelet", "kubectl");
    m.fault(
        &kubectl,
        &[Fault::Body(b"bad1".to_vec()), Fault::Body(b"bad2".to_vec())],
    );
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let r = download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(r.failures[0].0, "kubectl");
    let msg = r.failures[0].1.to_string();
    assert!(msg.contains("sha256 mismatch"), "{msg}");
    assert!(base.join("bin/kubelet").exists());
    assert!(!base.join("bin/kubectl").exists());
    assert!(!Manifest::load(&base).unwrap().unwrap().complete);
    let mismatches = log
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "mismatch")
        .count();
    assert_eq!(mismatches, 3);
}

#[tokio::test]
async fn repository_table_wins_over_upstream_checksum_file() {
    let m = Mirror::start().await;
    let tree = upstream_tree(true);
    m.put_all(&tree);
    let wrong = "0".repeat(64);
    let table =
        ChecksumTable::parse("test-table", &format!("{wrong}  {}\n", kubelet_path())).unwrap();
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let r = download(&session(&base, &[&m], ev), &request(table))
        .await
        .unwrap();
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].0, "kubelet");
    // and a correct table entry needs no checksum file at all
    let good = sha(&tree[&kubelet_path()]);
    let table =
        ChecksumTable::parse("test-table", &format!("{good}  {}\n", kubelet_path())).unwrap();
    let m2 = Mirror::start().await;
    let mut t2 = tree.clone();
    t2.remove(&format!("{}.sha256", kubelet_path()));
    m2.put_all(&t2);
    let (_d2, base2) = tmp_base();
    let (ev, _) = recorder();
    let r = download(&session(&base2, &[&m2], ev), &request(table))
        .await
        .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
}

#[tokio::test]
async fn unexpected_checksum_format_is_a_clear_error() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    m.put(
        &format!("{}.sha256", kubelet_path()),
        b"md5=d41d8cd98f00b204e9800998ecf8427e\n".to_vec(),
    );
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let r = download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.failures.len(), 1);
    let msg = r.failures[0].1.to_string();
    assert!(msg.contains("unexpected format"), "{msg}");
}

#[tokio::test]
async fn interrupted_run_keeps_part_and_next_run_resumes() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    m.fault(&kubelet_path(), &[Fault::Stall(700_000)]);
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let s = session(&base, &[&m], ev);
    let req = request(ChecksumTable::default());
    // "Ctrl-C" while kubelet is stalled (some of it flushed to the .part): drop the run.
    let part = base.join(".ezdown/partial/kubelet.part");
    let mut run = Box::pin(download(&s, &req));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        tokio::select! {
            _ = &mut run => panic!("the run finished although kubelet stalled"),
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {
                if std::fs::metadata(&part).is_ok_and(|m| m.len() >= 256 << 10) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "kubelet never started");
            }
        }
    }
    drop(run);
    assert!(part.exists(), "the .part is kept");
    assert!(
        !base.join("bin/kubelet").exists(),
        "nothing half-written in bin/"
    );
    assert!(!base.join("manifest.json").exists());
    let (ev, log) = recorder();
    let r = download(&session(&base, &[&m], ev), &req).await.unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(log.lock().unwrap().iter().any(|e| e["event"] == "start"
        && e["id"] == "kubelet"
        && e["resumed_from"].as_u64().unwrap() > 0));
    assert!(ez_bundle::verify::verify(&base, 2).await.unwrap().ok());
}

#[tokio::test]
async fn verify_reports_missing_changed_and_extra() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    std::fs::remove_file(base.join("bin/helm")).unwrap();
    std::fs::write(base.join("bin/kubelet"), b"tampered").unwrap();
    std::fs::write(base.join("down/stray.tar"), b"x").unwrap();
    let v = ez_bundle::verify::verify(&base, 2).await.unwrap();
    assert_eq!(v.missing, vec!["bin/helm"]);
    assert_eq!(v.changed.len(), 1);
    assert_eq!(v.changed[0].0, "bin/kubelet");
    assert_eq!(v.extra, vec!["down/stray.tar"]);
    assert!(!v.ok());
    // -D repairs it.
    std::fs::remove_file(base.join("down/stray.tar")).unwrap();
    let (ev, _) = recorder();
    let r = download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await
    .unwrap();
    assert!(r.failures.is_empty());
    assert!(ez_bundle::verify::verify(&base, 2).await.unwrap().ok());
}

/// A full disk (a 3 MiB tmpfs) stops the run with the disk-full message; the manifest is not
/// written. Needs root to mount; skipped loudly otherwise.
#[tokio::test]
async fn full_disk_is_a_clear_error() {
    let m = Mirror::start().await;
    m.put_all(&upstream_tree(true));
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED full_disk_is_a_clear_error: cannot mount a tmpfs (not root?)");
        return;
    }
    let base = mnt.join("kubeasz");
    let (ev, _) = recorder();
    let r = download(
        &session(&base, &[&m], ev),
        &request(ChecksumTable::default()),
    )
    .await;
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    let e = r.unwrap_err();
    assert!(matches!(e, ez_bundle::BundleError::DiskFull(_)), "{e}");
    assert!(e.to_string().contains("disk is full"), "{e}");
}

/// `ezdown -D --network flannel --without helm`: calicoctl and helm are never asked for (the
/// mirror does not even have them) and the manifest records what the bundle was made for.
#[tokio::test]
async fn a_flannel_bundle_without_helm_asks_for_neither_calicoctl_nor_helm() {
    let m = Mirror::start().await;
    let mut tree = upstream_tree(true);
    tree.retain(|k, _| !k.contains("calicoctl") && !k.contains("/calico/") && !k.contains("helm"));
    m.put_all(&tree);
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let sel = ez_bundle::selection::Selection::parse(Some("flannel"), &["helm".into()]).unwrap();
    let v = VersionTable::default();
    let req = Request {
        artifacts: catalog::binaries_for(&v, Arch::Amd64, &sel).unwrap(),
        versions: v,
        arch: Arch::Amd64,
        images: vec![],
        extra_files: vec![],
        table: ChecksumTable::default(),
        selection: sel.clone(),
    };
    let r = download(&session(&base, &[&m], ev), &req).await.unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(base.join("bin/kubelet").is_file());
    assert!(!base.join("bin/calicoctl").exists() && !base.join("bin/helm").exists());
    let man = Manifest::load(&base).unwrap().unwrap();
    assert_eq!(man.selection, sel);
    let text = std::fs::read_to_string(base.join("manifest.json")).unwrap();
    assert!(text.contains("\"network\": \"flannel\""), "{text}");
    let v = ez_bundle::verify::verify(&base, 2).await.unwrap();
    assert!(v.ok(), "{v:?}");
}
