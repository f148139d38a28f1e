//! Kubernetes release versions as they appear in results (`v1.26.6`, `v1.26`, `1.26`).

use std::fmt;
use std::str::FromStr;

/// A Kubernetes version. Invariant: `major` is 1 for every release this crate knows about; a
/// missing patch is `None` (a release line such as `v1.26`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: Option<u32>,
}

/// A string that is not a Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Kubernetes version (expected v1.NN or v1.NN.P)")]
pub struct VersionParseError(pub String);

impl KubeVersion {
    /// The release line only: `v1.26.6` → `v1.26`.
    pub fn release(self) -> KubeVersion {
        KubeVersion {
            patch: None,
            ..self
        }
    }

    /// `v1.26`, whatever the patch.
    pub fn release_string(self) -> String {
        format!("v{}.{}", self.major, self.minor)
    }

    /// Finds the first `vMAJOR.MINOR[.PATCH]` token in `s` (used on log lines).
    pub fn find_in(s: &str) -> Option<KubeVersion> {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'v' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                let rest = &s[i + 1..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(rest.len());
                if let Ok(v) = rest[..end].trim_end_matches('.').parse::<KubeVersion>() {
                    return Some(v);
                }
            }
            i += 1;
        }
        None
    }
}

impl FromStr for KubeVersion {
    type Err = VersionParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionParseError(s.to_string());
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        // Drop build metadata / pre-release suffixes (`v1.26.6+k3s1`, `v1.27.0-rc.1`).
        let t = t.split(['+', '-']).next().unwrap_or(t);
        let mut parts = t.split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(err)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(err)?;
        let patch = match parts.next() {
            None => None,
            Some(p) => Some(p.parse().map_err(|_| err())?),
        };
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(KubeVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "v{}.{}.{}", self.major, self.minor, p),
            None => write!(f, "v{}.{}", self.major, self.minor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_release_forms() {
        let v: KubeVersion = "v1.26.6".parse().unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 26, Some(6)));
        assert_eq!(v.to_string(), "v1.26.6");
        assert_eq!(v.release().to_string(), "v1.26");
        let r: KubeVersion = "1.33".parse().unwrap();
        assert_eq!(r.to_string(), "v1.33");
        let k3s: KubeVersion = "v1.30.2+k3s1".parse().unwrap();
        assert_eq!(k3s.to_string(), "v1.30.2");
    }

    #[test]
    fn rejects_garbage() {
        assert!("latest".parse::<KubeVersion>().is_err());
        assert!("v1".parse::<KubeVersion>().is_err());
        assert!("v1.2.3.4".parse::<KubeVersion>().is_err());
        assert!("v1.x".parse::<KubeVersion>().is_err());
    }

    #[test]
    fn finds_version_in_a_log_line() {
        let l = "Feb 16 11:58:43.547: INFO: e2e test version: v1.20.2";
        assert_eq!(KubeVersion::find_in(l).unwrap().to_string(), "v1.20.2");
        assert!(KubeVersion::find_in("no version here, v-ish").is_none());
    }
}
