//! `~/.kube/config` on the deploy host: a copy of the current cluster's
//! `clusters/<c>/kubectl.kubeconfig` (kubeasz's role `deploy` copies it there, mode 0400;
//! `ezctl checkout <c>` switches it).
//!
//! Invariants:
//! * The file is written atomically (temp file + rename) with mode 0400; `~/.kube` is created
//!   with mode 0700 when missing; the home itself is never created.
//! * A file already there is *ours* when it is byte-identical to the one ezctl installed last
//!   (its SHA-256 and cluster folder are recorded in `~/.kube/.ezctl-current`), or when, the
//!   `server:` lines aside, it equals the `kubectl.kubeconfig` of a cluster under
//!   `<base>/clusters` (the comparison of `ezctl list`; kubeasz's copies are ours too). Ours is
//!   replaced as it is.
//! * Anything else there — another tool's kubeconfig, a hand-edited copy, a symlink — is
//!   renamed to `config.bak-ezctl-<UTC YYYYmmddHHMMSS>` before ours is written, and put back
//!   if writing ours fails: it is never lost, and it is backed up once (afterwards the file
//!   is ours).
//! * A directory or other non-file at `~/.kube/config` is refused; nothing is changed.

use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};

/// Which runs install the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The cluster becomes current (setup of step 01/all, start-aio, checkout).
    MakeCurrent,
    /// Only when the cluster is already the current one, unchanged since ezctl installed it
    /// (kca-renew, add/del-master remake the admin kubeconfig).
    RefreshIfCurrent,
}

/// What [`install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `~/.kube/config`.
    pub path: PathBuf,
    /// Where a foreign file was moved before ours was written.
    pub backup: Option<PathBuf>,
    /// Whether `~/.kube/config` was (re)written: false when it already held exactly this
    /// kubeconfig with mode 0400, or when a refresh found another cluster current.
    pub written: bool,
}

/// Why `~/.kube/config` could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("no admin kubeconfig at {0} (run 'ezctl setup <cluster> 01' first)")]
    NoKubeconfig(PathBuf),
    #[error("home directory {0} does not exist (set HOME or EZ_HOME)")]
    NoHome(PathBuf),
    #[error("{0} is not a file; move it away to install the cluster's kubeconfig there")]
    NotAFile(PathBuf),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KubeconfigError {
    let path = path.to_path_buf();
    move |source| KubeconfigError::Io { what, path, source }
}

/// The record of the last install: `sha256 <hex>` and `cluster <cluster dir>` lines.
const RECORD: &str = ".ezctl-current";
/// The mode of `~/.kube/config` (kubeasz: `copy … mode=0400`).
pub const MODE: u32 = 0o400;

/// `<home>/.kube/config`.
pub fn path(home: &Path) -> PathBuf {
    home.join(".kube").join("config")
}

/// A kubeconfig without its `server:` lines: `~/.kube/config` may point at another master
/// and still be the same cluster's (kubeasz's `ezctl list` compares this way).
pub fn without_server(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("server:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The one line a backup is announced with.
pub fn backup_note(config: &Path, backup: &Path) -> String {
    format!(
        "kubeconfig: {} was not written by ezctl; kept as {}",
        config.display(),
        backup.display()
    )
}

/// What is at `~/.kube/config` now.
enum Existing {
    Absent,
    /// A regular file with these bytes and permission bits.
    File(Vec<u8>, u32),
    /// A symlink: never ours.
    Link,
}

fn existing(dest: &Path) -> Result<Existing, KubeconfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(e) => return Err(io_err("read", dest)(e)),
    };
    if meta.file_type().is_symlink() {
        return Ok(Existing::Link);
    }
    if !meta.is_file() {
        return Err(KubeconfigError::NotAFile(dest.to_path_buf()));
    }
    let bytes = std::fs::read(dest).map_err(io_err("read", dest))?;
    Ok(Existing::File(bytes, meta.permissions().mode() & 0o7777))
}

/// The recorded (sha256 hex, cluster dir) of the last install, if readable.
fn read_record(kube_dir: &Path) -> Option<(String, PathBuf)> {
    let text = std::fs::read_to_string(kube_dir.join(RECORD)).ok()?;
    let mut sha = None;
    let mut dir = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("sha256", v)) => sha = Some(v.to_string()),
            Some(("cluster", v)) => dir = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    Some((sha?, dir?))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `bytes` equals, servers aside, the admin kubeconfig of a cluster under `base`.
fn is_a_clusters_kubeconfig(base: &Path, bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mine = without_server(text);
    let Ok(entries) = std::fs::read_dir(base.join("clusters")) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        std::fs::read_to_string(e.path().join("kubectl.kubeconfig"))
            .is_ok_and(|t| without_server(&t) == mine)
    })
}

/// A free `config.bak-ezctl-<UTC timestamp>[-N]` name beside `dest`.
fn backup_path(dest: &Path) -> PathBuf {
    let stamp = ez_pki::ensure::compact_stamp(time::OffsetDateTime::now_utc());
    let name = |n: u32| {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        dest.with_file_name(format!("config.bak-ezctl-{stamp}{suffix}"))
    };
    let mut n = 0;
    while std::fs::symlink_metadata(name(n)).is_ok() {
        n += 1;
    }
    name(n)
}

/// Installs `<cluster_dir>/kubectl.kubeconfig` as `<home>/.kube/config` following the rules of
/// this module.
pub fn install(
    home: &Path,
    base: &Path,
    cluster_dir: &Path,
    when: When,
) -> Result<Outcome, KubeconfigError> {
    let src = cluster_dir.join("kubectl.kubeconfig");
    let new = match std::fs::read(&src) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KubeconfigError::NoKubeconfig(src));
        }
        Err(e) => return Err(io_err("read", &src)(e)),
    };
    if !home.is_dir() {
        return Err(KubeconfigError::NoHome(home.to_path_buf()));
    }
    // The cluster as recorded: its folder's canonical path (`--base .` from anywhere).
    let cluster_id =
        std::fs::canonicalize(cluster_dir).unwrap_or_else(|_| cluster_dir.to_path_buf());
    let kube_dir = home.join(".kube");
    let dest = path(home);
    let mut outcome = Outcome {
        path: dest.clone(),
        backup: None,
        written: false,
    };
    let record = read_record(&kube_dir);
    let current = existing(&dest)?;
    let recorded = |bytes: &[u8]| {
        record
            .as_ref()
            .is_some_and(|(sha, _)| *sha == sha256_hex(bytes))
    };
    if when == When::RefreshIfCurrent {
        let this_cluster = record.as_ref().is_some_and(|(_, d)| *d == cluster_id);
        let unchanged = matches!(&current, Existing::File(b, _) if recorded(b));
        if !(this_cluster && unchanged) {
            return Ok(outcome);
        }
    }
    let (foreign, same) = match &current {
        Existing::Absent => (false, false),
        Existing::Link => (true, false),
        Existing::File(b, mode) => (
            !(*b == new || recorded(b) || is_a_clusters_kubeconfig(base, b)),
            *b == new && *mode == MODE,
        ),
    };
    if !kube_dir.is_dir() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&kube_dir)
            .map_err(io_err("create", &kube_dir))?;
    }
    if foreign {
        let b = backup_path(&dest);
        std::fs::rename(&dest, &b).map_err(io_err("back up", &dest))?;
        outcome.backup = Some(b);
    }
    if !same {
        if let Err(e) = ez_inventory::write_atomic_mode(&dest, &new, Some(MODE)) {
            if let Some(b) = &outcome.backup {
                let _ = std::fs::rename(b, &dest);
            }
            return Err(io_err("write", &dest)(e));
        }
        outcome.written = true;
    }
    let rec = format!(
        "sha256 {}\ncluster {}\n",
        sha256_hex(&new),
        cluster_id.display()
    );
    let rec_path = kube_dir.join(RECORD);
    ez_inventory::write_atomic_mode(&rec_path, rec.as_bytes(), Some(0o600))
        .map_err(io_err("write", &rec_path))?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A base with clusters `a` and `b` (admin kubeconfigs `A`, `B`) and an empty home.
    fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().expect("tmp");
        let base = t.path().join("base");
        for (c, body) in [("a", "A"), ("b", "B")] {
            let d = base.join("clusters").join(c);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(
                d.join("kubectl.kubeconfig"),
                format!("server: https://{c}\nuser: {body}\n"),
            )
            .expect("kc");
        }
        let home = t.path().join("home");
        std::fs::create_dir(&home).expect("home");
        (t, base, home)
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
    }

    fn backups(home: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(home.join(".kube"))
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("config.bak-ezctl-"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn installs_mode_0400_and_switches_without_backups() {
        let (_t, base, home) = fixture();
        let a = base.join("clusters/a");
        let o = install(&home, &base, &a, When::MakeCurrent).expect("install");
        assert!(o.written && o.backup.is_none());
        let cfg = path(&home);
        assert_eq!(
            std::fs::read_to_string(&cfg).expect("read"),
            "server: https://a\nuser: A\n"
        );
        assert_eq!(mode(&cfg), 0o400);
        assert_eq!(mode(&home.join(".kube")), 0o700);
        // Again: nothing to write.
        let o = install(&home, &base, &a, When::MakeCurrent).expect("again");
        assert!(!o.written && o.backup.is_none());
        // Switching clusters replaces our file without a backup.
        let o = install(&home, &base, &base.join("clusters/b"), When::MakeCurrent).expect("b");
        assert!(o.written && o.backup.is_none());
        assert_eq!(mode(&cfg), 0o400);
        assert!(backups(&home).is_empty());
        // A kubeconfig of a cluster of the base counts as ours, whatever its server.
        std::fs::remove_file(&cfg).expect("rm");
        std::fs::remove_file(home.join(".kube").join(RECORD)).expect("rm");
        std::fs::write(&cfg, "server: https://elsewhere\nuser: A\n").expect("write");
        let o = install(&home, &base, &a, When::MakeCurrent).expect("a");
        assert!(o.written && o.backup.is_none());
    }

    #[test]
    fn a_foreign_kubeconfig_is_backed_up_once() {
        let (_t, base, home) = fixture();
        let cfg = path(&home);
        std::fs::create_dir(home.join(".kube")).expect("mkdir");
        std::fs::write(&cfg, "user: someone-else\n").expect("write");
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let a = base.join("clusters/a");
        let o = install(&home, &base, &a, When::MakeCurrent).expect("install");
        let b = o.backup.clone().expect("backed up");
        assert!(o.written);
        assert_eq!(
            std::fs::read_to_string(&b).expect("backup"),
            "user: someone-else\n"
        );
        assert_eq!(mode(&b), 0o600, "the backup keeps its mode");
        assert!(backup_note(&cfg, &b).contains("kept as"));
        assert_eq!(mode(&cfg), 0o400);
        // Ours now: further installs (same or another cluster) make no second backup.
        install(&home, &base, &a, When::MakeCurrent).expect("again");
        install(&home, &base, &base.join("clusters/b"), When::MakeCurrent).expect("b");
        assert_eq!(backups(&home).len(), 1);
        // The user edits it: it is theirs again, kept once more under another name.
        std::fs::remove_file(&cfg).expect("rm");
        std::fs::write(&cfg, "user: edited\n").expect("write");
        let o = install(&home, &base, &a, When::MakeCurrent).expect("edited");
        assert!(o.backup.is_some());
        assert_eq!(backups(&home).len(), 2);
    }

    #[test]
    fn a_symlink_is_kept_and_a_directory_refused() {
        let (_t, base, home) = fixture();
        std::fs::create_dir(home.join(".kube")).expect("mkdir");
        let target = home.join("mine.yaml");
        std::fs::write(&target, "user: mine\n").expect("write");
        std::os::unix::fs::symlink(&target, path(&home)).expect("link");
        let o = install(&home, &base, &base.join("clusters/a"), When::MakeCurrent).expect("ok");
        let b = o.backup.expect("backed up");
        assert!(std::fs::symlink_metadata(&b).expect("b").is_symlink());
        assert_eq!(std::fs::read_to_string(&target).expect("t"), "user: mine\n");
        let (_t2, base2, home2) = fixture();
        std::fs::create_dir_all(path(&home2)).expect("dir");
        let e = install(&home2, &base2, &base2.join("clusters/a"), When::MakeCurrent);
        assert!(matches!(e, Err(KubeconfigError::NotAFile(_))));
    }

    #[test]
    fn refresh_only_touches_the_current_cluster() {
        let (_t, base, home) = fixture();
        let (a, b) = (base.join("clusters/a"), base.join("clusters/b"));
        // Nothing installed yet: a refresh does nothing.
        let o = install(&home, &base, &a, When::RefreshIfCurrent).expect("refresh");
        assert!(!o.written && !path(&home).exists());
        install(&home, &base, &a, When::MakeCurrent).expect("a");
        // a's kubeconfig is remade (kca-renew): refreshed.
        std::fs::write(
            a.join("kubectl.kubeconfig"),
            "server: https://a\nuser: A2\n",
        )
        .expect("w");
        let o = install(&home, &base, &a, When::RefreshIfCurrent).expect("refresh a");
        assert!(o.written);
        assert!(
            std::fs::read_to_string(path(&home))
                .expect("r")
                .contains("A2")
        );
        // b is not current: left alone.
        let o = install(&home, &base, &b, When::RefreshIfCurrent).expect("refresh b");
        assert!(!o.written);
        assert!(
            std::fs::read_to_string(path(&home))
                .expect("r")
                .contains("A2")
        );
    }

    #[test]
    fn refuses_without_a_kubeconfig_or_a_home() {
        let (_t, base, home) = fixture();
        let e = install(&home, &base, &base.join("clusters/none"), When::MakeCurrent);
        assert!(matches!(e, Err(KubeconfigError::NoKubeconfig(_))));
        let e = install(
            &home.join("missing"),
            &base,
            &base.join("clusters/a"),
            When::MakeCurrent,
        );
        assert!(matches!(e, Err(KubeconfigError::NoHome(_))));
        assert!(!home.join("missing").exists());
    }
}
