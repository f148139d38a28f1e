//! What `ezctl setup` and `ezctl render` share: loading a cluster, its PKI, the engine's view
//! of the inventory, the playbook library and SSH connections to the hosts.

pub mod connect;
pub mod pki;
pub mod preflight;
pub mod remote;

use anyhow::{Context, bail};
use ez_inventory::Cluster;
use ez_play::{Inventory, Library, Vars};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};

/// Loads and validates `clusters/<name>`; every diagnostic is printed, errors stop here.
pub fn load_cluster(cluster_dir: &Path, name: &str) -> anyhow::Result<Cluster> {
    if !cluster_dir.is_dir() {
        bail!(
            "invalid config, run 'ezctl new {name}' first ({} does not exist)",
            cluster_dir.display()
        );
    }
    match ez_inventory::load::load_cluster(cluster_dir) {
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

/// The engine's view of a cluster: groups of host names, per-host values and cluster values
/// (config.yml, derived values, facts of the bundle in `base`).
pub fn play_inventory(cluster: &Cluster, base: &Path, deploy_ip: &str) -> Inventory {
    let mut inv = Inventory::default();
    for g in &cluster.inventory.groups {
        inv.groups.insert(
            g.name.clone(),
            cluster
                .group(&g.name)
                .iter()
                .map(|h| h.name.clone())
                .collect(),
        );
    }
    let mut vars: Vars = cluster.values().into_iter().collect();
    vars.extend(ez_play::facts::bundle_vars(base));
    vars.insert("base_dir".into(), json!(base.to_string_lossy()));
    vars.insert("cluster_dir".into(), json!(cluster.dir.to_string_lossy()));
    vars.insert("deploy_ip".into(), json!(deploy_ip));
    let names: serde_json::Map<String, Json> = cluster
        .k8s_hosts()
        .iter()
        .map(|h| (h.addr.to_string(), json!(h.node_name)))
        .collect();
    vars.insert("node_names".into(), Json::Object(names));
    vars.entry("DOCKER_IO_MIRRORS")
        .or_insert_with(|| json!(["https://docker.1ms.run", "https://docker.m.daocloud.io"]));
    for h in &cluster.hosts {
        let mut hv: Vars = cluster.host_values(h).into_iter().collect();
        // keep only what differs from the cluster values: smaller contexts, same result
        hv.retain(|k, v| vars.get(k) != Some(v));
        hv.insert("base_dir".into(), json!(base.to_string_lossy()));
        hv.insert("cluster_dir".into(), json!(cluster.dir.to_string_lossy()));
        inv.host_vars.insert(h.name.clone(), hv);
    }
    inv.vars = vars;
    inv
}
