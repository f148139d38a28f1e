//! Commands to run and their results.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{ExecError, ExitStatus, one_line, short_command};

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives output chunks as they arrive (called on the connection's worker thread; keep it
/// cheap, e.g. forward into a channel).
pub type OutputSink = Arc<dyn Fn(StreamKind, &[u8]) + Send + Sync>;

/// A shell command line to run on a host (through the login user's shell).
#[derive(Clone)]
pub struct Command {
    /// The command line (a shell script).
    pub script: String,
    /// Variables exported before the script (`export K='v'; ...`).
    pub env: Vec<(String, String)>,
    /// Bytes written to the command's stdin (then EOF), before any output is read: keep
    /// it well under the channel window (2 MiB) or a chatty command can stall until the
    /// timeout. Use [`crate::HostHandle::put_file`] for data.
    pub stdin: Option<Vec<u8>>,
    /// Overall timeout; `None` uses the executor's `command_timeout`.
    pub timeout: Option<Duration>,
    /// Override the host's become setting (`Some(false)` runs as the login user).
    pub sudo: Option<bool>,
    /// Streaming output callback.
    pub sink: Option<OutputSink>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("script", &self.script)
            .field("env", &self.env)
            .field("stdin_len", &self.stdin.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .field("sudo", &self.sudo)
            .finish_non_exhaustive()
    }
}

impl Command {
    /// A command line.
    pub fn new(script: impl Into<String>) -> Self {
        Command {
            script: script.into(),
            env: Vec::new(),
            stdin: None,
            timeout: None,
            sudo: None,
            sink: None,
        }
    }
    /// Export `key=value` before running.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Feed `data` on stdin.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }
    /// Set the timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    /// Force (`true`) or skip (`false`) sudo for this command.
    pub fn sudo(mut self, on: bool) -> Self {
        self.sudo = Some(on);
        self
    }
    /// Stream output chunks to `sink`.
    pub fn on_output(mut self, sink: OutputSink) -> Self {
        self.sink = Some(sink);
        self
    }
}

/// Result of a command that ran to completion (any exit status).
#[derive(Debug, Clone)]
pub struct CommandOutput {
    /// The host's name.
    pub host: String,
    /// The command as given (without env/sudo wrapping).
    pub command: String,
    /// How it ended.
    pub status: ExitStatus,
    /// The last `capture_limit` bytes of stdout.
    pub stdout: Vec<u8>,
    /// The last `capture_limit` bytes of stderr.
    pub stderr: Vec<u8>,
    /// Bytes of stdout dropped from the front because of the limit.
    pub stdout_dropped: u64,
    /// Bytes of stderr dropped from the front because of the limit.
    pub stderr_dropped: u64,
    /// Wall time on the remote channel.
    pub duration: Duration,
}

impl CommandOutput {
    /// stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr as (lossy) UTF-8.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// True on exit status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }
    /// `Ok(self)` on success, else [`ExecError::CommandFailed`] with the stderr tail
    /// (stdout tail when stderr is empty).
    pub fn check(self) -> Result<CommandOutput, ExecError> {
        if self.success() {
            return Ok(self);
        }
        let src = if self.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
            &self.stderr
        } else {
            &self.stdout
        };
        let text = String::from_utf8_lossy(tail_slice(src, 4096));
        Err(ExecError::CommandFailed {
            host: self.host.clone(),
            command: short_command(&self.command),
            status: self.status.clone(),
            stderr_tail: one_line(&text, 300),
        })
    }
}

fn tail_slice(b: &[u8], n: usize) -> &[u8] {
    &b[b.len().saturating_sub(n)..]
}

/// Keeps the last `limit` bytes written to it (constant memory).
#[derive(Debug)]
pub(crate) struct TailBuffer {
    buf: VecDeque<u8>,
    limit: usize,
    dropped: u64,
}

impl TailBuffer {
    pub(crate) fn new(limit: usize) -> Self {
        TailBuffer {
            buf: VecDeque::new(),
            limit,
            dropped: 0,
        }
    }
    pub(crate) fn push(&mut self, data: &[u8]) {
        let data = if data.len() > self.limit {
            self.dropped += (data.len() - self.limit) as u64;
            &data[data.len() - self.limit..]
        } else {
            data
        };
        let overflow = (self.buf.len() + data.len()).saturating_sub(self.limit);
        if overflow > 0 {
            self.buf.drain(..overflow);
            self.dropped += overflow as u64;
        }
        self.buf.extend(data);
    }
    pub(crate) fn into_parts(self) -> (Vec<u8>, u64) {
        (self.buf.into(), self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_buffer_keeps_last_bytes() {
        let mut t = TailBuffer::new(5);
        t.push(b"abc");
        t.push(b"defg");
        t.push(b"");
        let (b, d) = t.into_parts();
        assert_eq!(b, b"cdefg");
        assert_eq!(d, 2);
        let mut t = TailBuffer::new(3);
        t.push(b"0123456789");
        assert_eq!(t.into_parts(), (b"789".to_vec(), 7));
    }

    #[test]
    fn check_reports_stderr_tail() {
        let out = CommandOutput {
            host: "h1".into(),
            command: "make".into(),
            status: ExitStatus::Code(2),
            stdout: b"building\n".to_vec(),
            stderr: b"error: x\nerror: y\n".to_vec(),
            stdout_dropped: 0,
            stderr_dropped: 0,
            duration: Duration::ZERO,
        };
        let e = out.check().unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("h1") && s.contains("make") && s.contains("error: y"),
            "{s}"
        );
    }
}
