//! Applying kernel parameters and loading modules in one round trip per task.
//!
//! `sysctl`: each value is written straight to its file under `/proc/sys` by the shell
//! itself (what `sysctl -w` does), so applying 25 parameters costs no process at all and no
//! `procps` is needed on the host. `modprobe`: one command loads every module in turn.
//! Both scripts print one `name<TAB>reason` line per item that failed and exit 0; the caller
//! decides whether a failure is tolerated.

use crate::remote::sh_quote;

/// The file under `root` (normally `/proc/sys`) behind a sysctl key: dots separate
/// directories and a slash stands for a dot inside a name (`net.ipv4.conf.eth0/1.rp_filter`),
/// as sysctl(8) reads them.
pub fn sysctl_path(root: &str, key: &str) -> String {
    let rel: String = key
        .chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect();
    format!("{}/{rel}", root.trim_end_matches('/'))
}

/// The script that writes `values` under `root` (see the module doc).
pub fn sysctl_script(root: &str, values: &[(String, String)]) -> String {
    let mut s = String::new();
    for (k, v) in values {
        let p = sh_quote(&sysctl_path(root, k));
        let (qk, qv) = (sh_quote(k), sh_quote(v));
        s += &format!(
            "if ! {{ printf '%s\\n' {qv} > {p}; }} 2>/dev/null; then \
             if [ -e {p} ]; then printf '%s\\t%s\\n' {qk} 'the kernel refused the value'; \
             else printf '%s\\t%s\\n' {qk} 'this kernel has no such parameter'; fi; fi\n"
        );
    }
    s + "exit 0\n"
}

/// The script that loads `names` with `modprobe` (see the module doc).
pub fn modprobe_script(names: &[String]) -> String {
    let mut s = String::new();
    for m in names {
        let q = sh_quote(m);
        s += &format!(
            "if ! o=$(modprobe -- {q} 2>&1); then printf '%s\\t%s\\n' {q} \"$(printf '%s' \"$o\" | tr '\\n' ' ')\"; fi\n"
        );
    }
    s + "exit 0\n"
}

/// The `(name, reason)` failures a script reported.
pub fn failures(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, r)| (n.to_string(), r.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn keys_map_to_proc_paths() {
        assert_eq!(
            sysctl_path("/proc/sys", "net.ipv4.ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(
            sysctl_path("/proc/sys/", "net.ipv4.conf.eth0/1.rp_filter"),
            "/proc/sys/net/ipv4/conf/eth0.1/rp_filter"
        );
    }

    /// Run by a real shell against a directory standing in for /proc/sys: values land in
    /// their files (multi-word values whole), a missing parameter and an unwritable one are
    /// reported by name, the rest still applied.
    #[test]
    fn sysctl_script_writes_values_and_reports_failures() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        std::fs::create_dir_all(d.path().join("net/ipv4")).unwrap();
        std::fs::create_dir_all(d.path().join("vm")).unwrap();
        std::fs::write(d.path().join("net/ipv4/ip_forward"), "0\n").unwrap();
        std::fs::write(d.path().join("net/ipv4/tcp_rmem"), "0\n").unwrap();
        // a directory where a file is expected: exists, cannot be written
        std::fs::create_dir_all(d.path().join("vm/swappiness")).unwrap();
        let values: Vec<(String, String)> = [
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv4.tcp_rmem", "4096 12582912 16777216"),
            ("kernel.nosuch", "1"),
            ("vm.swappiness", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let out = sh(&sysctl_script(root, &values));
        let got = |p: &str| std::fs::read_to_string(d.path().join(p)).unwrap();
        assert_eq!(got("net/ipv4/ip_forward"), "1\n");
        assert_eq!(got("net/ipv4/tcp_rmem"), "4096 12582912 16777216\n");
        let f = failures(&out);
        assert_eq!(f.len(), 2, "{out}");
        assert_eq!(f[0].0, "kernel.nosuch");
        assert!(f[0].1.contains("no such parameter"));
        assert_eq!(f[1].0, "vm.swappiness");
        assert!(f[1].1.contains("refused"));
    }

    /// With a `modprobe` on PATH that loads only `overlay`, the others are reported with
    /// modprobe's own message on one line.
    #[test]
    fn modprobe_script_reports_each_module_that_failed() {
        let d = tempfile::tempdir().unwrap();
        let fake = d.path().join("modprobe");
        std::fs::write(
            &fake,
            "#!/bin/sh\n[ \"$2\" = overlay ] && exit 0\necho \"FATAL: Module $2 not found\" >&2\necho second line >&2\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let names: Vec<String> = ["overlay", "br_netfilter"].map(String::from).to_vec();
        let script = format!(
            "PATH={}:$PATH\n{}",
            d.path().display(),
            modprobe_script(&names)
        );
        let f = failures(&sh(&script));
        assert_eq!(
            f,
            vec![(
                "br_netfilter".to_string(),
                "FATAL: Module br_netfilter not found second line".to_string()
            )]
        );
    }
}
