//! The one error type of the executor.
//!
//! Invariant: every `Display` is a single line that names the host, says what went wrong
//! and what the operator should do next. Secrets (passwords, passphrases) never appear.

use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for results of this crate.
pub type Result<T, E = ExecError> = std::result::Result<T, E>;

/// Everything that can go wrong while talking to a host.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// TCP connect or SSH handshake failed (host down, wrong address/port, no sshd).
    #[error(
        "{host}: cannot reach {addr}: {reason}; check that the host is up and that ansible_host/ansible_port are right"
    )]
    Unreachable {
        host: String,
        addr: String,
        reason: String,
    },
    /// The server refused every authentication method we tried.
    #[error(
        "{host}: authentication as '{user}' refused (tried: {}){}; check the user, key (ansible_ssh_private_key_file) or password (ansible_ssh_pass)",
        methods_tried.join(", "),
        detail_suffix(detail)
    )]
    AuthRefused {
        host: String,
        user: String,
        methods_tried: Vec<String>,
        detail: String,
    },
    /// The host key is in no known_hosts file and new keys are not accepted.
    #[error(
        "{host}: unknown host key {fingerprint}; verify it out of band, then add it to {known_hosts} (or re-run with accept_new_host_keys / --accept-new-host-keys)"
    )]
    UnknownHostKey {
        host: String,
        fingerprint: String,
        known_hosts: String,
    },
    /// The host presented a key different from the recorded one. Never accepted automatically.
    #[error(
        "{host}: HOST KEY CHANGED: expected {expected}, got {actual}; possible man-in-the-middle, or the host was reinstalled: verify, then remove the old entry from {known_hosts}"
    )]
    HostKeyChanged {
        host: String,
        expected: String,
        actual: String,
        known_hosts: String,
    },
    /// An operation did not finish in time; the connection was dropped.
    #[error(
        "{host}: '{command}' timed out after {after:?}; the connection was dropped: check whether the host is overloaded or frozen, or raise the timeout"
    )]
    Timeout {
        host: String,
        command: String,
        after: Duration,
    },
    /// The remote command ran and exited non-zero (or was killed by a signal).
    #[error(
        "{host}: '{command}' failed with {status}{}; fix the cause on the host and re-run",
        stderr_suffix(stderr_tail)
    )]
    CommandFailed {
        host: String,
        command: String,
        status: ExitStatus,
        stderr_tail: String,
    },
    /// The connection broke (peer closed, link cut, keepalives unanswered).
    #[error(
        "{host}: connection lost during '{command}': {reason}; check the host and the network, then re-run (the step may have partly run)"
    )]
    ConnectionLost {
        host: String,
        command: String,
        reason: String,
    },
    /// A file transfer failed; the destination was left untouched.
    #[error(
        "{host}: transfer of {path} failed: {reason}; the destination was not modified, fix the cause and re-run"
    )]
    Transfer {
        host: String,
        path: String,
        reason: String,
    },
    /// `sudo` refused to run (missing/wrong become password, user not in sudoers).
    #[error(
        "{host}: sudo as '{user}' failed: {reason}; set ansible_become_pass or allow the user in sudoers"
    )]
    BecomeFailed {
        host: String,
        user: String,
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{host}: local I/O error on {}: {source}; check the path and permissions", path.display())]
    Io {
        host: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A protocol-level libssh2 failure that fits no other variant.
    #[error(
        "{host}: ssh error during {context}: {message}; re-run with RUST_LOG=ez_executor=debug for details"
    )]
    Ssh {
        host: String,
        context: String,
        message: String,
    },
    /// The host definition or a request is invalid (bad port, bad env name, ...).
    #[error("{host}: invalid {what}: {reason}; fix the inventory or the call")]
    Invalid {
        host: String,
        what: String,
        reason: String,
    },
    /// The operation was cancelled (fail-fast fan-out, caller dropped the future).
    #[error("{host}: '{command}' cancelled because another host failed")]
    Cancelled { host: String, command: String },
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// Normal exit with this code.
    Code(i32),
    /// Killed by this signal (name as sent by sshd, e.g. `KILL`).
    Signal(String),
}

impl ExitStatus {
    /// True for `Code(0)`.
    pub fn success(&self) -> bool {
        matches!(self, ExitStatus::Code(0))
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit status {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

fn stderr_suffix(tail: &str) -> String {
    let one_line = one_line(tail, 300);
    if one_line.is_empty() {
        String::new()
    } else {
        format!(", stderr: {one_line}")
    }
}

/// Collapse text to one line (newlines shown as ` | `), keeping at most `max` trailing chars.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let joined = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    let count = joined.chars().count();
    if count <= max {
        joined
    } else {
        let skip = count - max;
        format!("…{}", joined.chars().skip(skip).collect::<String>())
    }
}

/// Shorten a command for messages (first line, at most 120 chars).
pub(crate) fn short_command(cmd: &str) -> String {
    let first = cmd.lines().next().unwrap_or("");
    let mut s: String = first.chars().take(120).collect();
    if first.chars().count() > 120 || cmd.lines().nth(1).is_some() {
        s.push('…');
    }
    s
}

impl ExecError {
    /// The host this error is about.
    pub fn host(&self) -> &str {
        match self {
            ExecError::Unreachable { host, .. }
            | ExecError::AuthRefused { host, .. }
            | ExecError::UnknownHostKey { host, .. }
            | ExecError::HostKeyChanged { host, .. }
            | ExecError::Timeout { host, .. }
            | ExecError::CommandFailed { host, .. }
            | ExecError::ConnectionLost { host, .. }
            | ExecError::Transfer { host, .. }
            | ExecError::BecomeFailed { host, .. }
            | ExecError::Io { host, .. }
            | ExecError::Ssh { host, .. }
            | ExecError::Invalid { host, .. }
            | ExecError::Cancelled { host, .. } => host,
        }
    }

    /// What went wrong, without the host: equal for hosts that failed the same way (the same
    /// refusal, the same unreachable reason), `None` for errors that are each their own.
    pub fn same_cause_key(&self) -> Option<String> {
        match self {
            ExecError::Unreachable { reason, .. } => Some(format!("unreachable: {reason}")),
            ExecError::AuthRefused {
                user,
                methods_tried,
                detail,
                ..
            } => Some(format!("auth {user} {methods_tried:?} {detail}")),
            ExecError::UnknownHostKey { known_hosts, .. } => {
                Some(format!("unknown host key {known_hosts}"))
            }
            ExecError::BecomeFailed { user, reason, .. } => {
                Some(format!("become {user}: {reason}"))
            }
            ExecError::Timeout { command, after, .. } => {
                Some(format!("timeout {command} {after:?}"))
            }
            _ => None,
        }
    }

    /// Errors after which a reconnect may help (used by the retry loop).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ExecError::Unreachable { .. }
                | ExecError::ConnectionLost { .. }
                | ExecError::Timeout { .. }
                | ExecError::Ssh { .. }
        )
    }

    /// Errors after which the SSH session must not be reused.
    pub(crate) fn poisons_session(&self) -> bool {
        matches!(
            self,
            ExecError::ConnectionLost { .. }
                | ExecError::Timeout { .. }
                | ExecError::Ssh { .. }
                | ExecError::Cancelled { .. }
        )
    }
}

/// libssh2 error codes we classify (from libssh2.h).
pub(crate) mod code {
    pub const SOCKET_SEND: i32 = -7;
    pub const TIMEOUT: i32 = -9;
    pub const SOCKET_DISCONNECT: i32 = -13;
    pub const FILE: i32 = -16;
    pub const SOCKET_TIMEOUT: i32 = -30;
    pub const SOCKET_RECV: i32 = -43;
    pub const BANNER_RECV: i32 = -2;
    pub const KEX_FAILURE: i32 = -5;
}

/// Map a libssh2 error that happened while doing `context` on `host`.
pub(crate) fn from_ssh(host: &str, context: &str, after: Duration, e: &ssh2::Error) -> ExecError {
    match e.code() {
        ssh2::ErrorCode::Session(code::TIMEOUT)
        | ssh2::ErrorCode::Session(code::SOCKET_TIMEOUT) => ExecError::Timeout {
            host: host.to_string(),
            command: short_command(context),
            after,
        },
        ssh2::ErrorCode::Session(code::SOCKET_SEND)
        | ssh2::ErrorCode::Session(code::SOCKET_RECV)
        | ssh2::ErrorCode::Session(code::SOCKET_DISCONNECT)
        | ssh2::ErrorCode::Session(code::BANNER_RECV) => ExecError::ConnectionLost {
            host: host.to_string(),
            command: short_command(context),
            reason: e.message().to_string(),
        },
        _ => ExecError::Ssh {
            host: host.to_string(),
            context: short_command(context),
            message: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_name_host() {
        let errs = vec![
            ExecError::AuthRefused {
                host: "10.0.0.1".into(),
                user: "root".into(),
                methods_tried: vec!["publickey /k".into(), "password".into()],
                detail: String::new(),
            },
            ExecError::CommandFailed {
                host: "10.0.0.1".into(),
                command: "false".into(),
                status: ExitStatus::Code(1),
                stderr_tail: "line1\nline2\n".into(),
            },
            ExecError::HostKeyChanged {
                host: "10.0.0.1".into(),
                expected: "SHA256:aaa".into(),
                actual: "SHA256:bbb".into(),
                known_hosts: "/k".into(),
            },
        ];
        for e in errs {
            let s = e.to_string();
            assert!(!s.contains('\n'), "{s}");
            assert!(s.starts_with("10.0.0.1: "), "{s}");
        }
    }

    #[test]
    fn command_failed_shows_stderr_tail() {
        let e = ExecError::CommandFailed {
            host: "h".into(),
            command: "ls /nope".into(),
            status: ExitStatus::Code(2),
            stderr_tail: "ls: cannot access '/nope'\n".into(),
        };
        let s = e.to_string();
        assert!(s.contains("exit status 2"));
        assert!(s.contains("cannot access"));
    }

    #[test]
    fn key_changed_names_both_fingerprints() {
        let e = ExecError::HostKeyChanged {
            host: "h".into(),
            expected: "SHA256:old".into(),
            actual: "SHA256:new".into(),
            known_hosts: "kh".into(),
        };
        let s = e.to_string();
        assert!(s.contains("SHA256:old") && s.contains("SHA256:new"));
    }

    #[test]
    fn one_line_keeps_tail() {
        assert_eq!(one_line("a\nb\n\nc", 100), "a | b | c");
        assert_eq!(one_line("abcdef", 3), "…def");
        assert_eq!(short_command("echo hi\necho there"), "echo hi…");
    }
}
