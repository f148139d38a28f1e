//! File transfer: put (with sha256 skip and atomic rename); getting a file back is in `getback`.
//!
//! Put invariants:
//! * the destination is only ever replaced by `mv -f` of a complete, size-checked temporary
//!   file in the same directory, so a failure at any point leaves it untouched;
//! * temporaries are named `.<name>.ez-tmp-<random>`; a failed put removes its own (best
//!   effort, when the connection still works) and every put first removes stale ones for the
//!   same destination;
//! * memory use is one `transfer_buffer` regardless of file size;
//! * with sudo, the data goes to a private staging file in `/tmp` as the login user and is
//!   moved into place with `sudo install` + `mv`;
//! * without sudo, a file of at most [`INLINE_MAX`] bytes, and any file with
//!   [`TransferMethod::Stdin`] (the default), streams on the stdin of the very command that
//!   checks and places it: one channel instead of an SCP/SFTP channel plus a command.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ssh2::{OpenFlags, OpenType};

use crate::TransferMethod;
use crate::command::Command;
pub(crate) use crate::digest::{DigestCache, Source};
use crate::error::{ExecError, Result, from_ssh};
use crate::exec::{Ctx, ExecFailure, run_command, run_command_fed};
pub(crate) use crate::getback::{get, remote_sha256};
use crate::shell::{SudoMode, quote};

/// Where and how a file is placed on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Absolute destination path.
    pub path: String,
    /// Permission bits (e.g. `0o644`).
    pub mode: u32,
    /// `user` or `user:group`; `None` keeps the uploading user's (root with sudo).
    pub owner: Option<String>,
    /// The caller already knows the host's content differs (and that the directory exists)
    /// and gives the content's sha256: no local hashing, no comparison round trip.
    pub known_stale: Option<String>,
    /// A shell command run right after the file is in place, in the same round trip (as the
    /// placing user); its failure fails the put. When `$ez_size` is not empty, it and
    /// `$ez_mtime` are the placed file's size and mtime (`stat -c '%s %Y'`), so the command
    /// need not ask again.
    pub then: Option<String>,
}

impl RemoteFile {
    /// `path` with mode 0644 and default owner.
    pub fn new(path: impl Into<String>) -> Self {
        RemoteFile {
            path: path.into(),
            mode: 0o644,
            owner: None,
            known_stale: None,
            then: None,
        }
    }
    /// Builder: the content (whose sha256 is `sha256`) is known to differ from the host's;
    /// upload without hashing or comparing first.
    pub fn known_stale(mut self, sha256: impl Into<String>) -> Self {
        self.known_stale = Some(sha256.into());
        self
    }
    /// Builder: a command to run once the file is in place (same round trip).
    pub fn then(mut self, cmd: impl Into<String>) -> Self {
        self.then = Some(cmd.into());
        self
    }
    /// Builder: mode.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// Builder: owner (`user` or `user:group`).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }
}

/// What a put did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReport {
    /// Bytes sent over the wire (0 when the remote file already had the same sha256).
    pub transferred_bytes: u64,
    /// sha256 (hex) of the content.
    pub sha256: String,
    /// True when content, mode or owner changed on the host.
    pub changed: bool,
}

/// What a get did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetReport {
    /// Bytes received.
    pub bytes: u64,
    /// sha256 (hex) of the received content.
    pub sha256: String,
}

/// Validate an absolute remote path and split it into (dir, file name).
pub(crate) fn split_remote(host: &str, path: &str) -> Result<(String, String)> {
    let bad = |reason: &str| ExecError::Invalid {
        host: host.to_string(),
        what: format!("remote path '{path}'"),
        reason: reason.to_string(),
    };
    if !path.starts_with('/') {
        return Err(bad("must be absolute"));
    }
    if path.ends_with('/') || path.contains('\0') || path.contains('\n') {
        return Err(bad("must name a file (no trailing '/', NUL or newline)"));
    }
    let (dir, name) = path.rsplit_once('/').ok_or_else(|| bad("no file name"))?;
    if name == "." || name == ".." {
        return Err(bad("must name a file"));
    }
    Ok((
        if dir.is_empty() {
            "/".into()
        } else {
            dir.to_string()
        },
        name.to_string(),
    ))
}

/// `dest`'s directory and the prefix of its temporaries (`<dir>/.<name>.ez-tmp-`), once its
/// path and mode are known to be valid.
pub(crate) fn destination(host: &str, dest: &RemoteFile) -> Result<(String, String)> {
    let (dir, name) = split_remote(host, &dest.path)?;
    if dest.mode > 0o7777 {
        return Err(ExecError::Invalid {
            host: host.to_string(),
            what: "mode".into(),
            reason: format!("{:o} is not a permission mode", dest.mode),
        });
    }
    let prefix = format!("{}/.{}.ez-tmp-", dir.trim_end_matches('/'), name);
    Ok((dir, prefix))
}

/// ` && chown <owner> -- <quoted_tmp>` when `dest` names an owner, else nothing.
pub(crate) fn chown_part(dest: &RemoteFile, quoted_tmp: &str) -> String {
    dest.owner
        .as_ref()
        .map(|o| format!(" && chown {} -- {quoted_tmp}", quote(o)))
        .unwrap_or_default()
}

fn owner_parts(owner: &str) -> (&str, Option<&str>) {
    match owner.split_once(':') {
        Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
        None => (owner, None),
    }
}

/// Run a small helper script (with sudo as given) and return it checked.
pub(crate) fn helper(
    ctx: &mut Ctx<'_>,
    script: String,
    sudo: &SudoMode,
) -> Result<String, ExecFailure> {
    let t = ctx.cfg.io_timeout;
    let out = run_command(ctx, &Command::new(script), sudo, t)?;
    out.check()
        .map(|o| o.stdout_str())
        .map_err(|err| ExecFailure { err, started: true })
}

pub(crate) fn rand_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Largest file sent inline on a command's stdin (it fits in one SSH channel window, so the
/// whole input is written before any output is read).
pub const INLINE_MAX: u64 = 64 * 1024;

/// Put `src` at `dest`; see the module invariants.
pub(crate) fn put(
    ctx: &mut Ctx<'_>,
    src: &Source,
    dest: &RemoteFile,
    sudo: &SudoMode,
    method: TransferMethod,
    cache: &DigestCache,
) -> Result<PutReport, ExecFailure> {
    let host = ctx.host.to_string();
    let early = |err: ExecError| ExecFailure {
        err,
        started: false,
    };
    let (dir, stale) = destination(&host, dest).map_err(early)?;
    let (sha, size) = match &dest.known_stale {
        Some(sha) => (sha.clone(), src.len(&host).map_err(early)?),
        None => cache
            .digest(src, &host, ctx.cfg.transfer_buffer)
            .map_err(early)?,
    };
    let qp = quote(&dest.path);
    let check = format!(
        "[ -d {qd} ] || {{ echo 'directory {d} does not exist' >&2; exit 3; }}; rm -f -- {qs}* 2>/dev/null; \
         if [ -f {qp} ]; then sha256sum -- {qp} | cut -d' ' -f1; stat -c '%a %U %G' -- {qp}; else echo absent; fi",
        qd = quote(&dir),
        d = dir,
        qs = quote(&stale),
    );
    let state = if dest.known_stale.is_some() {
        String::new()
    } else {
        helper(ctx, check, sudo)?
    };
    let mut lines = state.lines();
    let remote_sha = lines.next().unwrap_or("").trim();
    let want_mode = format!("{:o}", dest.mode);
    if remote_sha == sha {
        let mut fix = Vec::new();
        let attrs = lines.next().unwrap_or("");
        let mut parts = attrs.split_whitespace();
        let (m, u, g) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if m != want_mode {
            fix.push(format!("chmod {want_mode} -- {qp}"));
        }
        if let Some(o) = &dest.owner {
            let (ou, og) = owner_parts(o);
            if ou != u || og.is_some_and(|og| og != g) {
                fix.push(format!("chown {} -- {qp}", quote(o)));
            }
        }
        let changed = !fix.is_empty();
        if changed {
            helper(ctx, fix.join(" && "), sudo)?;
        }
        return Ok(PutReport {
            transferred_bytes: 0,
            sha256: sha,
            changed,
        });
    }

    let tmp = format!("{stale}{}", rand_suffix());
    if matches!(sudo, SudoMode::None) && (size <= INLINE_MAX || method == TransferMethod::Stdin) {
        put_on_stdin(ctx, src, dest, &tmp, &stale, &want_mode, size)?;
        return Ok(PutReport {
            transferred_bytes: size,
            sha256: sha,
            changed: true,
        });
    }
    let staging = if matches!(sudo, SudoMode::None) {
        tmp.clone()
    } else {
        format!("/tmp/.ez-put-{}", rand_suffix())
    };
    let sent = match upload(ctx, src, &staging, size, method) {
        Ok(n) => n,
        Err(f) => {
            if !f.err.poisons_session() {
                let _ = helper(
                    ctx,
                    format!("rm -f -- {}", quote(&staging)),
                    &SudoMode::None,
                );
            }
            return Err(f);
        }
    };
    let (qt, qs) = (quote(&tmp), quote(&staging));
    let after = after_placing(dest, &stale);
    let size_check = format!(
        "{}[ \"$ez_size\" = {size} ] || {{ echo 'size mismatch after upload' >&2; rm -f -- {qs}; exit 3; }}",
        size_vars(&qs)
    );
    let finalize = if matches!(sudo, SudoMode::None) {
        let chown = chown_part(dest, &qt);
        format!(
            "{size_check}; chmod {want_mode} -- {qt}{chown} && mv -f -- {qt} {qp}; rc=$?; rm -f -- {qt}{after}; exit $rc"
        )
    } else {
        let own = dest
            .owner
            .as_deref()
            .map(owner_parts)
            .map(|(u, g)| {
                let mut s = format!(" -o {}", quote(u));
                if let Some(g) = g {
                    s.push_str(&format!(" -g {}", quote(g)));
                }
                s
            })
            .unwrap_or_default();
        format!(
            "{size_check}; install -m {want_mode}{own} -- {qs} {qt} && mv -f -- {qt} {qp}; rc=$?; ez_size= ez_mtime=; rm -f -- {qs} {qt}{after}; exit $rc"
        )
    };
    if let Err(f) = helper(ctx, finalize, sudo) {
        if !f.err.poisons_session() {
            let _ = helper(ctx, format!("rm -f -- {qs} {qt}"), sudo);
        }
        return Err(ExecFailure {
            err: placing_failed(f.err, &dest.path),
            started: true,
        });
    }
    Ok(PutReport {
        transferred_bytes: sent,
        sha256: sha,
        changed: true,
    })
}

/// Places a file with one command: its content streams on the command's stdin into `tmp`
/// (0600 while incomplete), which is size-checked, given its mode and owner and renamed over
/// the destination, then the caller's `then` runs. Any failure removes `tmp`. One channel per
/// file, no `scp` process on the host, no second round trip to finish.
fn put_on_stdin(
    ctx: &mut Ctx<'_>,
    src: &Source,
    dest: &RemoteFile,
    tmp: &str,
    stale: &str,
    mode: &str,
    size: u64,
) -> Result<(), ExecFailure> {
    let (qt, qp) = (quote(tmp), quote(&dest.path));
    let chown = chown_part(dest, &qt);
    let after = after_placing(dest, stale);
    // Four processes per file (cat, stat, chmod, mv): `then` reuses the size and mtime read
    // for the size check (a rename keeps both).
    let script = format!(
        "umask 077; cat > {qt} || {{ rm -f -- {qt}; exit 3; }}; {SIZE_CHECK_VARS}\
         [ \"$ez_size\" = {size} ] || {{ echo 'size mismatch after upload' >&2; rm -f -- {qt}; exit 3; }}; \
         chmod {mode} -- {qt}{chown} && mv -f -- {qt} {qp} || {{ rc=$?; rm -f -- {qt}; exit $rc; }}; rc=0{after}; exit $rc",
        SIZE_CHECK_VARS = size_vars(&qt),
    );
    let out = stream_into(ctx, src, &dest.path, size, script, &SudoMode::None)?;
    out.check().map(|_| ()).map_err(|e| ExecFailure {
        err: placing_failed(e, &dest.path),
        started: true,
    })
}

/// Runs `script` with `src` (`size` bytes) streamed on its stdin; `remote` names the target
/// in errors. The command may run as long as the executor's `command_timeout`; every write is
/// bounded by `io_timeout`.
fn stream_into(
    ctx: &mut Ctx<'_>,
    src: &Source,
    remote: &str,
    size: u64,
    script: String,
    sudo: &SudoMode,
) -> Result<crate::command::CommandOutput, ExecFailure> {
    let host = ctx.host.to_string();
    let mut reader = src.open(&host).map_err(|err| ExecFailure {
        err,
        started: false,
    })?;
    let mut pump = Pump::new(ctx, src, remote);
    let mut feed = |w: &mut dyn Write| pump.run(&mut reader, w, size).map(|_| ());
    let t = ctx.cfg.command_timeout;
    run_command_fed(ctx, &Command::new(script), sudo, t, Some(&mut feed))
}

/// A failed placing command, as a transfer error about `path` with the command's stderr.
pub(crate) fn placing_failed(err: ExecError, path: &str) -> ExecError {
    match err {
        ExecError::CommandFailed {
            host, stderr_tail, ..
        } => ExecError::Transfer {
            host,
            path: path.to_string(),
            reason: format!("placing the file failed: {stderr_tail}"),
        },
        other => other,
    }
}

/// Shell that sets `$ez_size` and `$ez_mtime` from the file `quoted_tmp` (one `stat`).
pub(crate) fn size_vars(quoted_tmp: &str) -> String {
    format!(
        "set -- $(stat -c '%s %Y' -- {quoted_tmp} 2>/dev/null); ez_size=${{1:-}} ez_mtime=${{2:-}}; "
    )
}

/// What the placing shell runs after the rename (`$rc` is its status): leftovers of
/// interrupted uploads removed (a put that skipped the comparison step, which removes them
/// otherwise; no process unless there are some), then the caller's command.
pub(crate) fn after_placing(dest: &RemoteFile, stale: &str) -> String {
    let mut after = String::new();
    if dest.known_stale.is_some() {
        after.push_str(&format!("; [ $rc = 0 ] && {}", remove_leftovers(stale)));
    }
    after.push_str(&then_part(dest));
    after
}

/// Shell removing leftovers of interrupted uploads (`<stale>*`); no process unless some exist.
pub(crate) fn remove_leftovers(stale: &str) -> String {
    format!(
        "for f in {}*; do [ -e \"$f\" ] && rm -f -- \"$f\" 2>/dev/null; done",
        quote(stale)
    )
}

/// The caller's command after the rename (`$rc` is the rename's status), or nothing.
pub(crate) fn then_part(dest: &RemoteFile) -> String {
    let mut after = String::new();
    if let Some(cmd) = &dest.then {
        after.push_str(&format!("; [ $rc = 0 ] && {{ {cmd}\n}}; rc=$?"));
    }
    after
}

/// Stream `src` (`size` bytes) to `remote` with mode 0600; returns bytes sent.
fn upload(
    ctx: &mut Ctx<'_>,
    src: &Source,
    remote: &str,
    size: u64,
    method: TransferMethod,
) -> Result<u64, ExecFailure> {
    if method == TransferMethod::Stdin {
        let script = format!("umask 077; cat > {}", quote(remote));
        let out = stream_into(ctx, src, remote, size, script, &SudoMode::None)?;
        return out.check().map(|_| size).map_err(|err| ExecFailure {
            err: placing_failed(err, remote),
            started: true,
        });
    }
    let host = ctx.host.to_string();
    let display = format!("upload to {remote}");
    let io_t = ctx.cfg.io_timeout;
    let sess = &ctx.conn.sess;
    sess.set_blocking(true);
    sess.set_timeout(crate::connect::bounded_ms(ctx.cfg, io_t));
    let ssh_fail = |e: &ssh2::Error| ExecFailure {
        err: match from_ssh(&host, &display, io_t, e) {
            ExecError::Ssh { message, .. } => ExecError::Transfer {
                host: host.clone(),
                path: remote.to_string(),
                reason: message,
            },
            other => other,
        },
        started: true,
    };
    let io_fail = |e: std::io::Error| ExecFailure {
        err: match e.kind() {
            std::io::ErrorKind::TimedOut => ExecError::Timeout {
                host: host.clone(),
                command: display.clone(),
                after: io_t,
            },
            _ => ExecError::ConnectionLost {
                host: host.clone(),
                command: display.clone(),
                reason: e.to_string(),
            },
        },
        started: true,
    };
    let mut reader = src.open(&host).map_err(|err| ExecFailure {
        err,
        started: false,
    })?;
    let mut pump = Pump::new(ctx, src, remote);
    match method {
        TransferMethod::Scp => {
            let mut ch = sess
                .scp_send(Path::new(remote), 0o600, size, None)
                .map_err(|e| ssh_fail(&e))?;
            let n = pump.run(&mut reader, &mut ch, size)?;
            // The scp protocol: the source ends each file with a NUL "ok" byte; without it
            // the remote sink reports a lost connection and exits 1.
            ch.write_all(b"\0").map_err(io_fail)?;
            ch.send_eof().map_err(|e| ssh_fail(&e))?;
            ch.wait_eof().map_err(|e| ssh_fail(&e))?;
            ch.close().map_err(|e| ssh_fail(&e))?;
            ch.wait_close().map_err(|e| ssh_fail(&e))?;
            match ch.exit_status() {
                Ok(0) | Err(_) => Ok(n),
                Ok(code) => Err(ExecFailure {
                    err: ExecError::Transfer {
                        host: host.clone(),
                        path: remote.to_string(),
                        reason: format!("remote scp exited with {code}"),
                    },
                    started: true,
                }),
            }
        }
        TransferMethod::Sftp => {
            let sftp = sess.sftp().map_err(|e| ssh_fail(&e))?;
            let mut f = sftp
                .open_mode(
                    Path::new(remote),
                    OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
                    0o600,
                    OpenType::File,
                )
                .map_err(|e| ssh_fail(&e))?;
            let n = pump.run(&mut reader, &mut f, size)?;
            f.flush().map_err(io_fail)?;
            drop(f);
            drop(sftp);
            Ok(n)
        }
        TransferMethod::Stdin => unreachable!("streamed on a command's stdin above"),
    }
}

/// Copies a local source to a remote writer in `transfer_buffer` pieces, checking for
/// cancellation between pieces.
struct Pump<'a> {
    host: String,
    display: String,
    remote: String,
    what: String,
    buf: Vec<u8>,
    cancel: &'a AtomicBool,
    io_timeout: std::time::Duration,
}

impl<'a> Pump<'a> {
    fn new(ctx: &Ctx<'a>, src: &Source, remote: &str) -> Self {
        Pump {
            host: ctx.host.to_string(),
            display: format!("upload to {remote}"),
            remote: remote.to_string(),
            what: src.describe(),
            buf: vec![0u8; ctx.cfg.transfer_buffer],
            cancel: ctx.cancel,
            io_timeout: ctx.cfg.io_timeout,
        }
    }

    /// Sends exactly `size` bytes of `reader` to `w`; returns them.
    fn run(
        &mut self,
        reader: &mut dyn Read,
        w: &mut dyn Write,
        size: u64,
    ) -> Result<u64, ExecFailure> {
        let failed = |err| ExecFailure { err, started: true };
        let mut sent = 0u64;
        while sent < size {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(failed(ExecError::Cancelled {
                    host: self.host.clone(),
                    command: self.display.clone(),
                }));
            }
            let want = ((size - sent) as usize).min(self.buf.len());
            let k = reader.read(&mut self.buf[..want]).map_err(|source| {
                failed(ExecError::Io {
                    host: self.host.clone(),
                    path: self.what.clone().into(),
                    source,
                })
            })?;
            if k == 0 {
                return Err(failed(ExecError::Transfer {
                    host: self.host.clone(),
                    path: self.remote.clone(),
                    reason: "local file shrank while uploading".into(),
                }));
            }
            w.write_all(&self.buf[..k]).map_err(|e| {
                failed(match e.kind() {
                    std::io::ErrorKind::TimedOut => ExecError::Timeout {
                        host: self.host.clone(),
                        command: self.display.clone(),
                        after: self.io_timeout,
                    },
                    _ => ExecError::ConnectionLost {
                        host: self.host.clone(),
                        command: self.display.clone(),
                        reason: e.to_string(),
                    },
                })
            })?;
            sent += k as u64;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_remote_paths() {
        assert_eq!(
            split_remote("h", "/etc/x.conf").unwrap(),
            ("/etc".into(), "x.conf".into())
        );
        assert_eq!(split_remote("h", "/x").unwrap(), ("/".into(), "x".into()));
        assert!(split_remote("h", "rel/x").is_err());
        assert!(split_remote("h", "/etc/").is_err());
        assert!(split_remote("h", "/etc/..").is_err());
        assert!(split_remote("h", "/a\nb").is_err());
    }

    #[test]
    fn owner_parsing() {
        assert_eq!(owner_parts("root"), ("root", None));
        assert_eq!(owner_parts("etcd:etcd"), ("etcd", Some("etcd")));
        assert_eq!(owner_parts("u:"), ("u", None));
    }
}
