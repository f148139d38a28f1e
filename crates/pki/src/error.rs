//! Typed errors of the PKI engine. Every variant names the file or the
//! configuration key involved and, where there is one, what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while making, reading or checking the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A kubeasz duration such as `CERT_EXPIRY: "438000h"` could not be read.
    #[error(
        "{key}: invalid duration {value:?}: expected hours like \"438000h\" (a positive whole number followed by 'h'); fix it in config.yml"
    )]
    InvalidExpiry { key: String, value: String },

    /// The spec is not usable as given (empty master list, bad node name, …).
    #[error("invalid PKI input: {0}")]
    InvalidSpec(String),

    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Writing a file (or making its directory, or renaming into place) failed.
    #[error(
        "cannot write {path}: {source}; check that the directory is writable and the disk is not full"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file exists but is not a PEM certificate we can parse.
    #[error("{path}: not a readable PEM certificate ({reason}); remove it to have it regenerated")]
    BadCertificate { path: PathBuf, reason: String },

    /// A file exists but is not a private key we can load.
    #[error(
        "{path}: not a readable private key ({reason}); remove it (and its certificate) to have both regenerated"
    )]
    BadKey { path: PathBuf, reason: String },

    /// There is no CA yet, and the operation does not make one.
    #[error(
        "{cert} does not exist: run the deploy step (ezctl setup <cluster> 01) first to make the CA"
    )]
    CaMissing { cert: PathBuf },

    /// `ca.pem` exists but `ca-key.pem` does not: nothing can be signed.
    #[error(
        "{cert} exists but its key {key} is missing: restore the key from a backup (ssl-<timestamp>/), or run kca-renew to make a new CA and reissue everything"
    )]
    CaKeyMissing { cert: PathBuf, key: PathBuf },

    /// `ca-key.pem` does not belong to `ca.pem`.
    #[error(
        "{key} does not match the public key in {cert}: restore the matching pair from a backup (ssl-<timestamp>/), or run kca-renew"
    )]
    CaKeyMismatch { cert: PathBuf, key: PathBuf },

    /// A certificate's signature did not verify against the given CA.
    #[error("{leaf} is not signed by the CA in {ca}: {reason}")]
    NotSignedBy {
        leaf: PathBuf,
        ca: PathBuf,
        reason: String,
    },

    /// rcgen refused to build a key or a certificate.
    #[error("generating {what} failed: {reason}")]
    Generate { what: String, reason: String },

    /// A kubeconfig could not be serialised.
    #[error("cannot serialise kubeconfig {path}: {reason}")]
    Kubeconfig { path: PathBuf, reason: String },
}

impl PkiError {
    pub(crate) fn generate(what: impl Into<String>, err: impl std::fmt::Display) -> Self {
        PkiError::Generate {
            what: what.into(),
            reason: err.to_string(),
        }
    }
}
