//! Reading a cluster folder from disk and writing files atomically.
//!
//! Invariants: loading never writes; a file problem (missing, unreadable) is a diagnostic
//! like any other, so `ezctl check-config` reports it with the rest.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::diag::{Diagnostic, Diagnostics};
use crate::ini::Inventory;
use crate::model::Cluster;

/// The hosts file of a cluster folder.
pub fn hosts_path(dir: &Path) -> PathBuf {
    dir.join("hosts")
}

/// The config file of a cluster folder.
pub fn config_path(dir: &Path) -> PathBuf {
    dir.join("config.yml")
}

/// Reads a text file, turning the failure into a diagnostic with a hint.
pub fn read_text(path: &Path, missing_hint: &str) -> Result<String, Diagnostic> {
    std::fs::read_to_string(path).map_err(|e| io_diag(path, &e, missing_hint))
}

fn io_diag(path: &Path, e: &io::Error, missing_hint: &str) -> Diagnostic {
    match e.kind() {
        io::ErrorKind::NotFound => Diagnostic::error("io-missing", path, None, "file not found")
            .with_hint(missing_hint.to_string()),
        io::ErrorKind::PermissionDenied => {
            Diagnostic::error("io-permission", path, None, "permission denied").with_hint(
                "run ezctl as a user that can read the cluster folder (kubeasz runs as root)",
            )
        }
        io::ErrorKind::IsADirectory => {
            Diagnostic::error("io-read", path, None, "is a directory, not a file")
                .with_hint(missing_hint.to_string())
        }
        io::ErrorKind::InvalidData => {
            Diagnostic::error("io-read", path, None, "the file is not UTF-8 text")
                .with_hint("save it as UTF-8")
        }
        _ => Diagnostic::error("io-read", path, None, format!("cannot read: {e}"))
            .with_hint(missing_hint.to_string()),
    }
}

/// Reads, parses and validates `dir` (`clusters/<name>`). On success the cluster carries its
/// warnings; on failure every diagnostic (errors and warnings) is returned.
pub fn load_cluster(dir: &Path) -> Result<Cluster, Diagnostics> {
    load_cluster_allowing(dir, &[])
}

/// [`load_cluster`] with the errors of the rules in `allow` reported as warnings.
pub fn load_cluster_allowing(dir: &Path, allow: &[&str]) -> Result<Cluster, Diagnostics> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let new_hint = format!("run 'ezctl new {name}' first");
    if let Err(e) = std::fs::read_dir(dir) {
        return Err(Diagnostics(vec![match e.kind() {
            io::ErrorKind::NotFound => Diagnostic::error(
                "io-missing",
                dir,
                None,
                format!("cluster folder of `{name}` not found"),
            )
            .with_hint(new_hint),
            _ => io_diag(dir, &e, &new_hint),
        }]));
    }
    let hp = hosts_path(dir);
    let cp = config_path(dir);
    let mut diags = Vec::new();
    let hosts = read_text(&hp, &new_hint).map_err(|d| diags.push(d)).ok();
    let cfg = read_text(&cp, &new_hint).map_err(|d| diags.push(d)).ok();
    let (Some(hosts), Some(cfg)) = (hosts, cfg) else {
        return Err(Diagnostics(diags));
    };
    parse_cluster_allowing(&name, dir, &hp, &hosts, &cp, &cfg, allow)
}

/// Parses and validates already-read texts (what [`load_cluster`] does after reading).
pub fn parse_cluster(
    name: &str,
    dir: &Path,
    hosts_file: &Path,
    hosts_text: &str,
    config_file: &Path,
    config_text: &str,
) -> Result<Cluster, Diagnostics> {
    parse_cluster_allowing(
        name,
        dir,
        hosts_file,
        hosts_text,
        config_file,
        config_text,
        &[],
    )
}

/// [`parse_cluster`] with the errors of the rules in `allow` reported as warnings.
pub fn parse_cluster_allowing(
    name: &str,
    dir: &Path,
    hosts_file: &Path,
    hosts_text: &str,
    config_file: &Path,
    config_text: &str,
    allow: &[&str],
) -> Result<Cluster, Diagnostics> {
    let (inv, mut diags) = Inventory::parse(hosts_file, hosts_text);
    let (cfg, cdiags) = Config::parse(config_file, config_text);
    diags.extend(cdiags);
    Cluster::from_parts_allowing(name, dir, inv, cfg, config_file, diags, allow)
}

/// Every diagnostic for a cluster folder, errors and warnings (for `ezctl check-config`),
/// sorted by file, then position (whole-file problems first).
pub fn check_cluster(dir: &Path) -> Vec<Diagnostic> {
    let mut diags = match load_cluster(dir) {
        Ok(c) => c.warnings,
        Err(d) => d.0,
    };
    diags.sort_by(|a, b| (&a.file, a.span).cmp(&(&b.file, b.span)));
    diags
}

/// Writes `contents` to `path` atomically: a temporary file in the same folder, fsync'd, then
/// renamed over `path`. Readers see the old file or the new one, never a partial one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, contents, None)
}

/// [`write_atomic`] with the file's Unix permission bits set when the temporary file is
/// created (e.g. `0o600` for a kubeconfig), so the content is never readable by others, not
/// even for a moment.
pub fn write_atomic_mode(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(m) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(m);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_codes() {
        let p = Path::new("/x/config.yml");
        let code = |k| io_diag(p, &io::Error::from(k), "run 'ezctl new x' first").code;
        assert_eq!(code(io::ErrorKind::NotFound), "io-missing");
        assert_eq!(code(io::ErrorKind::PermissionDenied), "io-permission");
        assert_eq!(code(io::ErrorKind::InvalidData), "io-read");
        let d = io_diag(p, &io::Error::from(io::ErrorKind::PermissionDenied), "");
        assert!(d.hint.is_some_and(|h| h.contains("root")));
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let t = tempfile::tempdir().expect("tmp");
        let f = t.path().join("hosts");
        write_atomic(&f, b"one").expect("write");
        write_atomic(&f, b"two").expect("rewrite");
        assert_eq!(std::fs::read(&f).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(t.path()).expect("dir").count(), 1);
        assert!(write_atomic(&t.path().join("missing/x"), b"x").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let k = t.path().join("kubeconfig");
            write_atomic_mode(&k, b"secret", Some(0o600)).expect("write");
            let mode = std::fs::metadata(&k).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::remove_file(&k).expect("rm");
        }
        assert_eq!(std::fs::read_dir(t.path()).expect("dir").count(), 1);
    }
}
