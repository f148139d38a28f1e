//! Real tools for tests that need no test-bed host: a check that they are installed (failing
//! under `CI=true`, else skipping loudly), a shell runner, and a containerd of a test's own,
//! started in a temp dir with its own socket, root and state (nothing of the machine's
//! containerd is touched).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether `bin` is on PATH.
pub fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `bins` are installed (and this is root, when `root`): true when the test can go
/// on; under `CI=true` a missing one fails the test, elsewhere it is skipped with a line
/// naming what is missing (`install` says how to get it).
pub fn require_tools(bins: &[&str], root: bool, install: &str) -> bool {
    let missing: Vec<&str> = bins.iter().copied().filter(|b| !have(b)).collect();
    let not_root = root && sh_out("id -u").trim() != "0";
    if missing.is_empty() && !not_root {
        return true;
    }
    let msg = format!(
        "needs {missing:?}{} ({install})",
        if not_root { " and root" } else { "" }
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// Runs `cmd` with bash and returns its stdout; panics with both outputs when it fails.
pub fn sh_out(cmd: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap_or_else(|e| panic!("bash -c {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A containerd of a test's own (needs root): config, socket, root and state under
/// `<dir>/ctrd`; killed when dropped.
pub struct TempContainerd {
    child: Child,
    root: PathBuf,
}

impl TempContainerd {
    /// Starts it and waits (up to 10 s) for its socket; `Err` with its log when it does not
    /// come up.
    pub fn start(dir: &Path) -> Result<TempContainerd, String> {
        let root = dir.join("ctrd");
        std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
        let cfg = root.join("config.toml");
        std::fs::write(
            &cfg,
            format!(
                "version = 2\nroot = \"{r}/root\"\nstate = \"{r}/state\"\n[grpc]\n  address = \"{r}/c.sock\"\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    disable_tcp_service = true\n",
                r = root.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(root.join("log")).map_err(|e| e.to_string())?;
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("containerd: {e}"))?;
        let c = TempContainerd { child, root };
        for _ in 0..100 {
            if c.root.join("c.sock").exists() {
                return Ok(c);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "containerd did not start: {}",
            std::fs::read_to_string(c.root.join("log")).unwrap_or_default()
        ))
    }

    /// `ctr -n k8s.io <args>` against it; its stdout (panics when ctr fails).
    pub fn ctr(&self, args: &str) -> String {
        sh_out(&format!(
            "ctr -a {} -n k8s.io {args}",
            self.root.join("c.sock").display()
        ))
    }
}

impl Drop for TempContainerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
