//! ez-executor authenticating through a real ssh-agent (OpenSSH's `ssh-agent`, the bed's key
//! added with `ssh-add`): no key file, no password, no default keys. In its own test binary
//! because the agent is found through the process environment (`SSH_AUTH_SOCK`). Host 5.

mod executor_common;

use executor_common::*;
use ez_executor::{Command, ExecError, Executor, HostSpec};
use ez_testbed::{Mode, Testbed};
use std::process::Stdio;
use std::time::Duration;

struct Agent(std::process::Child);
impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_identity_logs_in_and_an_empty_agent_is_refused() {
    let Some(hosts) = Testbed::require(&[5], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let agent = Agent(
        std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) is needed"),
    );
    for _ in 0..50 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let add = |args: &[&str]| {
        let st = std::process::Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", &sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "ssh-add {args:?}");
    };
    let key = Testbed::new().client_key();
    add(&[key.to_str().unwrap()]);
    // SAFETY: this test binary holds this one test; nothing else reads the environment now.
    unsafe { std::env::set_var("SSH_AUTH_SOCK", &sock) };

    let mut cfg = config();
    cfg.use_agent = true;
    let spec = HostSpec::new(h.ip.to_string()).user("tbuser");
    assert!(spec.key_file.is_none() && spec.password.is_none());
    let hh = Executor::new(cfg.clone())
        .connect(&spec)
        .await
        .expect("agent authentication");
    let o = hh.run_checked(Command::new("id -un")).await.unwrap();
    assert_eq!(o.stdout_str().trim(), "tbuser");

    // The agent emptied: refused, and the message says the agent was tried.
    add(&["-D"]);
    let e = Executor::new(cfg).connect(&spec).await.unwrap_err();
    assert!(matches!(e, ExecError::AuthRefused { .. }), "{e}");
    drop(agent);
}
