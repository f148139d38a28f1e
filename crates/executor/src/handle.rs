//! The async front: [`Executor`] and [`HostHandle`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::batch::Upload;
use crate::command::{Command, CommandOutput};
use crate::error::{ExecError, Result};
use crate::transfer::{DigestCache, GetReport, PutReport, RemoteFile, Source};
use crate::worker::{self, Request};
use crate::{ExecutorConfig, HostSpec};

/// Owns the configuration and one worker (one SSH connection) per distinct host.
///
/// Dropping the executor (and every [`HostHandle`] cloned from it) closes all connections.
pub struct Executor {
    cfg: Arc<ExecutorConfig>,
    cache: Arc<DigestCache>,
    hosts: Mutex<HashMap<String, HostHandle>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// An executor with `cfg`.
    pub fn new(cfg: ExecutorConfig) -> Self {
        Executor {
            cfg: Arc::new(cfg),
            cache: Arc::default(),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ExecutorConfig {
        &self.cfg
    }

    /// Connect to `spec` (or reuse the existing connection to the same user@address:port),
    /// verifying the host key and authenticating now, so errors surface here.
    pub async fn connect(&self, spec: &HostSpec) -> Result<HostHandle> {
        let key = spec.connection_key();
        // Reuse only a connection made with the very same spec (same credentials).
        let existing = self
            .lock()
            .get(&key)
            .filter(|h| h.inner.spec == *spec)
            .cloned();
        let handle = match existing {
            Some(h) => h,
            None => {
                let tx = worker::spawn(spec.clone(), self.cfg.clone(), self.cache.clone())
                    .map_err(|source| ExecError::Io {
                        host: spec.name.clone(),
                        path: "worker thread".into(),
                        source,
                    })?;
                HostHandle {
                    inner: Arc::new(Inner {
                        spec: spec.clone(),
                        tx,
                    }),
                }
            }
        };
        handle
            .call("connect", |_, reply| Request::Connect { reply })
            .await?;
        self.lock().insert(key, handle.clone());
        Ok(handle)
    }

    /// Forget the connection to `spec` (it closes when the last handle is dropped).
    pub fn disconnect(&self, spec: &HostSpec) {
        self.lock().remove(&spec.connection_key());
    }

    /// Forget all connections.
    pub fn disconnect_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HostHandle>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Inner {
    spec: HostSpec,
    tx: mpsc::UnboundedSender<Request>,
}

/// A cheap, cloneable handle to one host's connection. Operations on one host are served in
/// order over one SSH connection; operations on different hosts run in parallel.
///
/// Dropping an operation's future cancels it: the worker stops reading within ~200 ms,
/// drops the connection (killing the remote side's channel) and reconnects on next use.
#[derive(Clone)]
pub struct HostHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for HostHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostHandle")
            .field("host", &self.inner.spec.name)
            .finish()
    }
}

struct CancelOnDrop(Arc<AtomicBool>, bool);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl HostHandle {
    /// The host's inventory name.
    pub fn name(&self) -> &str {
        &self.inner.spec.name
    }

    /// The host definition.
    pub fn spec(&self) -> &HostSpec {
        &self.inner.spec
    }

    async fn call<T>(
        &self,
        what: &str,
        make: impl FnOnce(Arc<AtomicBool>, oneshot::Sender<Result<T>>) -> Request,
    ) -> Result<T> {
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel();
        let gone = || ExecError::ConnectionLost {
            host: self.name().to_string(),
            command: what.to_string(),
            reason: "the host's worker thread stopped".into(),
        };
        self.inner
            .tx
            .send(make(cancel.clone(), tx))
            .map_err(|_| gone())?;
        let mut guard = CancelOnDrop(cancel, true);
        let r = rx.await.map_err(|_| gone())?;
        guard.1 = false;
        r
    }

    /// Run a command; returns its output whatever the exit status
    /// (see [`CommandOutput::check`] and [`HostHandle::run_checked`]).
    pub async fn run(&self, cmd: Command) -> Result<CommandOutput> {
        let what = cmd.script.clone();
        self.call(&what, |cancel, reply| Request::Run {
            cmd: Box::new(cmd),
            cancel,
            reply,
        })
        .await
    }

    /// Run a command; a non-zero exit is [`ExecError::CommandFailed`] with the stderr tail.
    pub async fn run_checked(&self, cmd: Command) -> Result<CommandOutput> {
        self.run(cmd).await?.check()
    }

    /// Upload a local file (skipped when the remote sha256 matches; atomic replace).
    pub async fn put_file(&self, local: impl AsRef<Path>, dest: RemoteFile) -> Result<PutReport> {
        let src = Source::File(local.as_ref().to_path_buf());
        let what = format!("put {}", dest.path);
        self.call(&what, |cancel, reply| Request::Put {
            src,
            dest,
            cancel,
            reply,
        })
        .await
    }

    /// Upload bytes (e.g. a rendered template), with the same guarantees as `put_file`.
    pub async fn put_bytes(&self, data: impl Into<Vec<u8>>, dest: RemoteFile) -> Result<PutReport> {
        let src = Source::Bytes(Arc::new(data.into()));
        let what = format!("put {}", dest.path);
        self.call(&what, |cancel, reply| Request::Put {
            src,
            dest,
            cancel,
            reply,
        })
        .await
    }

    /// Place several files in one round trip, in order (one report each). Files whose
    /// `known_stale` is set travel together as one stream on one command's stdin (without
    /// sudo); the others are put one by one as [`HostHandle::put_file`] does. On an error,
    /// the files before the failing one are in place and no temporary is left.
    pub async fn put_batch(&self, items: Vec<(Upload, RemoteFile)>) -> Result<Vec<PutReport>> {
        let items: Vec<(Source, RemoteFile)> = items
            .into_iter()
            .map(|(u, d)| {
                let src = match u {
                    Upload::File(p) => Source::File(p),
                    Upload::Bytes(b) => Source::Bytes(Arc::new(b)),
                };
                (src, d)
            })
            .collect();
        let what = format!("put {} files", items.len());
        self.call(&what, |cancel, reply| Request::PutBatch {
            items,
            cancel,
            reply,
        })
        .await
    }

    /// Download a remote file to `local` (local temp file, then rename).
    pub async fn get_file(&self, remote: &str, local: impl AsRef<Path>) -> Result<GetReport> {
        let remote = remote.to_string();
        let local = local.as_ref().to_path_buf();
        let what = format!("get {remote}");
        self.call(&what, |cancel, reply| Request::Get {
            remote,
            local,
            cancel,
            reply,
        })
        .await
    }

    /// sha256 (hex) of a remote file, `None` when it is absent.
    pub async fn remote_sha256(&self, path: &str) -> Result<Option<String>> {
        let path = path.to_string();
        let what = format!("sha256sum {path}");
        self.call(&what, |cancel, reply| Request::Sha {
            path,
            cancel,
            reply,
        })
        .await
    }
}
