//! ez-testbed: the project's own test bed, seen from Rust integration tests.
//!
//! The bed runs up to 60 SSH-reachable test hosts on this one machine
//! (scripts in `tests/testbed/`, see its `README.md`). Host `N` (`tbN`, 1..=60) is a
//! network namespace on bridge `tbbr0` with the address `10.250.0.(10+N)`, its own
//! overlayfs root over one shared Debian 12 rootfs, and its own sshd on port 22.
//! In [`Mode::Systemd`] systemd is PID 1 (systemd-nspawn); in [`Mode::Plain`] sshd is
//! PID 1 and nothing else runs. The machine's own address on the bridge is
//! `10.250.0.1`; nothing outside `10.250.0.0/24` is reachable from a host.
//!
//! Users on every host: `root` (keys only), `tbuser` (keys or password `tbpass`,
//! passwordless sudo) and `tbsudo` (keys or password `tbpass`, sudo asks for the
//! password every time). All client keys ([`Testbed::client_key`] and friends) are
//! authorized for all three. [`Testbed::known_hosts`] lists each running host's real
//! ed25519 key as `tbN,10.250.0.(10+N) ssh-ed25519 ...`, so clients can (and should)
//! check host keys strictly.
//!
//! # Conventions for tests
//!
//! * Every test uses its **own host indices**: tests run in parallel (threads of one
//!   test binary and several binaries at once). Read-only use of a host by several
//!   tests of one file is fine; a test that **stops, freezes, cuts, isolates or
//!   rekeys** a host must use hosts that no other test uses.
//! * Get hosts with [`Testbed::require`]: it skips the test loudly when the bed is not
//!   available (not root, tools missing), and fails it when `CI=true`.
//! * Index ranges taken: 50–59 by this crate's own tests; the table of all users is
//!   in `tests/testbed/README.md` ("Host indices in use"): add yours there.
//! * [`Testbed::up`] is idempotent and hosts are left running after the tests;
//!   `bash tests/run` ends with `tests/testbed/down.sh --all`. A test that needs a
//!   freshly booted host (e.g. after a previous run rekeyed it) calls
//!   [`Testbed::down`] on it first.
//!
//! # Concurrency
//!
//! The scripts serialize themselves: each takes an exclusive `flock` on
//! `$TB_ROOT/.lock` while it changes shared state (bridge, iptables, known_hosts,
//! cgroups), and `up.sh` releases it before it waits for sshd, so parallel `up`
//! calls for different hosts overlap in their (longest) waiting phase.

mod host;
pub mod tools;

use std::ffi::OsString;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use host::Host;

/// Highest host index the bed supports (addresses 10.250.0.11 ..= 10.250.0.70).
pub const MAX_HOSTS: u32 = 60;

/// What runs as PID 1 in a test host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// systemd-nspawn boots systemd: `systemctl`, journald, logind and dbus work;
    /// sshd runs as `ssh.service`.
    Systemd,
    /// sshd is PID 1 in a chroot; there is no service manager. About 3x faster to
    /// start and lighter; the code under test must start its own daemons.
    Plain,
}

impl Mode {
    /// The name `up.sh --mode` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Systemd => "systemd",
            Mode::Plain => "plain",
        }
    }
}

/// Why a test bed operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// The bed cannot run here at all (not root, a tool missing, no scripts).
    /// Tests skip on this (see [`Testbed::require`]).
    #[error("test bed unavailable: {0}")]
    Unavailable(String),
    /// A test bed script ran and failed.
    #[error("test bed command `{cmd}` failed (exit status {status:?}): {stderr}")]
    Script {
        /// The command line, e.g. `up.sh --mode systemd 50,51`.
        cmd: String,
        /// Its exit code; `None` when it was killed by a signal.
        status: Option<i32>,
        /// Its standard error (trimmed).
        stderr: String,
    },
    /// Starting a command or reading a file failed.
    #[error("test bed I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Where the bed's scripts and state live. Cheap to create; holds no resources.
///
/// Invariant: `scripts` is the directory holding `up.sh`, `down.sh` and `tb`
/// (`tests/testbed` of this checkout); `root` is the state directory the scripts
/// use (`TB_ROOT`, default `/var/lib/testbed`), passed to them as `TB_ROOT`.
#[derive(Debug, Clone)]
pub struct Testbed {
    scripts: PathBuf,
    root: PathBuf,
}

impl Default for Testbed {
    fn default() -> Self {
        Self::new()
    }
}

impl Testbed {
    /// Locate the scripts (`<this crate>/../testbed`) and the state directory
    /// (`$TB_ROOT`, default `/var/lib/testbed`). Checks nothing; see [`Testbed::up`].
    pub fn new() -> Testbed {
        let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testbed");
        let scripts = scripts.canonicalize().unwrap_or(scripts);
        let root = std::env::var_os("TB_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/testbed"));
        Testbed { scripts, root }
    }

    /// The directory with the bed's scripts (`tests/testbed`).
    pub fn scripts_dir(&self) -> &Path {
        &self.scripts
    }

    /// The bed's state directory (`/var/lib/testbed` or `$TB_ROOT`).
    pub fn state_dir(&self) -> &Path {
        &self.root
    }

    /// The host with this index (whether or not it runs). Panics when `index` is not
    /// in `1..=60`: that is a bug in the calling test.
    pub fn host(&self, index: u32) -> Host {
        Host::from_index(index)
    }

    /// Bring the hosts up (idempotent: running hosts are left alone, even when they
    /// run in the other mode; a frozen one is thawed) and wait until each accepts an
    /// ssh login. Returns them in the order given.
    ///
    /// `Err(Unavailable)` when the bed cannot run here (not root, tools missing);
    /// `Err(Script)` when it can but a host did not come up.
    pub fn up(&self, indices: &[u32], mode: Mode) -> Result<Vec<Host>, TestbedError> {
        if indices.is_empty() {
            return Ok(Vec::new());
        }
        self.check_available(mode)?;
        let spec = hostspec(indices);
        self.run("up.sh", &["--mode", mode.as_str(), &spec])?;
        Ok(indices.iter().map(|&i| Host::from_index(i)).collect())
    }

    /// For tests: `Some(hosts)` once they are up. When the bed is unavailable, panics
    /// if the environment has `CI=true`; otherwise prints a loud
    /// `SKIPPED: test bed unavailable: <why>` to stderr and returns `None` (the test
    /// should then return early). Any other failure panics: the bed exists but is
    /// broken, and that must not pass silently.
    pub fn require(indices: &[u32], mode: Mode) -> Option<Vec<Host>> {
        match Testbed::new().up(indices, mode) {
            Ok(hosts) => Some(hosts),
            Err(TestbedError::Unavailable(why)) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("test bed unavailable in CI (CI=true): {why}");
                }
                // Written to the real stderr, not with eprintln!: libtest captures
                // the print macros of passing tests, and a skip must not be quiet.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n************************************************************\n\
                     SKIPPED: test bed unavailable: {why}\n\
                     (run the tests as root after `tests/testbed/setup.sh`)\n\
                     ************************************************************"
                );
                None
            }
            Err(e) => panic!("test bed failed to bring up hosts {indices:?}: {e}"),
        }
    }

    /// Stop these hosts and remove their state (network, overlay, cgroups,
    /// known_hosts lines). Idempotent. When no host is left running, the bridge and
    /// its iptables rule go too. An empty slice does nothing (use
    /// [`Testbed::down_all`] for everything).
    pub fn down(&self, indices: &[u32]) -> Result<(), TestbedError> {
        if indices.is_empty() {
            return Ok(());
        }
        self.check_root()?;
        self.run("down.sh", &[&hostspec(indices)]).map(drop)
    }

    /// Stop every host and remove everything the bed set up (`down.sh --all`).
    pub fn down_all(&self) -> Result<(), TestbedError> {
        self.check_root()?;
        self.run("down.sh", &["--all"]).map(drop)
    }

    /// The default client key: ed25519 without passphrase.
    pub fn client_key(&self) -> PathBuf {
        self.root.join("ssh/id_ed25519")
    }

    /// An RSA (3072 bit) client key without passphrase.
    pub fn client_key_rsa(&self) -> PathBuf {
        self.root.join("ssh/id_rsa")
    }

    /// An ECDSA (P-256) client key without passphrase.
    pub fn client_key_ecdsa(&self) -> PathBuf {
        self.root.join("ssh/id_ecdsa")
    }

    /// An ed25519 client key (OpenSSH format) protected by a passphrase, and that
    /// passphrase (`tbphrase`).
    pub fn client_key_with_passphrase(&self) -> (PathBuf, &'static str) {
        (self.root.join("ssh/id_ed25519_passphrase"), "tbphrase")
    }

    /// The known_hosts file with the running hosts' real ed25519 keys.
    pub fn known_hosts(&self) -> PathBuf {
        self.root.join("ssh/known_hosts")
    }

    /// The machine's own address on the bridge (`10.250.0.1`).
    pub fn bridge_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 250, 0, 1)
    }

    /// Run `script args...` from the scripts dir with `TB_ROOT` set; `Err(Script)`
    /// unless it exits 0.
    pub(crate) fn run(&self, script: &str, args: &[&str]) -> Result<Output, TestbedError> {
        let path = self.scripts.join(script);
        let out = Command::new("bash")
            .arg(&path)
            .args(args)
            .env("TB_ROOT", &self.root)
            .env("PATH", path_with_sbin())
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            return Ok(out);
        }
        Err(TestbedError::Script {
            cmd: format!("{script} {}", args.join(" ")),
            status: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    pub(crate) fn check_root(&self) -> Result<(), TestbedError> {
        if !self.scripts.join("up.sh").is_file() {
            return Err(TestbedError::Unavailable(format!(
                "scripts not found in {}",
                self.scripts.display()
            )));
        }
        match effective_uid() {
            Some(0) => Ok(()),
            Some(uid) => Err(TestbedError::Unavailable(format!(
                "needs root (running as uid {uid})"
            ))),
            None => Err(TestbedError::Unavailable(
                "cannot tell the effective uid (/proc/self/status)".into(),
            )),
        }
    }

    fn check_available(&self, mode: Mode) -> Result<(), TestbedError> {
        self.check_root()?;
        let mut tools = vec![
            "bash",
            "ip",
            "iptables",
            "unshare",
            "nsenter",
            "flock",
            "setsid",
            "mount",
            "mountpoint",
            "ssh",
            "ssh-keygen",
            "ssh-keyscan",
        ];
        if mode == Mode::Systemd {
            tools.push("systemd-nspawn");
        }
        if !self.root.join("rootfs/usr").is_dir() {
            tools.push("mmdebstrap");
        }
        let path = path_with_sbin();
        let missing: Vec<&str> = tools
            .into_iter()
            .filter(|t| !std::env::split_paths(&path).any(|d| d.join(t).is_file()))
            .collect();
        if !missing.is_empty() {
            return Err(TestbedError::Unavailable(format!(
                "missing tools: {} (run tests/testbed/setup.sh)",
                missing.join(", ")
            )));
        }
        if !Path::new("/sys/fs/cgroup").is_dir() {
            return Err(TestbedError::Unavailable("no /sys/fs/cgroup".into()));
        }
        Ok(())
    }
}

/// `[5, 7, 9]` -> `"5,7,9"` (up.sh/down.sh validate the range).
fn hostspec(indices: &[u32]) -> String {
    indices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `$PATH` plus the sbin directories (the scripts call `ip`, `iptables`, ...).
fn path_with_sbin() -> OsString {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !dirs.iter().any(|x| x == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| OsString::from("/usr/sbin:/usr/bin:/sbin:/bin"))
}

/// The effective uid, from the `Uid:` line of /proc/self/status (real, effective,
/// saved, fs).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostspec_joins() {
        assert_eq!(hostspec(&[5, 7, 9]), "5,7,9");
        assert_eq!(hostspec(&[3]), "3");
    }

    #[test]
    fn paths_and_addresses() {
        let tb = Testbed::new();
        assert!(tb.scripts_dir().ends_with("testbed"));
        assert_eq!(tb.bridge_ip(), Ipv4Addr::new(10, 250, 0, 1));
        assert!(tb.client_key().ends_with("ssh/id_ed25519"));
        assert_eq!(tb.client_key_with_passphrase().1, "tbphrase");
        let h = tb.host(7);
        assert_eq!(h.name, "tb7");
        assert_eq!(h.ip, Ipv4Addr::new(10, 250, 0, 17));
        assert_eq!(h.port, 22);
    }

    #[test]
    fn uid_is_readable() {
        assert!(effective_uid().is_some());
    }
}
