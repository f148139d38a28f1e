//! The `example/` templates, embedded in the binary, and their rendering for `ezctl new` and
//! `ezctl start-aio`.
//!
//! The files in `example/` are tera templates (kubeasz uses `__placeholder__` text and `sed`):
//! one source of truth, reviewed as files, rendered with the one [`VersionTable`]. Jinja
//! expressions that must reach the cluster files literally are wrapped in `{% raw %}`.

use std::net::IpAddr;

use crate::versions::VersionTable;

/// `example/hosts.multi-node`.
pub const HOSTS_MULTI_NODE: &str = include_str!("../../../example/hosts.multi-node");
/// `example/hosts.allinone`.
pub const HOSTS_ALLINONE: &str = include_str!("../../../example/hosts.allinone");
/// `example/config.yml`.
pub const CONFIG_YML: &str = include_str!("../../../example/config.yml");

/// The network plugin and proxy mode `start-aio` uses unless told otherwise (kubeasz forces
/// both).
pub const AIO_CLUSTER_NETWORK: &str = "calico";
pub const AIO_PROXY_MODE: &str = "iptables";
/// The network plugins `start-aio --network` accepts: those step 06 installs.
pub const AIO_CLUSTER_NETWORKS: &[&str] = &["calico", "flannel"];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot render the embedded template {name}: {source}")]
    Render {
        name: &'static str,
        #[source]
        source: tera::Error,
    },
    #[error("invalid cluster name `{0}`: {1}")]
    ClusterName(String, &'static str),
}

/// The two files of a new cluster folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCluster {
    pub hosts: String,
    pub config: String,
}

/// Checks a cluster name is usable as a folder name under `clusters/` (and in kubeasz's
/// `cluster_dir`): letters, digits, `-`, `_` and `.`, not starting with `.` or `-`.
pub fn check_cluster_name(name: &str) -> Result<(), TemplateError> {
    let bad = |why| Err(TemplateError::ClusterName(name.to_string(), why));
    if name.is_empty() || name.len() > 64 {
        return bad("use 1 to 64 characters");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return bad("it must not start with '.' or '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("use only letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

fn render(
    name: &'static str,
    template: &str,
    ctx: &tera::Context,
) -> Result<String, TemplateError> {
    tera::Tera::one_off(template, ctx, false)
        .map_err(|source| TemplateError::Render { name, source })
}

fn base_context(cluster: &str, versions: &VersionTable) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("cluster_name", cluster);
    ctx.insert("v", versions);
    ctx.insert("k8s_ver", versions.kubernetes_plain());
    ctx
}

/// `ezctl new <cluster>`: the hosts file (from hosts.multi-node) and config.yml, with the
/// versions of `versions` and `ENABLE_MIRROR_REGISTRY` set to `mirror`.
pub fn render_new(
    cluster: &str,
    versions: &VersionTable,
    mirror: bool,
) -> Result<NewCluster, TemplateError> {
    check_cluster_name(cluster)?;
    let mut ctx = base_context(cluster, versions);
    ctx.insert("mirror", &mirror);
    Ok(NewCluster {
        hosts: render("example/hosts.multi-node", HOSTS_MULTI_NODE, &ctx)?,
        config: render("example/config.yml", CONFIG_YML, &ctx)?,
    })
}

/// What the user asked for, if anything, before `start-aio` forces its choices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AioWishes {
    pub cluster_network: Option<String>,
    pub proxy_mode: Option<String>,
}

/// The all-in-one inventory for `start-aio`: every group is `host_ip`, with
/// PROXY_MODE="iptables" forced and CLUSTER_NETWORK="calico" unless the wish is another of
/// [`AIO_CLUSTER_NETWORKS`] (flannel). Returns the hosts text and one note for each wish that
/// was overridden.
pub fn render_allinone(
    cluster: &str,
    host_ip: IpAddr,
    wishes: &AioWishes,
) -> Result<(String, Vec<String>), TemplateError> {
    check_cluster_name(cluster)?;
    let mut ctx = base_context(cluster, &VersionTable::default());
    ctx.insert("host_ip", &host_ip.to_string());
    let network = match &wishes.cluster_network {
        Some(w) if AIO_CLUSTER_NETWORKS.contains(&w.as_str()) => w.as_str(),
        _ => AIO_CLUSTER_NETWORK,
    };
    ctx.insert("cluster_network", network);
    ctx.insert("proxy_mode", AIO_PROXY_MODE);
    let mut notes = Vec::new();
    for (key, wish, forced) in [
        ("CLUSTER_NETWORK", &wishes.cluster_network, network),
        ("PROXY_MODE", &wishes.proxy_mode, AIO_PROXY_MODE),
    ] {
        if let Some(w) = wish
            && w != forced
        {
            notes.push(format!(
                "start-aio uses {key}=\"{forced}\" instead of the requested \"{w}\"; edit clusters/{cluster}/hosts and run 'ezctl setup {cluster} all' to change it"
            ));
        }
    }
    Ok((
        render("example/hosts.allinone", HOSTS_ALLINONE, &ctx)?,
        notes,
    ))
}

/// `config` with the top-level `key` set to `value` (a YAML value as written, e.g. `false`):
/// its line replaced, with any indented or list lines that continued it, where the key is;
/// appended otherwise. For `start-aio -e KEY=VALUE`: a key of the example config.yml
/// (`ENABLE_LOCAL_DNS_CACHE`) must not be given twice, which YAML refuses.
pub fn set_config_value(config: &str, key: &str, value: &str) -> String {
    let mut out = String::with_capacity(config.len() + key.len() + value.len() + 2);
    let mut found = false;
    let mut skipping = false;
    for line in config.lines() {
        if skipping {
            if line.starts_with([' ', '\t', '-']) {
                continue;
            }
            skipping = false;
        }
        let is_key = line
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'));
        if is_key && !found {
            out.push_str(&format!("{key}: {value}\n"));
            found = true;
            skipping = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !found {
        out.push_str(&format!("\n{key}: {value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_config_value_replaces_or_appends() {
        let c = "# c\nA: 1\nLIST:\n  - x\n  - y\nLIST2:\n- z\nAB: 2\n";
        assert_eq!(
            set_config_value(c, "A", "3"),
            "# c\nA: 3\nLIST:\n  - x\n  - y\nLIST2:\n- z\nAB: 2\n"
        );
        assert_eq!(
            set_config_value(c, "LIST", "[]"),
            "# c\nA: 1\nLIST: []\nLIST2:\n- z\nAB: 2\n"
        );
        assert_eq!(
            set_config_value(c, "LIST2", "[q]"),
            "# c\nA: 1\nLIST:\n  - x\n  - y\nLIST2: [q]\nAB: 2\n"
        );
        assert_eq!(
            set_config_value(c, "NEW", "true"),
            format!("{c}\nNEW: true\n")
        );
        // a commented-out key is not the key
        assert_eq!(set_config_value("#A: 1\n", "A", "2"), "#A: 1\n\nA: 2\n");
    }

    #[test]
    fn the_example_config_takes_local_dns_cache_off() {
        let cfg = render_new("t", &VersionTable::default(), false)
            .expect("render")
            .config;
        let off = set_config_value(&cfg, "ENABLE_LOCAL_DNS_CACHE", "false");
        assert_eq!(off.matches("ENABLE_LOCAL_DNS_CACHE:").count(), 1);
        assert!(off.contains("\nENABLE_LOCAL_DNS_CACHE: false\n"));
        assert_eq!(off.lines().count(), cfg.lines().count());
    }
}
