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

/// The checks, by the name `--skip-preflight` takes.
pub const CHECKS: &[&str] = &[
    "os",
    "arch",
    "kernel",
    "cgroup-v2",
    "oom-score",
    "swap",
    "modules",
    "tools",
    "ports",
    "clock",
    "resources",
    "leftovers",
    "hostname",
    "bundle",
];

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
    let bytes: u64 = std::fs::read_dir(base.join("down"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".tar"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    bytes / (1024 * 1024)
}

const OS_SUPPORTED: &[&str] = &[
    "debian",
    "ubuntu",
    "centos",
    "rhel",
    "rocky",
    "almalinux",
    "fedora",
    "openEuler",
    "anolis",
    "kylin",
    "opensuse-leap",
    "alinux",
];

fn kernel_at_least(kernel: &str, major: u32, minor: u32) -> bool {
    let mut it = kernel
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let a: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let b: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (a, b) >= (major, minor)
}

/// The checks of one host.
pub fn check_host(host: &str, f: &Facts, roles: &Roles, s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |check: &'static str, warning: bool, message: String, fix: &str| {
        out.push(Finding {
            host: host.to_string(),
            check,
            message,
            fix: fix.to_string(),
            warning,
        });
    };
    if !OS_SUPPORTED.contains(&f.os_id.as_str()) {
        push(
            "os",
            true,
            format!(
                "{} {} is not among the systems kubeasz supports",
                f.os_id, f.os_version
            ),
            "use a supported OS (docs: kubeasz supported systems), or --skip-preflight os",
        );
    }
    if !matches!(f.arch.as_str(), "x86_64" | "aarch64") {
        push(
            "arch",
            false,
            format!("architecture {} is not amd64 or arm64", f.arch),
            "use an amd64 or arm64 host",
        );
    } else if !s.bundle_arches.is_empty() && !s.bundle_arches.contains(&f.arch) {
        let go = |u: &str| if u == "aarch64" { "arm64" } else { "amd64" }.to_string();
        let mut all: Vec<String> = s.bundle_arches.iter().map(|u| go(u)).collect();
        all.push(go(&f.arch));
        push(
            "arch",
            false,
            format!(
                "the host is {} but the bundle holds only {}: its binaries would not run here",
                f.arch,
                s.bundle_arches.join(", ")
            ),
            &format!(
                "add this architecture to the bundle: `./ezdown -D --arch {}`",
                all.join(",")
            ),
        );
    }
    if !kernel_at_least(&f.kernel, 4, 19) {
        push(
            "kernel",
            false,
            format!("kernel {} is older than 4.19", f.kernel),
            "upgrade the kernel to 4.19 or newer",
        );
    }
    if s.proxy_mode == "nftables" && !kernel_at_least(&f.kernel, 5, 13) {
        push(
            "kernel",
            false,
            format!(
                "PROXY_MODE=nftables needs kernel 5.13+, this host runs {}",
                f.kernel
            ),
            "set PROXY_MODE=\"iptables\" in the hosts file, or upgrade the kernel",
        );
    }
    if (roles.master || roles.node) && s.k8s_minor >= 35 && f.cgroup_fs != "cgroup2fs" {
        let seen = if f.cgroup_fs.is_empty() {
            "unknown"
        } else {
            &f.cgroup_fs
        };
        if s.fail_cgroup_v1 {
            push(
                "cgroup-v2",
                false,
                format!(
                    "kubelet 1.{} refuses cgroup v1 with KUBELET_FAIL_CGROUP_V1: true (this host: {seen})",
                    s.k8s_minor,
                ),
                "boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or keep cgroup v1 with KUBELET_FAIL_CGROUP_V1: false in config.yml (deprecated upstream, removed in a later release)",
            );
        } else {
            push(
                "cgroup-v2",
                true,
                format!(
                    "cgroup v1 host ({seen}): kubelet 1.{} runs because KUBELET_FAIL_CGROUP_V1 is false, but upstream deprecated cgroup v1",
                    s.k8s_minor,
                ),
                "plan a move to cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
            );
        }
    }
    if (roles.master || roles.node) && f.no_cap_sys_resource && !s.restrict_oom_score_adj {
        push(
            "oom-score",
            false,
            "this host cannot lower oom_score_adj (CAP_SYS_RESOURCE is outside its capability bounding set, as in some containers and sandboxes): runc would fail every pod sandbox".into(),
            "set CONTAINERD_RESTRICT_OOM_SCORE_ADJ: true in config.yml (containerd then keeps pods' oom_score_adj at or above its own)",
        );
    }
    if f.swap_devices > 0 {
        push(
            "swap",
            true,
            format!("{} swap device(s) active", f.swap_devices),
            "step 01 turns swap off and removes it from /etc/fstab",
        );
    }
    if (roles.master || roles.node) && !f.missing_modules.is_empty() {
        push(
            "modules",
            false,
            format!(
                "kernel modules not available: {}",
                f.missing_modules.join(", ")
            ),
            "install the kernel's modules package (e.g. linux-modules-extra) or build them in",
        );
    }
    let engine_tools: Vec<&str> = f
        .missing_tools
        .iter()
        .map(String::as_str)
        .filter(|t| matches!(*t, "tar" | "awk" | "sha256sum" | "stat"))
        .collect();
    if !engine_tools.is_empty() {
        push(
            "tools",
            false,
            format!("commands missing: {}", engine_tools.join(", ")),
            "install them (packages tar, gawk or mawk, coreutils): every step places and checks files with them",
        );
    }
    // kube-proxy runs the host's own iptables or nft; without it, it exits at start.
    let proxy_tool = match s.proxy_mode.as_str() {
        "nftables" => Some(("nft", "nftables")),
        "iptables" | "ipvs" => Some(("iptables", "iptables")),
        _ => None,
    };
    if let Some((tool, package)) = proxy_tool
        && (roles.master || roles.node)
        && f.missing_tools.iter().any(|t| t == tool)
    {
        push(
            "tools",
            false,
            format!(
                "PROXY_MODE={} needs `{tool}` on the host for kube-proxy, and it is missing",
                s.proxy_mode
            ),
            &format!(
                "install the {package} package on the host, or choose another PROXY_MODE in the hosts file"
            ),
        );
    }
    let mut ports: Vec<(u16, &str)> = Vec::new();
    if roles.etcd {
        ports.extend([(2379, "etcd client"), (2380, "etcd peer")]);
    }
    if roles.master {
        ports.extend([
            (10257, "kube-controller-manager"),
            (10259, "kube-scheduler"),
        ]);
    }
    if roles.master || roles.node {
        ports.extend([
            (10250, "kubelet"),
            (10256, "kube-proxy health"),
            (s.secure_port, "kube-lb / kube-apiserver"),
        ]);
    }
    for (port, what) in ports {
        if let Some(exe) = f.listening.get(&port) {
            let ours = exe.starts_with(&s.bin_dir) || exe.starts_with("/etc/kube-lb/");
            if !ours {
                let by = if exe.is_empty() {
                    "another process".to_string()
                } else {
                    exe.clone()
                };
                push(
                    "ports",
                    false,
                    format!("port {port} ({what}) is already used by {by}"),
                    "stop that service or free the port",
                );
            }
        }
    }
    if f.clock_skew.abs() > 2.0 {
        push(
            "clock",
            false,
            format!(
                "clock differs from the deploy host by {:+.1} s",
                f.clock_skew
            ),
            "synchronise clocks (chrony or systemd-timesyncd); TLS and etcd need them within seconds",
        );
    }
    let (cpus, mem) = if roles.master { (2, 1700) } else { (1, 1000) };
    if f.cpus < cpus || f.mem_mib < mem {
        push(
            "resources",
            false,
            format!(
                "{} CPU / {} MiB, below the {} CPU / {} MiB a {} needs",
                f.cpus,
                f.mem_mib,
                cpus,
                mem,
                if roles.master { "master" } else { "node" }
            ),
            "give the host more CPU or memory",
        );
    }
    let need = disk_needed_mib(s.images_mib);
    if (roles.master || roles.node) && s.images_mib > 0 && f.var_free_mib < need {
        push(
            "disk",
            false,
            format!(
                "{} MiB free on /var, the bundle's images ({} MiB of archives) need about {need} MiB here (copied, imported and unpacked by step 03)",
                f.var_free_mib, s.images_mib
            ),
            "free or grow the disk, or leave image sets out of the bundle (ezdown without -X …)",
        );
    } else if f.var_free_mib < 10 * 1024 {
        push(
            "resources",
            true,
            format!(
                "{} MiB free on /var (images and etcd need more than 10 GiB)",
                f.var_free_mib
            ),
            "free or grow /var",
        );
    }
    for l in &f.leftovers {
        push(
            "leftovers",
            false,
            format!("another Kubernetes install left {l}"),
            "remove it (kubeadm reset, k3s-uninstall.sh, k0s reset) or use a clean host",
        );
    }
    out
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
mod tests {
    use super::*;

    fn good() -> Facts {
        Facts {
            os_id: "debian".into(),
            os_version: "12".into(),
            arch: "x86_64".into(),
            kernel: "6.1.0-18-amd64".into(),
            cgroup_fs: "cgroup2fs".into(),
            cpus: 4,
            mem_mib: 8192,
            var_free_mib: 50_000,
            hostname: "a".into(),
            ..Default::default()
        }
    }
    fn settings() -> Settings {
        Settings {
            k8s_minor: 36,
            proxy_mode: "nftables".into(),
            bin_dir: "/opt/kube/bin".into(),
            secure_port: 6443,
            setting_hostname: true,
            fail_cgroup_v1: true,
            restrict_oom_score_adj: false,
            images_mib: 0,
            bundle_arches: vec![],
        }
    }

    #[test]
    fn a_bundle_for_another_architecture_is_refused() {
        let s = Settings {
            bundle_arches: vec!["aarch64".into()],
            ..settings()
        };
        let found = check_host("h", &good(), &master(), &s);
        let a = found
            .iter()
            .find(|x| x.check == "arch")
            .expect("arch finding");
        assert!(
            !a.warning && a.message.contains("bundle holds only aarch64"),
            "{a:?}"
        );
        assert!(a.fix.contains("--arch arm64,amd64"), "{a:?}");
        let both = Settings {
            bundle_arches: vec!["aarch64".into(), "x86_64".into()],
            ..settings()
        };
        assert!(
            !check_host("h", &good(), &master(), &both)
                .iter()
                .any(|x| x.check == "arch")
        );
    }

    #[test]
    fn a_disk_too_small_for_the_bundles_images_is_refused() {
        let s = Settings {
            images_mib: 1500,
            ..settings()
        };
        let mut f = good();
        f.var_free_mib = 5_000;
        let found = check_host("h", &f, &master(), &s);
        let d = found
            .iter()
            .find(|x| x.check == "disk")
            .expect("disk finding");
        assert!(!d.warning, "{d:?}");
        assert!(d.message.contains("1500 MiB of archives"), "{}", d.message);
        f.var_free_mib = 50_000;
        assert!(
            !check_host("h", &f, &master(), &s)
                .iter()
                .any(|x| x.check == "disk")
        );
    }

    fn master() -> Roles {
        Roles {
            master: true,
            node: true,
            etcd: true,
        }
    }
    fn checks(f: &Facts, s: &Settings) -> Vec<&'static str> {
        check_host("h", f, &master(), s)
            .into_iter()
            .filter(|x| !x.warning)
            .map(|x| x.check)
            .collect()
    }

    #[test]
    fn a_good_host_passes() {
        assert!(check_host("h", &good(), &master(), &settings()).is_empty());
    }

    #[test]
    fn cgroup_v1_says_which_setting_lets_kubelet_run() {
        let v1 = Facts {
            cgroup_fs: "tmpfs".into(),
            ..good()
        };
        let refused = check_host("h", &v1, &master(), &settings());
        assert_eq!(refused.len(), 1);
        assert!(!refused[0].warning);
        assert!(refused[0].fix.contains("KUBELET_FAIL_CGROUP_V1: false"));
        let allowed = Settings {
            fail_cgroup_v1: false,
            ..settings()
        };
        let found = check_host("h", &v1, &master(), &allowed);
        assert_eq!(found.len(), 1);
        assert!(found[0].warning, "{found:?}");
    }

    #[test]
    fn a_host_that_cannot_lower_oom_scores_needs_containerd_to_restrict_them() {
        let host = Facts {
            no_cap_sys_resource: true,
            ..good()
        };
        let found = check_host("h", &host, &master(), &settings());
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .fix
                .contains("CONTAINERD_RESTRICT_OOM_SCORE_ADJ: true")
        );
        let restricted = Settings {
            restrict_oom_score_adj: true,
            ..settings()
        };
        assert!(check_host("h", &host, &master(), &restricted).is_empty());
    }

    #[test]
    fn each_rule_fires() {
        let s = settings();
        assert_eq!(
            checks(
                &Facts {
                    cgroup_fs: "tmpfs".into(),
                    ..good()
                },
                &s
            ),
            ["cgroup-v2"]
        );
        assert!(
            checks(
                &Facts {
                    cgroup_fs: "tmpfs".into(),
                    ..good()
                },
                &Settings {
                    k8s_minor: 34,
                    ..s.clone()
                }
            )
            .is_empty()
        );
        assert_eq!(
            checks(
                &Facts {
                    kernel: "5.10.0".into(),
                    ..good()
                },
                &s
            ),
            ["kernel"]
        );
        assert!(
            checks(
                &Facts {
                    kernel: "5.10.0".into(),
                    ..good()
                },
                &Settings {
                    proxy_mode: "iptables".into(),
                    ..s.clone()
                }
            )
            .is_empty()
        );
        assert_eq!(
            checks(
                &Facts {
                    arch: "riscv64".into(),
                    ..good()
                },
                &s
            ),
            ["arch"]
        );
        assert_eq!(
            checks(
                &Facts {
                    missing_modules: vec!["br_netfilter".into()],
                    ..good()
                },
                &s
            ),
            ["modules"]
        );
        assert_eq!(
            checks(
                &Facts {
                    missing_tools: vec!["tar".into()],
                    ..good()
                },
                &s
            ),
            ["tools"]
        );
        // settings() has PROXY_MODE=nftables: nft is required, iptables is not.
        assert_eq!(
            checks(
                &Facts {
                    missing_tools: vec!["nft".into()],
                    ..good()
                },
                &s
            ),
            ["tools"]
        );
        assert!(
            checks(
                &Facts {
                    missing_tools: vec!["iptables".into()],
                    ..good()
                },
                &s
            )
            .is_empty()
        );
        assert_eq!(
            checks(
                &Facts {
                    clock_skew: 7.5,
                    ..good()
                },
                &s
            ),
            ["clock"]
        );
        assert_eq!(checks(&Facts { cpus: 1, ..good() }, &s), ["resources"]);
        assert_eq!(
            checks(
                &Facts {
                    leftovers: vec!["/var/lib/k0s".into()],
                    ..good()
                },
                &s
            ),
            ["leftovers"]
        );
        let mut busy = good();
        busy.listening.insert(2379, "/usr/bin/etcd".into());
        assert_eq!(checks(&busy, &s), ["ports"]);
        busy.listening.insert(2379, "/opt/kube/bin/etcd".into());
        assert!(
            checks(&busy, &s).is_empty(),
            "our own etcd holding its port is fine on a re-run"
        );
        let w = check_host(
            "h",
            &Facts {
                swap_devices: 1,
                ..good()
            },
            &master(),
            &s,
        );
        assert!(w.len() == 1 && w[0].warning && w[0].check == "swap");
    }
}
