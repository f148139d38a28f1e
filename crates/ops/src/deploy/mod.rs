//! What `ezctl setup` and `ezctl render` share: loading a cluster, its PKI, the engine's view
//! of the inventory, the playbook library and SSH connections to the hosts.

pub mod arch;
pub mod bundle_check;
pub mod connect;
pub mod facts;
pub mod pki;
pub mod preflight;
pub mod relay;
pub mod remote;

use anyhow::{Context, bail};
use ez_inventory::Cluster;
use ez_play::{Inventory, Library};
use std::path::{Path, PathBuf};

/// Loads and validates `clusters/<name>`; every diagnostic is printed, errors stop here.
pub fn load_cluster(cluster_dir: &Path, name: &str) -> anyhow::Result<Cluster> {
    load_cluster_allowing(cluster_dir, name, &[])
}

/// [`load_cluster`] with the errors of the rules in `allow` printed as warnings.
pub fn load_cluster_allowing(
    cluster_dir: &Path,
    name: &str,
    allow: &[&str],
) -> anyhow::Result<Cluster> {
    if !cluster_dir.is_dir() {
        bail!(
            "invalid config, run 'ezctl new {name}' first ({} does not exist)",
            cluster_dir.display()
        );
    }
    match ez_inventory::load::load_cluster_allowing(cluster_dir, allow) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("{w}");
            }
            Ok(c)
        }
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{d}");
            }
            let n = diags.errors().count();
            bail!(
                "cluster {name}: {n} error(s) in {}; fix them and run again (nothing was changed)",
                cluster_dir.display()
            )
        }
    }
}

/// The `playbooks/` directory: `$EZ_PLAYBOOKS`, else `<base>/playbooks`, else the one of the
/// source tree this binary was built from.
pub fn playbooks_dir(base: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os("EZ_PLAYBOOKS") {
        return PathBuf::from(p);
    }
    let in_base = base.join("playbooks");
    if in_base.join("roles").is_dir() {
        return in_base;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks")
}

pub fn load_library(base: &Path) -> anyhow::Result<Library> {
    let dir = playbooks_dir(base);
    Library::load(&dir).with_context(|| format!("loading playbooks from {}", dir.display()))
}

/// The engine's view of a cluster (see [`ez_play::cluster::inventory_from_cluster`]).
pub fn play_inventory(cluster: &Cluster, base: &Path, deploy_ip: &str) -> Inventory {
    ez_play::cluster::inventory_from_cluster(cluster, base, deploy_ip)
}
