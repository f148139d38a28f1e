//! ez-executor: the SSH layer of kubeasz-rs, on libssh2 (the `ssh2` crate).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ez_executor::ExecError> {
//! use ez_executor::{Command, Executor, ExecutorConfig, FanOut, HostSpec, RemoteFile, fan_out};
//! let exec = Executor::new(ExecutorConfig::default());
//! let host = exec.connect(&HostSpec::new("10.250.0.11").key_file("/root/.ssh/id_ed25519")).await?;
//! let out = host.run_checked(Command::new("uname -r")).await?;
//! host.put_bytes(b"hello\n".to_vec(), RemoteFile::new("/tmp/hello").mode(0o600)).await?;
//! let report = fan_out(vec![host.clone()], FanOut::default(), |h| async move {
//!     h.run_checked(Command::new("hostname")).await
//! }).await;
//! # let _ = (out, report); Ok(()) }
//! ```
//!
//! Design (invariants the rest of the crate keeps):
//! * **One connection per host**, owned by a dedicated worker thread; async callers only
//!   exchange messages with it, so blocking libssh2 work never runs on tokio's threads.
//!   Each operation opens a fresh channel on that connection.
//! * **Bounded blocking**: every libssh2 call is bounded by `io_timeout` (or the command's
//!   remaining time); output is read in non-blocking mode with keepalives, and a peer silent
//!   for `dead_peer_after()` is declared lost. A frozen host or cut link therefore ends in
//!   [`ExecError::Timeout`] or [`ExecError::ConnectionLost`], never a hang.
//! * **Host keys** are always checked (see [`ExecutorConfig::accept_new_host_keys`]); a
//!   changed key is refused with both fingerprints.
//! * **Uploads** are skipped when the remote sha256 matches, streamed with constant memory
//!   otherwise, and land atomically (temp file + `mv`).
//! * **Errors** are [`ExecError`]: one line naming the host and the next step.
//!
//! Known limitation: commands run without a tty, so when a command times out or is
//! cancelled the connection is dropped but the remote process is not signalled; it ends
//! when it next writes output (SIGPIPE) or finishes (libssh2 refuses an RFC 4254 `signal`
//! request on a channel that already runs a command: "Channel can not be reused").
//! Long-running remote work should be idempotent or guarded (e.g. `timeout 600 ...`).

mod auth;
mod b64;
mod batch;
mod command;
mod config;
mod connect;
mod digest;
mod error;
mod exec;
mod fanout;
mod getback;
mod handle;
mod host;
mod hostkeys;
mod jump;
mod poll;
mod reap;
mod shell;
mod sshconfig;
mod transfer;
mod worker;

pub use b64::fingerprint_sha256;
pub use batch::Upload;
pub use command::{Command, CommandOutput, OutputSink, StreamKind};
pub use config::{ExecutorConfig, PassphrasePrompt, TransferMethod};
pub use error::{ExecError, ExitStatus, Result};
pub use fanout::{FailMode, FanOut, FanOutReport, HostLabel, HostResult, Outcome, fan_out};
pub use handle::{Executor, HostHandle};
pub use host::{Become, HostSpec, split_user_host_port};
pub use shell::quote;
pub use sshconfig::SshClientConfig;
pub use transfer::{GetReport, PutReport, RemoteFile};
