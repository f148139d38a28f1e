//! ez-executor on real hosts: exec, fan-out, uploads, auth, sudo, host keys, jump host.
//! Host indices: see `executor_common/mod.rs`.

mod executor_common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use executor_common::*;
use ez_executor::{
    Command, ExecError, Executor, ExecutorConfig, FailMode, FanOut, HostSpec, Outcome, RemoteFile,
    StreamKind, TransferMethod, fan_out,
};
use ez_testbed::{Mode, Testbed};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_exec_env_stdin_streaming_and_failures() {
    let Some(hosts) = Testbed::require(&[1, 2, 3], Mode::Plain) else {
        return;
    };
    let exec = Executor::new(config());
    let mut handles = Vec::new();
    for h in &hosts {
        handles.push(exec.connect(&root_spec(h)).await.expect("connect"));
    }
    // parallel hostname, ordered results
    let report = fan_out(
        handles.clone(),
        FanOut {
            forks: 3,
            mode: FailMode::RunAll,
        },
        |h| async move { h.run_checked(Command::new("hostname")).await },
    )
    .await;
    assert!(report.all_ok(), "{:?}", report.first_error());
    for (r, h) in report.results.iter().zip(&hosts) {
        match &r.outcome {
            Outcome::Ok(out) => assert_eq!(out.stdout_str().trim(), h.name),
            o => panic!("{o:?}"),
        }
    }
    // env (quoted), stdin, streaming sink, exit status
    let chunks = Arc::new(Mutex::new(Vec::<(StreamKind, Vec<u8>)>::new()));
    let c2 = chunks.clone();
    let out = handles[0]
        .run(
            Command::new("echo \"$GREETING\"; cat; echo oops >&2; exit 3")
                .env("GREETING", "it's a 'test' $HOME")
                .stdin(b"from stdin\n".to_vec())
                .on_output(Arc::new(move |k, d| {
                    c2.lock().unwrap().push((k, d.to_vec()))
                })),
        )
        .await
        .expect("run");
    assert_eq!(out.stdout_str(), "it's a 'test' $HOME\nfrom stdin\n");
    assert_eq!(out.stderr_str(), "oops\n");
    assert_eq!(out.status, ez_executor::ExitStatus::Code(3));
    let streamed: Vec<u8> = chunks
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k == StreamKind::Stdout)
        .flat_map(|(_, d)| d.clone())
        .collect();
    assert_eq!(streamed, out.stdout);
    // a failing command in a fan-out: first failure names host, command and stderr tail
    let report = fan_out(
        handles.clone(),
        FanOut {
            forks: 2,
            mode: FailMode::RunAll,
        },
        |h| async move {
            let script = if h.name() == "10.250.0.12" {
                "echo bad thing >&2; false"
            } else {
                "true"
            };
            h.run_checked(Command::new(script)).await
        },
    )
    .await;
    let e = report.first_error().expect("a failure").to_string();
    assert!(
        e.contains("10.250.0.12") && e.contains("false") && e.contains("bad thing"),
        "{e}"
    );
    assert!(matches!(report.results[0].outcome, Outcome::Ok(_)));
    assert!(matches!(report.results[2].outcome, Outcome::Ok(_)));
    // 20 commands on one connection (reuse) all succeed
    for i in 0..20 {
        let o = handles[1]
            .run_checked(Command::new(format!("echo {i}")))
            .await
            .unwrap();
        assert_eq!(o.stdout_str().trim(), i.to_string());
    }
    // a command timeout names host and command, the command and what it started are
    // ended on the host, and the host is usable afterwards
    let e = handles[2]
        .run(
            Command::new("echo started >&2; sh -c 'sleep 31.5; echo late' | cat")
                .timeout(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, ExecError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("sleep 31.5"));
    let left = handles[2]
        .run_checked(Command::new(
            "pgrep -f 'sleep 3[1][.]5' >/dev/null && ps -eo pid,pgid,sid,args || echo none",
        ))
        .await
        .expect("reconnects after timeout");
    assert_eq!(
        left.stdout_str().trim(),
        "none",
        "the timed-out command still runs"
    );
    // stderr is the command's own: the pid marker never shows
    let o = handles[2]
        .run(Command::new("echo to-stderr >&2; exit 3"))
        .await
        .unwrap();
    assert_eq!(o.stderr_str(), "to-stderr\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_skip_modes_get_and_sha() {
    let Some(hosts) = Testbed::require(&[1, 2, 3], Mode::Plain) else {
        return;
    };
    let exec = Executor::new(config());
    let path = remote_tmp("upload");
    let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("payload");
    std::fs::write(&local, &data).unwrap();
    let want_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data));
    for h in &hosts {
        let hh = exec.connect(&root_spec(h)).await.unwrap();
        let dest = RemoteFile::new(path.clone()).mode(0o640).owner("root:root");
        let r1 = hh.put_file(&local, dest.clone()).await.expect("first put");
        assert_eq!(r1.transferred_bytes, data.len() as u64);
        assert!(r1.changed);
        assert_eq!(r1.sha256, want_sha);
        let r2 = hh.put_file(&local, dest.clone()).await.expect("second put");
        assert_eq!(
            r2.transferred_bytes, 0,
            "unchanged file must not be re-sent"
        );
        assert!(!r2.changed);
        // mode change only: no bytes, but changed
        let r3 = hh.put_file(&local, dest.clone().mode(0o600)).await.unwrap();
        assert_eq!((r3.transferred_bytes, r3.changed), (0, true));
        let st = hh
            .run_checked(Command::new(format!("stat -c '%a %U' {path}")))
            .await
            .unwrap();
        assert_eq!(st.stdout_str().trim(), "600 root");
        assert_eq!(
            hh.remote_sha256(&path).await.unwrap().as_deref(),
            Some(want_sha.as_str())
        );
        assert_eq!(hh.remote_sha256("/nonexistent/x").await.unwrap(), None);
        // the file on the host's disk is byte-identical
        let on_disk = std::fs::read(h.root_path().join(path.trim_start_matches('/'))).unwrap();
        assert!(on_disk == data);
        // get it back
        let back = dir.path().join(format!("back-{}", h.index));
        let g = hh.get_file(&path, &back).await.unwrap();
        assert_eq!(
            (g.bytes, g.sha256.as_str()),
            (data.len() as u64, want_sha.as_str())
        );
        assert!(std::fs::read(&back).unwrap() == data);
        // bytes (rendered template), replaced atomically; no temp files left behind
        let r = hh
            .put_bytes(b"rendered\n".to_vec(), RemoteFile::new(path.clone()))
            .await
            .unwrap();
        assert_eq!(r.transferred_bytes, 9);
        let ls = hh
            .run_checked(Command::new(format!(
                "cat {path}; ls -a /var/tmp | grep -c ez-tmp || true"
            )))
            .await
            .unwrap();
        assert_eq!(ls.stdout_str(), "rendered\n0\n");
        // known stale: sent without comparing (even identical bytes), a leftover temp of an
        // interrupted upload is removed, and `then` runs after the rename, in the same step
        let leftover = format!(
            "{}/.{}.ez-tmp-dead",
            "/var/tmp",
            path.rsplit('/').next().unwrap()
        );
        hh.run_checked(Command::new(format!("touch {leftover}")))
            .await
            .unwrap();
        let marker = format!("{path}.then");
        let sum = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"rendered\n"));
        let r = hh
            .put_bytes(
                b"rendered\n".to_vec(),
                RemoteFile::new(path.clone())
                    .known_stale(sum.clone())
                    .then(format!("sha256sum {path} > {marker}")),
            )
            .await
            .unwrap();
        assert_eq!((r.transferred_bytes, r.changed), (9, true));
        let after = hh
            .run_checked(Command::new(format!(
                "cut -d' ' -f1 {marker}; ls -a /var/tmp | grep -c ez-tmp || true; rm -f {marker}"
            )))
            .await
            .unwrap();
        assert_eq!(after.stdout_str(), format!("{sum}\n0\n"));
        // a failing `then` fails the put (the file itself is placed)
        let e = hh
            .put_bytes(
                b"x".to_vec(),
                RemoteFile::new(path.clone())
                    .known_stale(sum.clone())
                    .then("false"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, ExecError::Transfer { .. }), "{e}");
        // a small file (sent inline, on the placing command's stdin) gets its mode and owner
        let r = hh
            .put_bytes(
                b"#!/bin/sh\n".to_vec(),
                RemoteFile::new(path.clone()).mode(0o750).owner("root:root"),
            )
            .await
            .unwrap();
        assert_eq!((r.transferred_bytes, r.changed), (10, true));
        let st = hh
            .run_checked(Command::new(format!(
                "stat -c '%a %U %G %s' {path}; ls -a /var/tmp | grep -c ez-tmp || true"
            )))
            .await
            .unwrap();
        assert_eq!(st.stdout_str(), "750 root root 10\n0\n");
        // known stale into a missing directory: the error names the file, nothing is left
        let e = hh
            .put_bytes(
                b"x".to_vec(),
                RemoteFile::new("/nonexistent-dir/f").known_stale(sum.clone()),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ExecError::Transfer { path, .. } if path == "/nonexistent-dir/f"),
            "{e}"
        );
        // errors: missing directory, missing remote file on get
        let e = hh
            .put_bytes(b"x".to_vec(), RemoteFile::new("/nonexistent-dir/f"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = hh
            .get_file("/nonexistent/x", dir.path().join("nope"))
            .await
            .unwrap_err();
        assert!(matches!(e, ExecError::Transfer { .. }), "{e}");
        assert!(!dir.path().join("nope").exists());
        hh.run_checked(Command::new(format!("rm -f {path}")))
            .await
            .unwrap();
    }
    // Every transport places a large file byte for byte, with its mode, and leaves no temp.
    for method in [
        TransferMethod::Stdin,
        TransferMethod::Scp,
        TransferMethod::Sftp,
    ] {
        let exec = Executor::new(ExecutorConfig {
            transfer: method,
            ..config()
        });
        let h = &hosts[0];
        let hh = exec.connect(&root_spec(h)).await.unwrap();
        let big: Vec<u8> = data.iter().rev().copied().collect();
        let local = dir.path().join(format!("big-{method:?}"));
        std::fs::write(&local, &big).unwrap();
        let r = hh
            .put_file(&local, RemoteFile::new(path.clone()).mode(0o751))
            .await
            .unwrap();
        assert_eq!((r.transferred_bytes, r.changed), (big.len() as u64, true));
        let on_disk = std::fs::read(h.root_path().join(path.trim_start_matches('/'))).unwrap();
        assert!(on_disk == big, "{method:?}: content differs");
        let st = hh
            .run_checked(Command::new(format!(
                "stat -c %a {path}; ls -a /var/tmp | grep -c ez-tmp || true; rm -f {path}"
            )))
            .await
            .unwrap();
        assert_eq!(st.stdout_str(), "751\n0\n", "{method:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_passwordless_and_with_password() {
    let Some(hosts) = Testbed::require(&[2], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let exec = Executor::new(config());
    // tbuser: passwordless sudo, from Ansible vars
    let spec = sudo_user_spec(h);
    let hh = exec.connect(&spec).await.unwrap();
    let o = hh
        .run_checked(Command::new("id -un; echo $HOME"))
        .await
        .unwrap();
    assert_eq!(o.stdout_str(), "root\n/root\n");
    let o = hh
        .run_checked(Command::new("id -un").sudo(false))
        .await
        .unwrap();
    assert_eq!(o.stdout_str().trim(), "tbuser");
    let path = format!("/root/ez-exec-sudo-{}", std::process::id());
    let r = hh
        .put_bytes(
            b"secret\n".to_vec(),
            RemoteFile::new(path.clone()).mode(0o600).owner("root:root"),
        )
        .await
        .unwrap();
    assert_eq!(r.transferred_bytes, 7);
    let st = hh
        .run_checked(Command::new(format!(
            "stat -c '%a %U %G' {path}; cat {path}"
        )))
        .await
        .unwrap();
    assert_eq!(st.stdout_str(), "600 root root\nsecret\n");
    let r = hh
        .put_bytes(
            b"secret\n".to_vec(),
            RemoteFile::new(path.clone()).mode(0o600).owner("root:root"),
        )
        .await
        .unwrap();
    assert_eq!(r.transferred_bytes, 0);
    let back = tempfile::tempdir().unwrap();
    hh.get_file(&path, back.path().join("s")).await.unwrap();
    assert_eq!(std::fs::read(back.path().join("s")).unwrap(), b"secret\n");
    hh.run_checked(Command::new(format!("rm -f {path}")))
        .await
        .unwrap();

    // tbsudo: sudo asks for a password, fed on stdin; the password never reaches the command
    let spec = user_spec(h, "tbsudo").become_root(Some("tbpass".into()));
    let hh = exec.connect(&spec).await.unwrap();
    let o = hh
        .run_checked(Command::new("id -u; cat").stdin(b"payload\n".to_vec()))
        .await
        .unwrap();
    assert_eq!(o.stdout_str(), "0\npayload\n");
    let path2 = format!("/etc/ez-exec-sudo-{}", std::process::id());
    hh.put_bytes(b"x\n".to_vec(), RemoteFile::new(path2.clone()))
        .await
        .unwrap();
    let o = hh
        .run_checked(Command::new(format!(
            "stat -c '%U %a' {path2}; rm -f {path2}"
        )))
        .await
        .unwrap();
    assert_eq!(o.stdout_str().trim(), "root 644");

    // wrong or missing become password: clear BecomeFailed
    let exec2 = Executor::new(config());
    let bad = user_spec(h, "tbsudo").become_root(Some("wrong".into()));
    let hh = exec2.connect(&bad).await.unwrap();
    let e = hh.run(Command::new("id -u")).await.unwrap_err();
    assert!(matches!(e, ExecError::BecomeFailed { .. }), "{e}");
    assert!(e.to_string().contains("ansible_become_pass"), "{e}");
    let none = user_spec(h, "tbsudo").become_root(None);
    let hh = exec2.connect(&none).await.unwrap();
    let e = hh.run(Command::new("id -u")).await.unwrap_err();
    assert!(e.to_string().contains("sudo requires a password"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_types_passphrase_and_password_auth() {
    let Some(hosts) = Testbed::require(&[3], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let bed = Testbed::new();
    let exec = Executor::new(config());
    for key in [
        bed.client_key(),
        bed.client_key_rsa(),
        bed.client_key_ecdsa(),
    ] {
        let spec = user_spec(h, "tbuser").key_file(&key);
        let hh = exec
            .connect(&spec)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        let o = hh.run_checked(Command::new("id -un")).await.unwrap();
        assert_eq!(o.stdout_str().trim(), "tbuser");
        exec.disconnect(&spec);
    }
    // passphrase-protected key: refused clearly without a passphrase, works with the prompt
    let (pkey, pass) = bed.client_key_with_passphrase();
    let spec = user_spec(h, "tbsudo").key_file(&pkey);
    let e = Executor::new(config()).connect(&spec).await.unwrap_err();
    assert!(matches!(e, ExecError::AuthRefused { .. }), "{e}");
    assert!(e.to_string().contains("passphrase"), "{e}");
    let mut cfg = config();
    let pass = pass.to_string();
    cfg.passphrase_prompt = Some(Arc::new(move |_| Some(pass.clone())));
    let hh = Executor::new(cfg.clone())
        .connect(&spec)
        .await
        .expect("passphrase key");
    assert_eq!(
        hh.run_checked(Command::new("id -un"))
            .await
            .unwrap()
            .stdout_str()
            .trim(),
        "tbsudo"
    );
    let mut wrong = cfg;
    wrong.passphrase_prompt = Some(Arc::new(|_| Some("not-it".into())));
    let e = Executor::new(wrong).connect(&spec).await.unwrap_err();
    assert!(e.to_string().contains("wrong passphrase"), "{e}");

    // password authentication
    let mut spec = HostSpec::new(h.ip.to_string())
        .user("tbuser")
        .password("tbpass");
    spec.key_file = None;
    let hh = exec.connect(&spec).await.expect("password auth");
    assert_eq!(
        hh.run_checked(Command::new("id -un"))
            .await
            .unwrap()
            .stdout_str()
            .trim(),
        "tbuser"
    );
    // wrong password / wrong key: AuthRefused naming user and methods
    let e = exec
        .connect(&spec.clone().password("nope"))
        .await
        .unwrap_err();
    match &e {
        ExecError::AuthRefused {
            user,
            methods_tried,
            ..
        } => {
            assert_eq!(user, "tbuser");
            assert!(methods_tried.iter().any(|m| m.contains("password")), "{e}");
        }
        _ => panic!("{e}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let stranger = stranger_key(dir.path());
    let e = exec
        .connect(&root_spec(h).key_file(&stranger))
        .await
        .unwrap_err();
    assert!(matches!(e, ExecError::AuthRefused { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("'root'") && msg.contains("stranger") && msg.contains(&h.ip.to_string()),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_key_refused_then_accepted() {
    let Some(hosts) = Testbed::require(&[1], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("cluster/known_hosts");
    let mut cfg = config();
    cfg.cluster_known_hosts = Some(kh.clone());
    let e = Executor::new(cfg.clone())
        .connect(&root_spec(h))
        .await
        .unwrap_err();
    match &e {
        ExecError::UnknownHostKey { fingerprint, .. } => {
            assert!(fingerprint.contains("SHA256:"), "{e}")
        }
        _ => panic!("{e}"),
    }
    assert!(!kh.exists());
    cfg.accept_new_host_keys = true;
    let hh = Executor::new(cfg.clone())
        .connect(&root_spec(h))
        .await
        .expect("accept new");
    hh.run_checked(Command::new("true")).await.unwrap();
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(
        text.starts_with(&format!("{} ssh-ed25519 ", h.ip)),
        "{text}"
    );
    // the recorded key is the bed's real key, and strict mode now accepts it
    let fp_ours = ez_executor::fingerprint_sha256(&base64_field(&text));
    let real = std::fs::read_to_string(Testbed::new().known_hosts()).unwrap();
    let real_line = real
        .lines()
        .find(|l| l.contains(&format!(",{} ", h.ip)))
        .expect("bed line");
    assert_eq!(
        fp_ours,
        ez_executor::fingerprint_sha256(&base64_field(real_line))
    );
    cfg.accept_new_host_keys = false;
    Executor::new(cfg)
        .connect(&root_spec(h))
        .await
        .expect("known now");
}

fn base64_field(line: &str) -> Vec<u8> {
    let b64 = line.split_whitespace().nth(2).unwrap();
    let out = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    out.stdin
        .as_ref()
        .unwrap()
        .write_all(b64.as_bytes())
        .unwrap();
    out.wait_with_output().unwrap().stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_with_both_fingerprints() {
    let Some(hosts) = Testbed::require(&[6], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    Executor::new(config())
        .connect(&root_spec(h))
        .await
        .expect("key known before rekey");
    h.rekey().expect("rekey");
    let e = Executor::new(config())
        .connect(&root_spec(h))
        .await
        .unwrap_err();
    let msg = e.to_string();
    match &e {
        ExecError::HostKeyChanged {
            expected, actual, ..
        } => {
            assert!(
                expected.starts_with("SHA256:") && actual.starts_with("SHA256:"),
                "{msg}"
            );
            assert_ne!(expected, actual);
            assert!(msg.contains(expected.as_str()) && msg.contains(actual.as_str()));
        }
        _ => panic!("{msg}"),
    }
    // accept_new_host_keys never accepts a changed key
    let mut cfg = config();
    cfg.accept_new_host_keys = true;
    let e = Executor::new(cfg).connect(&root_spec(h)).await.unwrap_err();
    assert!(matches!(e, ExecError::HostKeyChanged { .. }), "{e}");
    // restore the bed's record of this host for later runs
    h.stop().unwrap();
    h.start(Mode::Plain).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_jump_host() {
    let Some(hosts) = Testbed::require(&[1, 4], Mode::Plain) else {
        return;
    };
    let (jump, target) = (&hosts[0], &hosts[1]);
    target.isolate_from_root().expect("isolate");
    struct Unisolate<'a>(&'a ez_testbed::Host);
    impl Drop for Unisolate<'_> {
        fn drop(&mut self) {
            let _ = self.0.unisolate();
        }
    }
    let _g = Unisolate(target);
    let mut cfg = config();
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.connect_retries = 0;
    let exec = Executor::new(cfg);
    let e = exec.connect(&root_spec(target)).await.unwrap_err();
    assert!(
        matches!(e, ExecError::Unreachable { .. } | ExecError::Timeout { .. }),
        "{e}"
    );
    // via the jump host, with the target described by Ansible vars
    let vars: BTreeMap<String, String> = [
        (
            "ansible_ssh_private_key_file",
            Testbed::new().client_key().to_str().unwrap().to_string(),
        ),
        (
            "ansible_ssh_common_args",
            format!("-o ProxyJump=root@{}:22", jump.ip),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let spec = HostSpec::from_ansible_vars(&target.ip.to_string(), &vars).unwrap();
    let hh = exec.connect(&spec).await.expect("via jump");
    assert_eq!(
        hh.run_checked(Command::new("hostname"))
            .await
            .unwrap()
            .stdout_str()
            .trim(),
        target.name
    );
    let data = vec![7u8; 3 << 20];
    let path = remote_tmp("jump");
    let r = hh
        .put_bytes(data.clone(), RemoteFile::new(path.clone()))
        .await
        .unwrap();
    assert_eq!(r.transferred_bytes, data.len() as u64);
    let o = hh
        .run_checked(Command::new(format!("wc -c < {path}; rm -f {path}")))
        .await
        .unwrap();
    assert_eq!(o.stdout_str().trim(), data.len().to_string());
    let _ = ExecutorConfig::default();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_fast_cancels_in_flight_commands() {
    let Some(hosts) = Testbed::require(&[1, 2, 3], Mode::Plain) else {
        return;
    };
    let exec = Executor::new(config());
    let mut handles = Vec::new();
    for h in &hosts {
        handles.push(exec.connect(&root_spec(h)).await.unwrap());
    }
    let failing = handles[1].name().to_string();
    let report = fan_out(
        handles.clone(),
        FanOut {
            forks: 3,
            mode: FailMode::FailFast,
        },
        |h| {
            let failing = failing.clone();
            async move {
                let script = if h.name() == failing {
                    "sleep 1; echo fatal >&2; exit 7"
                } else {
                    "sleep 60"
                };
                h.run_checked(Command::new(script)).await
            }
        },
    )
    .await;
    assert_eq!(report.first_failure, Some(1));
    let e = report.first_error().unwrap().to_string();
    assert!(e.contains("exit status 7") && e.contains("fatal"), "{e}");
    assert!(matches!(report.results[0].outcome, Outcome::Cancelled));
    assert!(matches!(report.results[2].outcome, Outcome::Cancelled));
    // cancelled hosts are usable right away (their connection was dropped and is reopened)
    for h in &handles {
        h.run_checked(Command::new("true"))
            .await
            .expect("usable after cancel");
    }
}
