//! Base64 (RFC 4648, the `base64` crate) as OpenSSH writes it: known_hosts keys and
//! `SHA256:` fingerprints.

use base64::Engine;
use base64::alphabet::STANDARD as ALPHABET;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, STANDARD_NO_PAD,
};

/// Decoding as lenient as OpenSSH's readers: padding optional, stray low bits of the last
/// character ignored (a key body cut short still yields its leading bytes).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &ALPHABET,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encode `data`; `pad` adds trailing `=` (OpenSSH fingerprints omit it).
pub fn encode(data: &[u8], pad: bool) -> String {
    if pad {
        STANDARD.encode(data)
    } else {
        STANDARD_NO_PAD.encode(data)
    }
}

/// Decode standard base64 (padding optional, whitespace ignored). `None` on bad input.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact.trim_end_matches('=')).ok()
}

/// OpenSSH-style fingerprint of a public key blob: `SHA256:<base64 without padding>`.
pub fn fingerprint_sha256(key_blob: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key_blob);
    format!("SHA256:{}", encode(&digest, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(encode(plain.as_bytes(), true), enc);
            assert_eq!(decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(encode(b"f", false), "Zg");
        assert_eq!(decode("Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(decode("Zg").unwrap(), b"f");
        assert_eq!(decode("Zh").unwrap(), b"f", "stray low bits are ignored");
        assert!(decode("a*b").is_none());
    }

    #[test]
    fn fingerprint_matches_openssh() {
        // `ssh-keygen -lf` of this ed25519 public key prints this fingerprint.
        let blob =
            decode("AAAAC3NzaC1lZDI1NTE5AAAAIOXuSJDxIhdCRd8UvN4yUn2zi+PaHzC3W2kbsRkpDPnS").unwrap();
        assert_eq!(
            fingerprint_sha256(&blob),
            "SHA256:s1coqlQutA4vY8q5Xw+et+m0u4ZZyJgQk1J4CA+ip/o"
        );
    }
}
