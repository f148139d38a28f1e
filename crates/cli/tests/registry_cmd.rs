//! The built `ezctl registry` on a bundle in a temp dir, on 127.0.0.1 only: no bundle is one
//! refusal naming the `ezdown` command; `--list` names the images of ezdown-written tars; the
//! server answers a pull's first requests and stops cleanly on SIGTERM (systemd's stop).

#[allow(dead_code)] // only the writer is used here
#[path = "../../registry/src/test_tars.rs"]
mod test_tars;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn ezctl(base: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ezctl"));
    c.arg("--base").arg(base).arg("registry");
    c
}

#[test]
fn no_bundle_is_one_refusal_naming_ezdown() {
    let d = tempfile::tempdir().unwrap();
    let out = ezctl(d.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("ezctl: error: no bundle:"), "{err}");
    assert!(err.contains("./ezdown -D --base"), "{err}");
    // a bundle with no image tar yet
    std::fs::create_dir_all(d.path().join("down")).unwrap();
    let out = ezctl(d.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no image tar in"), "{err}");
}

#[test]
fn serves_the_bundle_until_sigterm() {
    let d = tempfile::tempdir().unwrap();
    let down = d.path().join("down");
    std::fs::create_dir_all(&down).unwrap();
    let w = test_tars::image_tar(
        &down.join("pause_3.10.2.tar"),
        "registry.k8s.io/pause:3.10.2",
        "amd64",
        "pause\n",
    );
    let out = ezctl(d.path()).arg("--list").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "registry.k8s.io/pause:3.10.2\n"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = ezctl(d.path())
        .args(["--listen", &format!("127.0.0.1:{port}"), "--access-log"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // kubeasz's name for it, as a node asks for easzlab.io.local:5000/easzlab/pause:3.10.2
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            write!(
                s,
                "HEAD /v2/easzlab/pause/manifests/3.10.2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            s.read_to_string(&mut answer).unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains(&format!("docker-content-digest: {}", w.manifest_digest)),
        "{answer}"
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("1 images of 1 tars"), "{err}");
    assert!(
        err.contains("HEAD /v2/easzlab/pause/manifests/3.10.2 200"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("ezctl registry: stopped"), "{err}");
}

/// `conformance run --registry` starts the registry before anything else: a bundle without
/// images, or an address in use, is refused before the cluster is asked anything.
#[test]
fn conformance_run_registry_refuses_before_the_run() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("down")).unwrap();
    let run = |listen: &str| {
        Command::new(env!("CARGO_BIN_EXE_ezctl"))
            .arg("--base")
            .arg(d.path())
            .args(["conformance", "run", "--registry", listen, "--output-dir"])
            .arg(d.path().join("results"))
            .output()
            .unwrap()
    };
    let out = run("127.0.0.1:0");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--registry: no image tar in"), "{err}");
    assert!(err.contains("./ezdown -D -X conformance"), "{err}");
    assert!(!err.contains("cannot reach the cluster"), "{err}");

    test_tars::image_tar(
        &d.path().join("down/pause_3.10.2.tar"),
        "registry.k8s.io/pause:3.10.2",
        "amd64",
        "pause\n",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&addr);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("--registry {addr}: cannot listen on {addr}")),
        "{err}"
    );
    assert!(!err.contains("cannot reach the cluster"), "{err}");
}
