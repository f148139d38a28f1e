//! `ezdown -D` when requests fail: the built `ezdown` binary, run as a user runs it, against a
//! loopback file mirror (`--mirror-only`: nothing leaves the machine).
//!
//! - A proxy that refuses connections (`HTTP_PROXY` at a closed loopback port): one line, at
//!   once, naming the proxy, its variable and the root cause; nothing reached the mirror.
//! - The only mirror refusing connections: the same, naming the mirror.
//! - Two files missing on a working mirror: no stop, the summary groups them under one cause.

#[path = "../../bundle/tests/support/mod.rs"]
mod support;

use std::process::Command;

const PROXY_VARS: [&str; 9] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// A loopback port with nothing listening (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

struct Setup {
    mirror: support::Mirror,
    _dir: tempfile::TempDir,
    base: std::path::PathBuf,
    versions: std::path::PathBuf,
}

/// A flannel bundle's files (no calico, no helm) on a loopback mirror, as in ezdown_network.
async fn setup(leave_out: &[&str]) -> Setup {
    let subst = support::SUBSTITUTES;
    let table = support::substituted_table();
    let mirror = support::Mirror::start().await;
    let mut tree = support::upstream_tree_for(&table, true);
    tree.retain(|k, _| support::in_flannel_bundle(k) && !leave_out.iter().any(|l| k.contains(l)));
    mirror.put_all(&tree);
    let (dir, base) = support::tmp_base();
    let versions = base.parent().unwrap().join("versions.yml");
    std::fs::write(&versions, subst).unwrap();
    Setup {
        mirror,
        _dir: dir,
        base,
        versions,
    }
}

/// Runs `ezdown -D` for the setup's bundle with `env` set (and no other proxy variable);
/// returns (exit code, stderr).
fn ezdown(s: &Setup, env: &[(&str, String)], mirrors: &[&str]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ezdown"));
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c.envs(env.iter().map(|(k, v)| (k, v)));
    c.args(["-D", "-k", "1.35.6", "--no-images", "--network", "flannel"]);
    c.args([
        "--without",
        "helm",
        "--without",
        "nodelocaldns",
        "--arch",
        "amd64",
    ]);
    c.arg("--versions")
        .arg(&s.versions)
        .arg("--base")
        .arg(&s.base);
    c.arg("--mirror-only");
    for m in mirrors {
        c.args(["--binary-mirror", m]);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines_with<'a>(text: &'a str, pat: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(pat)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_proxy_is_said_once_with_its_cause() {
    let s = setup(&[]).await;
    let port = closed_port();
    let proxy = format!("http://127.0.0.1:{port}");
    let (code, err) = ezdown(&s, &[("HTTP_PROXY", proxy.clone())], &[&s.mirror.url]);
    assert_eq!(code, 1, "{err}");
    let stopped = lines_with(&err, "stopped after");
    assert_eq!(stopped.len(), 1, "one verdict line:\n{err}");
    let want = format!("the proxy {proxy} (from HTTP_PROXY) refuses connections");
    assert!(stopped[0].contains(&want), "{err}");
    assert!(
        stopped[0].contains("Connection refused"),
        "root cause: {err}"
    );
    assert!(stopped[0].contains("unset it"), "{err}");
    assert!(
        lines_with(&err, "FAILED").is_empty(),
        "no per-item repeat:\n{err}"
    );
    // it stopped after the first round and a retry, not after every item's five retries, and
    // a first retry is quiet: the summary and the verdict are all that is said
    let retries = lines_with(&err, ": retry ").len();
    assert_eq!(retries, 0, "{retries} retry lines:\n{err}");
    assert!(err.lines().count() <= 3, "{err}");
    // every request went to the proxy: the mirror saw none
    assert_eq!(
        s.mirror
            .hits("dl.k8s.io/release/v1.35.6/bin/linux/amd64/kubelet"),
        0
    );

    // the same command without the proxy completes: the proxy was the one cause
    let (code, err) = ezdown(&s, &[], &[&s.mirror.url]);
    assert_eq!(code, 0, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_only_mirror_refusing_is_said_once() {
    let s = setup(&[]).await;
    let dead = format!("http://127.0.0.1:{}", closed_port());
    let (code, err) = ezdown(&s, &[], &[&dead]);
    assert_eq!(code, 1, "{err}");
    let stopped = lines_with(&err, "stopped after");
    assert_eq!(stopped.len(), 1, "{err}");
    let host = dead.trim_start_matches("http://");
    assert!(
        stopped[0].contains(&format!("{host} refuse connections")),
        "{err}"
    );
    assert!(stopped[0].contains("--binary-mirror"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_files_are_grouped_by_cause_not_stopped() {
    let s = setup(&["crictl", "kube-proxy"]).await;
    let (code, err) = ezdown(&s, &[], &[&s.mirror.url]);
    assert_eq!(code, 1, "{err}");
    assert!(lines_with(&err, "stopped after").is_empty(), "{err}");
    assert!(err.contains("2 item(s) failed, 1 cause(s):"), "{err}");
    let group = lines_with(&err, "HTTP 404: 2 item(s):");
    assert_eq!(group.len(), 1, "{err}");
    assert!(
        group[0].contains("crictl") && group[0].contains("kube-proxy"),
        "{err}"
    );
    // the rest of the bundle is there
    assert!(s.base.join("bin/kubelet").is_file());
}
