//! `ezdown -X conformance` for a Kubernetes version with no embedded e2e list (the default
//! v1.36.3), end to end against a real registry (Debian's `docker-registry` on 127.0.0.1)
//! standing in for registry.k8s.io through `--registry-mirror registry.k8s.io=…/k8s`: the
//! conformance image is saved, its e2e.test (the test double of `tests/doubles/e2e-test`,
//! packed into the image with umoci) lists the e2e images, and those are saved too. The
//! Sonobuoy CLI comes from a loopback file mirror. `--mirror-only`: nothing else is asked.

#[path = "../../bundle/tests/support/mod.rs"]
mod support;

use clap::Parser;
use std::path::Path;
use support::{require, sh, start_registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_images_of_a_version_with_no_embedded_list_come_from_its_own_e2e_test() {
    if !require(&["docker-registry", "skopeo", "umoci"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let double =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/doubles/e2e-test/e2e.test");
    // the conformance image (e2e.test inside) and a tiny image for every listed one
    sh(&format!(
        "set -e; cd {w}; umoci init --layout layout; \
         umoci new --image layout:conf; umoci unpack --rootless --image layout:conf c; \
         mkdir -p c/rootfs/usr/local/bin; cp {d} c/rootfs/usr/local/bin/e2e.test; \
         umoci repack --image layout:conf c; rm -rf c; \
         umoci new --image layout:tiny; umoci unpack --rootless --image layout:tiny t; \
         echo hi > t/rootfs/hello; umoci repack --image layout:tiny t; rm -rf t",
        w = w.display(),
        d = double.display()
    ));
    let reg = start_registry(w);
    let addr = reg.addr.clone();
    let push = |tag: &str, name: &str| {
        sh(&format!(
            "skopeo copy --dest-tls-verify=false oci:{}/layout:{tag} docker://{addr}/k8s/{name}",
            w.display()
        ))
    };
    push("conf", "conformance:v1.36.3");
    for name in [
        "e2e-test-images/agnhost:2.61",
        "e2e-test-images/busybox:1.37.0-1",
        "e2e-test-images/nginx:1.27.0-1",
        "etcd:3.6.5-0",
        "pause:3.10.1",
        "sig-storage/csi-provisioner:v5.3.0",
        "e2e-test-images/busybox:1.36.1-1",
    ] {
        push("tiny", name);
    }
    // the Sonobuoy CLI that -X conformance also brings, on a loopback file mirror
    let m = support::Mirror::start().await;
    let a = ez_bundle::catalog::Arch::host().as_str();
    let v = "0.57.5";
    let rel = format!("github.com/vmware-tanzu/sonobuoy/releases/download/v{v}");
    let tgz = support::targz(&[("sonobuoy", b"#!/bin/sh\necho sonobuoy\n".to_vec())]);
    let file = format!("sonobuoy_{v}_linux_{a}.tar.gz");
    m.put(
        &format!("{rel}/sonobuoy_{v}_checksums.txt"),
        format!("{}  {file}\n", support::sha(&tgz)).into_bytes(),
    );
    m.put(&format!("{rel}/{file}"), tgz);

    let base = w.join("kubeasz");
    let base_s = base.display().to_string();
    let mirror = format!("registry.k8s.io=http://{addr}/k8s");
    // hermetic: no login of this machine is used
    let auth = w.join("auth.json");
    std::fs::write(&auth, "{}").unwrap();
    let auth_s = auth.display().to_string();
    let cli = ez_cli::ezdown::EzdownCli::parse_from([
        "ezdown",
        "--base",
        &base_s,
        "-X",
        "conformance",
        // the Sonobuoy CLI, for `conformance run --runner sonobuoy` offline
        "-X",
        "sonobuoy",
        "--mirror-only",
        "--binary-mirror",
        &m.url,
        "--registry-mirror",
        &mirror,
        "--registry-auth",
        &auth_s,
    ]);
    assert_eq!(ez_cli::ezdown::run(cli).await.unwrap(), 0);
    let down = base.join("down");
    for tar in [
        "conformance_v1.36.3.tar",
        "agnhost_2.61.tar",
        "csi-provisioner_v5.3.0.tar",
        "pause_3.10.1.tar",
        "busybox_1.36.1-1.tar",
    ] {
        assert!(down.join(tar).is_file(), "{tar} not saved");
    }
    // the image a test expects to fail to pull is listed but never fetched
    assert!(!down.join("alpine_3.1.tar").exists());
    assert!(base.join("bin/sonobuoy").is_file());
    let v = ez_bundle::verify::verify(&base, 2).await.unwrap();
    assert!(v.ok(), "{v:?}");
}
