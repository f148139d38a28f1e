//! [`Pki::ensure`]: bring `clusters/<c>/ssl` and the kubeconfigs in line with a
//! [`PkiSpec`], generating once and never regenerating unless asked.
//!
//! Invariants:
//! - an existing certificate is replaced only under [`RenewPolicy::ReissueChanged`]
//!   (and then only if it drifted) or [`RenewPolicy::RenewAll`];
//! - the CA is replaced only under `RenewAll`, after `ssl/` was copied to
//!   `ssl-<timestamp>/`; a missing `ca-key.pem` or a key that does not match
//!   `ca.pem` is an error, never silently "fixed";
//! - a second run with the same spec writes nothing (files stay byte-identical).

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::catalog::{self, CA_NAME, CertSpec};
use crate::error::PkiError;
use crate::fsio::{self, KEY_MODE, PUBLIC_MODE};
use crate::issue::{self, Issued, SigningCa};
use crate::kcfg_files::{self, write_kubeconfig};
use crate::reader::CertInfo;
use crate::report::{CertOutcome, CertReport, Drift, EnsureReport, RenewPolicy};
use crate::spec::{KeyAlgorithm, PkiSpec};

/// `ssl/<name>.pem`.
pub fn cert_path(ssl: &Path, name: &str) -> PathBuf {
    ssl.join(format!("{name}.pem"))
}

/// `ssl/<name>-key.pem`.
pub fn key_path(ssl: &Path, name: &str) -> PathBuf {
    ssl.join(format!("{name}-key.pem"))
}

/// The CA, loaded and checked, ready to sign.
#[derive(Debug)]
pub struct LoadedCa {
    pub info: CertInfo,
    pub signer: SigningCa,
}

/// Entry point of the PKI engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pki;

impl Pki {
    /// Makes what is missing, checks what exists and applies `policy` (see
    /// [`RenewPolicy`]); returns one entry per certificate and kubeconfig.
    pub fn ensure(spec: &PkiSpec, policy: RenewPolicy) -> Result<EnsureReport, PkiError> {
        Self::ensure_at(spec, policy, OffsetDateTime::now_utc())
    }

    /// [`Pki::ensure`] with an explicit clock (validity periods start from `now`).
    pub fn ensure_at(
        spec: &PkiSpec,
        policy: RenewPolicy,
        now: OffsetDateTime,
    ) -> Result<EnsureReport, PkiError> {
        spec.validate()?;
        let leaves = catalog::cluster_certs(spec);
        for leaf in &leaves {
            issue::check_sans(leaf)?;
        }
        let kubeconfigs = kcfg_files::cluster_kubeconfigs(spec)?;
        let ssl = spec.ssl_dir();
        let mut report = EnsureReport::default();
        if policy == RenewPolicy::RenewAll && has_entries(&ssl)? {
            report.backup = Some(backup_ssl(spec, now)?);
        }
        std::fs::create_dir_all(&ssl).map_err(|source| PkiError::Write {
            path: ssl.clone(),
            source,
        })?;

        let (ca_report, ca) = ensure_ca(spec, policy, now)?;
        report.certs.push(ca_report);
        // Leaves are independent once the CA exists: made on every core (an RSA key takes
        // tens of milliseconds), reported in catalog order; the first error (in that order)
        // is returned.
        let results = on_all_cores(&leaves, |leaf| {
            ensure_leaf(&ssl, leaf, &ca, spec.key_algorithm, policy, now)
        });
        for r in results {
            report.certs.push(r?);
        }
        for plan in &kubeconfigs {
            report.kubeconfigs.push(write_kubeconfig(&ssl, plan)?);
        }
        Ok(report)
    }

    /// Loads and checks the existing CA of `ssl` (for operations that sign but
    /// never create a CA, such as adding a kcfg-adm user).
    pub fn load_ca(ssl: &Path) -> Result<LoadedCa, PkiError> {
        let cert = cert_path(ssl, CA_NAME);
        let key = key_path(ssl, CA_NAME);
        let cert_pem = fsio::read_optional(&cert)?
            .ok_or_else(|| PkiError::CaMissing { cert: cert.clone() })?;
        let key_pem = fsio::read_optional(&key)?.ok_or_else(|| PkiError::CaKeyMissing {
            cert: cert.clone(),
            key: key.clone(),
        })?;
        let info = CertInfo::from_pem(&cert, cert_pem.as_bytes())?;
        if !info.is_ca {
            return Err(PkiError::BadCertificate {
                path: cert,
                reason: "it has no CA:TRUE basic constraint".to_string(),
            });
        }
        if !info.matches_key_pem(&key, &key_pem)? {
            return Err(PkiError::CaKeyMismatch { cert, key });
        }
        let signer = SigningCa::from_pem(&cert_pem, &key_pem, "loading the CA")?;
        Ok(LoadedCa { info, signer })
    }
}

/// `f` over `items` on up to one thread per core; results in the order of `items`.
fn on_all_cores<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len());
    if workers <= 1 {
        return items.iter().map(&f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    if let Ok(mut v) = slots.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

fn has_entries(dir: &Path) -> Result<bool, PkiError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(PkiError::Read {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// `YYYYmmddHHMMSS` of `now`: the suffix of backups (`ssl-<stamp>`, `config.bak-ezctl-<stamp>`).
pub fn compact_stamp(now: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Copies `ssl/` to `ssl-<YYYYmmddHHMMSS>/` (with `-N` appended if that exists).
fn backup_ssl(spec: &PkiSpec, now: OffsetDateTime) -> Result<PathBuf, PkiError> {
    let stamp = compact_stamp(now);
    let mut target = spec.cluster_dir.join(format!("ssl-{stamp}"));
    let mut n = 1;
    while target.exists() {
        target = spec.cluster_dir.join(format!("ssl-{stamp}-{n}"));
        n += 1;
    }
    fsio::copy_tree(&spec.ssl_dir(), &target)?;
    Ok(target)
}

fn write_pair(ssl: &Path, name: &str, issued: &Issued) -> Result<(), PkiError> {
    fsio::write_atomic(&key_path(ssl, name), issued.key_pem.as_bytes(), KEY_MODE)?;
    fsio::write_atomic(
        &cert_path(ssl, name),
        issued.cert_pem.as_bytes(),
        PUBLIC_MODE,
    )
}

fn ensure_ca(
    spec: &PkiSpec,
    policy: RenewPolicy,
    now: OffsetDateTime,
) -> Result<(CertReport, LoadedCa), PkiError> {
    let ssl = spec.ssl_dir();
    let ca_spec = CertSpec::ca(spec.ca_expiry);
    let cert = cert_path(&ssl, CA_NAME);
    let outcome = if !cert.exists() {
        CertOutcome::Created
    } else if policy == RenewPolicy::RenewAll {
        CertOutcome::Reissued(vec![Drift::Renewal])
    } else {
        // Kept (the CA is only ever replaced by kca-renew); an expired CA is reported.
        let loaded = Pki::load_ca(&ssl)?;
        let outcome = if now > loaded.info.not_after {
            CertOutcome::NeedsReissue(vec![Drift::Expired {
                not_after: loaded.info.not_after,
            }])
        } else {
            CertOutcome::Kept
        };
        return Ok((ca_report(&ssl, outcome), loaded));
    };
    write_pair(
        &ssl,
        CA_NAME,
        &issue::new_ca(&ca_spec, spec.key_algorithm, now)?,
    )?;
    Ok((ca_report(&ssl, outcome), Pki::load_ca(&ssl)?))
}

fn ca_report(ssl: &Path, outcome: CertOutcome) -> CertReport {
    CertReport {
        name: CA_NAME.to_string(),
        cert_path: cert_path(ssl, CA_NAME),
        key_path: key_path(ssl, CA_NAME),
        outcome,
    }
}

/// Creates, keeps or reissues one leaf certificate according to `policy`.
pub(crate) fn ensure_leaf(
    ssl: &Path,
    leaf: &CertSpec,
    ca: &LoadedCa,
    alg: KeyAlgorithm,
    policy: RenewPolicy,
    now: OffsetDateTime,
) -> Result<CertReport, PkiError> {
    let cert = cert_path(ssl, &leaf.name);
    let key = key_path(ssl, &leaf.name);
    let outcome = if !cert.exists() {
        CertOutcome::Created
    } else if policy == RenewPolicy::RenewAll {
        CertOutcome::Reissued(vec![Drift::Renewal])
    } else {
        let drifts = inspect(leaf, &cert, &key, &ca.info, now)?;
        if drifts.is_empty() {
            CertOutcome::Kept
        } else if policy == RenewPolicy::ReissueChanged {
            CertOutcome::Reissued(drifts)
        } else {
            CertOutcome::NeedsReissue(drifts)
        }
    };
    if matches!(outcome, CertOutcome::Created | CertOutcome::Reissued(_)) {
        write_pair(ssl, &leaf.name, &ca.signer.issue(leaf, alg, now)?)?;
    }
    Ok(CertReport {
        name: leaf.name.clone(),
        cert_path: cert,
        key_path: key,
        outcome,
    })
}

/// Everything that makes the existing `cert`/`key` differ from `want`.
/// Unreadable files are drift, not errors (so they can be reissued);
/// only I/O errors other than "not found" abort.
pub fn inspect(
    want: &CertSpec,
    cert: &Path,
    key: &Path,
    ca: &CertInfo,
    now: OffsetDateTime,
) -> Result<Vec<Drift>, PkiError> {
    let Some(cert_pem) = fsio::read_optional(cert)? else {
        return Ok(vec![Drift::Unreadable(format!(
            "{} is missing",
            cert.display()
        ))]);
    };
    let info = match CertInfo::from_pem(cert, cert_pem.as_bytes()) {
        Ok(info) => info,
        Err(e) => return Ok(vec![Drift::Unreadable(e.to_string())]),
    };
    let mut drifts = Vec::new();
    if info.common_name.as_deref() != Some(want.cn.as_str())
        || info.organizations != [want.org.clone()]
    {
        drifts.push(Drift::SubjectChanged {
            expected: want.subject_text(),
            found: info.subject.clone(),
        });
    }
    let have = info.san_set();
    let wanted: std::collections::BTreeSet<_> = want.sans.iter().cloned().collect();
    if have != wanted {
        drifts.push(Drift::SansChanged {
            missing: wanted.difference(&have).cloned().collect(),
            unexpected: have.difference(&wanted).cloned().collect(),
        });
    }
    let eku = |server: bool, client: bool| {
        match (server, client) {
            (true, true) => "serverAuth+clientAuth",
            (true, false) => "serverAuth",
            (false, true) => "clientAuth",
            (false, false) => "none",
        }
        .to_string()
    };
    if (info.server_auth, info.client_auth)
        != (want.profile.server_auth(), want.profile.client_auth())
    {
        drifts.push(Drift::UsageChanged {
            expected: eku(want.profile.server_auth(), want.profile.client_auth()),
            found: eku(info.server_auth, info.client_auth),
        });
    }
    if let Err(e) = info.verify_signed_by(ca) {
        let reason = match e {
            PkiError::NotSignedBy { reason, .. } => reason,
            other => other.to_string(),
        };
        drifts.push(Drift::NotSignedByCa(reason));
    }
    match fsio::read_optional(key)? {
        None => drifts.push(Drift::KeyMissing),
        Some(key_pem) => match info.matches_key_pem(key, &key_pem) {
            Ok(true) => {}
            Ok(false) => drifts.push(Drift::KeyMismatch),
            Err(e) => drifts.push(Drift::Unreadable(e.to_string())),
        },
    }
    if now > info.not_after {
        drifts.push(Drift::Expired {
            not_after: info.not_after,
        });
    }
    Ok(drifts)
}
