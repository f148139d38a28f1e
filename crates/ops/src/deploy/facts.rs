//! The facts preflight checks, gathered from a host in one command (`gather`) and parsed
//! (`parse`): OS, kernel, cgroups, swap, modules, listening ports, clock, resources,
//! leftovers of other installers, hostname.

use ez_play::Remote;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// Commands the engine places and checks files with that the host lacks.
    pub missing_tools: Vec<String>,
    /// Listening TCP ports and the executable path of their process (when known).
    pub listening: BTreeMap<u16, String>,
    /// Host clock minus deploy-host clock, seconds (round-trip compensated).
    pub clock_skew: f64,
    pub cpus: u32,
    pub mem_mib: u64,
    pub var_free_mib: u64,
    pub leftovers: Vec<String>,
    pub hostname: String,
    /// CAP_SYS_RESOURCE is outside the host's capability bounding set: no process there can
    /// lower an oom_score_adj (runc then fails every pod sandbox kubelet asks for at -998).
    pub no_cap_sys_resource: bool,
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
while read -r k v; do [ "$k" = CapBnd: ] && [ $(( 0x$v >> 24 & 1 )) = 0 ] && echo "no_cap_sys_resource=1"; done < /proc/self/status
for t in tar awk sha256sum stat iptables nft; do command -v $t >/dev/null 2>&1 || echo "missing_tool=$t"; done
# A module counts as there when loaded or built in (br_netfilter built in: /proc/sys/net/bridge;
# overlay built in: /proc/filesystems), else when modprobe would load it.
[ -d /sys/module/br_netfilter ] || [ -d /proc/sys/net/bridge ] || modprobe -n br_netfilter 2>/dev/null || echo "missing_module=br_netfilter"
[ -d /sys/module/overlay ] || grep -qw overlay /proc/filesystems 2>/dev/null || modprobe -n overlay 2>/dev/null || echo "missing_module=overlay"
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
            "no_cap_sys_resource" => f.no_cap_sys_resource = v == "1",
            "swap" => f.swap_devices = v.parse().unwrap_or(0),
            "missing_module" => f.missing_modules.push(v.to_string()),
            "missing_tool" => f.missing_tools.push(v.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // The two readings are moments apart on a disk other work writes to (a conformance
        // run moved it by hundreds of MiB between them): same order of magnitude is the fact.
        assert!(
            f.var_free_mib.abs_diff(free / 1024) < 2048,
            "{} vs {}",
            f.var_free_mib,
            free / 1024
        );
        assert!(f.clock_skew.abs() < 5.0);
        // The engine's tools are on every machine; iptables/nft depend on what is installed.
        let expected: Vec<String> = ["iptables", "nft"]
            .iter()
            .filter(|t| {
                !std::process::Command::new("sh")
                    .arg("-c")
                    .arg(format!("command -v {t}"))
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .map(|t| t.to_string())
            .collect();
        assert_eq!(f.missing_tools, expected);
    }

    #[test]
    fn parses_the_gather_output() {
        let text = "os_id=debian\nos_version=12\narch=x86_64\nkernel=6.18.44\ncgroup_fs=tmpfs\nswap=0\nmissing_module=overlay\nmissing_tool=tar\nlisten=22 /usr/sbin/sshd\nlisten=2379 \ntime=1005.5\ncpus=2\nmem_kib=2097152\nvar_free_kib=1048576\nleftover=/etc/rancher\nkubelet_exe=/usr/bin/kubelet\nkubelet_exe=/opt/kube/bin/kubelet\nhostname=tb1\n";
        let f = parse(text, 1000.0, "/opt/kube/bin");
        assert_eq!(f.cgroup_fs, "tmpfs");
        assert_eq!(f.missing_modules, ["overlay"]);
        assert_eq!(f.missing_tools, ["tar"]);
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
