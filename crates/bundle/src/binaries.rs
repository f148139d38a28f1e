//! Fetching one catalog artifact: pick a source, learn its expected sha256 (repository table,
//! else the checksum file on the same source), download, verify, install.
//!
//! Invariants:
//! - nothing reaches `bin/` or `down/` before its sha256 matched;
//! - a mismatch deletes the file and fetches it once more from the same source, then fails
//!   loudly (no silent fall-through to another source with a different file);
//! - archives are extracted into a staging directory under `.ezdown/` and each file is then
//!   renamed into place, so an interrupted extraction leaves nothing half-written.

use crate::catalog::{Artifact, ChecksumSource, Install};
use crate::checksum::{ChecksumTable, Sha256, parse_checksum_file, pick};
use crate::error::{BundleError, Result};
use crate::events::Event;
use crate::fetch::{self, download, download_text};
use crate::manifest::{FileEntry, Kind, WORK_DIR};
use crate::mirrors::same_source;
use crate::session::Session;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Fetches and installs `a`; returns the manifest entries of every file it put in place.
/// `previous` holds entries of an earlier manifest: when they all still match on disk,
/// nothing is fetched.
pub async fn fetch_artifact(
    s: &Session,
    table: &ChecksumTable,
    a: &Artifact,
    previous: &BTreeMap<String, FileEntry>,
) -> Result<Vec<FileEntry>> {
    if let Some(kept) = reuse_previous(s, a, previous).await? {
        s.events.emit(Event::Skipped {
            id: a.id.clone(),
            path: a.download_path(),
        });
        return Ok(kept);
    }
    let dest = s.base.join(a.download_path());
    let candidates = s.sources.candidates(&a.url);
    let mut tried = Vec::new();
    let mut cause = String::new();
    for url in &candidates {
        let expected = match expected_sha(s, table, a, url).await {
            Ok(e) => e,
            Err(e) if is_local(&e) => return Err(e),
            Err(e) => {
                s.events.emit(Event::SourceFailed {
                    id: a.id.clone(),
                    url: url.clone(),
                    error: e.to_string(),
                });
                tried.push(format!("{url} ({e})"));
                cause = e.cause();
                continue;
            }
        };
        // A file already in place from an interrupted run: keep it if it verifies.
        if let Ok((sha, size)) = Sha256::of_file(&dest).await
            && sha == expected
        {
            s.events.emit(Event::Skipped {
                id: a.id.clone(),
                path: a.download_path(),
            });
            return install(s, a, url, sha, size, None).await;
        }
        let part = s.part_path(a.file_name());
        match fetch_checked(s, a, url, &part, expected).await {
            Ok((sha, size)) => return install(s, a, url, sha, size, Some(&part)).await,
            Err(e @ BundleError::ChecksumMismatch { .. }) => return Err(e),
            Err(e) if is_local(&e) => return Err(e),
            Err(e) => {
                s.events.emit(Event::SourceFailed {
                    id: a.id.clone(),
                    url: url.clone(),
                    error: e.to_string(),
                });
                tried.push(format!("{url} ({e})"));
                cause = e.cause();
            }
        }
    }
    Err(BundleError::AllSourcesFailed {
        what: format!("{} {}", a.id, a.version),
        tried: tried.join("; "),
        cause,
    })
}

/// Errors another source cannot fix: this machine's (disk, permissions), or the run stopped
/// because every request fails the same way.
fn is_local(e: &BundleError) -> bool {
    matches!(
        e,
        BundleError::DiskFull(_)
            | BundleError::Io { .. }
            | BundleError::Interrupted
            | BundleError::Systemic(_)
    )
}

async fn expected_sha(
    s: &Session,
    table: &ChecksumTable,
    a: &Artifact,
    url: &str,
) -> Result<Sha256> {
    if let Some(sha) = table.get(&a.url) {
        return Ok(sha);
    }
    match &a.checksum {
        ChecksumSource::TableOnly => Err(BundleError::ChecksumMissing {
            url: "the repository checksum table".into(),
            name: a.url.clone(),
        }),
        ChecksumSource::File(sum_upstream) => {
            let sum_url = same_source(url, &a.url, sum_upstream);
            let text = download_text(&s.client, &s.fetch, &s.events, &sum_url).await?;
            let lines = parse_checksum_file(&sum_url, &text)?;
            pick(&sum_url, &lines, a.file_name())
        }
    }
}

/// Downloads into `part` and checks the digest; on a mismatch deletes and fetches once more.
async fn fetch_checked(
    s: &Session,
    a: &Artifact,
    url: &str,
    part: &Path,
    expected: Sha256,
) -> Result<(Sha256, u64)> {
    for round in 0..2 {
        let target = fetch::Target {
            id: &a.id,
            url,
            part,
            binary: true,
            auth: None,
        };
        let got = download(&s.client, &s.fetch, &s.events, target).await?;
        if got.sha256 == expected {
            return Ok((got.sha256, got.size));
        }
        fetch::remove(part).await?;
        s.events.emit(Event::Mismatch {
            id: a.id.clone(),
            url: url.to_string(),
            expected: expected.hex(),
            actual: got.sha256.hex(),
        });
        if round == 1 {
            return Err(BundleError::ChecksumMismatch {
                what: a.file_name().to_string(),
                url: url.to_string(),
                expected: expected.hex(),
                actual: got.sha256.hex(),
            });
        }
    }
    unreachable!("the loop returns on its second round")
}

/// Moves a verified download into place (when `part` is given) and extracts archives.
async fn install(
    s: &Session,
    a: &Artifact,
    url: &str,
    sha: Sha256,
    size: u64,
    part: Option<&Path>,
) -> Result<Vec<FileEntry>> {
    let rel = a.download_path();
    let dest = s.base.join(&rel);
    if let Some(part) = part {
        let exec = matches!(a.install, Install::Binary { .. });
        move_into_place(part, &dest, exec).await?;
    }
    let kind = match a.install {
        Install::Binary { .. } => Kind::Binary,
        Install::Archive { .. } => Kind::Archive,
    };
    let mut entries = vec![FileEntry {
        path: rel.clone(),
        size,
        sha256: sha.hex(),
        kind,
        artifact: a.id.clone(),
        version: a.version.clone(),
        source: url.to_string(),
        from: None,
    }];
    if let Install::Archive { dest_dir, names } = &a.install {
        let stage = s.base.join(WORK_DIR).join(format!("x-{}", a.id));
        let (archive, dd, n, st) = (dest.clone(), dest_dir.clone(), names.clone(), stage);
        let base = s.base.clone();
        let files = tokio::task::spawn_blocking(move || extract(&base, &archive, &dd, &n, &st))
            .await
            .map_err(|e| BundleError::Other(format!("extraction task failed: {e}")))??;
        for (path, sha, size) in files {
            entries.push(FileEntry {
                path,
                size,
                sha256: sha.hex(),
                kind: Kind::Extracted,
                artifact: a.id.clone(),
                version: a.version.clone(),
                source: url.to_string(),
                from: Some(rel.clone()),
            });
        }
    }
    s.events.emit(Event::Done {
        id: a.id.clone(),
        path: rel,
        sha256: sha.hex(),
        size,
        source: url.to_string(),
    });
    Ok(entries)
}

/// Renames `part` to `dest` (mode 0755 when `exec`), creating the parent directory.
pub async fn move_into_place(part: &Path, dest: &Path, exec: bool) -> Result<()> {
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| BundleError::io("create directory", parent, e))?;
    }
    if exec {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(part, std::fs::Permissions::from_mode(0o755))
            .await
            .map_err(|e| BundleError::io("chmod", part, e))?;
    }
    tokio::fs::rename(part, dest)
        .await
        .map_err(|e| BundleError::io("rename", dest, e))
}

/// Extracts regular files of a `.tar.gz` whose base name is in `names` (all when empty) into
/// `stage`, then renames each into `<base>/<dest_dir>/<name>`. Returns (path, sha, size).
fn extract(
    base: &Path,
    archive: &Path,
    dest_dir: &str,
    names: &[String],
    stage: &Path,
) -> Result<Vec<(String, Sha256, u64)>> {
    use sha2::Digest;
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let arch_err = |msg: String| BundleError::Archive {
        path: archive.to_path_buf(),
        msg,
    };
    let _ = std::fs::remove_dir_all(stage);
    std::fs::create_dir_all(stage).map_err(|e| BundleError::io("create directory", stage, e))?;
    let f = std::fs::File::open(archive).map_err(|e| BundleError::io("open", archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f)));
    let mut staged: Vec<(String, PathBuf, Sha256, u64)> = Vec::new();
    let entries = tar.entries().map_err(|e| arch_err(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| arch_err(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| arch_err(e.to_string()))?
            .into_owned();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !names.is_empty() && !names.contains(&name) {
            continue;
        }
        if staged.iter().any(|(n, ..)| *n == name) {
            return Err(arch_err(format!("two files named '{name}'")));
        }
        let tmp = stage.join(&name);
        let mut out =
            std::fs::File::create(&tmp).map_err(|e| BundleError::io("create", &tmp, e))?;
        let mut h = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| arch_err(e.to_string()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| BundleError::io("write", &tmp, e))?;
            size += n as u64;
        }
        crate::manifest::start_writeback(&out);
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| BundleError::io("chmod", &tmp, e))?;
        staged.push((name, tmp, Sha256(h.finalize().into()), size));
    }
    for want in names {
        if !staged.iter().any(|(n, ..)| n == want) {
            return Err(arch_err(format!("'{want}' is not in the archive")));
        }
    }
    if staged.is_empty() {
        return Err(arch_err("no regular files in the archive".into()));
    }
    let dir = base.join(dest_dir);
    std::fs::create_dir_all(&dir).map_err(|e| BundleError::io("create directory", &dir, e))?;
    let mut out = Vec::new();
    for (name, tmp, sha, size) in staged {
        let dest = dir.join(&name);
        std::fs::rename(&tmp, &dest).map_err(|e| BundleError::io("rename", &dest, e))?;
        out.push((
            format!("{}/{}", dest_dir.trim_end_matches('/'), name),
            sha,
            size,
        ));
    }
    let _ = std::fs::remove_dir_all(stage);
    Ok(out)
}

/// When an earlier manifest lists this artifact (same version and source file) and every
/// listed file still hashes to its recorded value, returns those entries.
async fn reuse_previous(
    s: &Session,
    a: &Artifact,
    previous: &BTreeMap<String, FileEntry>,
) -> Result<Option<Vec<FileEntry>>> {
    let main = match previous.get(&a.download_path()) {
        Some(e)
            if e.artifact == a.id
                && e.version == a.version
                && e.source.ends_with(a.file_name()) =>
        {
            e
        }
        _ => return Ok(None),
    };
    let mut kept = vec![main.clone()];
    kept.extend(
        previous
            .values()
            .filter(|e| e.kind == Kind::Extracted && e.from.as_deref() == Some(main.path.as_str()))
            .cloned(),
    );
    for e in &kept {
        match Sha256::of_file(&s.base.join(&e.path)).await {
            Ok((sha, size)) if sha.hex() == e.sha256 && size == e.size => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(kept))
}
