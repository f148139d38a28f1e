//! One test host and the faults a test can inflict on it.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::{MAX_HOSTS, Mode, Testbed, TestbedError};

/// Test host `tbN`. Plain data: it stays valid while the host is stopped, and each
/// method finds the bed again through [`Testbed::new`] (same `TB_ROOT`).
///
/// Invariant: `1 <= index <= 60`, `name == "tb{index}"`,
/// `ip == 10.250.0.(10 + index)`, `port == 22`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host {
    /// N in `tbN`.
    pub index: u32,
    /// `"tbN"`; also the host's hostname and its name in every host's /etc/hosts.
    pub name: String,
    /// `10.250.0.(10+N)`.
    pub ip: Ipv4Addr,
    /// sshd's port: 22.
    pub port: u16,
}

impl Host {
    /// The host with this index. Panics unless `1 <= index <= 60` (a test bug).
    pub fn from_index(index: u32) -> Host {
        assert!(
            (1..=MAX_HOSTS).contains(&index),
            "test host index {index} is outside 1..={MAX_HOSTS}"
        );
        let last = u8::try_from(10 + index).unwrap_or(u8::MAX);
        Host {
            index,
            name: format!("tb{index}"),
            ip: Ipv4Addr::new(10, 250, 0, last),
            port: 22,
        }
    }

    /// `ip:port`, e.g. for `TcpStream::connect`.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from((self.ip, self.port))
    }

    fn tb(&self, op: &str) -> Result<(), TestbedError> {
        let bed = Testbed::new();
        bed.check_root()?;
        bed.run("tb", &[op, &self.index.to_string()]).map(drop)
    }

    /// Kill the host: SIGKILL its PID 1, which ends every process in it, and wait
    /// until it is gone. Its network and files stay; [`Host::start`] boots it again.
    pub fn stop(&self) -> Result<(), TestbedError> {
        self.tb("stop")
    }

    /// Boot the host (again) and wait until it accepts ssh. A no-op when it runs
    /// (a frozen host is thawed).
    /// known_hosts gets the key it boots with.
    pub fn start(&self, mode: Mode) -> Result<(), TestbedError> {
        Testbed::new().up(&[self.index], mode).map(drop)
    }

    /// Freeze every process of the host (cgroup freezer). The kernel still completes
    /// TCP handshakes, but sshd never sends its banner: clients hang until their own
    /// timeouts. Undo with [`Host::thaw`] (also undone by stop/down).
    pub fn freeze(&self) -> Result<(), TestbedError> {
        self.tb("freeze")
    }

    /// Let a frozen host run again. A no-op when it is not frozen.
    pub fn thaw(&self) -> Result<(), TestbedError> {
        self.tb("thaw")
    }

    /// Take the host's link down (root-side veth `tbvN`): nobody can reach it; TCP
    /// connects to it time out.
    pub fn cut_link(&self) -> Result<(), TestbedError> {
        self.tb("cut")
    }

    /// Bring the host's link up again.
    pub fn restore_link(&self) -> Result<(), TestbedError> {
        self.tb("uncut")
    }

    /// Inside the host, drop all traffic from/to the machine (10.250.0.1): it stays
    /// reachable from the other test hosts only (jump-host tests).
    pub fn isolate_from_root(&self) -> Result<(), TestbedError> {
        self.tb("isolate-from-root")
    }

    /// Undo [`Host::isolate_from_root`].
    pub fn unisolate(&self) -> Result<(), TestbedError> {
        self.tb("unisolate")
    }

    /// Give the host a new ed25519 host key and restart its sshd; returns once sshd
    /// serves the new key. known_hosts is NOT updated, so strict clients now see a
    /// changed host key (until the host is stopped and started, or downed).
    pub fn rekey(&self) -> Result<(), TestbedError> {
        self.tb("rekey")
    }

    /// The host's merged root filesystem as seen from the machine
    /// (`$TB_ROOT/hosts/tbN/root`): read and write the host's files directly.
    pub fn root_path(&self) -> PathBuf {
        Testbed::new()
            .state_dir()
            .join("hosts")
            .join(&self.name)
            .join("root")
    }

    /// An OpenSSH client command for `user@host` with the bed's default key, strict
    /// host key checking against the bed's known_hosts, batch mode, a 5 s connect
    /// timeout, and no user ssh config. `extra_opts` (e.g. `["-o",
    /// "ConnectTimeout=3"]`) go first, so they win over these defaults.
    pub fn ssh_command(&self, user: &str, extra_opts: &[&str]) -> Command {
        let bed = Testbed::new();
        let mut c = Command::new("ssh");
        c.args(extra_opts)
            .arg("-F")
            .arg("/dev/null")
            .arg("-i")
            .arg(bed.client_key())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                bed.known_hosts().display()
            ));
        for o in [
            "IdentitiesOnly=yes",
            "StrictHostKeyChecking=yes",
            "BatchMode=yes",
            "ConnectTimeout=5",
            "ServerAliveInterval=5",
            "ServerAliveCountMax=3",
            "LogLevel=ERROR",
        ] {
            c.arg("-o").arg(o);
        }
        c.arg("-p")
            .arg(self.port.to_string())
            .arg(format!("{user}@{}", self.ip))
            .stdin(Stdio::null());
        c
    }

    /// Run `cmd` as root on the host over ssh (see [`Host::ssh_command`]). The
    /// output is returned whatever the exit status; `Err` only when ssh cannot start.
    pub fn ssh(&self, cmd: &str) -> Result<Output, TestbedError> {
        Ok(self.ssh_command("root", &[]).arg("--").arg(cmd).output()?)
    }

    /// Like [`Host::ssh`], as another user (`tbuser`, `tbsudo`).
    pub fn ssh_as(&self, user: &str, cmd: &str) -> Result<Output, TestbedError> {
        Ok(self.ssh_command(user, &[]).arg("--").arg(cmd).output()?)
    }

    /// Like [`Host::ssh`], with extra OpenSSH options first (they win).
    pub fn ssh_with(&self, extra_opts: &[&str], cmd: &str) -> Result<Output, TestbedError> {
        Ok(self
            .ssh_command("root", extra_opts)
            .arg("--")
            .arg(cmd)
            .output()?)
    }
}
