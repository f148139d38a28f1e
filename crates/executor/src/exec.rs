//! Running one command on an established session.
//!
//! The session is switched to non-blocking mode while output is read, and the thread sleeps
//! in `poll(2)` on the socket between reads (at most 200 ms, so cancellation and deadlines are
//! noticed promptly). Liveness: keepalives are sent every `keepalive_interval`; if nothing at
//! all arrives from the peer for `dead_peer_after()`, the connection is declared lost.
//! Every blocking call (channel open, exec, stdin) is bounded by `min(io_timeout, time left)`.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::ExecutorConfig;
use crate::command::{Command, CommandOutput, StreamKind, TailBuffer};
use crate::connect::{Conn, Keepalive, bounded_ms};
use crate::error::{ExecError, ExitStatus, from_ssh, short_command};
use crate::poll::{Want, wait};
use crate::reap;
use crate::shell::{self, SudoMode};

/// A failed exec, with whether the remote command may have started (then it is not retried).
#[derive(Debug)]
pub(crate) struct ExecFailure {
    pub err: ExecError,
    pub started: bool,
}

impl From<ExecFailure> for ExecError {
    fn from(f: ExecFailure) -> Self {
        f.err
    }
}

/// Per-call context.
pub(crate) struct Ctx<'a> {
    pub conn: &'a mut Conn,
    pub cfg: &'a ExecutorConfig,
    pub host: &'a str,
    pub cancel: &'a AtomicBool,
}

/// Receives output; an error aborts the command.
pub(crate) type Handler<'h> = dyn FnMut(StreamKind, &[u8]) -> Result<(), ExecError> + 'h;

/// Streams the rest of a command's stdin (after its in-memory pieces) into the channel, in
/// blocking mode; each write is bounded by the executor's `io_timeout`.
pub(crate) type Feed<'f> = dyn FnMut(&mut dyn Write) -> Result<(), ExecFailure> + 'f;

const READ_BUF: usize = 64 * 1024;

/// One command line for [`exec_raw`]: `cmdline` (already wrapped) as sent, `display` as the
/// caller wrote it (used in errors), the `stdin` pieces written before EOF, and `timeout`.
pub(crate) struct RawCommand<'c> {
    pub cmdline: &'c str,
    pub display: &'c str,
    pub stdin: &'c [&'c [u8]],
    pub timeout: Duration,
}

/// Run a [`RawCommand`], writing its stdin pieces then EOF, streaming output to `handler`.
/// `feed`, when given, streams more stdin after the pieces (a file of any size, without
/// holding it in memory).
pub(crate) fn exec_raw(
    ctx: &mut Ctx<'_>,
    c: RawCommand<'_>,
    feed: Option<&mut Feed<'_>>,
    handler: &mut Handler<'_>,
) -> Result<(ExitStatus, Duration), ExecFailure> {
    let RawCommand {
        cmdline,
        display,
        stdin,
        timeout,
    } = c;
    let start = Instant::now();
    let deadline = start + timeout;
    let host = ctx.host;
    let sess = &ctx.conn.sess;
    let fail = |err: ExecError, started: bool| ExecFailure { err, started };
    let timeout_err = || ExecError::Timeout {
        host: host.to_string(),
        command: short_command(display),
        after: timeout,
    };
    let left = |now: Instant| deadline.saturating_duration_since(now);

    sess.set_blocking(true);
    sess.set_timeout(bounded_ms(ctx.cfg, left(Instant::now())));
    // Opening the channel, starting the command and feeding stdin block with libssh2's
    // session timeout, at most `io_timeout`: a timeout there names that bound, not the
    // command's (an overloaded host answered nothing for `io_timeout`).
    let setup_bound = timeout.min(ctx.cfg.io_timeout);
    let mut ch = sess
        .channel_session()
        .map_err(|e| fail(from_ssh(host, display, setup_bound, &e), false))?;
    ch.exec(cmdline)
        .map_err(|e| fail(from_ssh(host, display, setup_bound, &e), false))?;
    for piece in stdin {
        sess.set_timeout(bounded_ms(ctx.cfg, left(Instant::now())));
        ch.write_all(piece).map_err(|e| {
            let err = if e.kind() == ErrorKind::TimedOut {
                timeout_err()
            } else {
                ExecError::ConnectionLost {
                    host: host.to_string(),
                    command: short_command(display),
                    reason: format!("writing stdin: {e}"),
                }
            };
            fail(err, true)
        })?;
    }
    if let Some(feed) = feed {
        sess.set_timeout(bounded_ms(ctx.cfg, left(Instant::now())));
        feed(&mut ch)?;
    }
    ch.send_eof()
        .map_err(|e| fail(from_ssh(host, display, setup_bound, &e), true))?;

    sess.set_blocking(false);
    let keepalive = Keepalive::on(sess, ctx.cfg.keepalive_interval);
    let mut buf = vec![0u8; READ_BUF];
    let mut last_rx = Instant::now();
    let dead_after = ctx.cfg.dead_peer_after();
    let lost = |reason: String| ExecError::ConnectionLost {
        host: host.to_string(),
        command: short_command(display),
        reason,
    };
    let mut closing = false;
    loop {
        if ctx.cancel.load(Ordering::SeqCst) {
            return Err(fail(
                ExecError::Cancelled {
                    host: host.to_string(),
                    command: short_command(display),
                },
                true,
            ));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(fail(timeout_err(), true));
        }
        if now.duration_since(last_rx) > dead_after {
            return Err(fail(
                lost(format!(
                    "no response from the host for {}s (keepalives unanswered)",
                    dead_after.as_secs()
                )),
                true,
            ));
        }
        let mut progress = false;
        if !closing {
            for (kind, id) in [(StreamKind::Stdout, 0), (StreamKind::Stderr, 1)] {
                loop {
                    match ch.stream(id).read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            progress = true;
                            last_rx = Instant::now();
                            handler(kind, &buf[..n]).map_err(|e| fail(e, true))?;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(fail(lost(e.to_string()), true)),
                    }
                }
            }
            if ch.eof() && !progress {
                closing = true;
            }
        }
        if closing {
            match ch.wait_close() {
                Ok(()) => break,
                Err(e) if e.code() == ssh2::ErrorCode::Session(-37) => {}
                Err(e) => return Err(fail(from_ssh(host, display, timeout, &e), true)),
            }
        }
        let _ = sess.keepalive_send();
        if !progress {
            let dirs = sess.block_directions();
            let want = Want {
                read: true,
                write: matches!(
                    dirs,
                    ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
                ),
            };
            let nap = left(Instant::now()).min(Duration::from_millis(200));
            let ready = wait(&[(ctx.conn.fd, want)], nap);
            if ready.first().is_some_and(|r| r.0) {
                last_rx = Instant::now();
            }
        }
    }
    drop(keepalive);
    sess.set_blocking(true);
    sess.set_timeout(bounded_ms(ctx.cfg, ctx.cfg.io_timeout));
    let status = match ch.exit_signal() {
        Ok(sig) if sig.exit_signal.is_some() => {
            ExitStatus::Signal(sig.exit_signal.unwrap_or_default())
        }
        _ => ExitStatus::Code(ch.exit_status().unwrap_or(-1)),
    };
    let took = start.elapsed();
    let shown = short_command(display);
    tracing::debug!(host, ms = took.as_millis() as u64, ?status, command = %shown, "exec");
    Ok((status, took))
}

/// Ends the process group of an abandoned command on the host (best effort, bounded by
/// [`reap::KILL_BUDGET`]; a connection that fails here is dropped by the caller anyway).
fn abandon(ctx: &mut Ctx<'_>, pid: u32, sudo: &SudoMode) {
    let (line, pre) = shell::wrap(&reap::kill_command(pid), &[], sudo);
    let pieces: Vec<&[u8]> = pre.as_deref().into_iter().collect();
    let not_cancelled = AtomicBool::new(false);
    let mut kill_ctx = Ctx {
        conn: &mut *ctx.conn,
        cfg: ctx.cfg,
        host: ctx.host,
        cancel: &not_cancelled,
    };
    let mut ignore = |_: StreamKind, _: &[u8]| -> Result<(), ExecError> { Ok(()) };
    let kill = RawCommand {
        cmdline: &line,
        display: "kill the abandoned command",
        stdin: &pieces,
        timeout: reap::KILL_BUDGET,
    };
    let r = exec_raw(&mut kill_ctx, kill, None, &mut ignore);
    if let Err(f) = r {
        tracing::debug!(host = %ctx.host, error = %f.err, "could not end an abandoned command");
    }
}

/// Run a [`Command`] with the given sudo mode; returns the output for any exit status.
pub(crate) fn run_command(
    ctx: &mut Ctx<'_>,
    cmd: &Command,
    sudo: &SudoMode,
    default_timeout: Duration,
) -> Result<CommandOutput, ExecFailure> {
    run_command_fed(ctx, cmd, sudo, default_timeout, None)
}

/// [`run_command`] whose stdin continues with what `feed` streams.
pub(crate) fn run_command_fed(
    ctx: &mut Ctx<'_>,
    cmd: &Command,
    sudo: &SudoMode,
    default_timeout: Duration,
    feed: Option<&mut Feed<'_>>,
) -> Result<CommandOutput, ExecFailure> {
    let host = ctx.host.to_string();
    if let Some((k, _)) = cmd.env.iter().find(|(k, _)| !shell::valid_env_name(k)) {
        return Err(ExecFailure {
            err: ExecError::Invalid {
                host,
                what: "environment variable name".into(),
                reason: format!("'{k}' (use letters, digits and _)"),
            },
            started: false,
        });
    }
    let (line, pre) = shell::wrap(&cmd.script, &cmd.env, sudo);
    let line = format!("{}{line}", reap::PRINT_PID);
    let mut pieces: Vec<&[u8]> = Vec::new();
    if let Some(p) = &pre {
        pieces.push(p);
    }
    if let Some(s) = &cmd.stdin {
        pieces.push(s);
    }
    let limit = ctx.cfg.capture_limit;
    let mut out = TailBuffer::new(limit);
    let mut err = TailBuffer::new(limit);
    let sink = cmd.sink.clone();
    let mut marker = reap::PidMarker::default();
    let mut deliver = |kind: StreamKind, data: &[u8]| {
        if data.is_empty() {
            return;
        }
        if let Some(s) = &sink {
            s(kind, data);
        }
        match kind {
            StreamKind::Stdout => out.push(data),
            StreamKind::Stderr => err.push(data),
        }
    };
    let mut handler = |kind: StreamKind, data: &[u8]| -> Result<(), ExecError> {
        match kind {
            StreamKind::Stderr => deliver(kind, &marker.feed(data)),
            StreamKind::Stdout => deliver(kind, data),
        }
        Ok(())
    };
    let timeout = cmd.timeout.unwrap_or(default_timeout);
    let raw = RawCommand {
        cmdline: &line,
        display: &cmd.script,
        stdin: &pieces,
        timeout,
    };
    let result = exec_raw(ctx, raw, feed, &mut handler);
    deliver(StreamKind::Stderr, &marker.finish());
    let (status, duration) = match result {
        Ok(v) => v,
        Err(f) => {
            // Abandoned, not ended: stop what it started on the host.
            if let (Some(pid), ExecError::Timeout { .. } | ExecError::Cancelled { .. }) =
                (marker.pid, &f.err)
            {
                abandon(ctx, pid, sudo);
            }
            return Err(f);
        }
    };
    let (stdout, stdout_dropped) = out.into_parts();
    let (stderr, stderr_dropped) = err.into_parts();
    if !matches!(sudo, SudoMode::None)
        && status == ExitStatus::Code(1)
        && let Some(reason) = shell::sudo_refused(&String::from_utf8_lossy(&stderr))
    {
        let user = match sudo {
            SudoMode::Passwordless { user } | SudoMode::WithPassword { user, .. } => user.clone(),
            SudoMode::None => String::new(),
        };
        return Err(ExecFailure {
            err: ExecError::BecomeFailed { host, user, reason },
            started: true,
        });
    }
    Ok(CommandOutput {
        host,
        command: cmd.script.clone(),
        status,
        stdout,
        stderr,
        stdout_dropped,
        stderr_dropped,
        duration,
    })
}
