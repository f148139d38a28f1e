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
/// printed first) when that does not validate. The etcd-even rule only warns ([`EVEN`]).
pub fn candidate(name: &str, dir: &Path, text: &str) -> anyhow::Result<Cluster> {
    validated(name, dir, text, EVEN, "the changed inventory")
}

/// The cluster `text` would make as its hosts file, the errors of the rules in `allow` only
/// warnings (printed); a refusal naming `what` (the diagnostics printed first) when it does
/// not validate.
pub fn validated(
    name: &str,
    dir: &Path,
    text: &str,
    allow: &[&str],
    what: &str,
) -> anyhow::Result<Cluster> {
    let hosts_path = load::hosts_path(dir);
    let config_path = load::config_path(dir);
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    match load::parse_cluster_allowing(
        name,
        dir,
        &hosts_path,
        text,
        &config_path,
        &config_text,
        allow,
    ) {
        Ok(c) => {
            for w in c.warnings.iter().filter(|w| allow.contains(&w.code)) {
                eprintln!("{w}");
            }
            Ok(c)
        }
        Err(d) => {
            for x in &d.0 {
                eprintln!("{x}");
            }
            let why = format!(
                "{what} does not validate; {} was not changed",
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

/// A group hosts leave one at a time, with kubeasz's words for it.
pub struct Membership {
    pub group: &'static str,
    /// What a member is called in the refusals ("etcd", "master").
    pub what: &'static str,
    /// The refusal for removing the last member.
    pub last: &'static str,
    /// A leaving member also leaves `[kube_node]` (a master is a node too).
    pub also_kube_node: bool,
}

pub const ETCD_MEMBERS: Membership = Membership {
    group: "etcd",
    what: "etcd",
    last: "you CAN NOT delete the last member of etcd cluster!",
    also_kube_node: false,
};

pub const MASTERS: Membership = Membership {
    group: "kube_master",
    what: "master",
    last: "you CAN NOT delete the last member of kube_master!",
    also_kube_node: true,
};

/// The hosts file without `ip` in `m`'s group, and the cluster it makes. Refused: an invalid
/// address, one not in the group, the group's last member, or a result that does not
/// validate. Nothing is written.
pub fn with_host_removed(
    name: &str,
    dir: &Path,
    cluster: &Cluster,
    m: &Membership,
    ip: &str,
) -> anyhow::Result<(String, Cluster)> {
    if ip.parse::<IpAddr>().is_err() {
        return Refusal::new(2, format!("Invalid ip add:{ip}")).into_result();
    }
    let members = cluster.group(m.group);
    if !members.iter().any(|h| h.name == ip) {
        return Refusal::new(2, format!("{} {ip} not existed!", m.what)).into_result();
    }
    if members.len() == 1 {
        return Refusal::new(1, m.last).into_result();
    }
    let hosts_path = load::hosts_path(dir);
    let text = std::fs::read_to_string(&hosts_path)
        .with_context(|| format!("reading {}", hosts_path.display()))?;
    let mut new_text = crate::hosts_file::remove_from(&text, m.group, ip);
    if m.also_kube_node {
        new_text = crate::hosts_file::remove_node(&new_text, ip);
    }
    let new = candidate(name, dir, &new_text)?;
    Ok((new_text, new))
}
