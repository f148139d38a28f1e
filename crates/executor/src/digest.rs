//! Local content to upload and its sha256, computed once per file per executor.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::{ExecError, Result};

/// Content to upload.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    File(PathBuf),
    Bytes(Arc<Vec<u8>>),
}

impl Source {
    pub(crate) fn open(&self, host: &str) -> Result<Box<dyn Read + Send>> {
        match self {
            Source::File(p) => File::open(p)
                .map(|f| Box::new(f) as Box<dyn Read + Send>)
                .map_err(|source| ExecError::Io {
                    host: host.to_string(),
                    path: p.clone(),
                    source,
                }),
            Source::Bytes(b) => Ok(Box::new(std::io::Cursor::new(ArcBytes(b.clone())))),
        }
    }
    /// Length in bytes (a file's current size).
    pub(crate) fn len(&self, host: &str) -> Result<u64> {
        match self {
            Source::File(p) => {
                std::fs::metadata(p)
                    .map(|m| m.len())
                    .map_err(|source| ExecError::Io {
                        host: host.to_string(),
                        path: p.clone(),
                        source,
                    })
            }
            Source::Bytes(b) => Ok(b.len() as u64),
        }
    }
    pub(crate) fn describe(&self) -> String {
        match self {
            Source::File(p) => p.display().to_string(),
            Source::Bytes(b) => format!("{} bytes", b.len()),
        }
    }
}

struct ArcBytes(Arc<Vec<u8>>);
impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Local sha256 results shared by all hosts of an executor, so a file uploaded to N hosts is
/// hashed once. Keyed by (path, length, mtime): a file rewritten in place with the same size
/// and mtime would be missed, which the callers (bundle files, rendered temp files) never do.
#[derive(Debug, Default)]
pub(crate) struct DigestCache {
    map: Mutex<HashMap<FileKey, DigestSlot>>,
}

type FileKey = (PathBuf, u64, Option<SystemTime>);
/// (sha256 hex, length), filled by the first host that needs it.
type DigestSlot = Arc<Mutex<Option<(String, u64)>>>;

impl DigestCache {
    pub(crate) fn digest(&self, src: &Source, host: &str, buf: usize) -> Result<(String, u64)> {
        let Source::File(path) = src else {
            return digest(src, host, buf);
        };
        let meta = std::fs::metadata(path).map_err(|source| ExecError::Io {
            host: host.to_string(),
            path: path.clone(),
            source,
        })?;
        let key = (path.clone(), meta.len(), meta.modified().ok());
        let slot = {
            let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(key).or_default().clone()
        };
        // Holding the slot while hashing makes concurrent hosts wait for one computation.
        let mut g = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = g.as_ref() {
            return Ok(v.clone());
        }
        let v = digest(src, host, buf)?;
        *g = Some(v.clone());
        Ok(v)
    }
}

/// sha256 and length of a source, streamed with a `buf`-sized buffer.
fn digest(src: &Source, host: &str, buf: usize) -> Result<(String, u64)> {
    let mut r = src.open(host)?;
    let mut h = Sha256::new();
    let mut b = vec![0u8; buf];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut b).map_err(|source| ExecError::Io {
            host: host.to_string(),
            path: src.describe().into(),
            source,
        })?;
        if k == 0 {
            break;
        }
        h.update(&b[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_bytes_and_file() {
        let (s, n) = digest(&Source::Bytes(Arc::new(b"abc".to_vec())), "h", 2).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            s,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(digest(&Source::File(p), "h", 1).unwrap().0, s);
        let e = digest(&Source::File(d.path().join("missing")), "h", 1).unwrap_err();
        assert!(e.to_string().contains("missing"));
    }

    #[test]
    fn cache_hashes_once_per_file_version() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let c = DigestCache::default();
        let a = c.digest(&Source::File(p.clone()), "h", 4).unwrap();
        let b = c.digest(&Source::File(p.clone()), "h2", 4).unwrap();
        assert_eq!(a, b);
        assert_eq!(c.map.lock().unwrap().len(), 1);
        std::fs::write(&p, b"abcd").unwrap();
        let e = c.digest(&Source::File(p), "h", 4).unwrap();
        assert_eq!(e.1, 4);
    }
}
