//! Minimal standard base64 (RFC 4648) used for known_hosts keys and fingerprints.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encode `data`; `pad` adds trailing `=` (OpenSSH fingerprints omit it).
pub fn encode(data: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Decode standard base64 (padding optional, whitespace ignored). `None` on bad input.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            break;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
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
