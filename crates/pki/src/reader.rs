//! Reading certificates back (x509-parser) and verifying who signed them.
//!
//! This is the API other crates use to check certificates for real (the
//! test doubles of kube-apiserver, etcd, … and the conformance checks).
//! [`CertInfo`] owns its data: it keeps the DER so a signature can be
//! re-verified at any time without holding borrowed parser state.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::catalog::San;
use crate::error::PkiError;

/// What a certificate says, read back from its DER encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The whole subject, e.g. `C=CN, ST=HangZhou, L=XS, O=k8s, OU=System, CN=etcd`.
    pub subject: String,
    /// Subject CN (the first one; `None` if absent).
    pub common_name: Option<String>,
    /// Subject O values, in order.
    pub organizations: Vec<String>,
    /// The whole issuer name.
    pub issuer: String,
    /// Issuer CN.
    pub issuer_common_name: Option<String>,
    /// IP and DNS SANs, in certificate order (other SAN kinds are ignored).
    pub sans: Vec<San>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// keyUsage bits.
    pub digital_signature: bool,
    pub key_encipherment: bool,
    pub key_cert_sign: bool,
    /// extendedKeyUsage.
    pub server_auth: bool,
    pub client_auth: bool,
    /// Serial number, hex with ':' separators.
    pub serial: String,
    /// The subjectPublicKey bits (what a private key's public half must equal).
    pub public_key: Vec<u8>,
    /// The DER encoding of the certificate.
    pub der: Vec<u8>,
}

fn bad(path: &Path, reason: impl std::fmt::Display) -> PkiError {
    PkiError::BadCertificate {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl CertInfo {
    /// Reads the first certificate of a PEM file.
    pub fn load(path: &Path) -> Result<Self, PkiError> {
        let bytes = std::fs::read(path).map_err(|source| PkiError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_pem(path, &bytes)
    }

    /// Parses the first certificate of PEM text; `path` is only used in errors.
    pub fn from_pem(path: &Path, pem: &[u8]) -> Result<Self, PkiError> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| bad(path, e))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad(
                path,
                format!("PEM block is {:?}, not CERTIFICATE", pem.label),
            ));
        }
        Self::from_der(path, &pem.contents)
    }

    /// Parses a DER certificate; `path` is only used in errors.
    pub fn from_der(path: &Path, der: &[u8]) -> Result<Self, PkiError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| bad(path, e))?;
        let first_cn = |name: &x509_parser::x509::X509Name| {
            name.iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .map(str::to_string)
        };
        let common_name = first_cn(cert.subject());
        let issuer_common_name = first_cn(cert.issuer());
        let organizations = cert
            .subject()
            .iter_organization()
            .filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect();
        let mut sans = Vec::new();
        if let Some(ext) = cert.subject_alternative_name().map_err(|e| bad(path, e))? {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => sans.push(San::Dns((*dns).to_string())),
                    GeneralName::IPAddress(raw) => {
                        if let Some(ip) = ip_from_bytes(raw) {
                            sans.push(San::Ip(ip));
                        }
                    }
                    _ => {}
                }
            }
        }
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| bad(path, e))?
            .is_some_and(|bc| bc.value.ca);
        let ku = cert
            .key_usage()
            .map_err(|e| bad(path, e))?
            .map(|k| *k.value);
        let eku = cert.extended_key_usage().map_err(|e| bad(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            subject: cert.subject().to_string(),
            common_name,
            organizations,
            issuer: cert.issuer().to_string(),
            issuer_common_name,
            sans,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            is_ca,
            digital_signature: ku.is_some_and(|k| k.digital_signature()),
            key_encipherment: ku.is_some_and(|k| k.key_encipherment()),
            key_cert_sign: ku.is_some_and(|k| k.key_cert_sign()),
            server_auth: eku.as_ref().is_some_and(|e| e.value.server_auth),
            client_auth: eku.as_ref().is_some_and(|e| e.value.client_auth),
            serial: cert.raw_serial_as_string(),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
            der: der.to_vec(),
        })
    }

    /// The SANs as a set (order-insensitive comparison).
    pub fn san_set(&self) -> BTreeSet<San> {
        self.sans.iter().cloned().collect()
    }

    /// Whether a client connecting to `host` (an IP address or a DNS name, as in
    /// the URL) would accept this certificate's SANs: an exact IP match, or a
    /// case-insensitive DNS match (a leading `*.` matches exactly one label).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.sans.contains(&San::Ip(ip));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.sans.iter().any(|san| match san {
            San::Dns(name) => {
                let name = name.to_ascii_lowercase();
                match name.strip_prefix("*.") {
                    Some(suffix) => host
                        .split_once('.')
                        .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                    None => name == host,
                }
            }
            San::Ip(_) => false,
        })
    }

    /// Whether `at` lies within the validity period.
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    /// Checks that this certificate names `ca` as issuer and that `ca`'s key
    /// made its signature.
    pub fn verify_signed_by(&self, ca: &CertInfo) -> Result<(), PkiError> {
        let not_signed = |reason: String| PkiError::NotSignedBy {
            leaf: self.path.clone(),
            ca: ca.path.clone(),
            reason,
        };
        let (_, leaf) = X509Certificate::from_der(&self.der).map_err(|e| bad(&self.path, e))?;
        let (_, issuer) = X509Certificate::from_der(&ca.der).map_err(|e| bad(&ca.path, e))?;
        if leaf.issuer().as_raw() != issuer.subject().as_raw() {
            return Err(not_signed(format!(
                "issuer is \"{}\" but the CA is \"{}\"",
                leaf.issuer(),
                issuer.subject()
            )));
        }
        leaf.verify_signature(Some(issuer.public_key()))
            .map_err(|e| {
                not_signed(format!(
                    "signature does not verify ({e}): it was made by another CA key"
                ))
            })
    }

    /// Whether the private key in `key_pem` is the one this certificate certifies.
    pub fn matches_key_pem(&self, key_path: &Path, key_pem: &str) -> Result<bool, PkiError> {
        let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| PkiError::BadKey {
            path: key_path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(key.public_key_raw() == self.public_key.as_slice())
    }
}

fn ip_from_bytes(raw: &[u8]) -> Option<IpAddr> {
    match raw.len() {
        4 => <[u8; 4]>::try_from(raw).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(raw).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Verifies that the certificate in `leaf` was issued by the CA in `ca`
/// (issuer name and signature) and that `ca` is a CA certificate.
pub fn verify_chain(ca: &Path, leaf: &Path) -> Result<(), PkiError> {
    let ca_info = CertInfo::load(ca)?;
    if !ca_info.is_ca {
        return Err(PkiError::NotSignedBy {
            leaf: leaf.to_path_buf(),
            ca: ca.to_path_buf(),
            reason: "the would-be CA certificate has no CA:TRUE basic constraint".to_string(),
        });
    }
    CertInfo::load(leaf)?.verify_signed_by(&ca_info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_bytes_decode_both_families() {
        assert_eq!(
            ip_from_bytes(&[10, 0, 0, 1]),
            Some("10.0.0.1".parse().unwrap())
        );
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let IpAddr::V6(a) = v6 else { unreachable!() };
        assert_eq!(ip_from_bytes(&a.octets()), Some(v6));
        assert_eq!(ip_from_bytes(&[1, 2, 3]), None);
    }

    fn info_with_sans(sans: Vec<San>) -> CertInfo {
        CertInfo {
            path: PathBuf::new(),
            subject: String::new(),
            common_name: None,
            organizations: vec![],
            issuer: String::new(),
            issuer_common_name: None,
            sans,
            not_before: OffsetDateTime::UNIX_EPOCH,
            not_after: OffsetDateTime::UNIX_EPOCH,
            is_ca: false,
            digital_signature: false,
            key_encipherment: false,
            key_cert_sign: false,
            server_auth: false,
            client_auth: false,
            serial: String::new(),
            public_key: vec![],
            der: vec![],
        }
    }

    #[test]
    fn covers_matches_ips_names_and_wildcards() {
        let info = info_with_sans(vec![
            San::Ip("10.0.0.1".parse().unwrap()),
            San::Ip("fd00::1".parse().unwrap()),
            San::Dns("Kubernetes.Default".into()),
            San::Dns("*.apps.example".into()),
        ]);
        assert!(info.covers("10.0.0.1"));
        assert!(info.covers("[fd00::1]"));
        assert!(!info.covers("10.0.0.2"));
        assert!(info.covers("kubernetes.default"));
        assert!(info.covers("kubernetes.default."));
        assert!(!info.covers("kubernetes"));
        assert!(info.covers("a.apps.example"));
        assert!(!info.covers("a.b.apps.example"));
        assert!(!info.covers("apps.example"));
    }

    #[test]
    fn garbage_is_a_bad_certificate_naming_the_file() {
        let err = CertInfo::from_pem(Path::new("/x/admin.pem"), b"not a pem").unwrap_err();
        assert!(err.to_string().contains("/x/admin.pem"), "{err}");
        let key_pem = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let err = CertInfo::from_pem(Path::new("/x/k.pem"), key_pem).unwrap_err();
        assert!(
            err.to_string().contains("not CERTIFICATE") || err.to_string().contains("k.pem"),
            "{err}"
        );
    }
}
