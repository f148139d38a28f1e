//! sha256 of deploy-host files (the bundle's binaries and images), computed once per
//! version of a file: once per process however many hosts receive it, and not at all on a
//! re-run when the sums were persisted ([`persist`]).
//!
//! Invariant: a remembered sum is used only while the file's device, inode, size and
//! modification time (nanoseconds) are those it was computed for; anything else is hashed
//! again. Hosts asking for the same file at once wait for one computation.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<(Stamp, String)>>>;

#[derive(Default)]
struct Sums {
    slots: Mutex<HashMap<PathBuf, Slot>>,
}

fn sums() -> &'static Sums {
    static SUMS: OnceLock<Sums> = OnceLock::new();
    SUMS.get_or_init(Sums::default)
}

fn slot(path: &Path) -> Slot {
    let mut map = match sums().slots.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    };
    map.entry(path.to_path_buf()).or_default().clone()
}

fn hash(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        format!(
            "{}: {e} (is the bundle complete? run `ezdown --verify`)",
            path.display()
        )
    })?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hex::encode(h.finalize()))
}

/// The sha256 of `path` on this host, hashed off the async threads when not remembered.
pub async fn sha256(path: &Path) -> Result<String, String> {
    let slot = slot(path);
    let mut guard = slot.lock().await;
    let stamp = Stamp::of(path).map_err(|e| {
        format!(
            "{}: {e} (is the bundle complete? run `ezdown --verify`)",
            path.display()
        )
    })?;
    if let Some((s, sum)) = guard.as_ref()
        && *s == stamp
    {
        return Ok(sum.clone());
    }
    let p = path.to_path_buf();
    let sum = tokio::task::spawn_blocking(move || hash(&p))
        .await
        .map_err(|e| format!("hashing {}: {e}", path.display()))??;
    // The file may have changed while it was read: remember the sum only when it did not.
    if Stamp::of(path).ok().as_ref() == Some(&stamp) {
        *guard = Some((stamp, sum.clone()));
    }
    Ok(sum)
}

/// File name of the persisted sums inside a state directory.
pub const FILE: &str = "local-sha256";

/// Loads sums persisted in `dir` (missing or unreadable: nothing remembered).
pub fn load(dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        return;
    };
    for line in text.lines() {
        let mut parts = line.splitn(6, ' ');
        let (Some(sum), Some(dev), Some(ino), Some(size), Some(mtime), Some(path)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let (Ok(dev), Ok(ino), Ok(size), Ok(mtime_ns)) =
            (dev.parse(), ino.parse(), size.parse(), mtime.parse())
        else {
            continue;
        };
        if sum.len() != 64 {
            continue;
        }
        let stamp = Stamp {
            dev,
            ino,
            size,
            mtime_ns,
        };
        let slot = slot(Path::new(path));
        if let Ok(mut g) = slot.try_lock()
            && g.is_none()
        {
            *g = Some((stamp, sum.to_string()));
        }
    }
}

/// Writes every remembered sum to `dir` (atomically; errors are ignored: losing the file
/// only costs hashing).
pub fn persist(dir: &Path) {
    let slots: Vec<(PathBuf, Slot)> = match sums().slots.lock() {
        Ok(m) => m.iter().map(|(p, s)| (p.clone(), s.clone())).collect(),
        Err(_) => return,
    };
    let mut lines: Vec<String> = slots
        .iter()
        .filter_map(|(p, s)| {
            let g = s.try_lock().ok()?;
            let (st, sum) = g.as_ref()?;
            let path = p.to_str()?;
            (!path.contains('\n')).then(|| {
                format!(
                    "{sum} {} {} {} {} {path}",
                    st.dev, st.ino, st.size, st.mtime_ns
                )
            })
        })
        .collect();
    lines.sort();
    let tmp = dir.join(format!("{FILE}.tmp"));
    if std::fs::create_dir_all(dir).is_ok() && std::fs::write(&tmp, lines.join("\n") + "\n").is_ok()
    {
        let _ = std::fs::rename(&tmp, dir.join(FILE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn remembered_until_the_file_changes_and_persisted() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("bin");
        std::fs::write(&f, b"one").unwrap();
        let one = sha256(&f).await.unwrap();
        assert_eq!(one, hex::encode(Sha256::digest(b"one")));
        // same stamp: remembered (prove it by checking the slot holds it)
        assert_eq!(sha256(&f).await.unwrap(), one);
        // a new version (different size) is hashed again
        std::fs::write(&f, b"second").unwrap();
        assert_eq!(
            sha256(&f).await.unwrap(),
            hex::encode(Sha256::digest(b"second"))
        );
        let state = d.path().join("state");
        persist(&state);
        let text = std::fs::read_to_string(state.join(FILE)).unwrap();
        let line = text
            .lines()
            .find(|l| l.ends_with(f.to_str().unwrap()))
            .unwrap();
        assert!(line.starts_with(&hex::encode(Sha256::digest(b"second"))));
    }

    #[tokio::test]
    async fn a_persisted_sum_is_trusted_only_for_the_same_stamp() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("img.tar");
        std::fs::write(&f, b"abc").unwrap();
        let st = Stamp::of(&f).unwrap();
        let fake = "f".repeat(64);
        let state = d.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(
            state.join(FILE),
            format!(
                "{fake} {} {} {} {} {}\n",
                st.dev,
                st.ino,
                st.size,
                st.mtime_ns,
                f.display()
            ),
        )
        .unwrap();
        load(&state);
        // the stamp matches: the persisted sum is used without reading the file
        assert_eq!(sha256(&f).await.unwrap(), fake);
        // a different size: hashed for real
        std::fs::write(&f, b"abcd").unwrap();
        assert_eq!(
            sha256(&f).await.unwrap(),
            hex::encode(Sha256::digest(b"abcd"))
        );
    }
}
