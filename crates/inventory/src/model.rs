//! The typed cluster: hosts with their effective vars, the config, and the values kubeasz
//! derives from them (service IPs, etcd endpoints, node names…).
//!
//! A [`Cluster`] only exists once validation passed: every host has a valid address and a
//! valid, unique node name, `etcd` and `kube_master` are non-empty, and every derived value
//! is computed. Build one with [`crate::load::load_cluster`] or [`Cluster::from_parts`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::config::{Config, INVENTORY_KEYS};
use crate::diag::{Diagnostic, Diagnostics, Span, has_errors};
use crate::ini::Inventory;
use crate::jinja::{self, ResolveIssue};

/// Groups kubeasz knows, in the order its `ezctl` relies on.
pub const KNOWN_GROUPS: &[&str] = &[
    "etcd",
    "kube_master",
    "kube_node",
    "harbor",
    "ex_lb",
    "chrony",
];

/// Names Ansible defines itself; a reference to them is not "undefined".
const MAGIC_VARS: &[&str] = &[
    "inventory_hostname",
    "ansible_host",
    "groups",
    "hostvars",
    "group_names",
    "play_hosts",
];

/// One machine of the cluster, with everything the inventory says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `inventory_hostname`, as written in the hosts file.
    pub name: String,
    pub addr: IpAddr,
    /// Groups the host is listed in, in file order.
    pub groups: Vec<String>,
    /// Effective vars, precedence low → high: `[all:vars]`, `[group:vars]` (file order), the
    /// host's own `k=v`, inventory keys overridden in config.yml. References are resolved;
    /// `inventory_hostname` is included. This is what the executor takes
    /// (`HostSpec::from_ansible_vars(&host.name, &host.vars)`).
    pub vars: BTreeMap<String, String>,
    /// `K8S_NODENAME` (kubelet `--hostname-override`, cert CN `system:node:<name>`).
    pub node_name: String,
    /// Where the host is first listed.
    pub span: Span,
}

impl Host {
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The ssh-related vars only (`ansible_*` connection and become settings).
    pub fn ssh_vars(&self) -> BTreeMap<String, String> {
        self.vars
            .iter()
            .filter(|(k, _)| is_connection_var(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `ip` for IPv4, `[ip]` for IPv6: the form used inside URLs.
    pub fn url_host(&self) -> String {
        url_host(&self.addr)
    }
}

/// Whether an Ansible var is about connecting to the host (user, port, key, password, become).
pub fn is_connection_var(k: &str) -> bool {
    k.starts_with("ansible_ssh_")
        || k.starts_with("ansible_become")
        || matches!(
            k,
            "ansible_host"
                | "ansible_user"
                | "ansible_port"
                | "ansible_password"
                | "ansible_connection"
                | "ansible_private_key_file"
        )
}

pub(crate) fn url_host(a: &IpAddr) -> String {
    match a {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    }
}

/// Values kubeasz computes from the inventory and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub service_cidr: IpNet,
    pub cluster_cidr: IpNet,
    /// `SERVICE_CIDR` network + 1 (`10.68.0.1`).
    pub kubernetes_svc_ip: IpAddr,
    /// `SERVICE_CIDR` network + 2 (`10.68.0.2`).
    pub dns_svc_ip: IpAddr,
    /// `CLUSTER_CIDR` network + 1 (the kube-ovn gateway).
    pub cluster_cidr_gw: IpAddr,
    pub node_port_range: (u16, u16),
    pub secure_port: u16,
    pub proxy_mode: String,
    pub cluster_network: String,
    pub container_runtime: String,
}

/// A validated cluster folder.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The folder name under `clusters/`.
    pub name: String,
    pub dir: PathBuf,
    pub inventory: Inventory,
    pub config: Config,
    /// Effective global vars: `[all:vars]` resolved, with config.yml overrides of inventory keys.
    pub vars: BTreeMap<String, String>,
    /// Every host once, in order of first appearance.
    pub hosts: Vec<Host>,
    pub derived: Derived,
    /// Warnings found while loading (errors prevent a `Cluster`).
    pub warnings: Vec<Diagnostic>,
}

/// Where an effective var came from (for diagnostics).
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub file: PathBuf,
    pub span: Option<Span>,
}

/// Everything computed before validation decides: the raw material of a [`Cluster`].
pub(crate) struct Draft<'a> {
    pub inv: &'a Inventory,
    pub cfg: &'a Config,
    pub cfg_file: &'a Path,
    pub vars: BTreeMap<String, String>,
    pub origins: BTreeMap<String, Origin>,
    /// Hosts with an address that did not parse keep `addr: None`.
    pub hosts: Vec<DraftHost>,
}

pub(crate) struct DraftHost {
    pub name: String,
    pub addr: Option<IpAddr>,
    pub groups: Vec<String>,
    pub vars: BTreeMap<String, String>,
    pub origins: BTreeMap<String, Origin>,
    pub node_name: String,
    pub span: Span,
}

/// How `K8S_NODENAME` is computed, recognised from config.yml's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeNameRule {
    /// kubeasz 3.7: `k8s_nodename` if set, else `k8s-<ip with . and : as ->`.
    Prefixed,
    /// kubeasz 3.6: `k8s_nodename` if set, else the inventory name (the IP) itself.
    Address,
    /// A plain value, the same for every host.
    Literal(String),
    /// A template this port does not evaluate; [`NodeNameRule::Prefixed`] is used instead.
    Custom,
}

impl NodeNameRule {
    /// Recognises the rule in a `K8S_NODENAME` value, whatever its spacing or line breaks.
    pub fn detect(value: &str) -> NodeNameRule {
        let compact: String = value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '\\')
            .collect();
        if compact.contains("k8s-{{inventory_hostname|replace('.','-')}}") {
            NodeNameRule::Prefixed
        } else if compact.contains("{{inventory_hostname}}") && compact.contains("k8s_nodename") {
            NodeNameRule::Address
        } else if !crate::jinja::has_template(value) {
            NodeNameRule::Literal(value.trim().to_string())
        } else {
            NodeNameRule::Custom
        }
    }

    /// The node name of a host under this rule. `k8s_nodename` wins if non-empty (with
    /// `_`→`-` and lowercased), except for a literal rule. Unlike kubeasz, `:` (IPv6) also
    /// becomes `-` in the prefixed form, so the result can be a valid node name.
    pub fn node_name(&self, inventory_hostname: &str, k8s_nodename: Option<&str>) -> String {
        if let NodeNameRule::Literal(v) = self {
            return v.clone();
        }
        match k8s_nodename.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => n.replace('_', "-").to_lowercase(),
            None if *self == NodeNameRule::Address => inventory_hostname.to_string(),
            None => format!("k8s-{}", inventory_hostname.replace(['.', ':'], "-")),
        }
    }
}

/// kubeasz 3.7's K8S_NODENAME rule for one host (see [`NodeNameRule::Prefixed`]).
pub fn node_name(inventory_hostname: &str, k8s_nodename: Option<&str>) -> String {
    NodeNameRule::Prefixed.node_name(inventory_hostname, k8s_nodename)
}

impl<'a> Draft<'a> {
    pub(crate) fn new(
        inv: &'a Inventory,
        cfg: &'a Config,
        cfg_file: &'a Path,
        diags: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut raw = BTreeMap::new();
        let mut origins = BTreeMap::new();
        for v in inv.all_vars() {
            raw.insert(v.key.clone(), v.value.clone());
            origins.insert(
                v.key.clone(),
                Origin {
                    file: inv.file.clone(),
                    span: Some(v.value_span),
                },
            );
        }
        let overrides: Vec<(String, String)> = INVENTORY_KEYS
            .iter()
            .filter_map(|k| cfg.extra_str(k).map(|v| (k.to_string(), v)))
            .collect();
        for (k, v) in &overrides {
            raw.insert(k.clone(), v.clone());
            origins.insert(
                k.clone(),
                Origin {
                    file: cfg_file.to_path_buf(),
                    span: cfg.span(k),
                },
            );
        }
        let vars = resolve_reporting(&raw, &origins, diags);

        let mut hosts: Vec<DraftHost> = Vec::new();
        for g in &inv.groups {
            for h in &g.hosts {
                let idx = match hosts.iter().position(|d| d.name == h.name) {
                    Some(i) => i,
                    None => {
                        hosts.push(DraftHost {
                            name: h.name.clone(),
                            addr: h.name.parse().ok(),
                            groups: Vec::new(),
                            vars: BTreeMap::new(),
                            origins: BTreeMap::new(),
                            node_name: String::new(),
                            span: h.span,
                        });
                        hosts.len() - 1
                    }
                };
                let d = &mut hosts[idx];
                if !d.groups.contains(&g.name) {
                    d.groups.push(g.name.clone());
                }
                for v in &h.vars {
                    d.vars.insert(v.key.clone(), v.value.clone());
                    d.origins.insert(
                        v.key.clone(),
                        Origin {
                            file: inv.file.clone(),
                            span: Some(v.value_span),
                        },
                    );
                }
            }
        }
        let rule = NodeNameRule::detect(&cfg.k8s_nodename);
        for d in &mut hosts {
            // Precedence: all:vars < group vars < host vars < config.yml overrides.
            let mut raw_h = raw.clone();
            let mut org = origins.clone();
            for g in inv.groups.iter().filter(|g| d.groups.contains(&g.name)) {
                for v in &g.vars {
                    raw_h.insert(v.key.clone(), v.value.clone());
                    org.insert(
                        v.key.clone(),
                        Origin {
                            file: inv.file.clone(),
                            span: Some(v.value_span),
                        },
                    );
                }
            }
            for (k, v) in &d.vars {
                raw_h.insert(k.clone(), v.clone());
            }
            org.extend(d.origins.clone());
            for (k, v) in &overrides {
                raw_h.insert(k.clone(), v.clone());
            }
            raw_h.insert("inventory_hostname".into(), d.name.clone());
            // Global issues were reported already; report only what the host adds.
            let mut host_diags = Vec::new();
            d.vars = resolve_reporting(&raw_h, &org, &mut host_diags);
            for hd in host_diags {
                if !diags
                    .iter()
                    .any(|x| x.message == hd.message && x.span == hd.span)
                {
                    diags.push(hd);
                }
            }
            d.origins = org;
            d.node_name = rule.node_name(&d.name, d.vars.get("k8s_nodename").map(String::as_str));
        }
        if rule == NodeNameRule::Custom {
            let d = Diagnostic::warning(
                "custom-nodename-template",
                cfg_file,
                cfg.span("K8S_NODENAME"),
                "K8S_NODENAME is not kubeasz's template; node names follow kubeasz's rule (k8s_nodename, else k8s-<ip>)",
            )
            .with_hint("set a per-host `k8s_nodename=` in the hosts file instead");
            diags.push(d);
        }
        Draft {
            inv,
            cfg,
            cfg_file,
            vars,
            origins,
            hosts,
        }
    }

    /// Where the effective global `key` was written.
    pub(crate) fn origin(&self, key: &str) -> (PathBuf, Option<Span>) {
        match self.origins.get(key) {
            Some(o) => (o.file.clone(), o.span),
            None => (self.inv.file.clone(), None),
        }
    }
}

fn resolve_reporting(
    raw: &BTreeMap<String, String>,
    origins: &BTreeMap<String, Origin>,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, String> {
    let (out, issues) = jinja::resolve(raw);
    for i in issues {
        match i {
            ResolveIssue::Cycle { key, path } => {
                let o = origins.get(&key);
                diags.push(
                    Diagnostic::error(
                        "var-cycle",
                        o.map_or(Path::new("hosts"), |o| o.file.as_path()),
                        o.and_then(|o| o.span),
                        format!("`{key}` refers to itself: {}", path.join(" -> ")),
                    )
                    .with_hint("one of these variables must have a plain value"),
                );
            }
            ResolveIssue::Undefined { key, name } if !MAGIC_VARS.contains(&name.as_str()) => {
                let o = origins.get(&key);
                diags.push(
                    Diagnostic::warning(
                        "var-undefined",
                        o.map_or(Path::new("hosts"), |o| o.file.as_path()),
                        o.and_then(|o| o.span),
                        format!(
                            "`{key}` refers to `{name}`, which is not defined in the hosts file"
                        ),
                    )
                    .with_hint(format!(
                        "define `{name}` in [all:vars], or Ansible will stop on it"
                    )),
                );
            }
            ResolveIssue::Undefined { .. } => {}
        }
    }
    out
}

impl Cluster {
    /// Builds and validates a cluster from parsed files. `parse_diags` are the diagnostics of
    /// parsing (they are kept; any error among them makes the result an `Err`).
    pub fn from_parts(
        name: &str,
        dir: &Path,
        inventory: Inventory,
        config: Config,
        config_file: &Path,
        parse_diags: Vec<Diagnostic>,
    ) -> Result<Cluster, Diagnostics> {
        Self::from_parts_allowing(name, dir, inventory, config, config_file, parse_diags, &[])
    }

    /// [`Cluster::from_parts`] with the errors of the rules named in `allow` reported as
    /// warnings (a state a day-2 command passes through, like an even etcd membership
    /// between two `add-etcd`).
    pub fn from_parts_allowing(
        name: &str,
        dir: &Path,
        inventory: Inventory,
        config: Config,
        config_file: &Path,
        parse_diags: Vec<Diagnostic>,
        allow: &[&str],
    ) -> Result<Cluster, Diagnostics> {
        let mut diags = parse_diags;
        let draft = Draft::new(&inventory, &config, config_file, &mut diags);
        let derived = crate::validate::check(&draft, &mut diags);
        for d in diags.iter_mut().filter(|d| allow.contains(&d.code)) {
            d.severity = crate::diag::Severity::Warning;
        }
        let vars = draft.vars.clone();
        let hosts: Vec<Host> = draft
            .hosts
            .iter()
            .filter_map(|d| {
                Some(Host {
                    name: d.name.clone(),
                    addr: d.addr?,
                    groups: d.groups.clone(),
                    vars: d.vars.clone(),
                    node_name: d.node_name.clone(),
                    span: d.span,
                })
            })
            .collect();
        drop(draft);
        match derived {
            Some(derived) if !has_errors(&diags) => Ok(Cluster {
                name: name.to_string(),
                dir: dir.to_path_buf(),
                inventory,
                config,
                vars,
                hosts,
                derived,
                warnings: diags,
            }),
            _ => Err(Diagnostics(diags)),
        }
    }

    /// Hosts of a group, in the group's line order.
    pub fn group(&self, group: &str) -> Vec<&Host> {
        self.inventory
            .hosts(group)
            .iter()
            .filter_map(|l| self.host(&l.name))
            .collect()
    }

    pub fn etcd(&self) -> Vec<&Host> {
        self.group("etcd")
    }

    pub fn kube_master(&self) -> Vec<&Host> {
        self.group("kube_master")
    }

    pub fn kube_node(&self) -> Vec<&Host> {
        self.group("kube_node")
    }

    /// `groups['kube_master'][0]`: the API server that kubeconfigs point to.
    /// Validation guarantees it exists.
    pub fn first_master(&self) -> &Host {
        let name = self
            .inventory
            .hosts("kube_master")
            .first()
            .map(|h| h.name.as_str())
            .unwrap_or_default();
        self.host(name).unwrap_or(&self.hosts[0])
    }

    /// Masters and nodes, each once: the hosts that run a kubelet.
    pub fn k8s_hosts(&self) -> Vec<&Host> {
        self.hosts
            .iter()
            .filter(|h| h.in_group("kube_master") || h.in_group("kube_node"))
            .collect()
    }

    /// A host by inventory name or address.
    pub fn host(&self, name_or_addr: &str) -> Option<&Host> {
        let addr: Option<IpAddr> = name_or_addr.parse().ok();
        self.hosts
            .iter()
            .find(|h| h.name == name_or_addr || Some(h.addr) == addr)
    }

    /// The effective vars of a host by name or address (see [`Host::vars`]), ready for
    /// `HostSpec::from_ansible_vars(name, vars)`.
    pub fn host_vars(&self, name_or_addr: &str) -> Option<&BTreeMap<String, String>> {
        self.host(name_or_addr).map(|h| &h.vars)
    }

    /// `https://ip1:2379,https://ip2:2379,…` (etcd group order).
    pub fn etcd_endpoints(&self) -> String {
        self.etcd()
            .iter()
            .map(|h| format!("https://{}:2379", h.url_host()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `etcd-ip1=https://ip1:2380,…`: etcd's `--initial-cluster`.
    pub fn etcd_initial_cluster(&self) -> String {
        self.etcd()
            .iter()
            .map(|h| format!("etcd-{}=https://{}:2380", h.name, h.url_host()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `https://<kube_master[0]>:<SECURE_PORT>` (the deploy role's KUBE_APISERVER).
    pub fn kube_apiserver(&self) -> String {
        format!(
            "https://{}:{}",
            self.first_master().url_host(),
            self.derived.secure_port
        )
    }

    /// A global var (effective value), e.g. `cluster_dir`.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// `CONTEXT_NAME` with `{{ CLUSTER_NAME }}` resolved.
    pub fn context_name(&self) -> String {
        self.config
            .context_name
            .replace("{{ CLUSTER_NAME }}", &self.config.cluster_name)
            .replace("{{CLUSTER_NAME}}", &self.config.cluster_name)
    }

    /// `calico_ver_main`: `v3.32.1` → `v3.32`.
    pub fn calico_ver_main(&self) -> String {
        let mut it = self.config.calico_ver.split('.');
        match (it.next(), it.next()) {
            (Some(a), Some(b)) => format!("{a}.{b}"),
            _ => self.config.calico_ver.clone(),
        }
    }

    /// `HARBOR_REGISTRY` resolved (`harbor.easzlab.io.local:8443`).
    pub fn harbor_registry(&self) -> String {
        self.config
            .harbor_registry
            .replace("{{ HARBOR_DOMAIN }}", &self.config.harbor_domain)
            .replace(
                "{{ HARBOR_TLS_PORT }}",
                &self.config.harbor_tls_port.to_string(),
            )
    }

    /// `IP_AUTODETECTION_METHOD` resolved against the first master.
    pub fn ip_autodetection_method(&self) -> String {
        self.config
            .ip_autodetection_method
            .replace("{{ groups['kube_master'][0] }}", &self.first_master().name)
    }
}
