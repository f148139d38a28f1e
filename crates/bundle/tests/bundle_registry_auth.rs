//! The registry client against a loopback double that speaks Docker Hub's token flow
//! (`401` + `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, then `/token`), serves a
//! two-platform OCI index, and injects corrupt blobs and HTML answers.

mod support;

use ez_bundle::bundle::{Request, download};
use ez_bundle::catalog::Arch;
use ez_bundle::checksum::ChecksumTable;
use ez_bundle::manifest::Manifest;
use ez_inventory::VersionTable;
use serde_json::json;
use support::*;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Image {
    layer: String,
    manifests: Vec<(String, String)>, // (arch, manifest digest)
}

/// Publishes `library/busybox:1` (amd64 + arm64) on `m`, layer = a real busybox tarball.
fn publish(m: &Mirror) -> Image {
    let repo = "v2/library/busybox";
    let layer = targz(&[("bin/busybox", real_binary("/bin/busybox"))]);
    let layer_d = sha(&layer);
    m.put(&format!("{repo}/blobs/sha256:{layer_d}"), layer.clone());
    let mut children = Vec::new();
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let cfg = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_d}")]},
        }))
        .unwrap();
        let cfg_d = sha(&cfg);
        m.put(&format!("{repo}/blobs/sha256:{cfg_d}"), cfg.clone());
        let man = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{cfg_d}"), "size": cfg.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{layer_d}"), "size": layer.len()}],
        }))
        .unwrap();
        let man_d = sha(&man);
        m.put_typed(
            &format!("{repo}/manifests/sha256:{man_d}"),
            man.clone(),
            OCI_MANIFEST,
        );
        children.push(json!({"mediaType": OCI_MANIFEST, "digest": format!("sha256:{man_d}"), "size": man.len(),
                             "platform": {"architecture": arch, "os": "linux"}}));
        manifests.push((arch.to_string(), man_d));
    }
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}),
    )
    .unwrap();
    m.put_typed(&format!("{repo}/manifests/1"), index, OCI_INDEX);
    Image {
        layer: layer_d,
        manifests,
    }
}

fn hub_session(
    base: &std::path::Path,
    mirrors: &[&Mirror],
    ev: ez_bundle::events::Events,
) -> ez_bundle::session::Session {
    let mut s = session(base, &[], ev);
    s.sources.registry_mirrors = mirrors.iter().map(|m| m.url.clone()).collect();
    s
}

fn request(arch: Arch) -> Request {
    Request {
        versions: VersionTable::default(),
        arch,
        artifacts: vec![],
        images: vec!["busybox:1".into()],
        extra_files: vec![],
        table: ChecksumTable::default(),
        selection: Default::default(),
    }
}

#[tokio::test]
async fn bearer_token_flow_and_platform_resolution() {
    let m = Mirror::start().await;
    let img = publish(&m);
    m.require_bearer("secret-token");
    for (arch, want) in [(Arch::Arm64, "arm64"), (Arch::Amd64, "amd64")] {
        let (_d, base) = tmp_base();
        let (ev, _) = recorder();
        let r = download(&hub_session(&base, &[&m], ev), &request(arch))
            .await
            .unwrap();
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        let man = Manifest::load(&base).unwrap().unwrap();
        let e = man
            .files
            .iter()
            .find(|f| f.path == "down/busybox_1.tar")
            .unwrap();
        assert_eq!(e.artifact, "docker.io/library/busybox:1");
        let digest = &img.manifests.iter().find(|(a, _)| a == want).unwrap().1;
        assert!(
            e.source
                .ends_with(&format!("/library/busybox@sha256:{digest}")),
            "{}",
            e.source
        );
        // docker load names it the short way
        let mut a =
            tar::Archive::new(std::fs::File::open(base.join("down/busybox_1.tar")).unwrap());
        let mut docker = String::new();
        for entry in a.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some("manifest.json") {
                std::io::Read::read_to_string(&mut entry, &mut docker).unwrap();
            }
        }
        assert!(docker.contains("\"busybox:1\""), "{docker}");
    }
    let tr = m.token_requests();
    assert!(!tr.is_empty());
    assert!(tr[0].contains("service=test-registry"), "{tr:?}");
    assert!(
        tr[0].contains("scope=repository%3Alibrary%2Fbusybox%3Apull"),
        "{tr:?}"
    );
}

#[tokio::test]
async fn corrupt_blob_is_refetched_once_then_fails() {
    let m = Mirror::start().await;
    let img = publish(&m);
    let layer = format!("v2/library/busybox/blobs/sha256:{}", img.layer);
    m.fault(&layer, &[Fault::Body(b"garbage".to_vec())]);
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let r = download(&hub_session(&base, &[&m], ev), &request(Arch::Amd64))
        .await
        .unwrap();
    assert!(
        r.failures.is_empty(),
        "one bad copy is refetched: {:?}",
        r.failures
    );

    let m2 = Mirror::start().await;
    let img2 = publish(&m2);
    let layer2 = format!("v2/library/busybox/blobs/sha256:{}", img2.layer);
    m2.fault(
        &layer2,
        &[
            Fault::Body(b"bad-1".to_vec()),
            Fault::Body(b"bad-2".to_vec()),
        ],
    );
    let (_d, base2) = tmp_base();
    let (ev, _) = recorder();
    let r = download(&hub_session(&base2, &[&m2], ev), &request(Arch::Amd64))
        .await
        .unwrap();
    assert_eq!(r.failures.len(), 1);
    let msg = r.failures[0].1.to_string();
    assert!(msg.contains("digest mismatch"), "{msg}");
    assert!(
        !base2.join("down/busybox_1.tar").exists(),
        "nothing unverified lands"
    );
}

#[tokio::test]
async fn html_answering_mirror_is_skipped_for_the_next_one() {
    let bad = Mirror::start().await;
    let good = Mirror::start().await;
    publish(&bad);
    publish(&good);
    bad.fault("v2/library/busybox/manifests/1", &[Fault::Html]);
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let r = download(
        &hub_session(&base, &[&bad, &good], ev),
        &request(Arch::Amd64),
    )
    .await
    .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let man = Manifest::load(&base).unwrap().unwrap();
    assert!(
        man.files[0].source.starts_with(&good.url),
        "{}",
        man.files[0].source
    );
    assert!(log.lock().unwrap().iter().any(|e| e["event"] == "source_failed"
        && e["error"].as_str().unwrap().contains("HTML")));
}

#[tokio::test]
async fn missing_platform_lists_what_exists() {
    let m = Mirror::start().await;
    publish(&m);
    // replace the index with an amd64-only one
    let idx = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": format!("sha256:{}", "a".repeat(64)), "size": 1,
         "platform": {"architecture": "s390x", "os": "linux"}}]});
    m.put_typed(
        "v2/library/busybox/manifests/1",
        serde_json::to_vec(&idx).unwrap(),
        OCI_INDEX,
    );
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let r = download(&hub_session(&base, &[&m], ev), &request(Arch::Arm64))
        .await
        .unwrap();
    let msg = r.failures[0].1.to_string();
    assert!(
        msg.contains("no manifest for platform linux/arm64") && msg.contains("linux/s390x"),
        "{msg}"
    );
}

/// An auth file as `docker login` writes it, for the double's host.
fn auth_file(dir: &std::path::Path, m: &Mirror, entry: serde_json::Value) -> std::path::PathBuf {
    let host = m.url.trim_start_matches("http://").to_string();
    let p = dir.join("config.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&json!({ "auths": { host: entry } })).unwrap(),
    )
    .unwrap();
    p
}

#[tokio::test]
async fn a_login_from_the_auth_file_reaches_the_token_service() {
    use base64::Engine;
    let m = Mirror::start().await;
    publish(&m);
    m.require_bearer("private-token");
    m.require_token_login(Some(("alice", "s3:cret")), None);
    let host = m.url.trim_start_matches("http://").to_string();

    // no login anywhere: the message says which registry and what to run
    let (_d, base) = tmp_base();
    let (ev, _) = recorder();
    let r = download(&hub_session(&base, &[&m], ev), &request(Arch::Amd64))
        .await
        .unwrap();
    let msg = first_failure(&r);
    assert!(
        msg.contains("needs a login") && msg.contains(&format!("docker login {host}")),
        "{msg}"
    );
    assert!(!base.join("down/busybox_1.tar").exists());

    // a wrong password: refused, naming the file it came from
    let d = tempfile::tempdir().unwrap();
    let wrong = base64::engine::general_purpose::STANDARD.encode("alice:nope");
    let f = auth_file(d.path(), &m, json!({ "auth": wrong }));
    let (ev, _) = recorder();
    let mut s = hub_session(&base, &[&m], ev);
    s.registry_auth = vec![f.clone()];
    let r = download(&s, &request(Arch::Amd64)).await.unwrap();
    let msg = first_failure(&r);
    assert!(
        msg.contains("refused the credentials from") && msg.contains(&f.display().to_string()),
        "{msg}"
    );

    // the right one: pulled
    let good = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
    let f = auth_file(d.path(), &m, json!({ "auth": good }));
    let (ev, _) = recorder();
    let mut s = hub_session(&base, &[&m], ev);
    s.registry_auth = vec![d.path().join("absent.json"), f];
    let r = download(&s, &request(Arch::Amd64)).await.unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(base.join("down/busybox_1.tar").is_file());
}

#[tokio::test]
async fn an_identity_token_is_exchanged_with_a_refresh_token_post() {
    let m = Mirror::start().await;
    publish(&m);
    m.require_bearer("private-token");
    m.require_token_login(None, Some("refresh-me"));
    let d = tempfile::tempdir().unwrap();
    let f = auth_file(d.path(), &m, json!({ "identitytoken": "refresh-me" }));
    let (_b, base) = tmp_base();
    let (ev, _) = recorder();
    let mut s = hub_session(&base, &[&m], ev);
    s.registry_auth = vec![f];
    let r = download(&s, &request(Arch::Amd64)).await.unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let tr = m.token_requests();
    assert!(
        tr.iter()
            .any(|q| q.contains("grant_type=refresh_token") && q.contains("service=test-registry")),
        "{tr:?}"
    );
}

/// `ezdown -X <set>` alone after `ezdown -D`: the second run's request holds only the set, and
/// the manifest still lists (and `--verify` still checks) what the first run saved.
#[tokio::test]
async fn a_later_run_for_other_items_keeps_the_earlier_ones_listed() {
    let m = Mirror::start().await;
    publish(&m);
    let (_d, base) = tmp_base();
    let local = base.parent().unwrap().join("nginx");
    std::fs::write(&local, b"not really nginx").unwrap();
    let first = Request {
        versions: VersionTable::default(),
        arch: Arch::Amd64,
        artifacts: vec![],
        images: vec![],
        extra_files: vec![("bin/nginx".into(), local.clone())],
        table: ChecksumTable::default(),
        selection: Default::default(),
    };
    let (ev, _) = recorder();
    let r = download(&hub_session(&base, &[&m], ev), &first)
        .await
        .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let (ev, _) = recorder();
    let r = download(&hub_session(&base, &[&m], ev), &request(Arch::Amd64))
        .await
        .unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let man = Manifest::load(&base).unwrap().unwrap();
    let paths: Vec<&str> = man.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["bin/nginx", "down/busybox_1.tar"]);
    let v = ez_bundle::verify::verify(&base, 2).await.unwrap();
    assert!(v.ok(), "{v:?}");
    // a file gone since is no longer claimed
    std::fs::remove_file(base.join("bin/nginx")).unwrap();
    let (ev, _) = recorder();
    download(&hub_session(&base, &[&m], ev), &request(Arch::Amd64))
        .await
        .unwrap();
    let man = Manifest::load(&base).unwrap().unwrap();
    assert_eq!(man.files.len(), 1, "{:?}", man.files);
}
