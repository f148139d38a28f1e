//! `kube-double`: one multi-call binary standing in for the Kubernetes server binaries in
//! tests (no package registry here ships them). Installed under the real names
//! (`kube-apiserver`, `kube-controller-manager`, `kube-scheduler`, `kubelet`, `kube-proxy`),
//! it picks its role from argv[0] (or from its first argument: `kube-double kubelet …`).
//!
//! Every double first checks what the installer must get right — flags known to the
//! Kubernetes version, certificates that chain to the CA with the expected CN/O/SANs,
//! kubeconfigs pointing where they should, etcd answering over mTLS — and exits non-zero
//! with one clear line when something is wrong, so systemd shows the unit as failed. Then
//! it serves or uses the small part of the API the installer's waits need. See
//! `tests/doubles/README.md` for exactly what is checked.

mod api;
mod apiserver;
mod certs;
mod control;
mod etcd;
mod flags;
mod generic;
mod http;
mod kcfg;
mod kubelet;
mod openapi;
mod pb;
mod pods;
mod proxy;
mod rbac;
mod resources;
mod select;
mod tlsio;
mod validate;
mod workloads;

use std::path::Path;
use std::process::ExitCode;

/// The Kubernetes version these doubles claim to be (and whose flag lists they use).
pub const VERSION: &str = "v1.36.3";
/// The version this copy of the double claims: [`VERSION`], or the patch release stamped at
/// the end of its own file as `\nKUBE_DOUBLE_VERSION=v1.36.N\n` (how the tests make the
/// "new binaries" of an upgrade). Only patch releases of [`MINOR`] are accepted: the flag
/// allow-lists are per minor version.
pub fn version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| stamped_version().unwrap_or_else(|| VERSION.to_string()))
}

fn stamped_version() -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(std::env::current_exe().ok()?).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(64))).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let v = text.rsplit("\nKUBE_DOUBLE_VERSION=").next()?.trim_end();
    let patch = v.strip_prefix(MINOR)?.strip_prefix('.')?;
    (text.contains("\nKUBE_DOUBLE_VERSION=")
        && !patch.is_empty()
        && patch.chars().all(|c| c.is_ascii_digit()))
    .then(|| v.to_string())
}

/// Minor version directory of the flag allow-lists.
pub const MINOR: &str = "v1.36";

/// A check that failed: what, and what the operator should look at.
#[derive(Debug)]
pub struct Failed(pub String);

impl<E: std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Self {
        Failed(e.to_string())
    }
}

pub type Res<T> = Result<T, Failed>;

/// `Err(Failed(..))` from a format string.
#[macro_export]
macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::Failed(format!($($t)*))) };
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let role = if argv0 == "kube-double" {
        if args.len() < 2 {
            eprintln!(
                "usage: kube-double <kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy> [flags]"
            );
            return ExitCode::from(2);
        }
        args.remove(1)
    } else {
        argv0
    };
    let flags = &args[1..];
    if flags.iter().any(|f| f == "--version") {
        println!("Kubernetes {} (test double)", version());
        return ExitCode::SUCCESS;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{role} (test double): cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match role.as_str() {
            "kube-apiserver" => apiserver::run(flags).await,
            "kube-controller-manager" => control::run("kube-controller-manager", flags).await,
            "kube-scheduler" => control::run("kube-scheduler", flags).await,
            "kubelet" => kubelet::run(flags).await,
            "kube-proxy" => proxy::run(flags).await,
            other => Err(Failed(format!("unknown role `{other}`"))),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed(msg)) => {
            eprintln!("{role} (test double of Kubernetes {VERSION}): FATAL: {msg}");
            ExitCode::FAILURE
        }
    }
}
