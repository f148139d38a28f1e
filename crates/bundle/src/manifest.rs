//! `manifest.json`: what a bundle holds — path, size, sha256, source URL and version of every
//! file, plus the version table it was made from.
//!
//! Invariant: the manifest is written last and atomically (`syncfs` of the bundle, then
//! `manifest.json.part` + fsync + rename), so a manifest on disk always describes files that
//! were verified and made durable before it was written. `complete` is false when some artifact failed in that run.

use crate::checksum::Sha256;
use crate::error::{BundleError, Result};
use crate::selection::Selection;
use ez_inventory::VersionTable;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

pub use ez_inventory::layout::MANIFEST;
/// Working directory inside the base for `.part` files, blob cache and staging.
pub use ez_inventory::layout::WORK as WORK_DIR;

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Binary,
    Archive,
    Extracted,
    Image,
    Extra,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the base, `/`-separated, never absolute, never `..`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub kind: Kind,
    /// Catalog id or image reference.
    pub artifact: String,
    pub version: String,
    /// URL (or image reference with digest) it was fetched from.
    pub source: String,
    /// For extracted files: the archive in the bundle they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub tool: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub arch: String,
    pub complete: bool,
    pub versions: VersionTable,
    /// The network plugin and the parts left out (`ezdown --network`, `--without`), as
    /// `"network": "flannel", "without": ["nodelocaldns"]`; a manifest without them (older
    /// ezdown) is kubeasz's default bundle: calico, nothing left out.
    #[serde(flatten)]
    pub selection: Selection,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// The image references (`FileEntry::artifact` of the image entries) the bundle holds.
    pub fn listed_images(&self) -> BTreeSet<&str> {
        self.files
            .iter()
            .filter(|f| f.kind == Kind::Image)
            .map(|f| f.artifact.as_str())
            .collect()
    }

    pub fn new(arch: &str, versions: VersionTable) -> Manifest {
        Manifest {
            format: 1,
            tool: concat!("kubeasz-rs ezdown ", env!("CARGO_PKG_VERSION")).to_string(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            arch: arch.to_string(),
            complete: true,
            versions,
            selection: Selection::default(),
            files: Vec::new(),
        }
    }

    /// Reads `<base>/manifest.json`; `Ok(None)` when there is none.
    pub fn load(base: &Path) -> Result<Option<Manifest>> {
        let path = base.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BundleError::io("read", &path, e)),
        };
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| BundleError::Manifest {
            path: path.clone(),
            msg: format!("not a valid manifest ({e}); delete it and run `ezdown -D` again"),
        })?;
        m.check(&path)?;
        Ok(Some(m))
    }

    /// Validates paths and digests (a manifest from another host is untrusted input).
    pub fn check(&self, origin: &Path) -> Result<()> {
        let bad = |msg: String| BundleError::Manifest {
            path: origin.to_path_buf(),
            msg,
        };
        if self.format != 1 {
            return Err(bad(format!("unsupported format {}", self.format)));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.files {
            if !safe_relative(&f.path) {
                return Err(bad(format!("unsafe path '{}'", f.path)));
            }
            if Sha256::parse(&f.sha256).is_none() {
                return Err(bad(format!("bad sha256 for '{}'", f.path)));
            }
            if !seen.insert(f.path.as_str()) {
                return Err(bad(format!("'{}' listed twice", f.path)));
            }
        }
        Ok(())
    }

    /// Entries by path.
    pub fn by_path(&self) -> BTreeMap<&str, &FileEntry> {
        self.files.iter().map(|f| (f.path.as_str(), f)).collect()
    }

    /// Records the file now at `path` (listed already) as the bundle's: its size and sha256 as
    /// hashed now, `version`, and `source` saying where it came from. For a file the user put
    /// in the bundle on purpose (kubeasz's upgrade: the new release's binaries into `bin/`);
    /// the caller writes the manifest. An entry extracted from an archive keeps no `from`.
    pub fn adopt(&mut self, base: &Path, path: &str, version: &str, source: &str) -> Result<()> {
        let (sha, size) = crate::checksum::hash_file_blocking(&base.join(path))?;
        let entry = self
            .files
            .iter_mut()
            .find(|f| f.path == path)
            .ok_or_else(|| BundleError::Other(format!("{path} is not in the manifest")))?;
        entry.size = size;
        entry.sha256 = sha.hex();
        entry.version = version.to_string();
        entry.source = source.to_string();
        entry.from = None;
        Ok(())
    }

    /// Writes `<base>/manifest.json` atomically, files sorted by path.
    pub fn write(&mut self, base: &Path) -> Result<()> {
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        let path = base.join(MANIFEST);
        let tmp = base.join(format!("{MANIFEST}.part"));
        sync_filesystem(base)?;
        let data = serde_json::to_vec_pretty(self)
            .map_err(|e| BundleError::Other(format!("cannot serialise the manifest: {e}")))?;
        write_atomic(&tmp, &path, &data)
    }
}

/// Flushes every file of the filesystem holding `dir` to disk (`syncfs(2)`): one call instead
/// of an fsync per downloaded file, made before the manifest that vouches for them.
pub fn sync_filesystem(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir).map_err(|e| BundleError::io("open", dir, e))?;
    // SAFETY: `d` is an open file descriptor for the duration of the call; syncfs only reads it.
    let rc = unsafe { libc::syncfs(d.as_raw_fd()) };
    if rc != 0 {
        return Err(BundleError::io(
            "syncfs",
            dir,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Starts writeback of a finished file without waiting for it (`sync_file_range(2)` with
/// `SYNC_FILE_RANGE_WRITE`), so that the disk works while other transfers run and the
/// [`sync_filesystem`] before the manifest has little left to wait for. Best effort.
pub fn start_writeback(fd: &impl std::os::fd::AsRawFd) {
    // SAFETY: the descriptor is open for the duration of the call; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(fd.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Writes `data` to `tmp`, fsyncs, renames over `dest`.
pub fn write_atomic(tmp: &Path, dest: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(tmp).map_err(|e| BundleError::io("create", tmp, e))?;
    f.write_all(data)
        .map_err(|e| BundleError::io("write", tmp, e))?;
    f.sync_all().map_err(|e| BundleError::io("sync", tmp, e))?;
    std::fs::rename(tmp, dest).map_err(|e| BundleError::io("rename", dest, e))
}

/// True for a relative path made only of normal components.
pub fn safe_relative(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty()
        && !p.contains('\\')
        && path.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> FileEntry {
        FileEntry {
            path: path.into(),
            size: 0,
            sha256: Sha256::of(b"").hex(),
            kind: Kind::Binary,
            artifact: "x".into(),
            version: "v1".into(),
            source: "http://x".into(),
            from: None,
        }
    }

    #[test]
    fn round_trip_and_atomic_write() {
        let d = tempfile::tempdir().unwrap();
        assert!(Manifest::load(d.path()).unwrap().is_none());
        let mut m = Manifest::new("amd64", VersionTable::default());
        m.files.push(entry("bin/b"));
        m.files.push(entry("bin/a"));
        m.write(d.path()).unwrap();
        assert!(!d.path().join("manifest.json.part").exists());
        let back = Manifest::load(d.path()).unwrap().unwrap();
        assert_eq!(back.files[0].path, "bin/a");
        assert_eq!(back.versions, VersionTable::default());
    }

    #[test]
    fn the_selection_is_recorded_and_old_manifests_read_as_calico() {
        let d = tempfile::tempdir().unwrap();
        let mut m = Manifest::new("amd64", VersionTable::default());
        m.selection = Selection::parse(Some("flannel"), &["helm".into()]).unwrap();
        m.write(d.path()).unwrap();
        let text = std::fs::read_to_string(d.path().join(MANIFEST)).unwrap();
        assert!(text.contains("\"network\": \"flannel\""), "{text}");
        assert!(text.contains("\"without\": [\n    \"helm\"\n  ]"), "{text}");
        assert_eq!(
            Manifest::load(d.path()).unwrap().unwrap().selection,
            m.selection
        );
        // written before --network existed: no network, no without
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("network");
        o.remove("without");
        std::fs::write(d.path().join(MANIFEST), v.to_string()).unwrap();
        let old = Manifest::load(d.path()).unwrap().unwrap();
        assert_eq!(old.selection, Selection::default());
    }

    #[test]
    fn unsafe_paths_are_rejected() {
        for p in ["../etc/passwd", "/etc/passwd", "bin/../../x", "", "a\\b"] {
            assert!(!safe_relative(p), "{p}");
        }
        assert!(safe_relative("bin/cni-bin/bridge"));
        let mut m = Manifest::new("amd64", VersionTable::default());
        m.files.push(entry("../x"));
        assert!(m.check(Path::new("m")).is_err());
        let mut m = Manifest::new("amd64", VersionTable::default());
        m.files.push(entry("a"));
        m.files.push(entry("a"));
        assert!(m.check(Path::new("m")).is_err());
    }

    #[test]
    fn an_adopted_file_is_recorded_as_it_is_now() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("bin")).unwrap();
        std::fs::write(d.path().join("bin/a"), b"new release").unwrap();
        let mut m = Manifest::new("amd64", VersionTable::default());
        m.files.push(entry("bin/a"));
        m.adopt(d.path(), "bin/a", "v2", "placed by hand").unwrap();
        let e = &m.files[0];
        assert_eq!(e.size, 11);
        assert_eq!(e.sha256, Sha256::of(b"new release").hex());
        assert_eq!(
            (e.version.as_str(), e.source.as_str()),
            ("v2", "placed by hand")
        );
        // not listed, or gone: an error, nothing changed
        assert!(m.adopt(d.path(), "bin/b", "v2", "x").is_err());
        std::fs::remove_file(d.path().join("bin/a")).unwrap();
        assert!(m.adopt(d.path(), "bin/a", "v3", "x").is_err());
        assert_eq!(m.files[0].version, "v2");
    }

    #[test]
    fn garbage_manifest_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(MANIFEST), b"{nope").unwrap();
        let e = Manifest::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a valid manifest"), "{e}");
    }
}
