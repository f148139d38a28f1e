//! One `ezdown -D` run: every binary artifact, every image and every `--extra-file`, at most
//! `jobs` transfers at a time, then the manifest (last, atomically).

use crate::binaries::fetch_artifact;
use crate::catalog::{Arch, Artifact};
use crate::checksum::{ChecksumTable, Sha256};
use crate::error::{BundleError, Result};
use crate::events::Event;
use crate::manifest::{FileEntry, Kind, Manifest, safe_relative};
use crate::oci::{ImageRef, pull_image};
use crate::selection::Selection;
use crate::session::Session;
use ez_inventory::VersionTable;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What to put in the bundle.
#[derive(Debug, Clone)]
pub struct Request {
    pub versions: VersionTable,
    pub arch: Arch,
    pub artifacts: Vec<Artifact>,
    /// Image references (normalised by [`ImageRef::parse`]).
    pub images: Vec<String>,
    /// `(path in the bundle, local source file)` for files no upstream publishes (nginx).
    pub extra_files: Vec<(String, PathBuf)>,
    pub table: ChecksumTable,
    /// The network plugin and parts left out, recorded in the manifest (the artifacts and
    /// images above are already chosen for it: [`crate::catalog::binaries_for`],
    /// [`crate::images::images_for`]).
    pub selection: Selection,
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Report {
    pub manifest: Manifest,
    /// `(artifact, error)` for everything that failed.
    pub failures: Vec<(String, BundleError)>,
    pub bytes_fetched: u64,
}

enum Job<'a> {
    Artifact(&'a Artifact),
    /// The image and its file name in `down/` (see `bundle_tar_names`).
    Image(ImageRef, String),
    Extra(&'a str, &'a PathBuf),
}

impl Job<'_> {
    fn name(&self) -> String {
        match self {
            Job::Artifact(a) => a.id.clone(),
            Job::Image(i, _) => i.full_name(),
            Job::Extra(p, _) => p.to_string(),
        }
    }
}

/// Runs the download. Per-artifact failures are collected (the others still complete); the
/// manifest is written either way, with `complete: false` when something failed, so a re-run
/// skips what is already verified.
pub async fn download(s: &Session, req: &Request) -> Result<Report> {
    let started = Instant::now();
    s.prepare_dirs()?;
    let previous: BTreeMap<String, FileEntry> = match Manifest::load(&s.base) {
        Ok(Some(m)) => m.files.into_iter().map(|f| (f.path.clone(), f)).collect(),
        Ok(None) => BTreeMap::new(),
        Err(e) => {
            tracing::warn!("ignoring the existing manifest: {e}");
            BTreeMap::new()
        }
    };
    // Largest first (longest-processing-time order): the `jobs` lanes then finish close
    // together, where a big file started last would run alone at the end.
    let mut artifacts: Vec<&crate::catalog::Artifact> = req.artifacts.iter().collect();
    artifacts.sort_by_key(|a| std::cmp::Reverse(crate::catalog::typical_mb(&a.id)));
    let mut jobs: Vec<Job> = artifacts.into_iter().map(Job::Artifact).collect();
    let refs = req
        .images
        .iter()
        .map(|i| ImageRef::parse(i))
        .collect::<Result<Vec<_>>>()?;
    let names = crate::oci::reference::bundle_tar_names(&refs);
    let mut seen = std::collections::HashSet::new();
    for (r, name) in refs.into_iter().zip(names) {
        // the same image listed twice is fetched once
        if seen.insert(name.clone()) {
            jobs.push(Job::Image(r, name));
        }
    }
    for (p, src) in &req.extra_files {
        if !safe_relative(p) {
            return Err(BundleError::Other(format!(
                "--extra-file: '{p}' must be a relative path inside the bundle, e.g. bin/nginx"
            )));
        }
        jobs.push(Job::Extra(p, src));
    }
    let prev = &previous;
    let results: Vec<(String, Result<Vec<FileEntry>>)> = futures::stream::iter(jobs)
        .map(|job| async move {
            let name = job.name();
            // every request fails the same way: jobs not started yet are not tried
            if let Err(e) = crate::fetch::stop_if_tripped(&s.events) {
                return (name, Err(e));
            }
            let r = match &job {
                Job::Artifact(a) => fetch_artifact(s, &req.table, a, prev).await,
                Job::Image(i, tar) => pull_image(s, i, tar, req.arch, prev).await.map(|e| vec![e]),
                Job::Extra(p, src) => add_extra(s, p, src).await.map(|e| vec![e]),
            };
            if let Err(e) = &r
                && !matches!(e, BundleError::Systemic(_))
            {
                s.events.emit(Event::Failed {
                    id: name.clone(),
                    error: e.to_string(),
                });
            }
            (name, r)
        })
        .buffer_unordered(s.jobs)
        .collect()
        .await;

    let mut manifest = Manifest::new(req.arch.as_str(), req.versions.clone());
    manifest.selection = req.selection.clone();
    let mut failures = Vec::new();
    for (name, r) in results {
        match r {
            Ok(entries) => manifest.files.extend(entries),
            Err(e) => failures.push((name, e)),
        }
    }
    // The manifest describes the bundle, not the last command: what earlier runs saved and
    // this one did not ask for (a set fetched with `ezdown -X` alone, an `--image` of another
    // day) stays listed while its file is there with the recorded size; `--verify` still
    // re-hashes it. A file this run replaced is listed once, as this run made it.
    let produced: std::collections::HashSet<String> =
        manifest.files.iter().map(|f| f.path.clone()).collect();
    for (path, e) in previous {
        if !produced.contains(&path)
            && std::fs::metadata(s.base.join(&path)).is_ok_and(|m| m.len() == e.size)
        {
            manifest.files.push(e);
        }
    }
    if let Some(t) = s.events.breaker().tripped() {
        s.events.emit(Event::Stopped {
            reason: t.message(),
            not_fetched: failures.len(),
        });
    }
    manifest.complete = failures.is_empty();
    let disk_full = failures.iter().find_map(|(_, e)| match e {
        BundleError::DiskFull(p) => Some(p.clone()),
        _ => None,
    });
    if let Some(p) = disk_full {
        return Err(BundleError::DiskFull(p));
    }
    manifest.write(&s.base)?;
    let bytes_fetched = s.events.bytes_fetched();
    s.events.emit(Event::Summary {
        files: manifest.files.len(),
        failed: failures.len(),
        bytes_fetched,
        seconds: started.elapsed().as_secs_f64(),
    });
    Ok(Report {
        manifest,
        failures,
        bytes_fetched,
    })
}

/// Copies a local file into the bundle (via a `.part`), recording its sha256.
async fn add_extra(s: &Session, rel: &str, src: &PathBuf) -> Result<FileEntry> {
    let part = s.part_path(&rel.replace('/', "_"));
    tokio::fs::copy(src, &part)
        .await
        .map_err(|e| BundleError::io("copy", src, e))?;
    let (sha, size) = Sha256::of_file(&part).await?;
    let exec = rel.starts_with("bin/");
    crate::binaries::move_into_place(&part, &s.base.join(rel), exec).await?;
    s.events.emit(Event::Done {
        id: rel.to_string(),
        path: rel.to_string(),
        sha256: sha.hex(),
        size,
        source: format!("file://{}", src.display()),
    });
    Ok(FileEntry {
        path: rel.to_string(),
        size,
        sha256: sha.hex(),
        kind: Kind::Extra,
        artifact: rel.to_string(),
        version: "local".into(),
        source: format!("file://{}", src.display()),
        from: None,
    })
}
