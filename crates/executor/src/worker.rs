//! The per-host worker: one OS thread owning the host's SSH connection.
//!
//! Invariants:
//! * all libssh2 calls for a host happen on its worker thread (libssh2 sessions are not
//!   meant for concurrent use), so async callers never block a runtime thread;
//! * requests are served one at a time over the single connection (a new channel each);
//! * a connection is (re)opened lazily, with `connect_retries` retries and exponential
//!   backoff plus jitter; auth and host-key errors are never retried;
//! * after a timeout, a lost connection or a cancellation the session is dropped, and the
//!   next request reconnects; a command whose channel could not even be opened is retried
//!   once on a fresh connection, a command that may have started never is.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::command::{Command, CommandOutput};
use crate::connect::{self, Conn};
use crate::error::{ExecError, ExitStatus, Result};
use crate::exec::{Ctx, ExecFailure, run_command};
use crate::shell::SudoMode;
use crate::transfer::{self, DigestCache, GetReport, PutReport, RemoteFile, Source};
use crate::{ExecutorConfig, HostSpec};

pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// Work sent to a host's worker.
pub(crate) enum Request {
    Connect {
        reply: Reply<()>,
    },
    Run {
        cmd: Box<Command>,
        cancel: Arc<AtomicBool>,
        reply: Reply<CommandOutput>,
    },
    Put {
        src: Source,
        dest: RemoteFile,
        cancel: Arc<AtomicBool>,
        reply: Reply<PutReport>,
    },
    PutBatch {
        items: Vec<(Source, RemoteFile)>,
        cancel: Arc<AtomicBool>,
        reply: Reply<Vec<PutReport>>,
    },
    Get {
        remote: String,
        local: PathBuf,
        cancel: Arc<AtomicBool>,
        reply: Reply<GetReport>,
    },
    Sha {
        path: String,
        cancel: Arc<AtomicBool>,
        reply: Reply<Option<String>>,
    },
}

struct Worker {
    spec: HostSpec,
    cfg: Arc<ExecutorConfig>,
    cache: Arc<DigestCache>,
    conn: Option<Conn>,
}

/// Spawn the worker thread for `spec`; it ends when every sender is dropped.
pub(crate) fn spawn(
    spec: HostSpec,
    cfg: Arc<ExecutorConfig>,
    cache: Arc<DigestCache>,
) -> std::io::Result<mpsc::UnboundedSender<Request>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Request>();
    let name = format!("ez-ssh-{}", spec.name);
    std::thread::Builder::new().name(name).spawn(move || {
        let mut w = Worker {
            spec,
            cfg,
            cache,
            conn: None,
        };
        while let Some(req) = rx.blocking_recv() {
            w.serve(req);
        }
    })?;
    Ok(tx)
}

fn cancelled(host: &str, what: &str) -> ExecError {
    ExecError::Cancelled {
        host: host.to_string(),
        command: what.to_string(),
    }
}

impl Worker {
    fn serve(&mut self, req: Request) {
        match req {
            Request::Connect { reply } => {
                let r = self.ensure().map(|_| ());
                let _ = reply.send(r);
            }
            Request::Run { cmd, cancel, reply } => {
                let r = self.with_retry(&cancel, &cmd.script, cmd.sudo, |ctx, sudo, cfg| {
                    run_command(ctx, &cmd, sudo, cfg.command_timeout)
                });
                let _ = reply.send(r);
            }
            Request::Put {
                src,
                dest,
                cancel,
                reply,
            } => {
                let method = self.cfg.transfer;
                let cache = self.cache.clone();
                let what = format!("put {}", dest.path);
                let r = self.with_retry(&cancel, &what, None, |ctx, sudo, _| {
                    transfer::put(ctx, &src, &dest, sudo, method, &cache)
                });
                let _ = reply.send(r);
            }
            Request::PutBatch {
                items,
                cancel,
                reply,
            } => {
                let method = self.cfg.transfer;
                let cache = self.cache.clone();
                let what = format!("put {} files", items.len());
                let r = self.with_retry(&cancel, &what, None, |ctx, sudo, _| {
                    crate::batch::put_batch(ctx, &items, sudo, method, &cache)
                });
                let _ = reply.send(r);
            }
            Request::Get {
                remote,
                local,
                cancel,
                reply,
            } => {
                let what = format!("get {remote}");
                let r = self.with_retry(&cancel, &what, None, |ctx, sudo, cfg| {
                    transfer::get(ctx, &remote, &local, sudo, cfg.command_timeout)
                });
                let _ = reply.send(r);
            }
            Request::Sha {
                path,
                cancel,
                reply,
            } => {
                let what = format!("sha256sum {path}");
                let r = self.with_retry(&cancel, &what, None, |ctx, sudo, _| {
                    transfer::remote_sha256(ctx, &path, sudo)
                });
                let _ = reply.send(r);
            }
        }
    }

    /// Open the connection if needed, with bounded retries and exponential backoff.
    fn ensure(&mut self) -> Result<&mut Conn> {
        if self.conn.is_none() {
            let mut attempt = 0;
            let conn = loop {
                match connect::connect(&self.spec, &self.cfg) {
                    Ok(c) => break c,
                    Err(e) if e.is_transient() && attempt < self.cfg.connect_retries => {
                        let base = self.cfg.backoff(attempt);
                        let jitter = base.mul_f64(rand::random::<f64>() * 0.25);
                        tracing::debug!(host = %self.spec.name, error = %e, attempt, "connect failed, retrying");
                        std::thread::sleep(base + jitter);
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            };
            self.conn = Some(conn);
        }
        self.conn.as_mut().ok_or_else(|| ExecError::ConnectionLost {
            host: self.spec.name.clone(),
            command: "connect".into(),
            reason: "no connection".into(),
        })
    }

    /// Run `op` on a live connection with the right sudo mode, retrying once on a fresh
    /// connection if it failed before anything ran remotely.
    fn with_retry<T>(
        &mut self,
        cancel: &AtomicBool,
        what: &str,
        sudo_override: Option<bool>,
        mut op: impl FnMut(&mut Ctx<'_>, &SudoMode, &ExecutorConfig) -> Result<T, ExecFailure>,
    ) -> Result<T> {
        for attempt in 0..2 {
            if cancel.load(Ordering::SeqCst) {
                return Err(cancelled(&self.spec.name, what));
            }
            let sudo = self.sudo_mode(sudo_override, cancel)?;
            let cfg = self.cfg.clone();
            let name = self.spec.name.clone();
            let conn = self.ensure()?;
            let mut ctx = Ctx {
                conn,
                cfg: &cfg,
                host: &name,
                cancel,
            };
            match op(&mut ctx, &sudo, &cfg) {
                Ok(v) => return Ok(v),
                Err(f) => {
                    if f.err.poisons_session() {
                        self.conn = None;
                    }
                    // A stale connection (closed by the peer while idle) fails before the
                    // command starts: retry once. A timeout has used up the budget: never.
                    let stale = matches!(
                        f.err,
                        ExecError::ConnectionLost { .. } | ExecError::Ssh { .. }
                    );
                    if !f.started && attempt == 0 && stale {
                        tracing::debug!(host = %name, error = %f.err, "retrying on a fresh connection");
                        self.conn = None;
                        continue;
                    }
                    return Err(f.err);
                }
            }
        }
        Err(ExecError::ConnectionLost {
            host: self.spec.name.clone(),
            command: what.to_string(),
            reason: "retry failed".into(),
        })
    }

    /// The sudo mode for a request, probing the connection once (`sudo -n true`, then the
    /// become password through `sudo -S`).
    fn sudo_mode(&mut self, over: Option<bool>, cancel: &AtomicBool) -> Result<SudoMode> {
        let want = match over {
            Some(false) => false,
            Some(true) => {
                self.spec.user
                    != self
                        .spec
                        .become_
                        .as_ref()
                        .map_or("root", |b| b.user.as_str())
            }
            None => self.spec.needs_sudo(),
        };
        if !want {
            return Ok(SudoMode::None);
        }
        let target = self
            .spec
            .become_
            .as_ref()
            .map_or_else(|| "root".to_string(), |b| b.user.clone());
        let password = self.spec.become_.as_ref().and_then(|b| b.password.clone());
        let cfg = self.cfg.clone();
        let name = self.spec.name.clone();
        let conn = self.ensure()?;
        if let Some(m) = &conn.sudo {
            return Ok(m.clone());
        }
        let mut ctx = Ctx {
            conn,
            cfg: &cfg,
            host: &name,
            cancel,
        };
        let probe = |ctx: &mut Ctx<'_>, mode: &SudoMode| -> Result<crate::CommandOutput> {
            run_command(ctx, &Command::new("true"), mode, cfg.io_timeout).map_err(|f| f.err)
        };
        let nopass = SudoMode::Passwordless {
            user: target.clone(),
        };
        let mode = match probe(&mut ctx, &nopass) {
            Ok(o) if o.status == ExitStatus::Code(0) => nopass,
            Err(e) if !matches!(e, ExecError::BecomeFailed { .. }) => {
                if e.poisons_session() {
                    self.conn = None;
                }
                return Err(e);
            }
            refused => {
                let why = match refused {
                    Ok(o) => crate::error::one_line(&o.stderr_str(), 200),
                    Err(ExecError::BecomeFailed { reason, .. }) => reason,
                    Err(e) => e.to_string(),
                };
                let Some(pw) = password else {
                    return Err(ExecError::BecomeFailed {
                        host: name,
                        user: target,
                        reason: format!("sudo requires a password (sudo -n: {why})"),
                    });
                };
                let with = SudoMode::WithPassword {
                    user: target.clone(),
                    password: pw,
                };
                match probe(&mut ctx, &with) {
                    Ok(o) if o.status == ExitStatus::Code(0) => with,
                    Ok(o) => {
                        return Err(ExecError::BecomeFailed {
                            host: name,
                            user: target,
                            reason: crate::error::one_line(&o.stderr_str(), 200),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if let Some(c) = self.conn.as_mut() {
            c.sudo = Some(mode.clone());
        }
        Ok(mode)
    }
}
