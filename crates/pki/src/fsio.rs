//! File writes with exact modes: private keys 0600, everything else 0644.
//!
//! Invariant: a file is either absent, its old content, or its complete new
//! content with its final mode — never partially written or briefly
//! world-readable (temp file in the same directory, mode set, fsync, rename).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::PkiError;

/// Mode of private keys.
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificates and kubeconfigs.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of kubeconfigs (they embed a client key).
pub const KUBECONFIG_MODE: u32 = 0o600;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` atomically with permission bits `mode`,
/// creating the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(write_err(&tmp))?;
        // The umask may have cleared bits of `mode`: set it exactly before any data goes in.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(write_err(&tmp))?;
        file.write_all(bytes).map_err(write_err(&tmp))?;
        file.sync_all().map_err(write_err(&tmp))?;
        fs::rename(&tmp, path).map_err(write_err(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a whole file as UTF-8 text; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, PkiError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| PkiError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Copies the directory tree `from` to `to` (which must not exist), keeping file modes.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), PkiError> {
    fs::create_dir(to).map_err(write_err(to))?;
    let meta = fs::metadata(from).map_err(|source| PkiError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    fs::set_permissions(to, meta.permissions()).map_err(write_err(to))?;
    let entries = fs::read_dir(from).map_err(|source| PkiError::Read {
        path: from.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| PkiError::Read {
            path: from.to_path_buf(),
            source,
        })?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|source| PkiError::Read {
            path: src.clone(),
            source,
        })?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst).map_err(write_err(&dst))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn writes_with_exact_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("sub/k-key.pem");
        write_atomic(&key, b"one", KEY_MODE).unwrap();
        assert_eq!(mode(&key), 0o600);
        write_atomic(&key, b"two", KEY_MODE).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"two");
        let cert = dir.path().join("c.pem");
        write_atomic(&cert, b"c", PUBLIC_MODE).unwrap();
        assert_eq!(mode(&cert), 0o644);
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn read_optional_distinguishes_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_optional(&dir.path().join("nope")).unwrap().is_none());
        fs::write(dir.path().join("a"), "x").unwrap();
        assert_eq!(
            read_optional(&dir.path().join("a")).unwrap().as_deref(),
            Some("x")
        );
    }

    #[test]
    fn copy_tree_keeps_modes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("ssl");
        write_atomic(&src.join("users/u-key.pem"), b"k", KEY_MODE).unwrap();
        write_atomic(&src.join("ca.pem"), b"c", PUBLIC_MODE).unwrap();
        let dst = dir.path().join("ssl-1");
        copy_tree(&src, &dst).unwrap();
        assert_eq!(fs::read(dst.join("ca.pem")).unwrap(), b"c");
        assert_eq!(mode(&dst.join("users/u-key.pem")), 0o600);
        assert!(
            copy_tree(&src, &dst).is_err(),
            "an existing backup is never overwritten"
        );
    }
}
