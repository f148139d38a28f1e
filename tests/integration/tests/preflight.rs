//! Preflight on real hosts: a leftover of another Kubernetes install and a port taken by a
//! foreign process are found, named by host and check; `ezctl setup` then refuses to change
//! anything; `--skip-preflight` overrides the named checks knowingly.
//!
//! Hosts 26–27 belong to this file.

mod support;

use ez_play::RunOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn findings_name_host_and_check_and_stop_setup_until_overridden() {
    let Some(fx) = support::cluster::fixture(&[26, 27], "p", 1, &["01.prepare.yml"], &["prepare"])
    else {
        return;
    };
    let (hosts, base, mut ctx) = (&fx.hosts, fx.base(), fx.ctx.clone());

    // A clean pair of hosts passes (the test bed's machine-level gaps are skipped by ctx).
    let code = ez_cli::run_ezctl_with(
        &ctx,
        ez_cli::cmd::setup::SetupCommand::Check {
            cluster: "p".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(code, 0, "clean hosts failed preflight");

    // Host 26: something foreign listens on etcd's client port. Host 27: k3s left /etc/rancher.
    let out = hosts[0]
        .ssh("systemd-run --unit=foreign-2379 systemd-socket-activate -l 2379 /bin/cat")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hosts[1].ssh("mkdir -p /etc/rancher").unwrap();
    let remotes = connect(&ctx, base).await;
    let cluster = ez_inventory::load::load_cluster(&base.join("clusters/p")).unwrap();
    let findings = ez_cli::deploy::preflight::run(&cluster, &remotes, &ctx.skip_preflight).await;
    let errors: Vec<(String, &str)> = findings
        .iter()
        .filter(|f| !f.warning)
        .map(|f| (f.host.clone(), f.check))
        .collect();
    assert!(
        errors.contains(&(hosts[0].ip.to_string(), "ports")),
        "{findings:#?}"
    );
    assert!(
        errors.contains(&(hosts[1].ip.to_string(), "leftovers")),
        "{findings:#?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.message.contains("2379") && f.message.contains("systemd-socket-activate")),
        "{findings:#?}"
    );

    // setup refuses and changes nothing
    let err = ez_cli::cmd::setup::setup_summaries(
        &ctx,
        "p",
        "01",
        RunOptions {
            forks: 30,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("preflight failed"), "{err:#}");
    for h in hosts {
        assert!(
            !h.root_path()
                .join("etc/sysctl.d/95-k8s-sysctl.conf")
                .exists(),
            "{} was changed",
            h.name
        );
    }

    // overriding exactly those two checks lets it run
    ctx.skip_preflight
        .extend(["ports".to_string(), "leftovers".to_string()]);
    let sums = ez_cli::cmd::setup::setup_summaries(
        &ctx,
        "p",
        "01",
        RunOptions {
            forks: 30,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(sums[0].failures().is_empty(), "{:?}", sums[0].failures());
    assert!(
        hosts[1]
            .root_path()
            .join("etc/sysctl.d/95-k8s-sysctl.conf")
            .exists()
    );
}

async fn connect(
    ctx: &ez_cli::ctx::Ctx,
    base: &std::path::Path,
) -> std::collections::BTreeMap<String, std::sync::Arc<dyn ez_play::Remote>> {
    let cluster = ez_inventory::load::load_cluster(&base.join("clusters/p")).unwrap();
    let exec = ez_cli::deploy::connect::executor_for(ctx, &cluster);
    let hosts: Vec<String> = cluster.hosts.iter().map(|h| h.name.clone()).collect();
    let remotes = ez_cli::deploy::connect::connect_hosts(ctx, &exec, &cluster, &hosts)
        .await
        .unwrap();
    // the executor must outlive the handles: leak it for the test's duration
    std::mem::forget(exec);
    remotes
}
