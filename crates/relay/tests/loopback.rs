//! The agent binary on loopback: a good fetch, and every fault a serving peer can commit
//! (corrupt bytes, stall, death mid-transfer, wrong token, a file it does not hold) ends in
//! exit status 10 with no file left; the server leaves when its token file goes.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ez-relay");

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, fault: Option<&str>) -> Server {
    let mut c = Command::new(BIN);
    c.args(["serve", "--dir"])
        .arg(dir)
        .args(["--bind", "127.0.0.1", "--idle", "30"]);
    if let Some(f) = fault {
        c.args(["--fault", f]);
    }
    // Owned by the guard at once: killed and waited for on every path.
    let mut srv = Server {
        child: c.spawn().unwrap(),
        port: 0,
    };
    let t0 = Instant::now();
    loop {
        if let Ok(p) = std::fs::read_to_string(dir.join("port")) {
            srv.port = p.trim().parse().unwrap();
            return srv;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "no port file");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A served dir holding `data`; the client's dir with the same token.
fn setup(data: &[u8]) -> (tempfile::TempDir, tempfile::TempDir, String) {
    let s = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    std::fs::write(s.path().join("token"), "tok123\n").unwrap();
    std::fs::write(c.path().join("token"), "tok123\n").unwrap();
    let f = s.path().join("blob");
    std::fs::write(&f, data).unwrap();
    let sha = ez_relay::sha256_file(&f).unwrap();
    std::fs::write(s.path().join("holds"), format!("{sha} {}\n", f.display())).unwrap();
    (s, c, sha)
}

fn fetch(c: &Path, port: u16, sha: &str, size: usize, stall_ms: u64) -> (i32, String) {
    let out = c.join("out");
    let o = Command::new(BIN)
        .args(["fetch", "--dir"])
        .arg(c)
        .args(["--from", &format!("127.0.0.1:{port}"), "--sha", sha])
        .args([
            "--size",
            &size.to_string(),
            "--stall-ms",
            &stall_ms.to_string(),
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

fn data() -> Vec<u8> {
    (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn good_fetch_then_server_leaves_with_its_token() {
    let d = data();
    let (s, c, sha) = setup(&d);
    let mut srv = start(s.path(), None);
    let (rc, err) = fetch(c.path(), srv.port, &sha, d.len(), 5000);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(std::fs::read(c.path().join("out")).unwrap(), d);
    std::fs::remove_file(s.path().join("token")).unwrap();
    let t0 = Instant::now();
    while srv.child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(5), "server stayed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", srv.port)).is_err());
}

#[test]
fn every_peer_fault_is_exit_10_and_no_file() {
    let d = data();
    for fault in ["corrupt", "stall", "die"] {
        let (s, c, sha) = setup(&d);
        let srv = start(s.path(), Some(fault));
        let (rc, err) = fetch(c.path(), srv.port, &sha, d.len(), 1000);
        assert_eq!(rc, 10, "{fault}: {err}");
        assert!(!c.path().join("out").exists(), "{fault}: file left");
    }
    let (s, c, sha) = setup(&d);
    let srv = start(s.path(), None);
    std::fs::write(c.path().join("token"), "other\n").unwrap();
    let (rc, err) = fetch(c.path(), srv.port, &sha, d.len(), 1000);
    assert_eq!((rc, err.contains("bad token")), (10, true), "{err}");
    std::fs::write(c.path().join("token"), "tok123\n").unwrap();
    let (rc, err) = fetch(c.path(), srv.port, &"0".repeat(64), d.len(), 1000);
    assert_eq!((rc, err.contains("not held")), (10, true), "{err}");
    let (rc, err) = fetch(c.path(), srv.port, &sha, d.len() + 1, 1000);
    assert_eq!(rc, 10, "{err}");
    drop(srv);
    let (rc, err) = fetch(c.path(), 1, &sha, d.len(), 1000);
    assert_eq!(rc, 10, "nobody listening: {err}");
}
