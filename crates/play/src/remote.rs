//! What the engine needs from a host. `ez_ops::deploy::remote::SshRemote` implements it on
//! the SSH executor for real hosts (and `RelayRemote` on top of it); tests may use a double.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

/// A boxed, sendable future (the trait must be object-safe and usable across tasks).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A finished remote command. A non-zero `status` is not an error at this level.
#[derive(Debug, Clone, Default)]
pub struct CmdResult {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CmdResult {
    pub fn ok(&self) -> bool {
        self.status == 0
    }
    /// The last lines of stderr (or stdout when stderr is empty), for error messages.
    pub fn tail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let lines: Vec<&str> = text.trim_end().lines().collect();
        let start = lines.len().saturating_sub(5);
        lines[start..].join(" | ")
    }
}

/// Where the bytes of a placed file come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a Path),
}

/// A file to place, owning its content's source (see [`Remote::put_many`]).
#[derive(Debug, Clone)]
pub struct PutItem {
    pub src: OwnedSource,
    pub dest: String,
    pub mode: u32,
    /// `user` or `user:group`, set once the file is in place.
    pub owner: Option<String>,
    pub sha256: String,
    pub then: Option<String>,
}

/// [`Source`] with owned data.
#[derive(Debug, Clone)]
pub enum OwnedSource {
    Bytes(Vec<u8>),
    File(std::path::PathBuf),
}

impl OwnedSource {
    pub fn borrowed(&self) -> Source<'_> {
        match self {
            OwnedSource::Bytes(b) => Source::Bytes(b),
            OwnedSource::File(p) => Source::File(p),
        }
    }
}

impl From<Source<'_>> for OwnedSource {
    fn from(s: Source<'_>) -> Self {
        match s {
            Source::Bytes(b) => OwnedSource::Bytes(b.to_vec()),
            Source::File(p) => OwnedSource::File(p.to_path_buf()),
        }
    }
}

/// What kind of connection-level problem a [`RemoteError`] is: decisions are made on this,
/// never on the message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteErrorKind {
    /// TCP connect or handshake failed: the host is down or the address is wrong.
    Unreachable,
    /// The login was refused (key, password, sudo).
    AuthRefused,
    /// An operation did not finish in time; the connection was dropped.
    Timeout,
    /// The connection broke during an operation.
    ConnectionLost,
    /// A file could not be placed (the destination is untouched).
    Transfer,
    /// A local file (on the deploy host) could not be read or written.
    Local,
    /// Anything else (an invalid request, a protocol error, a test double's message).
    Other,
}

/// A connection-level problem with one host, already phrased for a human (host, what
/// failed, what to do); its [`RemoteErrorKind`] is what code decides on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RemoteError {
    pub kind: RemoteErrorKind,
    pub message: String,
}

impl RemoteError {
    pub fn new(kind: RemoteErrorKind, message: impl Into<String>) -> RemoteError {
        RemoteError {
            kind,
            message: message.into(),
        }
    }
}

/// A message alone: kind [`RemoteErrorKind::Other`].
impl From<String> for RemoteError {
    fn from(message: String) -> RemoteError {
        RemoteError::new(RemoteErrorKind::Other, message)
    }
}

impl From<&str> for RemoteError {
    fn from(message: &str) -> RemoteError {
        RemoteError::new(RemoteErrorKind::Other, message)
    }
}

/// The message, for the engine's step failures (phrased for a human already).
impl From<RemoteError> for String {
    fn from(e: RemoteError) -> String {
        e.message
    }
}

/// Operations on one host. Errors are connection-level problems ([`RemoteError`]).
pub trait Remote: Send + Sync {
    /// The inventory name of the host (its address).
    fn host(&self) -> &str;
    /// Runs a shell command as root (through sudo when the inventory says so).
    fn run<'a>(
        &'a self,
        cmd: &'a str,
        timeout: Duration,
    ) -> BoxFut<'a, Result<CmdResult, RemoteError>>;
    /// Places a file (content `sha256`) atomically with `mode`, without comparing first (the
    /// engine only puts what it found different), then runs `then` in the same round trip;
    /// returns the bytes transferred. The parent directory must exist.
    fn put<'a>(
        &'a self,
        src: Source<'a>,
        dest: &'a str,
        mode: u32,
        sha256: &'a str,
        then: Option<&'a str>,
    ) -> BoxFut<'a, Result<u64, RemoteError>>;
    /// Places several files like [`Remote::put`], in order; returns the bytes transferred.
    /// A connection that can, sends them in one round trip. On an error the files before the
    /// failing one may be in place; the others are not.
    fn put_many<'a>(&'a self, items: Vec<PutItem>) -> BoxFut<'a, Result<u64, RemoteError>> {
        Box::pin(async move {
            let mut sent = 0;
            for i in &items {
                sent += self
                    .put(
                        i.src.borrowed(),
                        &i.dest,
                        i.mode,
                        &i.sha256,
                        i.then.as_deref(),
                    )
                    .await?;
                if let Some(o) = &i.owner {
                    let cmd = format!("chown {} {}", sh_quote(o), sh_quote(&i.dest));
                    let r = self.run(&cmd, Duration::from_secs(60)).await?;
                    if !r.ok() {
                        return Err(format!("{}: `{cmd}` failed: {}", self.host(), r.tail()).into());
                    }
                }
            }
            Ok(sent)
        })
    }
    /// Plan mode only: the engine would place the deploy host's file `src` (content `sha256`)
    /// at `dest`. Nothing may change on the host; a connection that distributes files in its
    /// own way (relay) reports where the file would come from. Default: nothing.
    fn planned_put<'a>(&'a self, src: &'a Path, sha256: &'a str, dest: &'a str) -> BoxFut<'a, ()> {
        let _ = (src, sha256, dest);
        Box::pin(async {})
    }
    /// Copies the host's file `src` to `dest` on the deploy host; returns the bytes copied.
    /// Connections that cannot copy files back refuse.
    fn get<'a>(&'a self, src: &'a str, dest: &'a Path) -> BoxFut<'a, Result<u64, RemoteError>> {
        let _ = dest;
        Box::pin(async move { Err(format!("{}: cannot copy {src} back", self.host()).into()) })
    }
}

/// Quotes a string for a POSIX shell (the `shlex` crate's quoting, as the executor's; a NUL
/// byte, which no shell word can hold, is dropped).
pub fn sh_quote(s: &str) -> String {
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        Err(_) => sh_quote(&s.replace('\0', "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("/etc/hosts"), "/etc/hosts");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote(""), "''");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", sh_quote("it's a \"$x\"")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "it's a \"$x\"");
    }
}
