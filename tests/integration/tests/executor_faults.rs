//! ez-executor when hosts misbehave: stopped, link cut, frozen — mid-command and mid-upload.
//! Each test owns its host (see `executor_common/mod.rs`): 7 stop, 8 cut, 9 freeze, 11 cut
//! during upload, 40 a freeze shorter than the timeouts. Every fault is undone by a guard, even when the test fails.

mod executor_common;

use std::io::Write;
use std::time::Duration;

use executor_common::*;
use ez_executor::{Command, ExecError, Executor, RemoteFile};
use ez_testbed::{Host, Mode, Testbed};

/// Undo a fault on drop.
struct Undo<'a>(&'a Host, fn(&Host));
impl Drop for Undo<'_> {
    fn drop(&mut self) {
        (self.1)(self.0);
    }
}

/// Inflict `fault` on `h` from another thread after `delay`.
fn later(h: &Host, delay: Duration, fault: fn(&Host)) -> std::thread::JoinHandle<()> {
    let h = h.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        fault(&h);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_stopped_mid_command_is_connection_lost() {
    let Some(hosts) = Testbed::require(&[7], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let _undo = Undo(h, |h| {
        let _ = h.start(Mode::Plain);
    });
    let exec = Executor::new(config());
    let hh = exec.connect(&root_spec(h)).await.unwrap();
    let t = later(h, Duration::from_secs(2), |h| h.stop().expect("stop"));
    let e = hh
        .run(Command::new("sleep 100; echo done").timeout(Duration::from_secs(90)))
        .await
        .unwrap_err();
    t.join().unwrap();
    assert!(matches!(e, ExecError::ConnectionLost { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&h.ip.to_string()) && msg.contains("sleep 100"),
        "{msg}"
    );
    // the next request reconnects (bounded retries) and fails clearly while it is down
    let e = hh.run(Command::new("true")).await.unwrap_err();
    assert!(
        matches!(e, ExecError::Unreachable { .. } | ExecError::Timeout { .. }),
        "{e}"
    );
    h.start(Mode::Plain).unwrap();
    hh.run_checked(Command::new("true"))
        .await
        .expect("reconnected after restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_cut_mid_command_is_noticed_by_keepalive() {
    let Some(hosts) = Testbed::require(&[8], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let _undo = Undo(h, |h| {
        let _ = h.restore_link();
    });
    let exec = Executor::new(config());
    let hh = exec.connect(&root_spec(h)).await.unwrap();
    let t = later(h, Duration::from_secs(2), |h| h.cut_link().expect("cut"));
    // the command timeout is far away: the error must come from the keepalive check
    let e = hh
        .run(Command::new("sleep 100").timeout(Duration::from_secs(90)))
        .await
        .unwrap_err();
    t.join().unwrap();
    match &e {
        ExecError::ConnectionLost { reason, .. } => assert!(reason.contains("no response"), "{e}"),
        _ => panic!("{e}"),
    }
    h.restore_link().unwrap();
    hh.run_checked(Command::new("true"))
        .await
        .expect("reconnected after restore");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_host_times_out() {
    let Some(hosts) = Testbed::require(&[9], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let _undo = Undo(h, |h| {
        let _ = h.thaw();
    });
    let exec = Executor::new(config());
    let hh = exec.connect(&root_spec(h)).await.unwrap();
    h.freeze().unwrap();
    let e = hh
        .run(Command::new("echo hi").timeout(Duration::from_secs(3)))
        .await
        .unwrap_err();
    match &e {
        ExecError::Timeout { command, after, .. } => {
            assert_eq!(command, "echo hi");
            assert_eq!(*after, Duration::from_secs(3));
        }
        _ => panic!("{e}"),
    }
    // a new connection to the frozen host ends with a handshake timeout, not a hang
    let mut cfg = config();
    cfg.connect_retries = 0;
    cfg.connect_timeout = Duration::from_secs(2);
    let e = Executor::new(cfg).connect(&root_spec(h)).await.unwrap_err();
    assert!(matches!(e, ExecError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("handshake"), "{e}");
    h.thaw().unwrap();
    hh.run_checked(Command::new("true"))
        .await
        .expect("works after thaw");
}

/// A host silent for several keepalive intervals but less than the timeouts (frozen: its
/// kernel queues the packets, nothing answers) only delays a command started meanwhile, and
/// an upload too. libssh2 with keepalives on gave up on such a blocking call at the next
/// keepalive time ("Timed out waiting on socket", reported as a 10 s timeout after 1 s):
/// a relay fetch failed that way whenever a frozen host took a little long to thaw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_frozen_shorter_than_the_timeouts_only_delays_commands() {
    let Some(hosts) = Testbed::require(&[40], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let _undo = Undo(h, |h| {
        let _ = h.thaw();
    });
    let cfg = config();
    let silent = cfg.keepalive_interval * 4;
    assert!(silent + Duration::from_secs(2) < cfg.io_timeout);
    let exec = Executor::new(cfg);
    let hh = exec.connect(&root_spec(h)).await.unwrap();
    for what in ["command", "upload"] {
        h.freeze().unwrap();
        let t = later(h, silent, |h| h.thaw().expect("thaw"));
        let started = std::time::Instant::now();
        let out = match what {
            "command" => hh
                .run_checked(Command::new("echo hi").timeout(Duration::from_secs(60)))
                .await
                .map(|o| o.stdout_str()),
            _ => hh
                .put_bytes(
                    b"after the freeze\n",
                    RemoteFile::new("/var/tmp/ez-frozen-upload").mode(0o644),
                )
                .await
                .map(|_| String::new()),
        };
        t.join().unwrap();
        let took = started.elapsed();
        match out {
            Ok(o) => assert!(what != "command" || o == "hi\n", "{what}: {o:?}"),
            Err(e) => panic!("{what} failed after {took:?} on a host frozen for {silent:?}: {e}"),
        }
        assert!(
            took >= silent,
            "{what} finished while the host was frozen: {took:?}"
        );
    }
    let got = std::fs::read_to_string(h.root_path().join("var/tmp/ez-frozen-upload")).unwrap();
    assert_eq!(got, "after the freeze\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_cut_mid_upload_leaves_no_partial_destination() {
    let Some(hosts) = Testbed::require(&[11], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let _undo = Undo(h, |h| {
        let _ = h.restore_link();
    });
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&local).unwrap());
        let block: Vec<u8> = (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for _ in 0..768 {
            f.write_all(&block).unwrap();
        }
    }
    let path = remote_tmp("cut-upload");
    let on_host = h.root_path().join(path.trim_start_matches('/'));
    let var_tmp = h.root_path().join("var/tmp");
    let exec = Executor::new(config());
    let hh = exec.connect(&root_spec(h)).await.unwrap();
    // old content at the destination must survive the failed upload
    hh.put_bytes(b"old\n".to_vec(), RemoteFile::new(path.clone()))
        .await
        .unwrap();
    // cut the link once the temporary file is growing on the host
    let watcher = {
        let (h, var_tmp) = (h.clone(), var_tmp.clone());
        std::thread::spawn(move || {
            for _ in 0..6000 {
                let growing = std::fs::read_dir(&var_tmp)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|e| {
                        e.file_name().to_string_lossy().contains("ez-tmp")
                            && e.metadata().map(|m| m.len() > (16 << 20)).unwrap_or(false)
                    });
                if growing {
                    h.cut_link().expect("cut");
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        })
    };
    let r = hh.put_file(&local, RemoteFile::new(path.clone())).await;
    assert!(watcher.join().unwrap(), "upload never started");
    let e = r.expect_err("upload over a cut link must fail");
    assert!(
        matches!(
            e,
            ExecError::Timeout { .. } | ExecError::ConnectionLost { .. }
        ),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&on_host).unwrap(),
        b"old\n",
        "destination untouched"
    );
    h.restore_link().unwrap();
    // the next put succeeds and removes the stale temporary file
    let r = hh
        .put_file(&local, RemoteFile::new(path.clone()))
        .await
        .expect("retry put");
    assert_eq!(r.transferred_bytes, 768 << 20);
    let leftovers: Vec<_> = std::fs::read_dir(&var_tmp)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("ez-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    hh.run_checked(Command::new(format!("rm -f {path}")))
        .await
        .unwrap();
}
