//! `ezctl render <c>`: every file the playbooks would lay down, per host, written under a
//! folder without touching any host.
//!
//! Invariant: private keys are never written, only listed in `<out>/<host>/.secrets` by
//! destination; certificates and kubeconfigs are made on the deploy host (as setup does),
//! existing ones kept.

use crate::ctx::Ctx;
use crate::deploy;
use anyhow::Context;
use ez_play::RunOptions;
use ez_play::render::{FileContent, render_host};
use std::path::PathBuf;

/// What [`render`] wrote.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub files: usize,
    pub hosts: usize,
    pub out: PathBuf,
}

/// `ezctl render`: per host, `<out>/<host>/<absolute path>`; private keys are listed in
/// `<out>/<host>/.secrets` by destination only.
pub fn render(ctx: &Ctx, name: &str, out: Option<PathBuf>, step: &str) -> anyhow::Result<Rendered> {
    let dir = ctx.cluster_dir(name);
    let cluster = deploy::load_cluster(&dir, name)?;
    let lib = deploy::load_library(&ctx.base)?;
    // Certificates and kubeconfigs are made on the deploy host (never on a host), so render
    // can show them; existing ones are kept.
    let report = deploy::pki::ensure(&cluster, false)?;
    deploy::pki::print_report(&report);
    let out = out.unwrap_or_else(|| dir.join("rendered"));
    let inv = deploy::play_inventory(&cluster, &ctx.base, "<deploy-host-ip>");
    let opts = RunOptions::default();
    let mut count = 0usize;
    for stem in crate::setup::stems_for(&lib, step)? {
        for host in &cluster.hosts {
            let files = render_host(&lib, &stem, &inv, &host.name, &opts)?;
            let hdir = out.join(&host.name);
            for f in files {
                let rel = f.path.trim_start_matches('/');
                let target = hdir.join(rel);
                if let Some(p) = target.parent() {
                    std::fs::create_dir_all(p)
                        .with_context(|| format!("creating {}", p.display()))?;
                }
                match f.content {
                    FileContent::Bytes(b) => std::fs::write(&target, b)
                        .with_context(|| format!("writing {}", target.display()))?,
                    FileContent::Copy(src) => {
                        if src.starts_with(dir.join("ssl"))
                            || src.extension().is_some_and(|e| e == "kubeconfig")
                        {
                            std::fs::copy(&src, &target).with_context(|| format!("copying {} (run `ezctl setup {name} 01` first to create certificates)", src.display()))?;
                        } else {
                            std::fs::write(
                                &target,
                                format!("# copied from the deploy host: {}\n", src.display()),
                            )?;
                        }
                    }
                    FileContent::Secret(src) => {
                        use std::io::Write;
                        let mut s = std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(hdir.join(".secrets"))?;
                        writeln!(
                            s,
                            "{} <- {} (private key, not shown)",
                            f.path,
                            src.display()
                        )?;
                        continue;
                    }
                    FileContent::Edit(text) => std::fs::write(
                        target.with_file_name(format!(
                            "{}.managed-part",
                            target
                                .file_name()
                                .map(|n| n.to_string_lossy())
                                .unwrap_or_default()
                        )),
                        text,
                    )?,
                }
                count += 1;
            }
        }
    }
    Ok(Rendered {
        files: count,
        hosts: cluster.hosts.len(),
        out,
    })
}
