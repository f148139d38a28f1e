//! kcfg-adm users: `ssl/users/<user>.pem`, `-key.pem` and `.kubeconfig`,
//! signed by the cluster CA under the `kcfg` profile (client auth only).
//!
//! The ClusterRoleBinding (`crb-<user>` → cluster-admin or view) is the
//! caller's business; this module only handles the files.

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::catalog::CertSpec;
use crate::ensure::{Pki, ensure_leaf};
use crate::error::PkiError;
use crate::kcfg_files::{KubeconfigPlan, write_kubeconfig};
use crate::kubeconfig::KubeconfigNames;
use crate::reader::CertInfo;
use crate::report::{CertReport, KubeconfigReport, RenewPolicy};
use crate::spec::{Expiry, PkiSpec, check_file_name};

/// Name of a new kcfg-adm user: `<prefix>-YYYYmmddHHMM` (UTC).
pub fn user_name(prefix: &str, now: OffsetDateTime) -> String {
    format!(
        "{prefix}-{:04}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    )
}

/// What `add_user` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserReport {
    pub cert: CertReport,
    pub kubeconfig: KubeconfigReport,
}

/// A user found in `ssl/users/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub not_after: OffsetDateTime,
}

fn users_dir(spec: &PkiSpec) -> PathBuf {
    spec.ssl_dir().join("users")
}

impl Pki {
    /// Issues the certificate and kubeconfig of kcfg-adm user `user` (kept if it
    /// already exists and still fits). The CA must exist.
    pub fn add_user(
        spec: &PkiSpec,
        user: &str,
        expiry: Expiry,
        now: OffsetDateTime,
    ) -> Result<UserReport, PkiError> {
        check_file_name("user name", user)?;
        let ssl = spec.ssl_dir();
        let ca = Pki::load_ca(&ssl)?;
        let leaf = CertSpec::user(user, expiry);
        let cert = ensure_leaf(
            &ssl,
            &leaf,
            &ca,
            spec.key_algorithm,
            RenewPolicy::KeepExisting,
            now,
        )?;
        let plan = KubeconfigPlan {
            path: users_dir(spec).join(format!("{user}.kubeconfig")),
            names: KubeconfigNames {
                cluster: spec.cluster_name.clone(),
                user: user.to_string(),
                context: spec.context_name.clone(),
                server: spec.admin_server()?,
            },
            cert: leaf.name.clone(),
        };
        let kubeconfig = write_kubeconfig(&ssl, &plan)?;
        Ok(UserReport { cert, kubeconfig })
    }

    /// Deletes the user's files; returns the paths removed (none if unknown).
    pub fn remove_user(spec: &PkiSpec, user: &str) -> Result<Vec<PathBuf>, PkiError> {
        check_file_name("user name", user)?;
        let dir = users_dir(spec);
        let mut removed = Vec::new();
        for suffix in [".pem", "-key.pem", ".kubeconfig", ".csr", "-csr.json"] {
            let path = dir.join(format!("{user}{suffix}"));
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(PkiError::Write { path, source }),
            }
        }
        Ok(removed)
    }

    /// Every user with a certificate in `ssl/users/`, sorted by name, with its notAfter.
    pub fn list_users(spec: &PkiSpec) -> Result<Vec<UserInfo>, PkiError> {
        let dir = users_dir(spec);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(PkiError::Read { path: dir, source }),
        };
        let mut users = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| PkiError::Read {
                path: dir.clone(),
                source,
            })?;
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".pem") else {
                continue;
            };
            if name.ends_with("-key") {
                continue;
            }
            let info = CertInfo::load(&entry.path())?;
            users.push(UserInfo {
                name: name.to_string(),
                not_after: info.not_after,
            });
        }
        users.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_has_kubeasz_timestamp() {
        let now = time::Date::from_calendar_date(2026, time::Month::January, 2)
            .unwrap()
            .with_hms(15, 4, 59)
            .unwrap()
            .assume_utc();
        assert_eq!(user_name("user", now), "user-202601021504");
    }
}
