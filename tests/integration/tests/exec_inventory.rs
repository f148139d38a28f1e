//! `ezctl exec <cluster> -- <command>` on the hosts of a cluster's inventory, with their
//! ssh settings from it; `--limit` takes group names; a failing host makes the exit non-zero.
//!
//! Hosts 28–29 belong to this file.

mod support;

use clap::Parser;
use ez_testbed::{Mode, Testbed};

async fn ezctl(base: &std::path::Path, args: &[&str]) -> u8 {
    let mut argv = vec!["ezctl", "--yes", "--base", base.to_str().unwrap()];
    argv.extend_from_slice(args);
    ez_cli::run_ezctl(ez_cli::EzctlCli::parse_from(argv))
        .await
        .unwrap()
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
