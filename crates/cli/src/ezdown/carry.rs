//! `ezdown --verify`, `--export FILE` and `--import FILE`: a bundle checked, and carried to an
//! offline deploy host as one archive (verified on both ends).

use super::EzdownCli;
use ez_bundle::selection::Selection;
use ez_bundle::{transport, verify};
use std::path::PathBuf;

pub(super) async fn do_verify(cli: &EzdownCli) -> anyhow::Result<u8> {
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(cli.jobs);
    // `--verify --network … --without …`: also whether the bundle serves that site.
    let wanted = if cli.network.is_some() || !cli.without.is_empty() {
        match Selection::parse(cli.network.as_deref(), &cli.without) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("ezdown: {e}");
                return Ok(1);
            }
        }
    } else {
        None
    };
    let r = match verify::verify_for(&cli.base, jobs, wanted.as_ref()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ezdown: {e}");
            return Ok(1);
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
    match verify::verify(&cli.base, jobs).await {
        Ok(r) if r.ok() => {}
        Ok(_) => {
            eprintln!(
                "ezdown: the bundle does not verify; run `ezdown --verify` for details and `ezdown -D` to repair before exporting"
            );
            return Ok(1);
        }
        Err(e) => {
            eprintln!("ezdown: {e}");
            return Ok(1);
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
