//! Preflight: what must hold on every host before anything is changed (`ezctl check <c>`, and
//! the start of every `ezctl setup`). One round trip per host gathers the facts; the checks are
//! pure functions of them, so each rule is unit-tested without a host.
//!
//! Every failure names the host, the check and the fix; `--skip-preflight CHECK` (repeatable,
//! or `all`) overrides a check knowingly.

use ez_inventory::Cluster;
use ez_play::Remote;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The checks, by the name `--skip-preflight` takes.
pub const CHECKS: &[&str] = &[
    "os",
    "arch",
    "kernel",
    "cgroup-v2",
    "swap",
    "modules",
    "ports",
    "clock",
    "resources",
    "leftovers",
    "hostname",
];

/// Facts gathered from one host.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub os_id: String,
    pub os_version: String,
    pub arch: String,
    pub kernel: String,
    pub cgroup_fs: String,
    pub swap_devices: usize,
    pub missing_modules: Vec<String>,
    /// Listening TCP ports and the executable path of their process (when known).
    pub listening: BTreeMap<u16, String>,
    /// Host clock minus deploy-host clock, seconds (round-trip compensated).
    pub clock_skew: f64,
    pub cpus: u32,
    pub mem_mib: u64,
    pub var_free_mib: u64,
    pub leftovers: Vec<String>,
    pub hostname: String,
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

/// One command, few processes (uname, stat, ss, a readlink per listening process, date,
/// nproc, pgrep): everything else is read by the shell itself from /proc and /etc, since on
/// a re-run this script is most of the preflight's time.
const GATHER: &str = r#"
. /etc/os-release 2>/dev/null; echo "os_id=${ID:-unknown}"; echo "os_version=${VERSION_ID:-}"
echo "arch=$(uname -m)"; read -r k < /proc/sys/kernel/osrelease; echo "kernel=$k"
set -- $(stat -fc '%T %a %S' /sys/fs/cgroup /var 2>/dev/null)
echo "cgroup_fs=${1:-}"; [ -n "${6:-}" ] && echo "var_free_kib=$(( $5 * $6 / 1024 ))"
n=0; while read -r _; do n=$((n + 1)); done < /proc/swaps; echo "swap=$((n > 0 ? n - 1 : 0))"
for m in br_netfilter overlay; do [ -d /sys/module/$m ] || modprobe -n $m 2>/dev/null || echo "missing_module=$m"; done
ss -Htlnp 2>/dev/null | while read -r _ _ _ local _ users; do
  port=${local##*:}; pid=; case "$users" in *pid=*) pid=${users#*pid=}; pid=${pid%%,*};; esac
  exe=; if [ -n "$pid" ]; then eval "exe=\${exe_$pid:-}"
    [ -n "$exe" ] || { exe=$(readlink /proc/$pid/exe 2>/dev/null); eval "exe_$pid=\$exe"; }; fi
  echo "listen=$port $exe"
done
echo "time=$(date +%s.%N)"
echo "cpus=$(nproc)"; while read -r k v _; do [ "$k" = MemTotal: ] && { echo "mem_kib=$v"; break; }; done < /proc/meminfo
for f in /etc/kubernetes/manifests/* /etc/kubernetes/manifests/.[!.]*; do [ -e "$f" ] && { echo "leftover=/etc/kubernetes/manifests (kubeadm static pods)"; break; }; done
for d in /etc/rancher /var/lib/rancher/k3s /var/lib/k0s /etc/k0s; do [ -e "$d" ] && echo "leftover=$d"; done
for p in $(pgrep -x kubelet 2>/dev/null); do echo "kubelet_exe=$(readlink /proc/$p/exe)"; done
read -r h < /proc/sys/kernel/hostname; echo "hostname=$h"
"#;

/// Gathers the facts of one host (one command).
pub async fn gather(remote: &dyn Remote, bin_dir: &str) -> Result<Facts, String> {
    let t0 = now();
    let out = remote.run(GATHER, Duration::from_secs(60)).await?;
    let t1 = now();
    if !out.ok() {
        return Err(format!("gathering facts failed: {}", out.tail()));
    }
    Ok(parse(&out.stdout, (t0 + t1) / 2.0, bin_dir))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Parses the gather script's output; `local_mid` is the deploy host's clock halfway through.
pub fn parse(text: &str, local_mid: f64, bin_dir: &str) -> Facts {
    let mut f = Facts::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k {
            "os_id" => f.os_id = v.to_string(),
            "os_version" => f.os_version = v.to_string(),
            "arch" => f.arch = v.to_string(),
            "kernel" => f.kernel = v.to_string(),
            "cgroup_fs" => f.cgroup_fs = v.to_string(),
            "swap" => f.swap_devices = v.parse().unwrap_or(0),
            "missing_module" => f.missing_modules.push(v.to_string()),
            "listen" => {
                let (port, exe) = v.split_once(' ').unwrap_or((v, ""));
                if let Ok(p) = port.parse() {
                    f.listening.insert(p, exe.trim().to_string());
                }
            }
            "time" => f.clock_skew = v.parse::<f64>().map(|t| t - local_mid).unwrap_or(0.0),
            "cpus" => f.cpus = v.parse().unwrap_or(0),
            "mem_kib" => f.mem_mib = v.parse::<u64>().unwrap_or(0) / 1024,
            "var_free_kib" => f.var_free_mib = v.parse::<u64>().unwrap_or(0) / 1024,
            "leftover" => f.leftovers.push(v.to_string()),
            "kubelet_exe" if !v.starts_with(bin_dir) => f.leftovers.push(format!(
                "a kubelet not installed by kubeasz-rs is running ({v})"
            )),
            "hostname" => f.hostname = v.to_string(),
            _ => {}
        }
    }
    f
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
        push(
            "cgroup-v2",
            false,
            format!(
                "kubelet 1.{} refuses cgroup v1 (this host: {})",
                s.k8s_minor,
                if f.cgroup_fs.is_empty() {
                    "unknown"
                } else {
                    &f.cgroup_fs
                }
            ),
            "boot with systemd.unified_cgroup_hierarchy=1 (cgroup v2), or use Kubernetes 1.34 or older",
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
    if f.var_free_mib < 10 * 1024 {
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
        }
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

    /// The gather script run by a real shell on this machine reports what the usual tools
    /// say about it.
    #[test]
    fn the_gather_script_reports_this_machine() {
        let sh = |c: &str| {
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(c)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let f = parse(&sh(GATHER), now(), "/opt/kube/bin");
        assert_eq!(f.kernel, sh("uname -r"));
        assert_eq!(f.arch, sh("uname -m"));
        assert_eq!(f.hostname, sh("hostname"));
        assert_eq!(f.cpus.to_string(), sh("nproc"));
        assert_eq!(f.cgroup_fs, sh("stat -fc %T /sys/fs/cgroup"));
        assert_eq!(
            f.swap_devices.to_string(),
            sh("swapon --noheadings --show | wc -l")
        );
        let mem: u64 = sh("awk '/MemTotal/{print $2}' /proc/meminfo")
            .parse()
            .unwrap();
        assert_eq!(f.mem_mib, mem / 1024);
        let free: u64 = sh("df -Pk /var | awk 'NR==2{print $4}'").parse().unwrap();
        assert!(
            f.var_free_mib.abs_diff(free / 1024) < 64,
            "{} vs {}",
            f.var_free_mib,
            free / 1024
        );
        assert!(f.clock_skew.abs() < 5.0);
    }

    #[test]
    fn parses_the_gather_output() {
        let text = "os_id=debian\nos_version=12\narch=x86_64\nkernel=6.18.44\ncgroup_fs=tmpfs\nswap=0\nmissing_module=overlay\nlisten=22 /usr/sbin/sshd\nlisten=2379 \ntime=1005.5\ncpus=2\nmem_kib=2097152\nvar_free_kib=1048576\nleftover=/etc/rancher\nkubelet_exe=/usr/bin/kubelet\nkubelet_exe=/opt/kube/bin/kubelet\nhostname=tb1\n";
        let f = parse(text, 1000.0, "/opt/kube/bin");
        assert_eq!(f.cgroup_fs, "tmpfs");
        assert_eq!(f.missing_modules, ["overlay"]);
        assert_eq!(
            f.listening.get(&22).map(String::as_str),
            Some("/usr/sbin/sshd")
        );
        assert_eq!(f.listening.get(&2379).map(String::as_str), Some(""));
        assert!((f.clock_skew - 5.5).abs() < 1e-9);
        assert_eq!((f.cpus, f.mem_mib, f.var_free_mib), (2, 2048, 1024));
        assert_eq!(f.leftovers.len(), 2, "{:?}", f.leftovers);
        assert_eq!(f.hostname, "tb1");
    }
}
