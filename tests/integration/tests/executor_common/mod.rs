//! Shared helpers for the executor integration tests (`executor*.rs`).
//!
//! Host indices used by the executor tests (1–12 are reserved for them):
//! * 1, 2, 3 — read-only/shared: exec, uploads to per-test paths, auth, sudo, known_hosts
//! * 4 — jump target (isolated from the machine), reached through host 1
//! * 6 — rekeyed (changed host key)
//! * 7 — stopped mid-command; 8 — link cut mid-command; 9 — frozen
//! * 10 — 1 GiB upload (memory bound); 11 — link cut mid-upload; 12 — batch puts
//! * 40 — frozen for less than the timeouts (executor_faults.rs)
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use ez_executor::{ExecutorConfig, HostSpec};
use ez_testbed::{Host, Testbed};

/// Config for tests: strict host keys against the bed's known_hosts only, no agent, no
/// default keys, short timeouts and fast keepalives (1 s, dead after 4 s of silence).
pub fn config() -> ExecutorConfig {
    ExecutorConfig {
        connect_timeout: Duration::from_secs(5),
        io_timeout: Duration::from_secs(10),
        command_timeout: Duration::from_secs(120),
        keepalive_interval: Duration::from_secs(1),
        keepalive_max_missed: 3,
        connect_retries: 1,
        retry_backoff: Duration::from_millis(200),
        user_known_hosts: None,
        cluster_known_hosts: Some(Testbed::new().known_hosts()),
        use_agent: false,
        use_default_keys: false,
        passphrase_env: "EZ_TEST_PASSPHRASE_UNSET".into(),
        ..ExecutorConfig::default()
    }
}

/// root@host with the bed's ed25519 key.
pub fn root_spec(h: &Host) -> HostSpec {
    HostSpec::new(h.ip.to_string()).key_file(Testbed::new().client_key())
}

/// user@host with the bed's ed25519 key.
pub fn user_spec(h: &Host, user: &str) -> HostSpec {
    root_spec(h).user(user)
}

/// `tbuser` (passwordless sudo) becoming root, from Ansible-style inventory vars.
pub fn sudo_user_spec(h: &Host) -> HostSpec {
    let vars: std::collections::BTreeMap<String, String> = [
        ("ansible_user", "tbuser"),
        (
            "ansible_ssh_private_key_file",
            Testbed::new().client_key().to_str().unwrap(),
        ),
        ("ansible_become", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    HostSpec::from_ansible_vars(&h.ip.to_string(), &vars).unwrap()
}

/// A per-test remote path under /var/tmp (on the host's overlay disk, visible via `root_path`).
pub fn remote_tmp(tag: &str) -> String {
    format!("/var/tmp/ez-exec-{tag}-{}", std::process::id())
}

/// A fresh ed25519 key that no host authorizes.
pub fn stranger_key(dir: &std::path::Path) -> PathBuf {
    let p = dir.join("stranger");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&p)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    p
}

/// Current peak RSS of this process in KiB (`VmHWM`).
pub fn vm_hwm_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}
