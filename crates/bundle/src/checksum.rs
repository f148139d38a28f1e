//! SHA-256 values, the upstream checksum-file formats, and the checksum table kept in the
//! repository.
//!
//! Invariant: a [`Sha256`] always holds exactly 32 bytes; parsing never guesses — a line in an
//! unexpected format is an error naming the file and the line, never "no checksum".

use crate::error::{BundleError, Result};
use sha2::{Digest, Sha256 as Hasher};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A SHA-256 digest (32 bytes), shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// Parses 64 hex digits (either case); `sha256:` prefix allowed.
    pub fn parse(s: &str) -> Option<Sha256> {
        let s = s.trim();
        let s = s.strip_prefix("sha256:").unwrap_or(s);
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Sha256(out))
    }

    /// Digest of an in-memory buffer.
    pub fn of(data: &[u8]) -> Sha256 {
        Sha256(Hasher::digest(data).into())
    }

    /// 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Digest of a file, read in 1 MiB blocks on a blocking thread.
    pub async fn of_file(path: &Path) -> Result<(Sha256, u64)> {
        let p = path.to_path_buf();
        tokio::task::spawn_blocking(move || hash_file_blocking(&p))
            .await
            .map_err(|e| BundleError::Other(format!("hashing task failed: {e}")))?
    }
}

/// Synchronous file hash; returns the digest and the number of bytes read.
pub fn hash_file_blocking(path: &Path) -> Result<(Sha256, u64)> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| BundleError::io("open", path, e))?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f
            .read(&mut buf)
            .map_err(|e| BundleError::io("read", path, e))?;
        if r == 0 {
            break;
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
    Ok((Sha256(h.finalize().into()), n))
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

/// One parsed line of a checksum file: the digest and the file name it names (none for a
/// bare-hash file such as dl.k8s.io's `kubelet.sha256`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumLine {
    pub sha256: Sha256,
    pub name: Option<String>,
}

/// Parses a checksum file in any of the formats upstreams publish:
/// - bare hash: `<hex>`
/// - GNU text/binary mode: `<hex>  <name>` / `<hex> *<name>`
/// - BSD tag: `SHA256 (<name>) = <hex>`
///
/// Empty lines and `#` comments are skipped. `url` only names the file in errors.
pub fn parse_checksum_file(url: &str, text: &str) -> Result<Vec<ChecksumLine>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || BundleError::ChecksumFormat {
            url: url.to_string(),
            line: i + 1,
            text: line.chars().take(120).collect(),
        };
        if let Some(rest) = line.strip_prefix("SHA256 (") {
            let (name, hash) = rest.rsplit_once(") = ").ok_or_else(bad)?;
            let sha256 = Sha256::parse(hash).ok_or_else(bad)?;
            out.push(ChecksumLine {
                sha256,
                name: Some(base_name(name).to_string()),
            });
            continue;
        }
        let (hash, rest) = match line.split_once(char::is_whitespace) {
            Some((h, r)) => (h, Some(r)),
            None => (line, None),
        };
        let sha256 = Sha256::parse(hash).ok_or_else(bad)?;
        let name = match rest {
            None => None,
            Some(r) => {
                let r = r.trim_start();
                let r = r.strip_prefix('*').unwrap_or(r);
                if r.is_empty() || r.contains(char::is_whitespace) {
                    return Err(bad());
                }
                Some(base_name(r).to_string())
            }
        };
        out.push(ChecksumLine { sha256, name });
    }
    if out.is_empty() {
        return Err(BundleError::ChecksumFormat {
            url: url.to_string(),
            line: 1,
            text: "(no checksum lines)".into(),
        });
    }
    Ok(out)
}

/// Picks the digest for `name` from a parsed checksum file. A file with a single bare hash
/// applies to the file it sits beside; otherwise the entry must name `name` (by base name,
/// since SHA256SUMS files may list `./name` or `dir/name`).
pub fn pick(url: &str, lines: &[ChecksumLine], name: &str) -> Result<Sha256> {
    if let [only] = lines
        && only.name.is_none()
    {
        return Ok(only.sha256);
    }
    lines
        .iter()
        .find(|l| l.name.as_deref() == Some(base_name(name)))
        .map(|l| l.sha256)
        .ok_or_else(|| BundleError::ChecksumMissing {
            url: url.to_string(),
            name: name.to_string(),
        })
}

fn base_name(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The checksum table kept in the repository (`crates/bundle/data/checksums-*.sha256`).
///
/// Format: GNU `sha256sum` lines whose name is the artifact's upstream URL without the scheme,
/// e.g. `<hex>  dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet`. The table wins over any
/// upstream checksum file. Entries are only ever added from published upstream checksums —
/// never computed from a download made here.
#[derive(Debug, Clone, Default)]
pub struct ChecksumTable {
    entries: BTreeMap<String, Sha256>,
}

impl ChecksumTable {
    /// Parses a table; `origin` names it in errors. Duplicate keys with different values are
    /// an error (a table must never be ambiguous).
    pub fn parse(origin: &str, text: &str) -> Result<ChecksumTable> {
        let mut entries = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |msg: &str| BundleError::ChecksumTable {
                path: origin.to_string(),
                line: i + 1,
                msg: msg.to_string(),
            };
            let (hash, key) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| err("expected '<sha256>  <host/path>'"))?;
            let sha = Sha256::parse(hash).ok_or_else(|| err("not a sha256 (64 hex digits)"))?;
            let key = key.trim().trim_start_matches('*').to_string();
            if key.is_empty() || key.contains("://") {
                return Err(err(
                    "the key is the URL without its scheme, e.g. dl.k8s.io/release/...",
                ));
            }
            if let Some(prev) = entries.insert(key, sha)
                && prev != sha
            {
                return Err(err("the same file appears twice with different checksums"));
            }
        }
        Ok(ChecksumTable { entries })
    }

    /// Loads a table from a file.
    pub fn load(path: &Path) -> Result<ChecksumTable> {
        let text = std::fs::read_to_string(path).map_err(|e| BundleError::io("read", path, e))?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The table shipped in the repository for the default versions. It may be empty: only
    /// checksums copied from upstream release notes belong there.
    pub fn builtin() -> Result<ChecksumTable> {
        Self::parse(
            "crates/bundle/data/checksums-kubeasz-3.7.0.sha256",
            include_str!("../data/checksums-kubeasz-3.7.0.sha256"),
        )
    }

    /// Adds every entry of `other` (other wins).
    pub fn merge(&mut self, other: ChecksumTable) {
        self.entries.extend(other.entries);
    }

    /// The digest for an upstream URL (scheme ignored), if the table has one.
    pub fn get(&self, url: &str) -> Option<Sha256> {
        let key = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        self.entries.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const H2: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn empty_digest() {
        assert_eq!(Sha256::of(b"").hex(), H);
        assert_eq!(
            Sha256::parse(&format!("sha256:{}", H.to_uppercase())),
            Sha256::parse(H)
        );
        assert!(Sha256::parse("abc").is_none());
        assert!(Sha256::parse(&"z".repeat(64)).is_none());
    }

    #[test]
    fn all_formats() {
        let bare = parse_checksum_file("u", &format!("{H}\n")).unwrap();
        assert_eq!(pick("u", &bare, "kubelet").unwrap().hex(), H);

        let gnu =
            format!("{H}  etcd-v3.7.1-linux-amd64.tar.gz\n{H2}  etcd-v3.7.1-linux-arm64.tar.gz\n");
        let l = parse_checksum_file("u", &gnu).unwrap();
        assert_eq!(
            pick("u", &l, "etcd-v3.7.1-linux-arm64.tar.gz")
                .unwrap()
                .hex(),
            H2
        );

        let bin = format!("{H2} *runc.amd64\n{H} *runc.arm64\n");
        let l = parse_checksum_file("u", &bin).unwrap();
        assert_eq!(pick("u", &l, "runc.amd64").unwrap().hex(), H2);

        let bsd = format!("SHA256 (helm-v4.2.3-linux-amd64.tar.gz) = {H2}\n");
        let l = parse_checksum_file("u", &bsd).unwrap();
        assert_eq!(
            pick("u", &l, "helm-v4.2.3-linux-amd64.tar.gz")
                .unwrap()
                .hex(),
            H2
        );

        let dotted = format!("# comment\n\n{H}  ./bin/calicoctl-linux-amd64\n");
        let l = parse_checksum_file("u", &dotted).unwrap();
        assert_eq!(pick("u", &l, "calicoctl-linux-amd64").unwrap().hex(), H);
    }

    #[test]
    fn unexpected_formats_are_errors() {
        for bad in [
            "<!DOCTYPE html><html>",
            "md5 d41d8cd98f00b204e9800998ecf8427e",
            &format!("{H}  two names"),
            "",
            "SHA256 (x) = nothex",
        ] {
            let e = parse_checksum_file("http://m/x.sha256", bad).unwrap_err();
            assert!(
                matches!(e, BundleError::ChecksumFormat { .. }),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn missing_name_is_an_error() {
        let l = parse_checksum_file("u", &format!("{H}  a\n{H2}  b\n")).unwrap();
        assert!(matches!(
            pick("u", &l, "c"),
            Err(BundleError::ChecksumMissing { .. })
        ));
    }

    #[test]
    fn table_parses_and_looks_up_without_scheme() {
        let t = ChecksumTable::parse(
            "t",
            &format!("# test table\n{H}  dl.k8s.io/release/v1.0.0/bin/linux/amd64/kubelet\n"),
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.get("https://dl.k8s.io/release/v1.0.0/bin/linux/amd64/kubelet")
                .map(|s| s.hex()),
            Some(H.to_string())
        );
        assert!(
            t.get("https://dl.k8s.io/release/v1.0.0/bin/linux/arm64/kubelet")
                .is_none()
        );
    }

    #[test]
    fn table_rejects_bad_lines() {
        assert!(ChecksumTable::parse("t", "nothash  a/b").is_err());
        assert!(ChecksumTable::parse("t", &format!("{H}  https://a/b")).is_err());
        assert!(ChecksumTable::parse("t", &format!("{H}  a/b\n{H2}  a/b")).is_err());
        assert!(ChecksumTable::parse("t", H).is_err());
    }

    #[test]
    fn builtin_table_loads() {
        ChecksumTable::builtin().unwrap();
    }

    /// The table's keys are exactly the catalog's URLs for the default versions (a change of
    /// URL layout or version would silently bypass the table otherwise), for both arches.
    #[test]
    fn builtin_table_covers_the_default_catalog() {
        use crate::catalog::{Arch, binaries};
        let t = ChecksumTable::builtin().unwrap();
        let mut matched = 0;
        for arch in [Arch::Amd64, Arch::Arm64] {
            let arts = binaries(&ez_inventory::VersionTable::default(), arch).unwrap();
            let covered: Vec<&str> = arts
                .iter()
                .filter(|a| t.get(&a.url).is_some())
                .map(|a| a.id.as_str())
                .collect();
            matched += covered.len();
            for id in ["kubelet", "kubectl", "containerd", "cni-plugins", "crictl"] {
                assert!(covered.contains(&id), "{arch:?}: {id} not in the table");
            }
        }
        assert_eq!(matched, t.len(), "every entry must match a catalog URL");
    }
}
