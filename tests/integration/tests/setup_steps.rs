//! `ezctl setup` 01 prepare · 02 etcd · 03 container-runtime on real test-bed hosts (systemd
//! as PID 1), with a bundle of real Debian binaries: a 3-member etcd cluster over mTLS with
//! our certificates, containerd answering, a second run that changes nothing, `--plan` on a
//! converged cluster that shows nothing to do.
//!
//! Hosts 21–23 belong to this file.

mod support;

use ez_play::RunOptions;
use std::process::Command;

fn opts() -> RunOptions {
    RunOptions {
        forks: 30,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prepare_etcd_runtime_converge_and_stay_converged() {
    // Fresh hosts: whatever an earlier run left on them is dropped with their overlay.
    let Some(fx) = support::cluster::fixture(
        &[21, 22, 23],
        "t",
        3,
        &["01.prepare.yml", "02.etcd.yml", "03.runtime.yml"],
        &["prepare", "etcd", "containerd"],
    ) else {
        return;
    };
    let (hosts, base, ctx) = (&fx.hosts, fx.base(), &fx.ctx);
    let Some(image) = support::cluster::make_image_tar(base) else {
        return;
    };

    // First run of 01..03: everything is new.
    for step in ["01", "02", "03"] {
        let sums = ez_cli::cmd::setup::setup_summaries(ctx, "t", step, opts())
            .await
            .unwrap();
        for s in &sums {
            assert!(s.failures().is_empty(), "step {step}: {:?}", s.failures());
            assert!(
                s.changed() > 0,
                "step {step} changed nothing on a fresh host"
            );
        }
    }

    // etcd: all three members healthy over mTLS, checked from the machine with etcdctl and
    // the certificates ez-pki made.
    let ssl = base.join("clusters/t/ssl");
    let endpoints = hosts
        .iter()
        .map(|h| format!("https://{}:2379", h.ip))
        .collect::<Vec<_>>()
        .join(",");
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &endpoints, "endpoint", "health"])
        .arg(format!("--cacert={}", ssl.join("ca.pem").display()))
        .arg(format!("--cert={}", ssl.join("etcd.pem").display()))
        .arg(format!("--key={}", ssl.join("etcd-key.pem").display()))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "etcdctl endpoint health: {text}");
    assert_eq!(text.matches("is healthy").count(), 3, "{text}");
    // Without a client certificate the members refuse us: TLS is enforced.
    let anon = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &format!("https://{}:2379", hosts[0].ip),
            "--dial-timeout=3s",
            "--command-timeout=5s",
            "endpoint",
            "health",
        ])
        .arg(format!("--cacert={}", ssl.join("ca.pem").display()))
        .output()
        .unwrap();
    assert!(
        !anon.status.success(),
        "etcd accepted a client without a certificate"
    );

    // containerd answers on the nodes, with runc from the bundle.
    for h in hosts {
        let out = h.ssh("/opt/kube/bin/containerd-bin/ctr --address /run/containerd/containerd.sock version && /opt/kube/bin/containerd-bin/runc --version").unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            h.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let name = h.ssh("hostname").unwrap();
        assert_eq!(
            String::from_utf8_lossy(&name.stdout).trim(),
            format!("k8s-{}", h.ip.to_string().replace('.', "-"))
        );
    }

    // The bundle's image was imported by step 03: a container runs from it with runc.
    for h in hosts {
        let cmd = format!(
            "/opt/kube/bin/containerd-bin/ctr --address /run/containerd/containerd.sock -n k8s.io run --rm {image} hello /bin/busybox echo hello from a container on $(hostname)"
        );
        let out = h.ssh(&cmd).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("hello from a container"),
            "{}: {text} {}",
            h.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A second run changes nothing, and --plan on the converged cluster has nothing to do.
    for step in ["01", "02", "03"] {
        for s in ez_cli::cmd::setup::setup_summaries(ctx, "t", step, opts())
            .await
            .unwrap()
        {
            assert!(s.failures().is_empty(), "re-run {step}: {:?}", s.failures());
            assert_eq!(s.changed(), 0, "re-run of {step} changed something: {s:?}");
            assert_eq!(s.transferred(), 0, "re-run of {step} transferred bytes");
        }
        let plan = RunOptions {
            plan: true,
            ..opts()
        };
        for s in ez_cli::cmd::setup::setup_summaries(ctx, "t", step, plan)
            .await
            .unwrap()
        {
            assert_eq!(
                s.changed(),
                0,
                "--plan of {step} on a converged cluster: {s:?}"
            );
        }
    }
}
