//! A changed hosts file before it is written: the cluster it would make, refused (kubeasz's
//! messages) when an address is invalid or already there, or when the result does not
//! validate. Nothing here writes the file: operations do, once the hosts are done.

use crate::refusal::Refusal;
use anyhow::Context;
use ez_inventory::{Cluster, load};
use std::net::IpAddr;
use std::path::Path;

/// Validation rules whose errors are only warnings while etcd members are added or removed:
/// an even membership is the way from one odd size to the next (the other commands still
/// refuse it).
pub const EVEN: &[&str] = &["etcd-even"];

/// The cluster as it would be with `text` as its hosts file; a refusal (the diagnostics
/// printed first) when that does not validate.
pub fn candidate(name: &str, dir: &Path, text: &str) -> anyhow::Result<Cluster> {
    let hosts_path = load::hosts_path(dir);
    let config_path = load::config_path(dir);
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    match ez_inventory::load::parse_cluster_allowing(
        name,
        dir,
        &hosts_path,
        text,
        &config_path,
        &config_text,
        EVEN,
    ) {
        Ok(c) => {
            for w in c.warnings.iter().filter(|w| EVEN.contains(&w.code)) {
                eprintln!("{w}");
            }
            Ok(c)
        }
        Err(d) => {
            for x in &d.0 {
                eprintln!("{x}");
            }
            let why = format!(
                "the changed inventory does not validate; {} was not changed",
                hosts_path.display()
            );
            Refusal::new(1, why).into_result()
        }
    }
}

/// The hosts file with `ip` (and its host variables `vars`) added to `[group]`, and the
/// cluster it makes. Refused: an invalid address, an address already in the group (`what`
/// names it: "etcd", "master"), no such section, or a result that does not validate.
pub fn with_host_added(
    name: &str,
    dir: &Path,
    cluster: &Cluster,
    group: &str,
    what: &str,
    ip: &str,
    vars: &[String],
) -> anyhow::Result<(String, Cluster)> {
    let hosts_path = load::hosts_path(dir);
    if ip.parse::<IpAddr>().is_err() {
        return Refusal::new(1, format!("Invalid ip add:{ip}")).into_result();
    }
    if cluster.group(group).iter().any(|h| h.name == ip) {
        return Refusal::new(2, format!("{what} {ip} already existed!")).into_result();
    }
    let text = std::fs::read_to_string(&hosts_path)
        .with_context(|| format!("reading {}", hosts_path.display()))?;
    let line = std::iter::once(ip.to_string())
        .chain(vars.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let Some(new_text) = crate::hosts_file::insert_in(&text, group, &[line]) else {
        let why = format!("{} has no [{group}] section", hosts_path.display());
        return Refusal::new(1, why).into_result();
    };
    let new = candidate(name, dir, &new_text)?;
    Ok((new_text, new))
}
