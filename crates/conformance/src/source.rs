//! Finding `e2e.log` and `junit_01.xml` in what the user points at: a results directory, the two
//! files, or a Sonobuoy tarball of any age and layout.
//!
//! Tarball layouts accepted: `plugins/e2e/results/global/<file>` (Sonobuoy ≥ 0.11),
//! `plugins/e2e/results/<file>` (0.8–0.10), either with or without a leading `./`, plus a bare
//! `e2e.log`/`junit_01.xml` at the top (the conformance image's own `e2e.tar.gz`). macOS `._*`
//! AppleDouble entries are ignored. The server version comes from `serverversion.json` or
//! `serverversion/serverversion.json` when present.
//!
//! Invariant: a [`ResultFiles`] has at least one of `e2e_log` / `junit`.

use crate::version::KubeVersion;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest single file read from a tarball or directory (bytes); protects against bombs.
pub const MAX_FILE: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable tar.gz archive ({message}); is the download complete?")]
    Tar { path: PathBuf, message: String },
    #[error(
        "{0}: no e2e.log or junit_01.xml found (looked at the top, plugins/e2e/results/ and \
         plugins/e2e/results/global/)"
    )]
    NoResults(PathBuf),
    #[error("{0}: {1} is larger than the {MAX_FILE}-byte limit")]
    TooLarge(PathBuf, String),
    #[error(
        "give a results directory, a tarball, or the e2e.log and junit_01.xml files (got {0} paths)"
    )]
    BadArity(usize),
    #[error("{0}: cannot tell whether this is an e2e.log or a junit XML file")]
    Unrecognised(PathBuf),
}

/// The result files found, with where each came from.
#[derive(Debug, Clone, Default)]
pub struct ResultFiles {
    pub e2e_log: Option<Vec<u8>>,
    pub junit: Option<Vec<u8>>,
    /// Version from `serverversion.json`, when the input had one.
    pub server_version: Option<KubeVersion>,
    /// Human description of each file's origin (`dir/e2e.log`, `tar:plugins/e2e/…`).
    pub e2e_log_origin: Option<String>,
    pub junit_origin: Option<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_capped(path: &Path) -> Result<Vec<u8>, SourceError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if meta.len() > MAX_FILE {
        return Err(SourceError::TooLarge(
            path.to_path_buf(),
            path.display().to_string(),
        ));
    }
    std::fs::read(path).map_err(io(path))
}

/// Loads the result files from one or two paths.
pub fn load(paths: &[PathBuf]) -> Result<ResultFiles, SourceError> {
    for p in paths {
        if !p.exists() {
            return Err(SourceError::NotFound(p.clone()));
        }
    }
    match paths {
        [one] if one.is_dir() => load_dir(one),
        [one] if is_gzip(one)? => load_tarball(one),
        [one] => {
            let mut rf = ResultFiles::default();
            add_plain(&mut rf, one)?;
            Ok(rf)
        }
        [a, b] => {
            let mut rf = ResultFiles::default();
            add_plain(&mut rf, a)?;
            add_plain(&mut rf, b)?;
            Ok(rf)
        }
        other => Err(SourceError::BadArity(other.len())),
    }
}

fn is_gzip(p: &Path) -> Result<bool, SourceError> {
    let mut f = std::fs::File::open(p).map_err(io(p))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic).map_err(io(p))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

fn add_plain(rf: &mut ResultFiles, p: &Path) -> Result<(), SourceError> {
    let bytes = read_capped(p)?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let looks_xml =
        name.ends_with(".xml") || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    let origin = Some(p.display().to_string());
    if looks_xml {
        if rf.junit.is_some() {
            return Err(SourceError::Unrecognised(p.to_path_buf()));
        }
        rf.junit = Some(bytes);
        rf.junit_origin = origin;
    } else if name.ends_with(".log") || name.ends_with(".txt") || !bytes.is_empty() {
        if rf.e2e_log.is_some() {
            return Err(SourceError::Unrecognised(p.to_path_buf()));
        }
        rf.e2e_log = Some(bytes);
        rf.e2e_log_origin = origin;
    } else {
        return Err(SourceError::Unrecognised(p.to_path_buf()));
    }
    Ok(())
}

const SUBDIRS: &[&str] = &["", "plugins/e2e/results/global", "plugins/e2e/results"];

fn load_dir(dir: &Path) -> Result<ResultFiles, SourceError> {
    let mut rf = ResultFiles::default();
    for sub in SUBDIRS {
        let d = dir.join(sub);
        let log = d.join("e2e.log");
        let junit = d.join("junit_01.xml");
        if rf.e2e_log.is_none() && log.is_file() {
            rf.e2e_log = Some(read_capped(&log)?);
            rf.e2e_log_origin = Some(log.display().to_string());
        }
        if rf.junit.is_none() && junit.is_file() {
            rf.junit = Some(read_capped(&junit)?);
            rf.junit_origin = Some(junit.display().to_string());
        }
    }
    for sv in ["serverversion.json", "serverversion/serverversion.json"] {
        let p = dir.join(sv);
        if rf.server_version.is_none() && p.is_file() {
            rf.server_version = server_version(&read_capped(&p)?);
        }
    }
    if rf.e2e_log.is_none() && rf.junit.is_none() {
        return Err(SourceError::NoResults(dir.to_path_buf()));
    }
    Ok(rf)
}

/// `gitVersion` of a `serverversion.json` (`{"major":"1","minor":"21","gitVersion":"v1.21.1",…}`).
pub fn server_version(json: &[u8]) -> Option<KubeVersion> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    v.get("gitVersion")?.as_str()?.parse().ok()
}

/// Rank of a tarball entry path as a results file; `None` when it is not one.
fn tar_rank(path: &str, file: &str) -> Option<u8> {
    if path == file {
        Some(1)
    } else if path == format!("plugins/e2e/results/global/{file}") {
        Some(3)
    } else if path == format!("plugins/e2e/results/{file}") {
        Some(2)
    } else {
        None
    }
}

fn load_tarball(p: &Path) -> Result<ResultFiles, SourceError> {
    let tar_err = |e: std::io::Error| SourceError::Tar {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    let f = std::fs::File::open(p).map_err(io(p))?;
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let mut rf = ResultFiles::default();
    let (mut log_rank, mut junit_rank) = (0u8, 0u8);
    for entry in ar.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let raw = entry
            .path()
            .map_err(tar_err)?
            .to_string_lossy()
            .into_owned();
        let path = raw.trim_start_matches("./").to_string();
        let base = path.rsplit('/').next().unwrap_or(&path);
        if base.starts_with("._") {
            continue;
        }
        let want_log = tar_rank(&path, "e2e.log").filter(|&r| r > log_rank);
        let want_junit = tar_rank(&path, "junit_01.xml").filter(|&r| r > junit_rank);
        let want_sv = path == "serverversion.json" || path == "serverversion/serverversion.json";
        if want_log.is_none() && want_junit.is_none() && !want_sv {
            continue;
        }
        if entry.size() > MAX_FILE {
            return Err(SourceError::TooLarge(p.to_path_buf(), path));
        }
        let mut buf = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut buf).map_err(tar_err)?;
        let origin = Some(format!("{}:{path}", p.display()));
        if let Some(r) = want_log {
            log_rank = r;
            rf.e2e_log = Some(buf);
            rf.e2e_log_origin = origin;
        } else if let Some(r) = want_junit {
            junit_rank = r;
            rf.junit = Some(buf);
            rf.junit_origin = origin;
        } else {
            rf.server_version = server_version(&buf);
        }
    }
    if rf.e2e_log.is_none() && rf.junit.is_none() {
        return Err(SourceError::NoResults(p.to_path_buf()));
    }
    Ok(rf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn tarball_prefers_global_and_skips_appledouble() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.tar.gz");
        let data = tarball(&[
            ("./plugins/e2e/results/._e2e.log", b"junk"),
            ("./plugins/e2e/results/e2e.log", b"old"),
            ("plugins/e2e/results/global/e2e.log", b"new"),
            ("plugins/other/results/global/junit_01.xml", b"<x/>"),
            ("./serverversion.json", br#"{"gitVersion":"v1.21.1"}"#),
        ]);
        std::fs::write(&p, data).unwrap();
        let rf = load(&[p]).unwrap();
        assert_eq!(rf.e2e_log.as_deref(), Some(&b"new"[..]));
        assert!(
            rf.junit.is_none(),
            "other plugins' junit is not the e2e junit"
        );
        assert_eq!(rf.server_version.unwrap().to_string(), "v1.21.1");
    }

    #[test]
    fn truncated_tarball_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.tar.gz");
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let data = tarball(&[("plugins/e2e/results/global/e2e.log", &big)]);
        std::fs::File::create(&p)
            .unwrap()
            .write_all(&data[..data.len() / 2])
            .unwrap();
        let e = load(&[p]).unwrap_err();
        assert!(matches!(e, SourceError::Tar { .. }), "{e}");
        assert!(e.to_string().contains("download complete"));
    }

    #[test]
    fn directory_and_pair_and_missing() {
        let d = tempfile::tempdir().unwrap();
        let g = d.path().join("plugins/e2e/results/global");
        std::fs::create_dir_all(&g).unwrap();
        std::fs::write(g.join("e2e.log"), "Ran 1 of 2 Specs").unwrap();
        std::fs::write(d.path().join("junit_01.xml"), "<testsuite/>").unwrap();
        let rf = load(&[d.path().to_path_buf()]).unwrap();
        assert!(rf.e2e_log.is_some() && rf.junit.is_some());
        let pair = load(&[d.path().join("junit_01.xml"), g.join("e2e.log")]).unwrap();
        assert!(pair.e2e_log.is_some() && pair.junit.is_some());
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(&[empty.path().to_path_buf()]),
            Err(SourceError::NoResults(_))
        ));
        assert!(matches!(
            load(&[d.path().join("nope")]),
            Err(SourceError::NotFound(_))
        ));
    }
}
