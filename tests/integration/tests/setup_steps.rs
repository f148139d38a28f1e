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
    // The image reaches the hosts as users' images do: a tar written by ezdown's OCI client.
    let Some(image) = support::ezdown_image::make(base).await else {
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
        if step == "03" {
            quick_check_record_is_true_and_never_hides_an_edit(ctx, &hosts[0]).await;
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

/// The re-run's quick check (`/var/lib/kubeasz-rs/placed`): every line holds the true
/// sha256 of the file as it is now, and an edit that keeps the size is still seen (its mtime
/// moved) and undone by the next run.
async fn quick_check_record_is_true_and_never_hides_an_edit(
    ctx: &ez_cli::ctx::Ctx,
    h: &ez_testbed::Host,
) {
    let rec = h.ssh("cat /var/lib/kubeasz-rs/placed").unwrap();
    let text = String::from_utf8_lossy(&rec.stdout).to_string();
    assert!(
        text.contains("/opt/kube/bin/containerd-bin/containerd\n"),
        "no record of the placed containerd binary: {text}"
    );
    for line in text.lines() {
        let mut parts = line.splitn(4, ' ');
        let (sum, size, mtime, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let now = h
            .ssh(&format!("stat -c '%s %Y' {path}; sha256sum {path}"))
            .unwrap();
        let now = String::from_utf8_lossy(&now.stdout).to_string();
        if now.starts_with(&format!("{size} {mtime}\n")) {
            assert!(
                now.contains(sum),
                "record of {path} says {sum}, the file is {now}"
            );
        }
    }
    // Same size, new content (and mtime): the next run must put it back.
    let edit = h
        .ssh("sleep 1; sed -i 's/timeout: 10/timeout: 99/' /etc/crictl.yaml && grep -c 'timeout: 99' /etc/crictl.yaml")
        .unwrap();
    assert!(edit.status.success(), "edit failed");
    let sums = ez_cli::cmd::setup::setup_summaries(ctx, "t", "03", opts())
        .await
        .unwrap();
    assert!(
        sums.iter().map(|s| s.changed()).sum::<usize>() >= 1,
        "the edited /etc/crictl.yaml was not seen: {sums:?}"
    );
    let back = h.ssh("grep -c 'timeout: 10' /etc/crictl.yaml").unwrap();
    assert!(back.status.success(), "crictl.yaml not restored");
}
