//! Errors of the engine. Each names the file, host, step or task concerned.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("host {host}, task `{task}`: {message}")]
    Template {
        host: String,
        task: String,
        message: String,
    },
    #[error("host {host}, step {step}, task `{task}` failed: {message}")]
    TaskFailed {
        host: String,
        step: String,
        task: String,
        message: String,
    },
    #[error(
        "cluster {cluster} is locked by {holder}; wait for it to finish, or if that process is gone the lock is released automatically"
    )]
    Locked { cluster: String, holder: String },
    #[error("{0}")]
    Other(String),
}
