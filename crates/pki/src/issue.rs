//! Making keys and certificates with rcgen, the way cfssl does for kubeasz.
//!
//! Invariants: every certificate gets a fresh key (cfssl `gencert` does the
//! same); validity starts 5 minutes in the past (cfssl's backdate, so that
//! hosts with a slightly slow clock accept it) and lasts the spec's expiry
//! from now; leaves carry CA:FALSE, SKI and AKI; the CA carries CA:TRUE with
//! cert-sign and CRL-sign.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::catalog::{CertSpec, Profile, SUBJECT_C, SUBJECT_L, SUBJECT_OU, SUBJECT_ST, San};
use crate::error::PkiError;
use crate::spec::KeyAlgorithm;

/// How far back `not_before` is set (cfssl's default backdate).
pub const BACKDATE: Duration = Duration::minutes(5);

/// A freshly made certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The CA loaded for signing.
pub struct SigningCa {
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for SigningCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningCa")
    }
}

impl SigningCa {
    /// Loads the CA from its certificate and key PEM (already checked to match).
    pub fn from_pem(cert_pem: &str, key_pem: &str, what: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::generate(what, e))?;
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| PkiError::generate(what, e))?;
        Ok(Self { issuer })
    }

    /// Issues a leaf certificate for `spec` with a new key of `alg`.
    pub fn issue(
        &self,
        spec: &CertSpec,
        alg: KeyAlgorithm,
        now: OffsetDateTime,
    ) -> Result<Issued, PkiError> {
        let key = new_key(alg, &spec.name)?;
        let params = params_for(spec, now)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| PkiError::generate(format!("certificate {}", spec.name), e))?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A new private key.
pub fn new_key(alg: KeyAlgorithm, what: &str) -> Result<KeyPair, PkiError> {
    let result = match alg {
        KeyAlgorithm::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
    };
    result.map_err(|e| PkiError::generate(format!("{alg:?} key for {what}"), e))
}

/// Makes a new self-signed CA (`gencert -initca`).
pub fn new_ca(spec: &CertSpec, alg: KeyAlgorithm, now: OffsetDateTime) -> Result<Issued, PkiError> {
    let key = new_key(alg, &spec.name)?;
    let params = params_for(spec, now)?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| PkiError::generate("CA certificate", e))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn subject(spec: &CertSpec) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, SUBJECT_C);
    dn.push(DnType::StateOrProvinceName, SUBJECT_ST);
    dn.push(DnType::LocalityName, SUBJECT_L);
    dn.push(DnType::OrganizationName, spec.org.as_str());
    dn.push(DnType::OrganizationalUnitName, SUBJECT_OU);
    dn.push(DnType::CommonName, spec.cn.as_str());
    dn
}

fn san_type(san: &San) -> Result<SanType, rcgen::Error> {
    Ok(match san {
        San::Ip(ip) => SanType::IpAddress(*ip),
        San::Dns(name) => SanType::DnsName(name.as_str().try_into()?),
    })
}

/// Certificate parameters for `spec` valid from `now - BACKDATE` to `now + expiry`.
fn params_for(spec: &CertSpec, now: OffsetDateTime) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(spec);
    params.not_before = now - BACKDATE;
    // `Expiry` guarantees hours <= 87 660 000, so `Duration::hours` cannot overflow.
    let lifetime = i64::try_from(spec.expiry.hours()).ok().map(Duration::hours);
    params.not_after = lifetime.and_then(|l| now.checked_add(l)).ok_or_else(|| {
        PkiError::InvalidSpec(format!(
            "{}: expiry {} reaches past the year 9999; use a shorter CA_EXPIRY / CERT_EXPIRY",
            spec.name, spec.expiry
        ))
    })?;
    params.subject_alt_names = check_sans(spec)?;
    match spec.profile {
        Profile::Ca => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            // cfssl's `gencert -initca` (kubeasz): certificate sign and CRL sign only.
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        Profile::Kubernetes | Profile::Kcfg => {
            params.is_ca = IsCa::ExplicitNoCa;
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            if spec.profile.server_auth() {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth);
            }
            params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
    }
    Ok(params)
}

/// Converts the SANs of `spec` for rcgen; an error names the certificate and the
/// bad entry (a DNS name must be an IA5 string).
pub fn check_sans(spec: &CertSpec) -> Result<Vec<SanType>, PkiError> {
    spec.sans
        .iter()
        .map(|san| {
            san_type(san).map_err(|e| {
                PkiError::InvalidSpec(format!(
                    "{}: SAN {san} is not a valid DNS name ({e}); fix MASTER_CERT_HOSTS / HARBOR_DOMAIN / K8S_NODENAME",
                    spec.name
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Expiry;

    #[test]
    fn validity_is_backdated_and_lasts_expiry() {
        let now = OffsetDateTime::now_utc();
        let spec = CertSpec::user("u", Expiry::from_hours(10).unwrap());
        let p = params_for(&spec, now).unwrap();
        assert_eq!(p.not_before, now - Duration::minutes(5));
        assert_eq!(p.not_after, now + Duration::hours(10));
        assert_eq!(
            p.extended_key_usages,
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        );
    }

    #[test]
    fn expiry_past_year_9999_is_an_error_not_a_wrong_date() {
        let spec = CertSpec::ca(Expiry::from_hours(9_000 * 8_766).unwrap());
        let err = params_for(&spec, OffsetDateTime::now_utc()).unwrap_err();
        assert!(err.to_string().contains("9999"), "{err}");
    }

    #[test]
    fn bad_dns_san_is_reported_with_the_cert_name() {
        let mut spec = CertSpec::user("u", Expiry::from_hours(10).unwrap());
        spec.sans.push(San::Dns("bad\u{e9}name".into()));
        let err = check_sans(&spec).unwrap_err().to_string();
        assert!(err.contains("users/u"), "{err}");
    }

    #[test]
    fn ecdsa_and_rsa_keys_can_be_made() {
        let k = new_key(KeyAlgorithm::EcdsaP256, "t").unwrap();
        assert_eq!(k.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
        let k = new_key(KeyAlgorithm::Rsa2048, "t").unwrap();
        assert_eq!(k.algorithm(), &rcgen::PKCS_RSA_SHA256);
        // 2048-bit modulus: the DER SubjectPublicKey is a bit over 256 bytes.
        assert!(k.public_key_raw().len() > 256 && k.public_key_raw().len() < 300);
    }
}
