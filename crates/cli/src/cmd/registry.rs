//! `ezctl registry`: kubeasz's local registry (`easzlab.io.local:5000` on the deploy host)
//! without docker. It serves the bundle's image tars (`down/*.tar`, `arch/<arch>/down/*.tar`)
//! in place with `ez_registry`, read-only, in the foreground until Ctrl-C or SIGTERM (run it
//! under systemd to keep it, as kubeasz keeps `registry:2` with `--restart always`).

use crate::ctx::Ctx;
use crate::refusal::Refusal;
use ez_registry::serve::{Access, Observer};
use ez_registry::{Store, image_dirs, serve};
use std::sync::Arc;

#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Serve the bundle's images read-only as kubeasz's local registry (the nodes' easzlab.io.local:5000) until Ctrl-C
    Registry(RegistryArgs),
}

/// Arguments of `ezctl registry`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Address to listen on; kubeasz's registry is port 5000 on every address of the deploy host.
    #[arg(long, default_value = "0.0.0.0:5000")]
    pub listen: String,
    /// Print one line per request answered (client, method, path, status, bytes).
    #[arg(long)]
    pub access_log: bool,
    /// Print the images it serves, then exit without listening.
    #[arg(long)]
    pub list: bool,
}

pub async fn run(ctx: &Ctx, c: RegistryCommand) -> anyhow::Result<u8> {
    let RegistryCommand::Registry(a) = c;
    crate::refusal::finish(serve_bundle(ctx, &a).await)
}

async fn serve_bundle(ctx: &Ctx, a: &RegistryArgs) -> anyhow::Result<u8> {
    let base = &ctx.base;
    let fetch = format!("./ezdown -D --base {}", base.display());
    if !base.join("down").is_dir() {
        return Refusal::new(1, format!("no bundle: {} has no down/", base.display()))
            .hint(format!(
                "run `{fetch}` (binaries and images), then this command again"
            ))
            .into_result();
    }
    let store = Store::scan(&image_dirs(base))?;
    for s in &store.skipped {
        eprintln!("ezctl registry: not served: {}: {}", s.tar.display(), s.why);
    }
    let images = store.images();
    if a.list {
        for i in &images {
            println!("{i}");
        }
        return Ok(0);
    }
    if images.is_empty() {
        return Refusal::new(
            1,
            format!("no image tar in {}", base.join("down").display()),
        )
        .hint(format!(
            "run `{fetch}` (or with -X for more images), then this command again"
        ))
        .into_result();
    }
    let listener = serve::bind(&a.listen).await?;
    let addr = listener
        .local_addr()
        .map(|x| x.to_string())
        .unwrap_or_else(|_| a.listen.clone());
    eprintln!(
        "ezctl registry: {} images of {} tars from {}, read-only, on http://{addr}",
        images.len(),
        store.tars,
        base.display()
    );
    eprintln!(
        "       the nodes pull them as easzlab.io.local:5000/<name> or easzlab.io.local:5000/easzlab/<image>:<tag>; \
         upstream names through REGISTRY_MIRRORS, e.g. [\"registry.k8s.io=http://easzlab.io.local:5000/v2/registry.k8s.io\"]; Ctrl-C stops"
    );
    let log = a.access_log;
    let observer: Observer = Arc::new(move |x: &Access| {
        if log {
            eprintln!("{x}");
        }
    });
    serve(listener, Arc::new(store), observer, stopped()).await?;
    eprintln!("ezctl registry: stopped");
    Ok(0)
}

/// Completes at Ctrl-C or SIGTERM (systemd's stop).
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
