//! Host key verification against OpenSSH known_hosts files.
//!
//! Policy (invariants):
//! * a key recorded for the host in `~/.ssh/known_hosts` or the cluster-local file → accepted;
//! * a host recorded with a *different* key (same key type) → always refused, naming both
//!   SHA256 fingerprints; `@revoked` keys → refused;
//! * an unknown host → refused unless `accept_new_host_keys`, in which case the key is
//!   appended to the cluster-local file.
//!
//! Matching (plain names, `[host]:port`, hashed `|1|salt|hash` entries) is libssh2's
//! `KnownHosts`. Lines libssh2 cannot parse (e.g. `sk-` keys) are skipped, not fatal.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, Session};

use crate::b64;
use crate::error::{ExecError, Result};

/// A server's public host key.
#[derive(Debug, Clone)]
pub(crate) struct HostKey {
    pub blob: Vec<u8>,
    pub kind: HostKeyType,
}

impl HostKey {
    pub(crate) fn fingerprint(&self) -> String {
        b64::fingerprint_sha256(&self.blob)
    }
}

/// OpenSSH name of a key type.
pub(crate) fn key_type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// Outcome of looking a key up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Known,
    Unknown,
    /// Recorded with other key(s): their fingerprints and the file holding the first.
    Changed {
        expected: Vec<String>,
        file: PathBuf,
    },
    Revoked {
        file: PathBuf,
    },
}

struct Line {
    file: PathBuf,
    text: String,
}

fn read_lines(files: &[PathBuf]) -> Vec<Line> {
    let mut out = Vec::new();
    for f in files {
        let Ok(content) = std::fs::read_to_string(f) else {
            continue;
        };
        for l in content.lines() {
            let t = l.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            out.push(Line {
                file: f.clone(),
                text: t.to_string(),
            });
        }
    }
    out
}

/// The base64 key field of a known_hosts line (after optional marker, hosts, key type).
fn key_field(line: &str) -> Option<&str> {
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    if first.starts_with('@') {
        first = fields.next()?;
    }
    let _ = first;
    let _ktype = fields.next()?;
    fields.next()
}

/// Look `key` up for `address:port` in `files`. `sess` only provides the libssh2 context.
pub(crate) fn check(
    sess: &Session,
    files: &[PathBuf],
    address: &str,
    port: u16,
    key: &HostKey,
) -> Verdict {
    let lines = read_lines(files);
    // @revoked entries: refuse if the presented key is one of them.
    for l in lines.iter().filter(|l| l.text.starts_with("@revoked")) {
        if key_field(&l.text).and_then(b64::decode).as_deref() == Some(&key.blob[..]) {
            return Verdict::Revoked {
                file: l.file.clone(),
            };
        }
    }
    let usable = |l: &&Line| !l.text.starts_with('@');
    let Ok(mut all) = sess.known_hosts() else {
        return Verdict::Unknown;
    };
    for l in lines.iter().filter(usable) {
        if let Err(e) = all.read_str(&l.text, KnownHostFileKind::OpenSSH) {
            tracing::debug!(file = %l.file.display(), error = %e, "skipping unparsable known_hosts line");
        }
    }
    match all.check_port(address, port, &key.blob) {
        CheckResult::Match => Verdict::Known,
        CheckResult::NotFound | CheckResult::Failure => Verdict::Unknown,
        CheckResult::Mismatch => {
            // Find which lines disagree, to show their fingerprints.
            let mut expected = Vec::new();
            let mut file = None;
            for l in lines.iter().filter(usable) {
                let Ok(mut one) = sess.known_hosts() else {
                    continue;
                };
                if one.read_str(&l.text, KnownHostFileKind::OpenSSH).is_err() {
                    continue;
                }
                if matches!(
                    one.check_port(address, port, &key.blob),
                    CheckResult::Mismatch
                ) && let Some(blob) = key_field(&l.text).and_then(b64::decode)
                {
                    let fp = b64::fingerprint_sha256(&blob);
                    if !expected.contains(&fp) {
                        expected.push(fp);
                    }
                    file.get_or_insert_with(|| l.file.clone());
                }
            }
            Verdict::Changed {
                expected,
                file: file.unwrap_or_default(),
            }
        }
    }
}

/// Key types recorded for `address:port` (e.g. `ssh-ed25519`), in file order.
///
/// A line "is for" the host when libssh2 reports a mismatch for a dummy key (libssh2 compares
/// keys only after the host pattern, plain or hashed, matched).
pub(crate) fn known_key_types(
    sess: &Session,
    files: &[PathBuf],
    address: &str,
    port: u16,
) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for l in read_lines(files)
        .iter()
        .filter(|l| !l.text.starts_with('@'))
    {
        let Ok(mut one) = sess.known_hosts() else {
            continue;
        };
        if one.read_str(&l.text, KnownHostFileKind::OpenSSH).is_err() {
            continue;
        }
        if matches!(one.check_port(address, port, b"\0"), CheckResult::Mismatch)
            && let Some(t) = l.text.split_whitespace().nth(1)
            && !types.iter().any(|x| x == t)
        {
            types.push(t.to_string());
        }
    }
    types
}

/// Host key algorithm preference: the types already recorded for the host first (as
/// OpenSSH does), so a host with several keys is not mistaken for a changed one; then the
/// rest of `supported`. `None` when nothing is recorded (libssh2's default order is fine).
pub(crate) fn hostkey_prefs(known: &[String], supported: &[&str]) -> Option<String> {
    if known.is_empty() {
        return None;
    }
    let mut order: Vec<&str> = Vec::new();
    for t in known {
        let algs: &[&str] = match t.as_str() {
            "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            other => &[other][..],
        };
        for a in algs {
            if let Some(s) = supported.iter().find(|s| *s == a)
                && !order.contains(s)
            {
                order.push(s);
            }
        }
    }
    for s in supported {
        if !order.contains(s) {
            order.push(s);
        }
    }
    Some(order.join(","))
}

/// The known_hosts token for a host: `host` on port 22, else `[host]:port`.
pub(crate) fn host_token(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

static APPEND_LOCK: Mutex<()> = Mutex::new(());

/// Append `key` for `address:port` to `file` (created with its directory if missing).
pub(crate) fn append(file: &Path, address: &str, port: u16, key: &HostKey) -> std::io::Result<()> {
    let _guard = APPEND_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let line = format!(
        "{} {} {}\n",
        host_token(address, port),
        key_type_name(key.kind),
        b64::encode(&key.blob, true)
    );
    let mut f = OpenOptions::new().create(true).append(true).open(file)?;
    f.write_all(line.as_bytes())?;
    f.sync_all()
}

/// Files consulted, in order.
pub(crate) fn files(cfg: &crate::ExecutorConfig) -> Vec<PathBuf> {
    cfg.user_known_hosts
        .iter()
        .chain(cfg.cluster_known_hosts.iter())
        .cloned()
        .collect()
}

/// Verify the key of an established (handshaken) session; see the module policy.
pub(crate) fn verify(
    sess: &Session,
    name: &str,
    address: &str,
    port: u16,
    cfg: &crate::ExecutorConfig,
) -> Result<()> {
    let Some((blob, kind)) = sess.host_key() else {
        return Err(ExecError::Ssh {
            host: name.to_string(),
            context: "host key check".into(),
            message: "server sent no host key".into(),
        });
    };
    let key = HostKey {
        blob: blob.to_vec(),
        kind,
    };
    let files = files(cfg);
    let shown = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(" or ");
    match check(sess, &files, address, port, &key) {
        Verdict::Known => Ok(()),
        Verdict::Changed { expected, file } => Err(ExecError::HostKeyChanged {
            host: name.to_string(),
            expected: expected.join("/"),
            actual: key.fingerprint(),
            known_hosts: file.display().to_string(),
        }),
        Verdict::Revoked { file } => Err(ExecError::HostKeyChanged {
            host: name.to_string(),
            expected: "(key is @revoked)".into(),
            actual: key.fingerprint(),
            known_hosts: file.display().to_string(),
        }),
        Verdict::Unknown if cfg.accept_new_host_keys => {
            match &cfg.cluster_known_hosts {
                Some(file) => {
                    append(file, address, port, &key).map_err(|source| ExecError::Io {
                        host: name.to_string(),
                        path: file.clone(),
                        source,
                    })?
                }
                None => tracing::warn!(
                    host = name,
                    "accepting new host key without recording it (no cluster known_hosts file configured)"
                ),
            }
            tracing::info!(host = name, fingerprint = %key.fingerprint(), "accepted new host key");
            Ok(())
        }
        Verdict::Unknown => Err(ExecError::UnknownHostKey {
            host: name.to_string(),
            fingerprint: format!("{} {}", key_type_name(key.kind), key.fingerprint()),
            known_hosts: if shown.is_empty() {
                "a known_hosts file".into()
            } else {
                shown
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIC07TID/hlIJQeZahuss29Z4IjpOVDdaZbDVVrJRXtG1";
    const K1_FP: &str = "SHA256:sAhApsiMf8tlydwa2RZPlTp/iH3s2lPXFiXKOZJwIfw";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAICo22htoDr/dD+ga/wXwbz1UZzgGWDpD9doLADUYSapy";
    const K2_FP: &str = "SHA256:yWB2hChKxOInLKjxvxZNh4WYPBFlM8aTCQpuYU5EAlw";
    // `ssh-keygen -H` of "10.9.8.7 K1" and "[10.9.8.7]:2222 K2".
    const HASHED: &str = "|1|JC3KByksKrPPzEGhOj2+Ed5SlAg=|LaGXelaPiMkpYoohhgGwUyZY0V4= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC07TID/hlIJQeZahuss29Z4IjpOVDdaZbDVVrJRXtG1
|1|jx6xOD5w5EUgYaEXzvRiQeSfsfw=|OXahJU0nWYSFa8cONLndr6qlgGw= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICo22htoDr/dD+ga/wXwbz1UZzgGWDpD9doLADUYSapy
";

    fn key(b: &str) -> HostKey {
        HostKey {
            blob: b64::decode(b).unwrap(),
            kind: HostKeyType::Ed25519,
        }
    }

    fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn plain_entries_match_unknown_and_changed() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "kh",
            &format!("# comment\n10.9.8.7 ssh-ed25519 {K1}\nbogus line\n"),
        );
        let s = Session::new().unwrap();
        assert_eq!(
            check(&s, std::slice::from_ref(&f), "10.9.8.7", 22, &key(K1)),
            Verdict::Known
        );
        assert_eq!(
            check(&s, std::slice::from_ref(&f), "10.9.8.8", 22, &key(K1)),
            Verdict::Unknown
        );
        match check(&s, std::slice::from_ref(&f), "10.9.8.7", 22, &key(K2)) {
            Verdict::Changed { expected, file } => {
                assert_eq!(expected, vec![K1_FP.to_string()]);
                assert_eq!(file, f);
            }
            v => panic!("{v:?}"),
        }
        assert_eq!(key(K2).fingerprint(), K2_FP);
    }

    #[test]
    fn hashed_and_port_entries() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "kh", HASHED);
        let s = Session::new().unwrap();
        assert_eq!(
            check(&s, std::slice::from_ref(&f), "10.9.8.7", 22, &key(K1)),
            Verdict::Known
        );
        assert_eq!(
            check(&s, std::slice::from_ref(&f), "10.9.8.7", 2222, &key(K2)),
            Verdict::Known
        );
        assert_eq!(
            check(&s, std::slice::from_ref(&f), "10.9.8.9", 2222, &key(K2)),
            Verdict::Unknown
        );
        match check(&s, &[f], "10.9.8.7", 22, &key(K2)) {
            Verdict::Changed { expected, .. } => assert_eq!(expected, vec![K1_FP.to_string()]),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn second_file_is_consulted_and_missing_files_ignored() {
        let d = tempfile::tempdir().unwrap();
        let user = d.path().join("does-not-exist");
        let cluster = write(
            d.path(),
            "cluster",
            &format!("[10.9.8.7]:2200 ssh-ed25519 {K2}\n"),
        );
        let s = Session::new().unwrap();
        assert_eq!(
            check(&s, &[user, cluster], "10.9.8.7", 2200, &key(K2)),
            Verdict::Known
        );
    }

    #[test]
    fn revoked_key_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "kh",
            &format!("@revoked * ssh-ed25519 {K1}\n10.9.8.7 ssh-ed25519 {K1}\n"),
        );
        let s = Session::new().unwrap();
        assert!(matches!(
            check(&s, &[f], "10.9.8.7", 22, &key(K1)),
            Verdict::Revoked { .. }
        ));
    }

    #[test]
    fn recorded_key_types_come_first() {
        let d = tempfile::tempdir().unwrap();
        let f = write(d.path(), "kh", &format!("10.9.8.6 ssh-rsa {K2}\n{HASHED}"));
        let s = Session::new().unwrap();
        let files = std::slice::from_ref(&f);
        assert_eq!(
            known_key_types(&s, files, "10.9.8.7", 22),
            vec!["ssh-ed25519"]
        );
        assert_eq!(known_key_types(&s, files, "10.9.8.6", 22), vec!["ssh-rsa"]);
        assert!(known_key_types(&s, files, "10.9.8.5", 22).is_empty());
        let sup = [
            "ecdsa-sha2-nistp256",
            "ssh-ed25519",
            "rsa-sha2-512",
            "rsa-sha2-256",
            "ssh-rsa",
        ];
        assert_eq!(
            hostkey_prefs(&["ssh-rsa".into()], &sup).unwrap(),
            "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ecdsa-sha2-nistp256,ssh-ed25519"
        );
        assert_eq!(
            hostkey_prefs(&["ssh-ed25519".into()], &sup).unwrap(),
            "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa"
        );
        assert!(hostkey_prefs(&[], &sup).is_none());
    }

    #[test]
    fn append_then_known() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("sub/known_hosts");
        append(&f, "10.1.1.1", 2222, &key(K1)).unwrap();
        append(&f, "10.1.1.2", 22, &key(K2)).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains(&format!("[10.1.1.1]:2222 ssh-ed25519 {K1}")));
        assert!(text.contains(&format!("\n10.1.1.2 ssh-ed25519 {K2}")));
        let s = Session::new().unwrap();
        assert_eq!(
            check(&s, std::slice::from_ref(&f), "10.1.1.1", 2222, &key(K1)),
            Verdict::Known
        );
        assert_eq!(check(&s, &[f], "10.1.1.2", 22, &key(K2)), Verdict::Known);
    }
}
