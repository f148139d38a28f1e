//! Executor-wide settings.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Asks the operator for a key passphrase (e.g. an interactive tty prompt).
/// Called on a connection's worker thread; `None` means "no passphrase available".
pub type PassphrasePrompt = Arc<dyn Fn(&Path) -> Option<String> + Send + Sync>;

/// How file contents are streamed to hosts.
///
/// All three are measured in `bench/ssh-bench.sh` (see `docs/en/benchmarks-ssh.md`). The
/// default is `Stdin`: the content goes on the stdin of the very command that checks and
/// places the file, so a file costs one channel and one round trip, and the host needs
/// nothing beyond `cat`, `stat`, `chmod` and `mv`. SCP and SFTP need a second command to
/// place the file; libssh2's SFTP writer also waits for acknowledgements of 30000-byte packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMethod {
    /// The placing command's stdin (`cat > tmp`).
    Stdin,
    /// `scp -t` sink on the remote side (needs the `scp` binary there).
    Scp,
    /// The SFTP subsystem.
    Sftp,
}

/// Settings shared by all connections of one [`crate::Executor`].
#[derive(Clone)]
pub struct ExecutorConfig {
    /// TCP connect timeout and SSH handshake/auth budget (default 10 s).
    pub connect_timeout: Duration,
    /// Upper bound for any single blocking libssh2 call (default 30 s). A frozen host or
    /// a cut link therefore ends with an error, never a hang.
    pub io_timeout: Duration,
    /// Default timeout of a command when [`crate::Command::timeout`] is unset (default 1 h).
    pub command_timeout: Duration,
    /// Keepalive interval (default 5 s).
    pub keepalive_interval: Duration,
    /// Consecutive keepalive intervals without any traffic from the peer after which the
    /// connection is declared lost (default 3, like OpenSSH `ServerAliveCountMax`).
    pub keepalive_max_missed: u32,
    /// Connect attempts after the first one (default 3), with exponential backoff.
    pub connect_retries: u32,
    /// First backoff delay (default 500 ms); doubles each retry, capped at 8 s, with jitter.
    pub retry_backoff: Duration,
    /// Default concurrency for [`crate::fan_out`] (default 30).
    pub forks: usize,
    /// The user's known_hosts (default `~/.ssh/known_hosts`); `None` disables it.
    pub user_known_hosts: Option<PathBuf>,
    /// The cluster-local known_hosts file (e.g. `clusters/<c>/known_hosts`). New keys are
    /// appended here when `accept_new_host_keys` is set.
    pub cluster_known_hosts: Option<PathBuf>,
    /// Accept (and record) keys of hosts not yet known. Changed keys are always refused.
    pub accept_new_host_keys: bool,
    /// Environment variable holding the key passphrase (default `EZ_SSH_KEY_PASSPHRASE`).
    pub passphrase_env: String,
    /// Fallback when the env var is unset.
    pub passphrase_prompt: Option<PassphrasePrompt>,
    /// Try ssh-agent identities (when `SSH_AUTH_SOCK` is set; default true).
    pub use_agent: bool,
    /// Try `~/.ssh/id_{ed25519,ecdsa,rsa}` when a host names no key (default true).
    pub use_default_keys: bool,
    /// Upload method (default [`TransferMethod::Stdin`]).
    pub transfer: TransferMethod,
    /// Write buffer for uploads (default 1 MiB).
    pub transfer_buffer: usize,
    /// Bytes of stdout/stderr kept per command (the tail; default 8 MiB each).
    pub capture_limit: usize,
    /// Cipher preference (libssh2 method list). chacha20-poly1305 first: it costs the deploy
    /// host the least CPU per byte sent (bench/transfer-cpu.sh: ~3.2 CPU-s/GB against ~3.85
    /// for AES-GCM, which libssh2 feeds to OpenSSL 16 bytes at a time, off its fast path);
    /// AES-GCM next for servers without it (see docs/en/benchmarks-ssh.md).
    pub ciphers: String,
}

impl fmt::Debug for ExecutorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_max_missed", &self.keepalive_max_missed)
            .field("connect_retries", &self.connect_retries)
            .field("forks", &self.forks)
            .field("user_known_hosts", &self.user_known_hosts)
            .field("cluster_known_hosts", &self.cluster_known_hosts)
            .field("accept_new_host_keys", &self.accept_new_host_keys)
            .field("transfer", &self.transfer)
            .field("ciphers", &self.ciphers)
            .finish_non_exhaustive()
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(3600),
            keepalive_interval: Duration::from_secs(5),
            keepalive_max_missed: 3,
            connect_retries: 3,
            retry_backoff: Duration::from_millis(500),
            forks: 30,
            user_known_hosts: std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".ssh").join("known_hosts")),
            cluster_known_hosts: None,
            accept_new_host_keys: false,
            passphrase_env: "EZ_SSH_KEY_PASSPHRASE".into(),
            passphrase_prompt: None,
            use_agent: true,
            use_default_keys: true,
            transfer: TransferMethod::Stdin,
            transfer_buffer: 1 << 20,
            capture_limit: 8 << 20,
            ciphers: "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr".into(),
        }
    }
}

impl ExecutorConfig {
    /// How long the peer may stay silent before the connection is declared lost.
    pub fn dead_peer_after(&self) -> Duration {
        self.keepalive_interval * (self.keepalive_max_missed.max(1) + 1)
    }

    /// Backoff before retry number `attempt` (0-based), without jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(16);
        (self.retry_backoff * factor).min(Duration::from_secs(8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = ExecutorConfig::default();
        assert_eq!(c.backoff(0), Duration::from_millis(500));
        assert_eq!(c.backoff(1), Duration::from_secs(1));
        assert_eq!(c.backoff(2), Duration::from_secs(2));
        assert_eq!(c.backoff(10), Duration::from_secs(8));
        assert_eq!(c.dead_peer_after(), Duration::from_secs(20));
    }
}
