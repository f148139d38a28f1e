use super::*;
#[path = "test_tars.rs"]
mod test_tars;
use test_tars::image_tar;

fn bundle() -> (tempfile::TempDir, Vec<PathBuf>) {
    let d = tempfile::tempdir().unwrap();
    let down = d.path().join("down");
    let arm = d.path().join("arch/arm64/down");
    std::fs::create_dir_all(&down).unwrap();
    std::fs::create_dir_all(&arm).unwrap();
    (d, vec![down, arm])
}

#[test]
fn every_tar_is_served_under_its_names() {
    let (_d, dirs) = bundle();
    let kitten = image_tar(
        &dirs[0].join("kitten_1.1.tar"),
        "registry.k8s.io/e2e-test-images/kitten:1.1",
        "amd64",
        "NAME=\"Alpine Linux\"\n",
    );
    image_tar(
        &dirs[0].join("node_v3.32.1.tar"),
        "calico/node:v3.32.1",
        "amd64",
        "x",
    );
    std::fs::write(dirs[0].join("notes.tar"), b"not a tar at all").unwrap();
    let s = Store::scan(&dirs).unwrap();
    assert_eq!(s.tars, 2);
    assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
    assert_eq!(
        s.images(),
        vec![
            "docker.io/calico/node:v3.32.1",
            "registry.k8s.io/e2e-test-images/kitten:1.1"
        ]
    );
    // full name (override_path mirror), path + ns (plain mirror), path alone, kubeasz's name
    for (name, ns) in [
        ("registry.k8s.io/e2e-test-images/kitten", None),
        (
            "registry.k8s.io/e2e-test-images/kitten",
            Some("registry.k8s.io"),
        ),
        ("e2e-test-images/kitten", Some("registry.k8s.io")),
        ("e2e-test-images/kitten", None),
        ("easzlab/kitten", None),
    ] {
        let r = s.repo(name, ns).unwrap_or_else(|| panic!("{name} {ns:?}"));
        let m = s.manifest(r, "1.1").unwrap();
        assert_eq!(m.digest, kitten.manifest_digest);
        assert_eq!(digest_of(&m.bytes), kitten.manifest_digest);
        assert!(s.manifest(r, &kitten.manifest_digest).is_some());
        assert!(s.manifest(r, "1.2").is_none());
    }
    // a mirror request for another registry's image of that path gets nothing
    assert!(s.repo("e2e-test-images/kitten", Some("quay.io")).is_none());
    assert!(
        s.repo("registry.k8s.io/e2e-test-images/kitten", Some("quay.io"))
            .is_none()
    );
    assert!(
        s.repo("easzlab/kitten", Some("easzlab.io.local:5000"))
            .is_some()
    );
    assert!(s.repo("calico/node", None).is_some());
    assert!(s.repo("node", Some("docker.io")).is_none());
    // the blob is where the tar has it, byte for byte
    let at = s.blob(&kitten.layer_digest).unwrap();
    let mut f = std::fs::File::open(&at.tar).unwrap();
    f.seek(SeekFrom::Start(at.offset)).unwrap();
    let mut got = vec![0; at.size as usize];
    f.read_exact(&mut got).unwrap();
    assert_eq!(got, kitten.layer);
    assert!(s.blob(&kitten.config_digest).is_some());
}

#[test]
fn a_name_in_two_registries_needs_its_registry() {
    let (_d, dirs) = bundle();
    image_tar(
        &dirs[0].join("a.tar"),
        "registry.k8s.io/pause:3.10",
        "amd64",
        "a",
    );
    image_tar(
        &dirs[0].join("b.tar"),
        "docker.io/library/pause:3.10",
        "amd64",
        "b",
    );
    let s = Store::scan(&dirs).unwrap();
    assert_eq!(
        s.repo("pause", Some("registry.k8s.io")).unwrap().registry,
        "registry.k8s.io"
    );
    assert_eq!(s.repo("pause", None).unwrap().registry, "docker.io");
    assert!(
        s.repo("easzlab/pause", None).is_none(),
        "two images fit: none is served"
    );
}

#[test]
fn one_name_for_two_architectures_is_an_index() {
    let (_d, dirs) = bundle();
    let amd = image_tar(&dirs[0].join("k.tar"), "registry.k8s.io/k:1", "amd64", "a");
    let arm = image_tar(&dirs[1].join("k.tar"), "registry.k8s.io/k:1", "arm64", "b");
    let s = Store::scan(&dirs).unwrap();
    let r = s.repo("registry.k8s.io/k", None).unwrap();
    let top = s.manifest(r, "1").unwrap();
    assert_eq!(top.media_type, OCI_INDEX);
    assert_eq!(digest_of(&top.bytes), top.digest);
    let v: Value = serde_json::from_slice(&top.bytes).unwrap();
    let platforms: Vec<(String, String)> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want = vec![
        ("amd64".to_string(), amd.manifest_digest.clone()),
        ("arm64".to_string(), arm.manifest_digest.clone()),
    ];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(platforms, want);
    // each architecture's manifest is reachable by digest through the index
    assert!(s.manifest(r, &arm.manifest_digest).is_some());
    assert!(s.blob(&arm.layer_digest).is_some() && s.blob(&amd.layer_digest).is_some());
}

#[test]
fn a_tar_whose_manifest_was_changed_is_skipped() {
    let (_d, dirs) = bundle();
    let tar = dirs[0].join("k.tar");
    let w = image_tar(&tar, "registry.k8s.io/k:1", "amd64", "a");
    // change the schema version inside the manifest blob (same length: the tar stays readable)
    let mut bytes = std::fs::read(&tar).unwrap();
    let at = {
        let s = Store::scan(&dirs).unwrap();
        let b = s.blob(&w.manifest_digest).unwrap();
        (b.offset as usize, b.size as usize)
    };
    let region = &bytes[at.0..at.0 + at.1];
    let key = b"\"schemaVersion\":2";
    let pos = region.windows(key.len()).position(|x| x == key).unwrap();
    bytes[at.0 + pos + key.len() - 1] = b'3';
    std::fs::write(&tar, bytes).unwrap();
    let s = Store::scan(&dirs).unwrap();
    assert_eq!(s.tars, 0);
    assert!(
        s.skipped[0].why.contains("does not match"),
        "{:?}",
        s.skipped
    );
    assert!(s.images().is_empty());
}
