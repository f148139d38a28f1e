//! Relay of bundle files between hosts during `ezctl setup` (crates/cli `deploy::relay`):
//! the plan names each large file's source; a run sends each file once from the deploy
//! host and the other hosts fetch it from peers; a serving agent that sends corrupt bytes,
//! stalls or dies mid-transfer, or a holder frozen whole (`tb freeze`), costs a retry, never
//! a wrong or missing file; after each run
//! no agent, directory, temporary or listening port is left on any host.
//!
//! Hosts 34, 35, 38, 39 belong to this file.

mod support;

use ez_cli::cmd::setup::{RelaySetting, setup_summaries_with};
use ez_play::event::RelayOutcome;
use ez_play::{Event, RunOptions};
use ez_testbed::Host;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The bundle files of step 03 that are large enough to travel by relay, by destination.
const LARGE: &[(&str, &str)] = &[
    (
        "bin/containerd-bin/containerd",
        "opt/kube/bin/containerd-bin/containerd",
    ),
    (
        "bin/containerd-bin/containerd-shim-runc-v2",
        "opt/kube/bin/containerd-bin/containerd-shim-runc-v2",
    ),
    ("bin/containerd-bin/ctr", "opt/kube/bin/containerd-bin/ctr"),
    (
        "bin/containerd-bin/runc",
        "opt/kube/bin/containerd-bin/runc",
    ),
];

#[derive(Debug, Clone)]
struct Rel {
    host: String,
    file: String,
    from: String,
    outcome: RelayOutcome,
    detail: String,
}

type Seen = Arc<Mutex<Vec<Rel>>>;

fn observing(off: bool) -> (RelaySetting, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let setting = RelaySetting {
        off,
        events: Some(Arc::new(move |e: &Event| {
            if let Event::Relay {
                host,
                file,
                from,
                outcome,
                detail,
                ..
            } = e
            {
                s.lock().unwrap().push(Rel {
                    host: host.clone(),
                    file: file.clone(),
                    from: from.clone(),
                    outcome: *outcome,
                    detail: detail.clone(),
                });
            }
        })),
    };
    (setting, seen)
}

fn sha(p: &Path) -> String {
    ez_relay::sha256_file(p).unwrap_or_else(|e| format!("unreadable {}: {e}", p.display()))
}

/// Every large file on every host is the bundle's, and nothing of the relay is left.
fn assert_right_and_clean(hosts: &[Host], base: &Path, when: &str) {
    for h in hosts {
        for (src, dest) in LARGE {
            assert_eq!(
                sha(&h.root_path().join(dest)),
                sha(&base.join(src)),
                "{when}: {} has another {dest}",
                h.ip
            );
        }
        // The agent listens on the host's own address: no listening socket there but sshd's.
        let o = h.ip.octets();
        let own = format!("{:02X}{:02X}{:02X}{:02X}:", o[3], o[2], o[1], o[0]);
        let out = h
            .ssh(&format!(
                "ls -d /var/tmp/ez-relay.* /var/tmp/.ez-relay.* 2>/dev/null; \
                 ls -a /opt/kube/bin/containerd-bin | grep ez-tmp; \
                 pgrep -x ez-relay; \
                 awk '$4 == \"0A\" {{print $2}}' /proc/net/tcp | grep '^{own}' | grep -v ':0016$'; true"
            ))
            .unwrap();
        let left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            left.is_empty(),
            "{when}: left on {}: {left:?} (agent dir, temporary, process or listening port)",
            h.ip
        );
    }
}

/// Removes step 03's files and records from the hosts and the run state, so the next run
/// places every file again.
fn forget_step_03(hosts: &[Host], base: &Path) {
    let _ = std::fs::remove_dir_all(base.join("clusters/r/state"));
    for h in hosts {
        let out = h
            .ssh("rm -rf /opt/kube/bin/containerd-bin /opt/kube/bin/cni-bin /var/lib/kubeasz-rs/placed")
            .unwrap();
        assert!(out.status.success());
    }
}

async fn run(ctx: &ez_cli::ctx::Ctx, step: &str, setting: RelaySetting, plan: bool) {
    let opts = RunOptions {
        forks: 30,
        plan,
        ..Default::default()
    };
    let sums = setup_summaries_with(ctx, "r", step, opts, setting)
        .await
        .unwrap();
    for s in &sums {
        assert!(s.failures().is_empty(), "{step}: {:?}", s.failures());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_plans_sends_once_and_survives_bad_peers() {
    if ez_cli::deploy::relay::agent_path().is_none() {
        support::cluster::unavailable::<()>(
            "the relay agent target/debug/ez-relay is not built (cargo build -p ez-relay)".into(),
        );
        return;
    }
    let Some(fx) = support::cluster::fixture(
        &[34, 35, 38, 39],
        "r",
        1,
        &["01.prepare.yml", "03.runtime.yml"],
        &["prepare", "containerd"],
    ) else {
        return;
    };
    let (hosts, base, ctx) = (&fx.hosts, fx.base(), &fx.ctx);
    run(ctx, "01", RelaySetting::default(), false).await;

    // The plan: per large file, one host from the deploy host, the others from peers.
    let (setting, seen) = observing(false);
    run(ctx, "03", setting, true).await;
    let planned = seen.lock().unwrap().clone();
    for (_, dest) in LARGE {
        let file = format!("/{dest}");
        let of: Vec<&Rel> = planned.iter().filter(|r| r.file == file).collect();
        assert_eq!(of.len(), hosts.len(), "{file}: {planned:?}");
        assert!(of.iter().all(|r| r.outcome == RelayOutcome::Planned));
        assert_eq!(
            of.iter().filter(|r| r.from == "deploy").count(),
            1,
            "{of:?}"
        );
    }
    assert!(
        !hosts[0].root_path().join(LARGE[0].1).exists(),
        "the plan placed a file"
    );

    // A clean run: each large file leaves the deploy host once.
    let (setting, seen) = observing(false);
    run(ctx, "03", setting, false).await;
    let got = seen.lock().unwrap().clone();
    for (_, dest) in LARGE {
        let file = format!("/{dest}");
        let ok: Vec<&Rel> = got
            .iter()
            .filter(|r| r.file == file && r.outcome == RelayOutcome::Ok)
            .collect();
        assert_eq!(ok.len(), hosts.len(), "{file}: {got:?}");
        assert_eq!(
            ok.iter().filter(|r| r.from == "deploy").count(),
            1,
            "{ok:?}"
        );
    }
    assert!(got.iter().all(|r| r.outcome == RelayOutcome::Ok), "{got:?}");
    assert_right_and_clean(hosts, base, "clean run");

    // Every serving agent misbehaves: each fetch from a peer fails, the deploy host
    // finally sends the file; the result is that of a run without relay.
    unsafe { std::env::set_var("EZ_RELAY_STALL_MS", "1500") };
    for fault in ["corrupt", "stall", "die"] {
        forget_step_03(hosts, base);
        unsafe { std::env::set_var("EZ_RELAY_FAULT", format!("all={fault}")) };
        let (setting, seen) = observing(false);
        run(ctx, "03", setting, false).await;
        let got = seen.lock().unwrap().clone();
        let retries: Vec<&Rel> = got
            .iter()
            .filter(|r| r.outcome == RelayOutcome::Retry)
            .collect();
        assert!(!retries.is_empty(), "{fault}: no peer was tried: {got:?}");
        assert!(
            retries.iter().all(|r| r.from != "deploy"),
            "{fault}: {retries:?}"
        );
        for (_, dest) in LARGE {
            let file = format!("/{dest}");
            for h in hosts {
                let ip = h.ip.to_string();
                let done: Vec<&Rel> = got
                    .iter()
                    .filter(|r| r.file == file && r.host == ip && r.outcome == RelayOutcome::Ok)
                    .collect();
                assert_eq!(done.len(), 1, "{fault}: {ip} {file}: {got:?}");
            }
        }
        eprintln!(
            "{fault}: {} retries, e.g. {:?}",
            retries.len(),
            retries.first().map(|r| &r.detail)
        );
        assert_right_and_clean(hosts, base, fault);
    }
    unsafe { std::env::remove_var("EZ_RELAY_FAULT") };

    // A real stall: the first host that got a file from the deploy host is frozen whole
    // (agent, sshd, everything: `tb freeze`) for 4 s right then, while the others start
    // fetching from it; they give up on it after the stall limit and get the file elsewhere,
    // and the frozen host finishes once thawed.
    forget_step_03(hosts, base);
    let (mut setting, seen) = observing(false);
    let record = setting.events.take().unwrap();
    let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let by_ip: Vec<(String, Host)> = hosts
        .iter()
        .map(|h| (h.ip.to_string(), h.clone()))
        .collect();
    let freezer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>> = Arc::default();
    let (f2, j2) = (frozen.clone(), freezer.clone());
    setting.events = Some(Arc::new(move |e: &Event| {
        record(e);
        if let Event::Relay {
            host,
            from,
            outcome: RelayOutcome::Ok,
            ..
        } = e
            && from == "deploy"
            && !f2.swap(true, std::sync::atomic::Ordering::SeqCst)
            && let Some((_, h)) = by_ip.iter().find(|(ip, _)| ip == host)
        {
            let h = h.clone();
            *j2.lock().unwrap() = Some(std::thread::spawn(move || {
                h.freeze().unwrap();
                std::thread::sleep(std::time::Duration::from_secs(4));
                h.thaw().unwrap();
            }));
        }
    }));
    run(ctx, "03", setting, false).await;
    if let Some(j) = freezer.lock().unwrap().take() {
        j.join().unwrap();
    }
    assert!(frozen.load(std::sync::atomic::Ordering::SeqCst));
    let got = seen.lock().unwrap().clone();
    let retries: Vec<&Rel> = got
        .iter()
        .filter(|r| r.outcome == RelayOutcome::Retry)
        .collect();
    eprintln!(
        "freeze: {} retries, e.g. {:?}",
        retries.len(),
        retries.first().map(|r| &r.detail)
    );
    assert_right_and_clean(hosts, base, "freeze");

    // --no-relay: no relay events, nothing to do on converged hosts.
    let (setting, seen) = observing(true);
    run(ctx, "03", setting, false).await;
    assert!(seen.lock().unwrap().is_empty());
    assert_right_and_clean(hosts, base, "no-relay re-run");
}
