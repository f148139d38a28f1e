//! Turning the sidecar's log into result files in the output directory.
//!
//! Invariant: files are written only after the whole tarball decoded and its e2e.log or
//! junit_01.xml was found in it.

use super::{BEGIN_MARK, END_MARK, RunError};
use std::path::{Path, PathBuf};

/// Standard base64 (RFC 4648) decoding, ignoring line breaks and blanks.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a' + 26) as u32),
            b'0'..=b'9' => Some((c - b'0' + 52) as u32),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        let v = val(c).ok_or_else(|| format!("invalid base64 byte 0x{c:02x}"))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// The base64 text between the markers, once the end marker has been seen.
pub fn between_markers(lines: &[String]) -> Option<String> {
    let start = lines.iter().position(|l| l.trim() == BEGIN_MARK)?;
    let end = start + lines[start..].iter().position(|l| l.trim() == END_MARK)?;
    Some(lines[start + 1..end].join("\n"))
}

/// Decodes the tarball and writes `e2e.tar.gz`, `e2e.log` and `junit_01.xml` into `out`.
pub fn write_results(b64: &str, out: &Path) -> Result<Vec<PathBuf>, RunError> {
    let bytes = base64_decode(b64).map_err(RunError::Results)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let tarball = out.join("e2e.tar.gz");
    std::fs::write(&tarball, &bytes).map_err(io(&tarball))?;
    let files = crate::source::load(std::slice::from_ref(&tarball))
        .map_err(|e| RunError::Results(e.to_string()))?;
    let mut written = vec![tarball];
    for (name, data) in [("e2e.log", &files.e2e_log), ("junit_01.xml", &files.junit)] {
        if let Some(d) = data {
            let p = out.join(name);
            std::fs::write(&p, d).map_err(io(&p))?;
            written.push(p);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_against_known_vectors() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ==\n").unwrap(), b"M");
        assert_eq!(base64_decode("aGVs\nbG8=").unwrap(), b"hello");
        assert!(base64_decode("a$b").is_err());
    }

    #[test]
    fn markers() {
        let l: Vec<String> = ["x", BEGIN_MARK, "TWFu", END_MARK, "y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(between_markers(&l).as_deref(), Some("TWFu"));
        assert!(between_markers(&l[..3]).is_none(), "no end marker yet");
    }
}
