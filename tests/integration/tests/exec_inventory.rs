//! `ezctl exec <cluster> -- <command>` on the hosts of a cluster's inventory, with their
//! ssh settings from it; `--limit` takes group names; a failing host makes the exit non-zero.
//!
//! The OpenSSH client configuration (`--ssh-config`) fills what the inventory leaves unset:
//! the key and a ProxyJump to a host the deploy side cannot reach.
//!
//! Hosts 28–29 and 48–49 belong to this file.

mod support;

use clap::Parser;
use ez_testbed::{Mode, Testbed};

/// `ezctl` with this machine's own ~/.ssh/config ignored (hermetic).
async fn ezctl(base: &std::path::Path, args: &[&str]) -> u8 {
    let mut argv = vec!["--ssh-config", "none"];
    argv.extend_from_slice(args);
    ezctl_raw(base, &argv).await
}

async fn ezctl_raw(base: &std::path::Path, args: &[&str]) -> u8 {
    let mut argv = vec!["ezctl", "--yes", "--base", base.to_str().unwrap()];
    argv.extend_from_slice(args);
    match ez_cli::run_ezctl(ez_cli::EzctlCli::parse_from(argv)).await {
        Ok(code) => code,
        // what the binary prints before exiting 1
        Err(e) => {
            eprintln!("ezctl: error: {e:#}");
            1
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_config_gives_the_key_and_a_jump_host() {
    let Some(hosts) = Testbed::require(&[48, 49], Mode::Plain) else {
        return;
    };
    let (bastion, inner) = (&hosts[0], &hosts[1]);
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let all: Vec<&_> = hosts.iter().collect();
    let dir = support::cluster::make_cluster(base, "sc", &all[..1], &all[..1], &all[1..]);
    // the inventory says nothing about keys or jumps
    let inv = std::fs::read_to_string(dir.join("hosts")).unwrap();
    let inv: String = inv
        .lines()
        .filter(|l| !l.starts_with("ansible_ssh_private_key_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("hosts"), inv).unwrap();
    let key = Testbed::new().client_key();
    let cfg = tmp.path().join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host {b}\n  IdentityFile {k}\n  User root\n\nHost {i}\n  IdentityFile {k}\n  ProxyJump {b}\n",
            b = bastion.ip,
            i = inner.ip,
            k = key.display()
        ),
    )
    .unwrap();
    inner.isolate_from_root().expect("isolate");
    struct Unisolate<'a>(&'a ez_testbed::Host);
    impl Drop for Unisolate<'_> {
        fn drop(&mut self) {
            let _ = self.0.unisolate();
        }
    }
    let _g = Unisolate(inner);
    let cfg_s = cfg.to_str().unwrap();
    assert_eq!(
        ezctl_raw(
            base,
            &[
                "--ssh-config",
                cfg_s,
                "exec",
                "sc",
                "--",
                "hostname > /var/tmp/ez-sshcfg"
            ]
        )
        .await,
        0
    );
    for h in &hosts {
        let got =
            std::fs::read_to_string(h.root_path().join("var/tmp/ez-sshcfg")).unwrap_or_default();
        assert_eq!(got.trim(), h.name, "{} did not run it", h.name);
    }
    // without the configuration the bastion refuses us: the key came from it
    let b = bastion.ip.to_string();
    assert_ne!(
        ezctl(base, &["exec", "sc", "--limit", &b, "--", "true"]).await,
        0
    );
    // a named configuration that does not exist is an error, not silently nothing
    assert_ne!(
        ezctl_raw(
            base,
            &[
                "--ssh-config",
                "/nonexistent/ssh_config",
                "exec",
                "sc",
                "--",
                "true"
            ]
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_on_inventory_hosts_and_groups() {
    let Some(hosts) = Testbed::require(&[28, 29], Mode::Plain) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let all: Vec<&_> = hosts.iter().collect();
    support::cluster::make_cluster(base, "x", &all[..1], &all[..1], &all[1..]);
    // every host: writes a marker through the inventory's key and known_hosts
    assert_eq!(
        ezctl(base, &["exec", "x", "--", "echo ran > /tmp/ez-exec-marker"]).await,
        0
    );
    for h in &hosts {
        assert!(
            h.root_path().join("tmp/ez-exec-marker").exists()
                || h.ssh("test -f /tmp/ez-exec-marker")
                    .unwrap()
                    .status
                    .success(),
            "{} did not run it",
            h.name
        );
    }
    // a group limit: only the etcd member
    assert_eq!(
        ezctl(
            base,
            &[
                "exec",
                "x",
                "--limit",
                "etcd",
                "--",
                "rm -f /tmp/ez-exec-marker"
            ]
        )
        .await,
        0
    );
    assert!(
        !hosts[0]
            .ssh("test -f /tmp/ez-exec-marker")
            .unwrap()
            .status
            .success()
    );
    assert!(
        hosts[1]
            .ssh("test -f /tmp/ez-exec-marker")
            .unwrap()
            .status
            .success(),
        "the node was touched by --limit etcd"
    );
    // a failure on one host is a non-zero exit
    let fail = format!(
        "[ \"$(hostname)\" != {} ] && touch /tmp/ez-exec-ok",
        hosts[1].name
    );
    assert_ne!(ezctl(base, &["exec", "x", "--", &fail]).await, 0);
    assert!(
        hosts[0]
            .ssh("test -f /tmp/ez-exec-ok")
            .unwrap()
            .status
            .success(),
        "the healthy host did not run"
    );
    assert!(
        !hosts[1]
            .ssh("test -f /tmp/ez-exec-ok")
            .unwrap()
            .status
            .success()
    );
    // a limit matching nothing is refused
    assert!(
        ez_cli::run_ezctl(ez_cli::EzctlCli::parse_from([
            "ezctl",
            "--base",
            base.to_str().unwrap(),
            "exec",
            "x",
            "--limit",
            "nope",
            "--",
            "true"
        ]))
        .await
        .is_err()
    );
}
