//! The bundle registry met by real clients, on 127.0.0.1 only: the distribution API as
//! reqwest sees it, skopeo (inspect, copy, a refused push, one architecture of an index), and a
//! real containerd pulling and unpacking through it (by kubeasz's name, and as the mirror that
//! `REGISTRY_MIRRORS` writes into a node's `certs.d`). The image tars are written by ezdown's
//! own writer.
//!
//! skopeo and containerd are present in CI (`.ci/run`); elsewhere their parts skip loudly.

#[allow(dead_code)] // each test file uses a part
#[path = "../src/test_tars.rs"]
mod test_tars;

use ez_registry::{Store, serve};
use ez_testbed::tools::{TempContainerd, require_tools, sh_out};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_tars::{Written, image_tar};

const INSTALL: &str = "apt-get install skopeo containerd";
const KITTEN: &str = "registry.k8s.io/e2e-test-images/kitten:1.1";

/// A registry serving a bundle (`down/` amd64, `arch/arm64/down/` arm64) on 127.0.0.1.
struct Served {
    addr: String,
    dir: tempfile::TempDir,
    amd: Written,
    arm: Written,
    log: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let down = dir.path().join("down");
    let arm_down = dir.path().join("arch/arm64/down");
    std::fs::create_dir_all(&down).unwrap();
    std::fs::create_dir_all(&arm_down).unwrap();
    let amd = image_tar(
        &down.join("kitten_1.1.tar"),
        KITTEN,
        "amd64",
        "NAME=\"Alpine Linux\"\n",
    );
    let arm = image_tar(&arm_down.join("kitten_1.1.tar"), KITTEN, "arm64", "arm\n");
    image_tar(
        &down.join("pause_3.10.2.tar"),
        "docker.io/easzlab/pause:3.10.2",
        "amd64",
        "pause\n",
    );
    let store = Arc::new(Store::scan(&[down, arm_down]).unwrap());
    assert_eq!(store.tars, 3, "{:?}", store.skipped);
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let seen = log.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = serve::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(l.local_addr().unwrap().to_string()).unwrap();
            let observer: serve::Observer = Arc::new(move |a: &ez_registry::Access| {
                let line = format!("{} {} {}", a.method, a.path, a.status);
                seen.lock().unwrap().push(line);
            });
            serve(l, store, observer, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Served {
        addr,
        dir,
        amd,
        arm,
        log,
        stop: Some(tx),
        thread: Some(thread),
    }
}

#[test]
fn the_pull_api_as_a_client_sees_it() {
    let s = start();
    let c = reqwest::blocking::Client::new();
    let url = |p: &str| format!("http://{}{p}", s.addr);
    let r = c.get(url("/v2/")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );

    // the tag of an image two architectures have is an index; HEAD has the headers, no body
    let m = url("/v2/registry.k8s.io/e2e-test-images/kitten/manifests/1.1");
    let r = c.head(&m).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let index_digest = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    let body = c.get(&m).send().unwrap().bytes().unwrap();
    assert_eq!(ez_registry::store::digest_of(&body), index_digest);
    assert!(String::from_utf8_lossy(&body).contains(&s.arm.manifest_digest));

    // the layer, whole and from an offset (a resumed pull)
    let b = url(&format!(
        "/v2/e2e-test-images/kitten/blobs/{}",
        s.amd.layer_digest
    ));
    let whole = c.get(&b).send().unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().unwrap().as_ref(), s.amd.layer.as_slice());
    let part = c.get(&b).header("Range", "bytes=10-").send().unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().unwrap().as_ref(), &s.amd.layer[10..]);

    // containerd's plain-mirror form: the path and ?ns=
    for p in [
        "/v2/e2e-test-images/kitten/manifests/1.1?ns=registry.k8s.io",
        // a mirror with a path (override_path): the full name, and ns all the same
        "/v2/registry.k8s.io/e2e-test-images/kitten/manifests/1.1?ns=registry.k8s.io",
    ] {
        assert_eq!(c.get(url(p)).send().unwrap().status(), 200, "{p}");
    }
    let r = c
        .get(url("/v2/e2e-test-images/kitten/manifests/1.1?ns=quay.io"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().unwrap().contains("NAME_UNKNOWN"));

    // read-only: a push is refused, and nothing else answers
    let r = c
        .post(url("/v2/e2e-test-images/kitten/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.text().unwrap().contains("UNSUPPORTED"));
    let missing = format!("/v2/easzlab/pause/blobs/sha256:{}", "0".repeat(64));
    assert_eq!(c.get(url(&missing)).send().unwrap().status(), 404);
    assert_eq!(
        c.get(url("/v2/easzlab/pause/manifests/9.9"))
            .send()
            .unwrap()
            .status(),
        404
    );
    let cat: serde_json::Value = c.get(url("/v2/_catalog")).send().unwrap().json().unwrap();
    assert_eq!(
        cat["repositories"],
        serde_json::json!([
            "docker.io/easzlab/pause",
            "registry.k8s.io/e2e-test-images/kitten"
        ])
    );
    assert!(
        s.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("POST ") && l.ends_with(" 405"))
    );
}

#[test]
fn skopeo_pulls_each_architecture_and_cannot_push() {
    if !require_tools(&["skopeo"], false, INSTALL) {
        return;
    }
    let s = start();
    let a = &s.addr;
    let tls = "--tls-verify=false";
    // each architecture of the index: its own config and its own layer
    let inspect = |arch: &str| {
        let out = sh_out(&format!(
            "skopeo --override-arch {arch} --override-os linux inspect {tls} docker://{a}/registry.k8s.io/e2e-test-images/kitten:1.1"
        ));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (
            v["Architecture"].as_str().unwrap().to_string(),
            v["Layers"][0].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        inspect("amd64"),
        ("amd64".to_string(), s.amd.layer_digest.clone())
    );
    assert_eq!(
        inspect("arm64"),
        ("arm64".to_string(), s.arm.layer_digest.clone())
    );

    // a copy by kubeasz's name holds the bundle's layer byte for byte
    let layout = s.dir.path().join("copied");
    sh_out(&format!(
        "skopeo --override-arch amd64 copy --src-tls-verify=false docker://{a}/easzlab/kitten:1.1 oci:{}:k",
        layout.display()
    ));
    let hex = s.amd.layer_digest.trim_start_matches("sha256:");
    let got = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
    assert_eq!(got, s.amd.layer);

    let push = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:k", layout.display()))
        .arg(format!("docker://{a}/mine/new:1"))
        .output()
        .unwrap();
    assert!(!push.status.success(), "a push must be refused");
}

#[test]
fn containerd_pulls_through_it_by_kubeasz_name_and_as_a_mirror() {
    if !require_tools(&["containerd", "ctr"], true, INSTALL) {
        return;
    }
    let s = start();
    let ctrd = TempContainerd::start(s.dir.path()).unwrap();
    let a = &s.addr;
    // kubeasz's name, as `easzlab.io.local:5000/easzlab/pause:3.10.2` is pulled on a node
    ctrd.ctr(&format!(
        "images pull --plain-http {a}/easzlab/pause:3.10.2"
    ));
    // the upstream name through a certs.d mirror shaped as REGISTRY_MIRRORS writes it (a
    // mirror with a path: override_path). The server line is this registry too, so a broken
    // mirror can only fail here, never reach out to registry.k8s.io.
    let hosts = s.dir.path().join("certs.d/registry.k8s.io");
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(
        hosts.join("hosts.toml"),
        format!(
            "server = \"http://{a}\"\n\n[host.\"http://{a}/v2/registry.k8s.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n"
        ),
    )
    .unwrap();
    ctrd.ctr(&format!(
        "images pull --platform linux/amd64 --hosts-dir {} {KITTEN}",
        s.dir.path().join("certs.d").display()
    ));
    let listed = ctrd.ctr("images ls");
    assert!(listed.contains(KITTEN), "{listed}");
    assert!(
        listed.contains(&s.amd.manifest_digest) || listed.contains("index"),
        "{listed}"
    );
    // unpacked: the layer's diff_id matched the config, so the bytes were the bundle's
    let snaps = ctrd.ctr("snapshots ls");
    assert!(snaps.lines().count() >= 3, "{snaps}");
    let log = s.log.lock().unwrap().join("\n");
    assert!(
        log.contains("/v2/registry.k8s.io/e2e-test-images/kitten/manifests/1.1 200"),
        "{log}"
    );
}
