//! The checks of one host, one function each, in the table [`HOST_CHECKS`]: a pure function of
//! the host's facts, its roles and the cluster's settings, returning what it found.
//!
//! Invariant: a check's name in the table is the name `--skip-preflight` takes and the one its
//! findings carry; adding a check is adding a row.

use super::{Facts, Roles, Settings};

/// What one check sees.
pub(super) struct Input<'a> {
    pub f: &'a Facts,
    pub roles: &'a Roles,
    pub s: &'a Settings,
}

impl Input<'_> {
    /// A master or a node: a host that runs kubelet, the runtime and pods.
    fn runs_pods(&self) -> bool {
        self.roles.master || self.roles.node
    }
}

/// One thing a check found.
pub(super) struct Issue {
    pub warning: bool,
    pub message: String,
    pub fix: String,
}

fn error(message: String, fix: impl Into<String>) -> Vec<Issue> {
    vec![Issue {
        warning: false,
        message,
        fix: fix.into(),
    }]
}

fn warning(message: String, fix: impl Into<String>) -> Vec<Issue> {
    vec![Issue {
        warning: true,
        message,
        fix: fix.into(),
    }]
}

/// A check: what it finds on one host.
pub(super) type Check = fn(&Input) -> Vec<Issue>;

/// Every host check, by the name `--skip-preflight` takes, in the order they are reported.
pub(super) const HOST_CHECKS: &[(&str, Check)] = &[
    ("os", os),
    ("arch", arch),
    ("kernel", kernel),
    ("cgroup-v2", cgroup_v2),
    ("oom-score", oom_score),
    ("swap", swap),
    ("modules", modules),
    ("tools", tools),
    ("ports", ports),
    ("clock", clock),
    ("resources", resources),
    ("disk", disk),
    ("leftovers", leftovers),
];

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

pub(super) fn kernel_at_least(kernel: &str, major: u32, minor: u32) -> bool {
    let mut it = kernel
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let a: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let b: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (a, b) >= (major, minor)
}

fn os(i: &Input) -> Vec<Issue> {
    if OS_SUPPORTED.contains(&i.f.os_id.as_str()) {
        return vec![];
    }
    warning(
        format!(
            "{} {} is not among the systems kubeasz supports",
            i.f.os_id, i.f.os_version
        ),
        "use a supported OS (docs: kubeasz supported systems), or --skip-preflight os",
    )
}

fn arch(i: &Input) -> Vec<Issue> {
    let (f, s) = (i.f, i.s);
    if !matches!(f.arch.as_str(), "x86_64" | "aarch64") {
        return error(
            format!("architecture {} is not amd64 or arm64", f.arch),
            "use an amd64 or arm64 host",
        );
    }
    if s.bundle_arches.is_empty() || s.bundle_arches.contains(&f.arch) {
        return vec![];
    }
    let go = |u: &str| {
        ez_bundle::catalog::Arch::parse(u)
            .map_or("amd64", |a| a.as_str())
            .to_string()
    };
    let mut all: Vec<String> = s.bundle_arches.iter().map(|u| go(u)).collect();
    all.push(go(&f.arch));
    error(
        format!(
            "the host is {} but the bundle holds only {}: its binaries would not run here",
            f.arch,
            s.bundle_arches.join(", ")
        ),
        format!(
            "add this architecture to the bundle: `./ezdown -D --arch {}`",
            all.join(",")
        ),
    )
}

fn kernel(i: &Input) -> Vec<Issue> {
    let mut out = Vec::new();
    if !kernel_at_least(&i.f.kernel, 4, 19) {
        out.extend(error(
            format!("kernel {} is older than 4.19", i.f.kernel),
            "upgrade the kernel to 4.19 or newer",
        ));
    }
    if i.s.proxy_mode == "nftables" && !kernel_at_least(&i.f.kernel, 5, 13) {
        out.extend(error(
            format!(
                "PROXY_MODE=nftables needs kernel 5.13+, this host runs {}",
                i.f.kernel
            ),
            "set PROXY_MODE=\"iptables\" in the hosts file, or upgrade the kernel",
        ));
    }
    out
}

fn cgroup_v2(i: &Input) -> Vec<Issue> {
    let (f, s) = (i.f, i.s);
    if !i.runs_pods() || s.k8s_minor < 35 || f.cgroup_fs == "cgroup2fs" {
        return vec![];
    }
    let seen = if f.cgroup_fs.is_empty() {
        "unknown"
    } else {
        &f.cgroup_fs
    };
    if s.fail_cgroup_v1 {
        error(
            format!(
                "kubelet 1.{} refuses cgroup v1 with KUBELET_FAIL_CGROUP_V1: true (this host: {seen})",
                s.k8s_minor,
            ),
            "boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1), or keep cgroup v1 with KUBELET_FAIL_CGROUP_V1: false in config.yml (deprecated upstream, removed in a later release)",
        )
    } else {
        warning(
            format!(
                "cgroup v1 host ({seen}): kubelet 1.{} runs because KUBELET_FAIL_CGROUP_V1 is false, but upstream deprecated cgroup v1",
                s.k8s_minor,
            ),
            "plan a move to cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
        )
    }
}

fn oom_score(i: &Input) -> Vec<Issue> {
    if !i.runs_pods() || !i.f.no_cap_sys_resource || i.s.restrict_oom_score_adj {
        return vec![];
    }
    error(
        "this host cannot lower oom_score_adj (CAP_SYS_RESOURCE is outside its capability bounding set, as in some containers and sandboxes): runc would fail every pod sandbox".into(),
        "set CONTAINERD_RESTRICT_OOM_SCORE_ADJ: true in config.yml (containerd then keeps pods' oom_score_adj at or above its own)",
    )
}

fn swap(i: &Input) -> Vec<Issue> {
    if i.f.swap_devices == 0 {
        return vec![];
    }
    warning(
        format!("{} swap device(s) active", i.f.swap_devices),
        "step 01 turns swap off and removes it from /etc/fstab",
    )
}

fn modules(i: &Input) -> Vec<Issue> {
    if !i.runs_pods() || i.f.missing_modules.is_empty() {
        return vec![];
    }
    error(
        format!(
            "kernel modules not available: {}",
            i.f.missing_modules.join(", ")
        ),
        "install the kernel's modules package (e.g. linux-modules-extra) or build them in",
    )
}

fn tools(i: &Input) -> Vec<Issue> {
    let (f, s) = (i.f, i.s);
    let mut out = Vec::new();
    let engine_tools: Vec<&str> = f
        .missing_tools
        .iter()
        .map(String::as_str)
        .filter(|t| matches!(*t, "tar" | "awk" | "sha256sum" | "stat"))
        .collect();
    if !engine_tools.is_empty() {
        out.extend(error(
            format!("commands missing: {}", engine_tools.join(", ")),
            "install them (packages tar, gawk or mawk, coreutils): every step places and checks files with them",
        ));
    }
    // kube-proxy runs the host's own iptables or nft; without it, it exits at start.
    let proxy_tool = match s.proxy_mode.as_str() {
        "nftables" => Some(("nft", "nftables")),
        "iptables" | "ipvs" => Some(("iptables", "iptables")),
        _ => None,
    };
    if let Some((tool, package)) = proxy_tool
        && i.runs_pods()
        && f.missing_tools.iter().any(|t| t == tool)
    {
        out.extend(error(
            format!(
                "PROXY_MODE={} needs `{tool}` on the host for kube-proxy, and it is missing",
                s.proxy_mode
            ),
            format!(
                "install the {package} package on the host, or choose another PROXY_MODE in the hosts file"
            ),
        ));
    }
    out
}

fn ports(i: &Input) -> Vec<Issue> {
    let (f, s, roles) = (i.f, i.s, i.roles);
    let mut wanted: Vec<(u16, &str)> = Vec::new();
    if roles.etcd {
        wanted.extend([(2379, "etcd client"), (2380, "etcd peer")]);
    }
    if roles.master {
        wanted.extend([
            (10257, "kube-controller-manager"),
            (10259, "kube-scheduler"),
        ]);
    }
    if i.runs_pods() {
        wanted.extend([
            (10250, "kubelet"),
            (10256, "kube-proxy health"),
            (s.secure_port, "kube-lb / kube-apiserver"),
        ]);
    }
    let mut out = Vec::new();
    for (port, what) in wanted {
        let Some(exe) = f.listening.get(&port) else {
            continue;
        };
        if exe.starts_with(&s.bin_dir) || exe.starts_with("/etc/kube-lb/") {
            continue;
        }
        let by = if exe.is_empty() {
            "another process".to_string()
        } else {
            exe.clone()
        };
        out.extend(error(
            format!("port {port} ({what}) is already used by {by}"),
            "stop that service or free the port",
        ));
    }
    out
}

fn clock(i: &Input) -> Vec<Issue> {
    if i.f.clock_skew.abs() <= 2.0 {
        return vec![];
    }
    error(
        format!(
            "clock differs from the deploy host by {:+.1} s",
            i.f.clock_skew
        ),
        "synchronise clocks (chrony or systemd-timesyncd); TLS and etcd need them within seconds",
    )
}

fn resources(i: &Input) -> Vec<Issue> {
    let f = i.f;
    let mut out = Vec::new();
    let (cpus, mem) = if i.roles.master { (2, 1700) } else { (1, 1000) };
    if f.cpus < cpus || f.mem_mib < mem {
        out.extend(error(
            format!(
                "{} CPU / {} MiB, below the {} CPU / {} MiB a {} needs",
                f.cpus,
                f.mem_mib,
                cpus,
                mem,
                if i.roles.master { "master" } else { "node" }
            ),
            "give the host more CPU or memory",
        ));
    }
    // the images' need is the disk check's; below it, only the general floor warns
    if !disk_short(i) && f.var_free_mib < 10 * 1024 {
        out.extend(warning(
            format!(
                "{} MiB free on /var (images and etcd need more than 10 GiB)",
                f.var_free_mib
            ),
            "free or grow /var",
        ));
    }
    out
}

/// True when the bundle's images do not fit on this host's /var.
fn disk_short(i: &Input) -> bool {
    i.runs_pods() && i.s.images_mib > 0 && i.f.var_free_mib < super::disk_needed_mib(i.s.images_mib)
}

fn disk(i: &Input) -> Vec<Issue> {
    if !disk_short(i) {
        return vec![];
    }
    error(
        format!(
            "{} MiB free on /var, the bundle's images ({} MiB of archives) need about {} MiB here (copied, imported and unpacked by step 03)",
            i.f.var_free_mib,
            i.s.images_mib,
            super::disk_needed_mib(i.s.images_mib)
        ),
        "free or grow the disk, or leave image sets out of the bundle (ezdown without -X …)",
    )
}

fn leftovers(i: &Input) -> Vec<Issue> {
    i.f.leftovers
        .iter()
        .flat_map(|l| {
            error(
                format!("another Kubernetes install left {l}"),
                "remove it (kubeadm reset, k3s-uninstall.sh, k0s reset) or use a clean host",
            )
        })
        .collect()
}
