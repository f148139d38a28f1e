//! Preflight: what must hold on every host before anything is changed (`ezctl check <c>`, and
//! the start of every `ezctl setup`). One round trip per host gathers the facts; the checks are
//! pure functions of them, so each rule is unit-tested without a host.
//!
//! Every failure names the host, the check and the fix; `--skip-preflight CHECK` (repeatable,
//! or `all`) overrides a check knowingly.

pub use super::facts::{Facts, gather, parse};
use ez_inventory::Cluster;
use ez_play::Remote;
use std::collections::BTreeMap;

mod checks;

/// The checks of the whole cluster, besides each host's: hostnames shared between hosts, and
/// the bundle (`bundle_check`).
const CLUSTER_CHECKS: &[&str] = &["hostname", super::bundle_check::CHECK];

/// Every check, by the name `--skip-preflight` takes (`all` skips them all).
pub fn check_names() -> Vec<&'static str> {
    checks::HOST_CHECKS
        .iter()
        .map(|(name, _)| *name)
        .chain(CLUSTER_CHECKS.iter().copied())
        .collect()
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub host: String,
    pub check: &'static str,
    pub message: String,
    pub fix: String,
    /// A warning is shown but does not stop the run.
    pub warning: bool,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        write!(
            f,
            "{level}: [{}] preflight {}: {}\n  = fix: {}",
            self.host, self.check, self.message, self.fix
        )
    }
}

/// What a host is for, as far as the checks care.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    pub master: bool,
    pub node: bool,
    pub etcd: bool,
}

/// Cluster settings the checks depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub k8s_minor: u32,
    pub proxy_mode: String,
    pub bin_dir: String,
    pub secure_port: u16,
    pub setting_hostname: bool,
    /// config.yml `KUBELET_FAIL_CGROUP_V1` (kubelet's `failCgroupV1`, default true).
    pub fail_cgroup_v1: bool,
    /// config.yml `CONTAINERD_RESTRICT_OOM_SCORE_ADJ` (containerd's `restrict_oom_score_adj`).
    pub restrict_oom_score_adj: bool,
    /// MiB of the bundle's image tars (`<base>/down/*.tar`), which step 03 copies to every
    /// master and node and imports into containerd.
    pub images_mib: u64,
    /// The bundle's architectures as `uname -m` names them (`x86_64`), its own first; empty
    /// without a manifest.
    pub bundle_arches: Vec<String>,
}

/// What the bundle's images take on a host: the copy in /opt/kube/images, the content store
/// and the unpacked snapshots (about twice the archives), plus 1 GiB for everything else.
pub fn disk_needed_mib(images_mib: u64) -> u64 {
    images_mib * 4 + 1024
}

/// MiB of the image archives in `<base>/down`.
pub fn bundle_images_mib(base: &std::path::Path) -> u64 {
    ez_inventory::BundleLayout::new(base).image_tar_bytes() / (1024 * 1024)
}

/// The checks of one host, in the order of [`checks::HOST_CHECKS`].
pub fn check_host(host: &str, f: &Facts, roles: &Roles, s: &Settings) -> Vec<Finding> {
    let input = checks::Input { f, roles, s };
    checks::HOST_CHECKS
        .iter()
        .flat_map(|(name, check)| {
            check(&input).into_iter().map(move |i| Finding {
                host: host.to_string(),
                check: name,
                message: i.message,
                fix: i.fix,
                warning: i.warning,
            })
        })
        .collect()
}

/// Runs every check on `hosts`; returns the findings not skipped, clock and hostname included.
pub async fn run(
    cluster: &Cluster,
    remotes: &BTreeMap<String, std::sync::Arc<dyn Remote>>,
    skip: &[String],
) -> Vec<Finding> {
    let s = Settings {
        k8s_minor: ez_inventory::validate::k8s_minor(
            cluster.var("K8S_VER").unwrap_or(&cluster.config.k8s_ver),
        )
        .unwrap_or(0),
        proxy_mode: cluster.derived.proxy_mode.clone(),
        bin_dir: cluster
            .var("bin_dir")
            .unwrap_or("/opt/kube/bin")
            .to_string(),
        secure_port: cluster.derived.secure_port,
        setting_hostname: cluster.config.enable_setting_hostname,
        fail_cgroup_v1: cluster.config.kubelet_fail_cgroup_v1,
        restrict_oom_score_adj: cluster.config.containerd_restrict_oom_score_adj,
        images_mib: cluster
            .var("base_dir")
            .map(|b| bundle_images_mib(std::path::Path::new(b)))
            .unwrap_or(0),
        bundle_arches: cluster
            .var("base_dir")
            .map(|b| super::bundle_check::bundle_uname_arches(std::path::Path::new(b)))
            .unwrap_or_default(),
    };
    let gathered = futures::future::join_all(remotes.iter().map(|(name, r)| {
        let bin_dir = s.bin_dir.clone();
        async move { (name.clone(), gather(r.as_ref(), &bin_dir).await) }
    }))
    .await;
    let mut findings = Vec::new();
    let mut hostnames: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, facts) in gathered {
        let facts = match facts {
            Ok(f) => f,
            Err(e) => {
                findings.push(Finding {
                    host: name.clone(),
                    check: "os",
                    message: e,
                    fix: "check that the host runs a POSIX shell and coreutils".into(),
                    warning: false,
                });
                continue;
            }
        };
        let Some(h) = cluster.host(&name) else {
            continue;
        };
        let roles = Roles {
            master: h.in_group("kube_master"),
            node: h.in_group("kube_node"),
            etcd: h.in_group("etcd"),
        };
        findings.extend(check_host(&name, &facts, &roles, &s));
        hostnames
            .entry(facts.hostname.clone())
            .or_default()
            .push(name);
    }
    if !s.setting_hostname {
        for (hn, hosts) in hostnames.iter().filter(|(_, v)| v.len() > 1) {
            for h in hosts {
                findings.push(Finding {
                    host: h.clone(),
                    check: "hostname",
                    message: format!("hostname `{hn}` is shared by {}", hosts.join(", ")),
                    fix: "give each host its own hostname, or set ENABLE_SETTING_HOSTNAME: true"
                        .into(),
                    warning: false,
                });
            }
        }
    }
    let skip_all = skip.iter().any(|s| s == "all");
    findings.retain(|f| !skip_all && !skip.iter().any(|s| s == f.check));
    findings
}

#[cfg(test)]
mod tests;
