//! The engine's view of a kubeasz cluster: the one place the cluster model (ez-inventory)
//! becomes the groups, per-host values and cluster values the playbooks are rendered with.

use crate::vars::{Inventory, Vars};
use ez_inventory::Cluster;
use serde_json::{Value as Json, json};
use std::path::Path;

/// The engine's view of a cluster: groups of host names, per-host values and cluster values
/// (config.yml, derived values, facts of the bundle in `base`).
pub fn inventory_from_cluster(cluster: &Cluster, base: &Path, deploy_ip: &str) -> Inventory {
    inventory_with_facts(cluster, base, deploy_ip, crate::facts::bundle_vars(base))
}

/// [`inventory_from_cluster`] with the bundle facts already gathered (`facts::bundle_vars`
/// runs the bundle's containerd: a caller can do that while it connects to the hosts).
pub fn inventory_with_facts(
    cluster: &Cluster,
    base: &Path,
    deploy_ip: &str,
    facts: Vars,
) -> Inventory {
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
    vars.extend(facts);
    vars.insert("base_dir".into(), json!(base.to_string_lossy()));
    vars.insert("cluster_dir".into(), json!(cluster.dir.to_string_lossy()));
    vars.insert("deploy_ip".into(), json!(deploy_ip));
    let names: serde_json::Map<String, Json> = cluster
        .k8s_hosts()
        .iter()
        .map(|h| (h.addr.to_string(), json!(h.node_name)))
        .collect();
    vars.insert("node_names".into(), Json::Object(names));
    // kubeasz 3.7's docker.io mirrors (roles/containerd/templates/docker.io/hosts.toml.j2)
    vars.entry("DOCKER_IO_MIRRORS").or_insert_with(|| {
        json!([
            "https://docker.1ms.run",
            "https://hub1.nat.tf",
            "https://docker.1panel.live",
            "https://hub.rat.dev",
            "https://docker.amingg.com"
        ])
    });
    // kubeasz-rs: pull-through mirrors of any registry ("REGISTRY=MIRROR[,MIRROR]"), none
    // unless config.yml says
    vars.entry("REGISTRY_MIRRORS").or_insert_with(|| json!([]));
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
