//! What `ensure` did or would do: one entry per certificate and per kubeconfig.

use std::fmt;
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::catalog::San;

/// What to do with existing certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RenewPolicy {
    /// Create what is missing; keep everything that exists and report drift as
    /// [`CertOutcome::NeedsReissue`] (kubeasz's normal `setup`).
    #[default]
    KeepExisting,
    /// Also reissue leaf certificates that drifted from the spec (kubeasz's
    /// `change_cert` tag, e.g. after MASTER_CERT_HOSTS was edited). The CA is kept.
    ReissueChanged,
    /// Back up `ssl/` to `ssl-<timestamp>/`, then make a new CA and reissue every
    /// certificate and kubeconfig (kubeasz's `kca-renew`).
    RenewAll,
}

/// Why an existing certificate no longer fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The certificate or its key cannot be parsed.
    Unreadable(String),
    /// `<name>-key.pem` is missing.
    KeyMissing,
    /// `<name>-key.pem` is not the key the certificate certifies.
    KeyMismatch,
    /// CN or O differ from the spec.
    SubjectChanged { expected: String, found: String },
    /// The SAN set differs (e.g. a master, etcd member or MASTER_CERT_HOSTS entry was added).
    SansChanged {
        missing: Vec<San>,
        unexpected: Vec<San>,
    },
    /// serverAuth / clientAuth differ from the profile.
    UsageChanged { expected: String, found: String },
    /// Not signed by the current `ca.pem` (the CA was replaced, or the file came from elsewhere).
    NotSignedByCa(String),
    /// Past its notAfter.
    Expired { not_after: OffsetDateTime },
    /// Reissued because of `kca-renew`.
    Renewal,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[San]| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Drift::Unreadable(reason) => write!(f, "unreadable: {reason}"),
            Drift::KeyMissing => f.write_str("private key file missing"),
            Drift::KeyMismatch => f.write_str("private key does not match the certificate"),
            Drift::SubjectChanged { expected, found } => {
                write!(f, "subject is \"{found}\", expected \"{expected}\"")
            }
            Drift::SansChanged {
                missing,
                unexpected,
            } => {
                write!(f, "SANs changed")?;
                if !missing.is_empty() {
                    write!(f, "; missing {}", list(missing))?;
                }
                if !unexpected.is_empty() {
                    write!(f, "; no longer wanted {}", list(unexpected))?;
                }
                Ok(())
            }
            Drift::UsageChanged { expected, found } => {
                write!(f, "extended key usage is {found}, expected {expected}")
            }
            Drift::NotSignedByCa(reason) => write!(f, "not signed by the current CA: {reason}"),
            Drift::Expired { not_after } => write!(f, "expired at {not_after}"),
            Drift::Renewal => f.write_str("kca-renew"),
        }
    }
}

/// The fate of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertOutcome {
    /// Existed, matches the spec, untouched.
    Kept,
    /// Did not exist; made now.
    Created,
    /// Existed and was replaced (new key and certificate) for these reasons.
    Reissued(Vec<Drift>),
    /// Existed, drifted for these reasons, and was left alone by the policy:
    /// rerun with [`RenewPolicy::ReissueChanged`] (or `kca-renew` for the CA).
    NeedsReissue(Vec<Drift>),
}

/// One certificate's entry in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertReport {
    /// File stem relative to `ssl/` (`ca`, `admin`, `<node>-kubelet`, `users/<u>`).
    pub name: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub outcome: CertOutcome,
}

/// The fate of one kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeconfigOutcome {
    /// Already had exactly the content it should have.
    Unchanged,
    /// Created or rewritten.
    Written,
    /// Could not be rendered (its certificate is unreadable); the reason.
    Skipped(String),
}

/// One kubeconfig's entry in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigReport {
    pub path: PathBuf,
    pub outcome: KubeconfigOutcome,
}

/// Everything `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnsureReport {
    /// Where `ssl/` was copied before a `kca-renew`.
    pub backup: Option<PathBuf>,
    /// The CA first, then the leaves in kubeasz's order.
    pub certs: Vec<CertReport>,
    pub kubeconfigs: Vec<KubeconfigReport>,
}

impl EnsureReport {
    /// The entry of the certificate named `name`.
    pub fn cert(&self, name: &str) -> Option<&CertReport> {
        self.certs.iter().find(|c| c.name == name)
    }

    /// Certificates that drifted but were kept.
    pub fn needs_reissue(&self) -> impl Iterator<Item = &CertReport> {
        self.certs
            .iter()
            .filter(|c| matches!(c.outcome, CertOutcome::NeedsReissue(_)))
    }

    /// Whether any file was created or replaced.
    pub fn changed(&self) -> bool {
        self.certs
            .iter()
            .any(|c| matches!(c.outcome, CertOutcome::Created | CertOutcome::Reissued(_)))
            || self
                .kubeconfigs
                .iter()
                .any(|k| k.outcome == KubeconfigOutcome::Written)
            || self.backup.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_messages_name_the_difference() {
        let d = Drift::SansChanged {
            missing: vec![San::Ip("192.168.1.9".parse().unwrap())],
            unexpected: vec![San::Dns("old.example".into())],
        };
        assert_eq!(
            d.to_string(),
            "SANs changed; missing IP:192.168.1.9; no longer wanted DNS:old.example"
        );
    }

    #[test]
    fn report_queries() {
        let entry = |name: &str, outcome| CertReport {
            name: name.into(),
            cert_path: PathBuf::new(),
            key_path: PathBuf::new(),
            outcome,
        };
        let mut report = EnsureReport {
            backup: None,
            certs: vec![
                entry("ca", CertOutcome::Kept),
                entry(
                    "kubernetes",
                    CertOutcome::NeedsReissue(vec![Drift::KeyMismatch]),
                ),
            ],
            kubeconfigs: vec![],
        };
        assert!(!report.changed());
        assert_eq!(report.needs_reissue().count(), 1);
        assert_eq!(
            report.cert("ca").map(|c| &c.outcome),
            Some(&CertOutcome::Kept)
        );
        report.certs.push(entry("admin", CertOutcome::Created));
        assert!(report.changed());
    }
}
