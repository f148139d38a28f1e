//! Unit tests of `ezdown`: flags to a request, and exit codes.

use super::*;

fn cli(args: &[&str]) -> EzdownCli {
    EzdownCli::parse_from(std::iter::once("ezdown").chain(args.iter().copied()))
}

#[test]
fn default_request_is_kubeasz_3_7_0() {
    let r = build_request(&cli(&["-D", "--arch", "amd64"])).unwrap();
    assert_eq!(r.artifacts.len(), 13);
    assert_eq!(r.images.len(), 7);
    assert_eq!(r.versions.kubernetes, "v1.36.3");
    let r = build_request(&cli(&["-D", "-k", "1.35.6", "-X", "cilium", "--no-images"])).unwrap();
    assert_eq!(r.versions.kubernetes, "v1.35.6");
    assert!(r.artifacts.iter().any(|a| a.url.contains("/v1.35.6/")));
    assert_eq!(r.images.len(), 5, "{:?}", r.images);
}

#[test]
fn bad_input_is_one_clear_message() {
    let e = build_request(&cli(&["-D", "-X", "nope"])).unwrap_err();
    assert!(e.contains("valid sets") && e.contains("flannel"), "{e}");
    let e = build_request(&cli(&["-D", "-k", "latest"])).unwrap_err();
    assert!(e.contains("invalid version"), "{e}");
    let e = build_request(&cli(&["-D", "--arch", "mips"])).unwrap_err();
    assert!(e.contains("amd64 or arm64"), "{e}");
    let e = build_request(&cli(&["-D", "--extra-file", "bin/nginx"])).unwrap_err();
    assert!(e.contains("DEST=SRC"), "{e}");
    let e = build_request(&cli(&["-D", "--registry-mirror", "registry.k8s.io="])).unwrap_err();
    assert!(e.contains("REGISTRY=MIRROR"), "{e}");
    let e = build_request(&cli(&["-D", "--image", "Not A Ref"])).unwrap_err();
    assert!(e.contains("invalid image reference"), "{e}");
}

#[test]
fn versions_file_overrides_the_table_after_k() {
    let d = tempfile_dir();
    let f = d.join("versions.yml");
    std::fs::write(
        &f,
        "containerd: 2.3.4\ncrictl: v1.37.0\nmetrics_server: v0.8.0\nflannel: v0.28.10\n",
    )
    .unwrap();
    let fs = f.to_str().unwrap();
    let r = build_request(&cli(&[
        "-D",
        "--arch",
        "amd64",
        "-k",
        "v1.35.6",
        "--versions",
        fs,
        "--network",
        "flannel",
    ]))
    .unwrap();
    assert_eq!(r.versions.kubernetes, "v1.35.6");
    assert_eq!(r.versions.containerd, "2.3.4");
    assert_eq!(r.versions.crictl, "v1.37.0");
    assert_eq!(r.versions.etcd, VersionTable::default().etcd);
    let url = |id: &str| r.artifacts.iter().find(|a| a.id == id).unwrap().url.clone();
    assert!(url("containerd").ends_with("/v2.3.4/containerd-static-2.3.4-linux-amd64.tar.gz"));
    assert!(url("crictl").contains("/v1.37.0/crictl-v1.37.0-linux-amd64.tar.gz"));
    assert!(url("kubelet").contains("/v1.35.6/"));
    for i in [
        "ghcr.io/flannel-io/flannel:v0.28.10",
        "easzlab/metrics-server:v0.8.0",
    ] {
        assert!(r.images.iter().any(|x| x == i), "{i}: {:?}", r.images);
    }
    // JSON works too, and the same Kubernetes version with -k is no conflict
    std::fs::write(&f, r#"{"kubernetes": "1.35.6", "runc": "v1.5.2"}"#).unwrap();
    let r = build_request(&cli(&["-D", "-k", "v1.35.6", "--versions", fs])).unwrap();
    assert_eq!(r.versions.runc, "v1.5.2");
    let e = build_request(&cli(&["-D", "-k", "v1.34.1", "--versions", fs])).unwrap_err();
    assert!(e.contains("disagree"), "{e}");
    // a typo is an error naming the field and the known ones
    std::fs::write(&f, "containrd: 2.3.4\n").unwrap();
    let e = build_request(&cli(&["-D", "--versions", fs])).unwrap_err();
    assert!(
        e.contains("unknown component `containrd`") && e.contains("containerd, runc"),
        "{e}"
    );
    std::fs::write(&f, "crictl: latest\n").unwrap();
    let e = build_request(&cli(&["-D", "--versions", fs])).unwrap_err();
    assert!(e.contains("invalid version 'latest'"), "{e}");
    let e = build_request(&cli(&["-D", "--versions", "/nonexistent/v.yml"])).unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn network_and_without_choose_binaries_and_images() {
    let ids = |r: &Request| r.artifacts.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
    let r = build_request(&cli(&[
        "-D",
        "--arch",
        "amd64",
        "--network",
        "flannel",
        "--without",
        "nodelocaldns",
    ]))
    .unwrap();
    assert_eq!(r.artifacts.len(), 12);
    assert!(!ids(&r).contains(&"calicoctl".to_string()));
    assert_eq!(
        r.images,
        [
            "ghcr.io/flannel-io/flannel:v0.28.9",
            "ghcr.io/flannel-io/flannel-cni-plugin:v1.9.1-flannel3",
            "coredns/coredns:1.14.6",
            "easzlab/metrics-server:v0.9.0",
            "easzlab/pause:3.10.2",
        ]
    );
    assert_eq!(
        r.selection.describe(),
        "network flannel, without nodelocaldns"
    );
    let r = build_request(&cli(&["-D", "--without", "helm"])).unwrap();
    assert!(!ids(&r).contains(&"helm".to_string()));
    assert!(ids(&r).contains(&"calicoctl".to_string()));
    assert_eq!(r.images.len(), 7);
    let e = build_request(&cli(&["-D", "--network", "weave"])).unwrap_err();
    assert_eq!(
        e,
        "unknown network plugin 'weave'; valid: calico, flannel, cilium, kube-router, kube-ovn"
    );
    let e = build_request(&cli(&["-D", "--without", "docs"])).unwrap_err();
    assert_eq!(
        e,
        "unknown part 'docs' for --without; valid: nodelocaldns, helm, metrics-server"
    );
}

#[test]
fn list_urls_follows_the_selection() {
    let urls = |args: &[&str]| {
        let r = build_request(&cli(args)).unwrap();
        r.artifacts
            .iter()
            .map(|a| a.url.clone())
            .collect::<Vec<_>>()
    };
    let all = urls(&["--list-urls", "--arch", "amd64"]);
    assert_eq!(all.len(), 13);
    let some = urls(&[
        "--list-urls",
        "--arch",
        "amd64",
        "--network",
        "flannel",
        "--without",
        "helm",
    ]);
    assert_eq!(some.len(), 11);
    assert!(
        !some
            .iter()
            .any(|u| u.contains("calicoctl") || u.contains("helm"))
    );
}

#[test]
fn extra_set_alone_keeps_the_bundles_versions_and_selection() {
    let d = tempfile_dir();
    let mut m = Manifest::new("amd64", VersionTable::default());
    m.versions.containerd = "2.3.4".into();
    m.versions.cilium = "1.18.0".into();
    m.selection = Selection::parse(Some("flannel"), &["helm".into()]).unwrap();
    m.write(&d).unwrap();
    let base = d.to_str().unwrap();
    let r = build_request(&cli(&["-X", "cilium", "--base", base])).unwrap();
    assert_eq!(r.versions.containerd, "2.3.4");
    assert_eq!(r.selection, m.selection);
    assert_eq!(r.images[0], "cilium/cilium:v1.18.0");
    let e = build_request(&cli(&[
        "-X",
        "cilium",
        "--base",
        base,
        "--network",
        "calico",
    ]))
    .unwrap_err();
    assert!(e.contains("give them with -D"), "{e}");
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn conformance_set_takes_the_e2e_list() {
    let d = tempfile_dir();
    let f = d.join("e2e.txt");
    // the real output's form: a test image, and two images no registry serves to us
    std::fs::write(
        &f,
        "# e2e\nregistry.k8s.io/e2e-test-images/busybox:1.36.1-1\n\n\
         invalid.registry.k8s.io/invalid/alpine:3.1\ngcr.io/k8s-authenticated-test/agnhost:2.6\n",
    )
    .unwrap();
    let r = build_request(&cli(&[
        "-D",
        "--no-images",
        "-X",
        "conformance",
        "--e2e-images",
        f.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(
        r.images,
        vec![
            "registry.k8s.io/conformance:v1.36.3",
            "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
        ]
    );
    // the native runner needs no Sonobuoy CLI: `-X sonobuoy` brings it
    assert!(!r.artifacts.iter().any(|a| a.id == "sonobuoy"));
    let plain = build_request(&cli(&["-D", "--no-images"])).unwrap();
    assert!(!plain.artifacts.iter().any(|a| a.id == "sonobuoy"));
    let _ = std::fs::remove_dir_all(d);
}

#[test]
fn extra_set_alone_fetches_only_that_set() {
    let r = build_request(&cli(&["-X", "cilium", "--arch", "amd64"])).unwrap();
    assert!(r.artifacts.is_empty(), "{:?}", r.artifacts);
    assert!(!r.images.is_empty());
    assert!(
        r.images.iter().all(|i| i.contains("cilium")),
        "{:?}",
        r.images
    );
    // with -D: everything plus the set
    let all = build_request(&cli(&["-D", "-X", "cilium", "--arch", "amd64"])).unwrap();
    assert_eq!(all.artifacts.len(), 13);
    assert!(all.images.iter().any(|i| i.contains("calico")));
    // -X conformance alone: images only; -X sonobuoy: the Sonobuoy CLI alone
    let c = build_request(&cli(&["-X", "conformance", "--arch", "amd64"])).unwrap();
    assert!(c.artifacts.is_empty(), "{:?}", c.artifacts);
    let s = build_request(&cli(&["-X", "sonobuoy", "--arch", "amd64"])).unwrap();
    assert_eq!(
        s.artifacts
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        ["sonobuoy"]
    );
    assert!(s.images.is_empty(), "{:?}", s.images);
}

#[test]
fn conformance_set_knows_the_embedded_list() {
    let r = build_request(&cli(&[
        "-D",
        "--no-images",
        "-k",
        "v1.35.4",
        "-X",
        "conformance",
    ]))
    .unwrap();
    assert_eq!(r.images[0], "registry.k8s.io/conformance:v1.35.4");
    for i in [
        "registry.k8s.io/e2e-test-images/agnhost:2.59",
        "registry.k8s.io/etcd:3.6.6-0",
        ez_conformance::images::SIDECAR_IMAGE,
    ] {
        assert!(r.images.iter().any(|x| x == i), "{i}: {:?}", r.images);
    }
    assert!(!r.images.iter().any(|x| x.starts_with("invalid.registry")));
    // no embedded list for the default v1.36.3: the conformance image and the sidecar
    let d = build_request(&cli(&["-D", "--no-images", "-X", "conformance"])).unwrap();
    assert_eq!(d.images[0], "registry.k8s.io/conformance:v1.36.3");
    assert!(!d.images.iter().any(|x| x.contains("agnhost")));
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ezdown-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn exit_codes() {
    assert_eq!(run(cli(&["-S"])).await.unwrap(), 0);
    assert_eq!(run(cli(&["-P", "ubuntu_22"])).await.unwrap(), 1);
    assert_eq!(run(cli(&[])).await.unwrap(), 1);
    assert_eq!(run(cli(&["-D", "--verify"])).await.unwrap(), 1);
    assert_eq!(
        run(cli(&["--list-urls", "--arch", "arm64"])).await.unwrap(),
        0
    );
    let d = tempfile_dir();
    assert_eq!(
        run(cli(&["--verify", "--base", d.to_str().unwrap()]))
            .await
            .unwrap(),
        1
    );
    let _ = std::fs::remove_dir_all(d);
}
