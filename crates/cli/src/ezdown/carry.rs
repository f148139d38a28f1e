//! `ezdown --verify`, `--export FILE` and `--import FILE`: a bundle checked, and carried to an
//! offline deploy host as one archive (verified on both ends).

use super::EzdownCli;
use crate::refusal::Refusal;
use ez_bundle::selection::Selection;
use ez_bundle::{transport, verify};
use std::path::PathBuf;

/// `--verify`: the base, then each other architecture's bundle in it.
pub(super) async fn do_verify(cli: &EzdownCli) -> anyhow::Result<u8> {
    let mut worst = crate::refusal::finish_as("ezdown:", verify_one(cli, &cli.base).await)?;
    for a in ez_bundle::arches::extra(&cli.base) {
        let sub = ez_bundle::arches::sub_base(&cli.base, a);
        if !cli.json {
            eprintln!("ezdown: the {} bundle in {}:", a.as_str(), sub.display());
        }
        let code = crate::refusal::finish_as("ezdown:", verify_one(cli, &sub).await)?;
        worst = worst.max(code);
    }
    Ok(worst)
}

async fn verify_one(cli: &EzdownCli, base: &std::path::Path) -> anyhow::Result<u8> {
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(cli.jobs);
    // `--verify --network … --without …`: also whether the bundle serves that site.
    let wanted = if cli.network.is_some() || !cli.without.is_empty() {
        match Selection::parse(cli.network.as_deref(), &cli.without) {
            Ok(s) => Some(s),
            Err(e) => {
                return Refusal::new(1, e.to_string()).into_result();
            }
        }
    } else {
        None
    };
    let r = match verify::verify_for(base, jobs, wanted.as_ref()).await {
        Ok(r) => r,
        Err(e) => {
            return Refusal::new(1, e.to_string()).into_result();
        }
    };
    if cli.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        for p in &r.missing {
            eprintln!("missing: {p}");
        }
        for (p, want, got) in &r.changed {
            eprintln!("changed: {p} (expected {want}, found {got})");
        }
        for p in &r.extra {
            eprintln!("extra:   {p} (not in manifest.json)");
        }
        for s in &r.shortfalls {
            eprintln!("not for this site: {s}");
        }
        if r.incomplete {
            eprintln!(
                "incomplete: the run that wrote manifest.json had failures; run `ezdown -D` again"
            );
        }
        eprintln!(
            "ezdown: verified {} files ({} bytes; bundle for {}): {}",
            r.checked,
            r.bytes,
            r.selection.describe(),
            if r.ok() { "OK" } else { "PROBLEMS FOUND" }
        );
    }
    Ok(if r.ok() { 0 } else { 1 })
}

pub(super) async fn do_export(cli: &EzdownCli, out: PathBuf) -> anyhow::Result<u8> {
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let mut all = vec![cli.base.clone()];
    all.extend(
        ez_bundle::arches::extra(&cli.base)
            .into_iter()
            .map(|a| ez_bundle::arches::sub_base(&cli.base, a)),
    );
    for base in &all {
        if let Some(code) = refuse_unverified(base, jobs).await {
            return Ok(code);
        }
    }
    let base = cli.base.clone();
    let o = out.clone();
    match tokio::task::spawn_blocking(move || transport::export(&base, &o)).await? {
        Ok(bytes) => {
            eprintln!(
                "ezdown: exported {bytes} bytes of bundle into {}; on the offline host: ezdown --import {}",
                out.display(),
                out.display()
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("ezdown: {e}");
            Ok(1)
        }
    }
}

/// The exit code when the bundle at `base` does not verify (said), `None` when it does.
async fn refuse_unverified(base: &std::path::Path, jobs: usize) -> Option<u8> {
    match verify::verify(base, jobs).await {
        Ok(r) if r.ok() => None,
        Ok(_) => {
            eprintln!(
                "ezdown: the bundle in {} does not verify; run `ezdown --verify` for details and `ezdown -D` to repair before exporting",
                base.display()
            );
            Some(1)
        }
        Err(e) => {
            eprintln!("ezdown: {e}");
            Some(1)
        }
    }
}

pub(super) async fn do_import(cli: &EzdownCli, file: PathBuf) -> anyhow::Result<u8> {
    let base = cli.base.clone();
    match tokio::task::spawn_blocking(move || transport::import(&file, &base)).await? {
        Ok(m) => {
            eprintln!(
                "ezdown: imported and verified {} files into {}",
                m.files.len(),
                cli.base.display()
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("ezdown: {e}; nothing was changed in {}", cli.base.display());
            Ok(1)
        }
    }
}
