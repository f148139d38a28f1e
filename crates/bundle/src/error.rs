//! Typed errors of the bundle crate. Every variant's message says what went wrong and, where
//! the user can act, what to do next.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = BundleError> = std::result::Result<T, E>;

/// Everything that can go wrong while building, verifying or moving a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("unknown extra image set '{0}'; valid sets: {1}")]
    UnknownSet(String, String),

    #[error("unknown network plugin '{0}'; valid: {1}")]
    UnknownNetwork(String, String),

    #[error("unknown part '{0}' for --without; valid: {1}")]
    UnknownPart(String, String),

    #[error("invalid version '{0}': expected something like v1.36.3")]
    BadVersion(String),

    #[error("unsupported architecture '{0}': use amd64 or arm64")]
    BadArch(String),

    #[error(
        "checksum file {url} has an unexpected format at line {line}: '{text}' (expected '<sha256>', '<sha256>  <name>', '<sha256> *<name>' or 'SHA256 (<name>) = <sha256>')"
    )]
    ChecksumFormat {
        url: String,
        line: usize,
        text: String,
    },

    #[error("checksum file {url} has no entry for '{name}'")]
    ChecksumMissing { url: String, name: String },

    #[error("checksum table {path}: line {line}: {msg}")]
    ChecksumTable {
        path: String,
        line: usize,
        msg: String,
    },

    #[error(
        "sha256 mismatch for {what} from {url}: expected {expected}, got {actual} (downloaded twice; the source is corrupt or the checksum is wrong — try another mirror with --binary-mirror)"
    )]
    ChecksumMismatch {
        what: String,
        url: String,
        expected: String,
        actual: String,
    },

    #[error(
        "{url} answered with an HTML page instead of the file (a mirror's error or login page); skipped"
    )]
    NotBinary { url: String },

    #[error("{url}: HTTP {status}")]
    Http { url: String, status: u16 },

    #[error("{url}: {msg}")]
    Transfer { url: String, msg: String },

    /// A request got no HTTP answer (refused, no route, DNS, TLS, timeout); `failure.chain`
    /// ends in the root cause.
    #[error("{url}: {}{}", failure.chain, tls_hint(failure))]
    Network {
        url: String,
        failure: Box<crate::cause::NetFailure>,
    },

    /// Every request of the run failed the same way: the run stopped (see [`crate::cause`]).
    #[error("{}", .0.message())]
    Systemic(Box<crate::cause::Systemic>),

    #[error("{url}: no data for {secs} s; the connection was cut")]
    Stalled { url: String, secs: u64 },

    #[error("no source could deliver {what}; tried: {tried}")]
    AllSourcesFailed {
        what: String,
        tried: String,
        /// The last source's failure in short ([`BundleError::cause`]), for grouping.
        cause: String,
    },

    #[error(
        "the disk is full while writing {0}; free some space (or point --base elsewhere) and run the same command again: finished files are kept and partial downloads resume"
    )]
    DiskFull(PathBuf),

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("registry {registry}: {msg}")]
    Registry { registry: String, msg: String },

    #[error("invalid image reference '{0}'")]
    BadReference(String),

    #[error("image {image}: no manifest for platform linux/{arch} (available: {available})")]
    NoPlatform {
        image: String,
        arch: String,
        available: String,
    },

    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("bundle manifest {path}: {msg}")]
    Manifest { path: PathBuf, msg: String },

    #[error("archive {path}: {msg}")]
    Archive { path: PathBuf, msg: String },

    #[error("interrupted; partial downloads are kept and the next run resumes them")]
    Interrupted,

    #[error("{0}")]
    Other(String),
}

impl BundleError {
    /// Wraps an I/O error, turning "no space left on device" into [`BundleError::DiskFull`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if is_disk_full(&source) {
            return BundleError::DiskFull(path);
        }
        BundleError::Io { op, path, source }
    }

    /// True for errors worth retrying against the same source (timeouts, 5xx, 429, cuts).
    pub fn is_transient(&self) -> bool {
        match self {
            BundleError::Http { status, .. } => *status == 429 || *status >= 500,
            BundleError::Transfer { .. } | BundleError::Stalled { .. } => true,
            BundleError::Network { failure, .. } => failure.kind != crate::cause::NetKind::Tls,
            _ => false,
        }
    }

    /// The root cause in a few words, the same for every item that failed the same way: what
    /// the summary groups failures by (`HTTP 404`, `the proxy … refuses connections`).
    pub fn cause(&self) -> String {
        match self {
            BundleError::Network { failure, .. } => {
                format!("{} ({})", failure.label(), failure.root())
            }
            BundleError::Http { status, .. } => format!("HTTP {status}"),
            BundleError::AllSourcesFailed { cause, .. } => cause.clone(),
            BundleError::Stalled { secs, .. } => format!("no data for {secs} s"),
            BundleError::NotBinary { .. } => "an HTML page instead of the file".into(),
            other => other.to_string(),
        }
    }
}

fn tls_hint(f: &crate::cause::NetFailure) -> &'static str {
    if f.kind == crate::cause::NetKind::Tls {
        " (a mirror or proxy signed by a private CA: pass --ca-cert FILE with the CA in PEM, or add it to the system trust store)"
    } else {
        ""
    }
}

/// ENOSPC (28) or EDQUOT (122) on Linux, or the portable kind.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28) | Some(122))
        || e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_becomes_disk_full() {
        let e = std::io::Error::from_raw_os_error(28);
        assert!(matches!(
            BundleError::io("write", "/x", e),
            BundleError::DiskFull(_)
        ));
        let e = std::io::Error::from_raw_os_error(2);
        assert!(matches!(
            BundleError::io("open", "/x", e),
            BundleError::Io { .. }
        ));
    }

    #[test]
    fn transient_classification() {
        let h = |status| BundleError::Http {
            url: "u".into(),
            status,
        };
        assert!(h(429).is_transient());
        assert!(h(503).is_transient());
        assert!(!h(404).is_transient());
        assert!(!BundleError::NotBinary { url: "u".into() }.is_transient());
    }
}
