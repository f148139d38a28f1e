//! Certificate checks with ez-pki's reader: chain to the CA, subject, SANs, key pairing,
//! validity. Each failure names the file and the flag it came from.

use crate::{Failed, Res};
use ez_pki::CertInfo;
use std::path::Path;

/// Reads a PEM certificate given by `flag`.
pub fn load(flag: &str, path: &str) -> Res<CertInfo> {
    CertInfo::load(Path::new(path)).map_err(|e| Failed(format!("--{flag}={path}: {e}")))
}

/// `leaf` was signed by `ca`, `ca` is a CA, and `leaf` is valid now.
pub fn chain(ca: &CertInfo, leaf: &CertInfo, what: &str) -> Res<()> {
    if !ca.is_ca {
        return Err(Failed(format!(
            "{what}: {} is not a CA certificate",
            ca.path.display()
        )));
    }
    leaf.verify_signed_by(ca)
        .map_err(|e| Failed(format!("{what}: {e}")))?;
    if !leaf.is_valid_at(time::OffsetDateTime::now_utc()) {
        return Err(Failed(format!(
            "{what}: {} is expired or not yet valid",
            leaf.path.display()
        )));
    }
    Ok(())
}

/// Subject CN and (if given) one of the O values.
pub fn subject(leaf: &CertInfo, cn: &str, org: Option<&str>, what: &str) -> Res<()> {
    if leaf.common_name.as_deref() != Some(cn) {
        return Err(Failed(format!(
            "{what}: {} has CN {:?}, expected {cn:?}",
            leaf.path.display(),
            leaf.common_name
        )));
    }
    if let Some(o) = org
        && !leaf.organizations.iter().any(|x| x == o)
    {
        return Err(Failed(format!(
            "{what}: {} has O {:?}, expected {o:?}",
            leaf.path.display(),
            leaf.organizations
        )));
    }
    Ok(())
}

/// The certificate is valid for a client connecting to `host`.
pub fn covers(leaf: &CertInfo, host: &str, what: &str) -> Res<()> {
    if !leaf.covers(host) {
        return Err(Failed(format!(
            "{what}: {} does not cover {host} (SANs {:?})",
            leaf.path.display(),
            leaf.sans
        )));
    }
    Ok(())
}

/// The private key in `key_path` is the one `cert` certifies.
pub fn key_pair(cert: &CertInfo, key_flag: &str, key_path: &str) -> Res<()> {
    let pem = std::fs::read_to_string(key_path)
        .map_err(|e| Failed(format!("--{key_flag}={key_path}: {e}")))?;
    match cert.matches_key_pem(Path::new(key_path), &pem) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failed(format!(
            "--{key_flag}={key_path} is not the key of {}",
            cert.path.display()
        ))),
        Err(e) => Err(Failed(format!("--{key_flag}={key_path}: {e}"))),
    }
}

/// A certificate file + key file pair, both given by flags, signed by `ca`.
pub fn pair(
    ca: &CertInfo,
    cert_flag: &str,
    cert_path: &str,
    key_flag: &str,
    key_path: &str,
) -> Res<CertInfo> {
    let c = load(cert_flag, cert_path)?;
    chain(ca, &c, &format!("--{cert_flag}"))?;
    key_pair(&c, key_flag, key_path)?;
    Ok(c)
}
