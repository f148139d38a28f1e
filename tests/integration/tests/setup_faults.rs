//! A host that dies in the middle of `ezctl setup`: the run ends with an error naming that
//! host, step and task; the other host finishes; state is saved; after the host is back, the
//! same command resumes (finished tasks are not repeated) and converges.
//!
//! Hosts 24–25 belong to this file.

mod support;

use ez_play::RunOptions;
use ez_testbed::Mode;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_stopped_mid_run_then_rerun_resumes_and_converges() {
    let Some(fx) = support::cluster::fixture(
        &[24, 25],
        "f",
        1,
        &["01.prepare.yml", "03.runtime.yml"],
        &["prepare", "containerd"],
    ) else {
        return;
    };
    let (hosts, base, ctx) = (&fx.hosts, fx.base(), &fx.ctx);
    let opts = RunOptions {
        forks: 30,
        ..Default::default()
    };
    let first = ez_cli::cmd::setup::setup_summaries(ctx, "f", "01", opts.clone())
        .await
        .unwrap();
    assert!(first[0].failures().is_empty(), "{:?}", first[0].failures());

    // Kill host 25 as soon as the containerd binary has landed on it, while step 03 runs.
    let victim = hosts[1].clone();
    let landed = victim
        .root_path()
        .join("opt/kube/bin/containerd-bin/containerd");
    let killer = std::thread::spawn(move || {
        let t0 = Instant::now();
        while !landed.exists() && t0.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(20));
        }
        victim.stop().unwrap();
    });
    let run = ez_cli::cmd::setup::setup_summaries(ctx, "f", "03", opts.clone())
        .await
        .unwrap();
    killer.join().unwrap();
    let s = &run[0];
    let failures = s.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let (host, msg) = failures[0];
    assert_eq!(host, hosts[1].ip.to_string());
    assert!(
        msg.contains(&hosts[1].ip.to_string())
            && msg.contains("03.runtime")
            && msg.contains("task `"),
        "unclear error: {msg}"
    );
    assert!(
        s.hosts[&hosts[0].ip.to_string()].failed.is_none(),
        "the healthy host must finish: {s:?}"
    );
    let state = std::fs::read_to_string(base.join("clusters/f/state/03.runtime.json")).unwrap();
    assert!(
        state.contains("\"failed\""),
        "state not saved as failed: {state}"
    );

    // Back up: the same command resumes and converges.
    hosts[1].start(Mode::Systemd).unwrap();
    let rerun = ez_cli::cmd::setup::setup_summaries(ctx, "f", "03", opts.clone())
        .await
        .unwrap();
    let s = &rerun[0];
    assert!(s.failures().is_empty(), "re-run: {:?}", s.failures());
    assert!(
        s.hosts[&hosts[1].ip.to_string()].resumed > 0,
        "nothing resumed: {s:?}"
    );
    assert_eq!(
        s.hosts[&hosts[0].ip.to_string()].changed,
        0,
        "the healthy host was changed again: {s:?}"
    );
    let out = hosts[1]
        .ssh("/opt/kube/bin/containerd-bin/ctr --address /run/containerd/containerd.sock version")
        .unwrap();
    assert!(
        out.status.success(),
        "containerd not answering after the re-run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // and a third run has nothing left to do
    let again = ez_cli::cmd::setup::setup_summaries(ctx, "f", "03", opts)
        .await
        .unwrap();
    assert_eq!(again[0].changed(), 0, "{:?}", again[0]);
}
