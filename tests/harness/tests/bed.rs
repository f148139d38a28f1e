//! The test bed itself, on real hosts. Uses hosts 50–59 only:
//!   50–52 systemd + 53 plain: read-only checks (shared by the tests in this file)
//!   54 freeze/thaw · 55 cut/restore (plain) · 56 rekey · 57 rekey (plain)
//!   58 stop/start · 59 isolate-from-root (plain), reached through 50
//! Run as root after `tests/testbed/setup.sh`; elsewhere these tests skip loudly.

use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use ez_testbed::{Host, Mode, Testbed};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// ssh as root, must succeed; returns trimmed stdout.
fn run(h: &Host, cmd: &str) -> String {
    let o = h.ssh(cmd).expect("ssh starts");
    assert!(
        o.status.success(),
        "{}: `{cmd}` failed: {}",
        h.name,
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// ssh with ConnectTimeout=3 and an overall bound; true if it worked.
fn reachable(h: &Host) -> bool {
    let t = Instant::now();
    let o = h
        .ssh_with(
            &["-o", "ConnectTimeout=3", "-o", "ServerAliveInterval=1"],
            "true",
        )
        .expect("ssh starts");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "ssh hung for {:?}",
        t.elapsed()
    );
    o.status.success()
}

/// The host's ed25519 key as `ssh-keyscan` sees it (no known_hosts involved).
fn scanned_key(h: &Host) -> String {
    let o = Command::new("ssh-keyscan")
        .args(["-T", "5", "-t", "ed25519", &h.ip.to_string()])
        .output()
        .expect("ssh-keyscan runs");
    let key = stdout(&o)
        .lines()
        .find(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    assert!(
        key.starts_with("ssh-ed25519 "),
        "no key scanned from {}",
        h.name
    );
    key
}

fn basic_hosts() -> Option<Vec<Host>> {
    let mut hosts = Testbed::require(&[50, 51, 52], Mode::Systemd)?;
    hosts.extend(Testbed::require(&[53], Mode::Plain)?);
    Some(hosts)
}

#[test]
fn hosts_answer_with_their_name_and_address() {
    let Some(hosts) = basic_hosts() else { return };
    for h in &hosts {
        assert_eq!(run(h, "hostname"), h.name);
        let addr = run(h, "ip -4 -o addr show eth0");
        assert!(
            addr.contains(&format!(" {}/24 ", h.ip)),
            "{}: {addr}",
            h.name
        );
    }
}

#[test]
fn no_route_leaves_the_bed() {
    let Some(hosts) = basic_hosts() else { return };
    for h in &hosts {
        // the routing table only: no packet is sent anywhere
        let mut routes: Vec<String> = run(h, "ip -4 route show")
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect();
        routes.sort();
        assert_eq!(
            routes,
            // the Service range is on-link for kube-proxy's ClusterIPs (lib.sh tb_net_up)
            ["10.250.0.0/24 dev", "10.68.0.0/16 dev", "blackhole default"],
            "{}",
            h.name
        );
        let v6 = run(
            h,
            "ip -6 route show | grep -v '^fe80::/64 ' | grep -v '^$' || true",
        );
        assert_eq!(v6, "", "{}: unexpected IPv6 routes", h.name);
    }
}

#[test]
fn opt_is_private_to_each_host() {
    let Some(hosts) = basic_hosts() else { return };
    let (a, b) = (&hosts[0], &hosts[3]);
    run(
        a,
        "mkdir -p /opt/harness && echo from-tb50 > /opt/harness/marker",
    );
    assert_eq!(
        std::fs::read_to_string(a.root_path().join("opt/harness/marker"))
            .expect("read via root_path")
            .trim(),
        "from-tb50"
    );
    run(b, "test ! -e /opt/harness/marker");
    let rootfs = Testbed::new().state_dir().join("rootfs/opt/harness/marker");
    assert!(!rootfs.exists(), "the shared rootfs was written to");
    // and the other way round: written from the machine, seen on that host only
    std::fs::write(b.root_path().join("opt/from-machine"), "x").expect("write via root_path");
    run(b, "test -e /opt/from-machine");
    run(a, "test ! -e /opt/from-machine");
}

#[test]
fn systemd_hosts_are_running() {
    let Some(hosts) = basic_hosts() else { return };
    for h in &hosts[..3] {
        // a host that just came up may still be "starting" for a moment
        let t = Instant::now();
        let state = loop {
            let o = h.ssh("systemctl is-system-running").expect("ssh starts");
            let s = stdout(&o);
            if s != "starting" || t.elapsed() > Duration::from_secs(30) {
                break s;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        let failed = stdout(&h.ssh("systemctl --failed --no-legend").expect("ssh starts"));
        assert_eq!(state, "running", "{}: failed units: {failed}", h.name);
        assert_eq!(run(h, "systemctl is-active ssh.service"), "active");
    }
    assert_eq!(
        run(&hosts[3], "cat /proc/1/comm"),
        "sshd",
        "plain host: sshd is PID 1"
    );
}

#[test]
fn sudo_rules_of_the_test_users() {
    let Some(hosts) = basic_hosts() else { return };
    for h in [&hosts[0], &hosts[3]] {
        let o = h
            .ssh_as("tbuser", "sudo -n true && whoami && sudo -n whoami")
            .expect("ssh");
        assert!(
            o.status.success(),
            "{}: tbuser sudo: {}",
            h.name,
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(stdout(&o), "tbuser\nroot");
        let o = h.ssh_as("tbsudo", "sudo -n true").expect("ssh");
        assert!(
            !o.status.success(),
            "{}: tbsudo got sudo without a password",
            h.name
        );
        let o = h
            .ssh_as("tbsudo", "echo tbpass | sudo -S -p '' id -u")
            .expect("ssh");
        assert_eq!(stdout(&o), "0", "{}: tbsudo with its password", h.name);
        let o = h
            .ssh_as("tbsudo", "echo wrong | sudo -S -p '' id -u")
            .expect("ssh");
        assert!(
            !o.status.success(),
            "{}: tbsudo with a wrong password",
            h.name
        );
    }
}

#[test]
fn every_client_key_is_authorized_for_every_user() {
    let Some(hosts) = basic_hosts() else { return };
    let bed = Testbed::new();
    let h = &hosts[1];
    for key in [
        bed.client_key(),
        bed.client_key_rsa(),
        bed.client_key_ecdsa(),
    ] {
        for user in ["root", "tbuser", "tbsudo"] {
            let key_s = key.display().to_string();
            let o = h
                .ssh_command(user, &["-i", &key_s])
                .arg("whoami")
                .output()
                .expect("ssh");
            assert_eq!(
                stdout(&o),
                user,
                "key {key_s} for {user}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    // the passphrase key: encrypted, and opens with its passphrase
    let (key, phrase) = bed.client_key_with_passphrase();
    let k = key.display().to_string();
    let o = Command::new("ssh-keygen")
        .args(["-y", "-P", "", "-f", &k])
        .output()
        .expect("ssh-keygen");
    assert!(!o.status.success(), "{k} opens without a passphrase");
    let o = Command::new("ssh-keygen")
        .args(["-y", "-P", phrase, "-f", &k])
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success(), "{k} does not open with {phrase}");
    let pubkey = stdout(&o);
    let authorized =
        std::fs::read_to_string(h.root_path().join("home/tbsudo/.ssh/authorized_keys"))
            .expect("read");
    let blob = pubkey.split_whitespace().nth(1).expect("key blob");
    assert!(authorized.contains(blob), "passphrase key not authorized");
}

#[test]
fn known_hosts_lists_the_real_keys() {
    let Some(hosts) = basic_hosts() else { return };
    let known = std::fs::read_to_string(Testbed::new().known_hosts()).expect("read known_hosts");
    for h in &hosts {
        let line = known
            .lines()
            .find(|l| l.starts_with(&format!("{},{} ", h.name, h.ip)))
            .unwrap_or_else(|| panic!("{} missing from known_hosts", h.name));
        assert!(
            line.ends_with(&scanned_key(h)),
            "{}: known_hosts has a stale key",
            h.name
        );
    }
}

#[test]
fn hosts_reach_each_other_by_name() {
    let Some(hosts) = basic_hosts() else { return };
    let out = run(
        &hosts[0],
        "getent hosts tb53 && timeout 3 bash -c 'exec 3<>/dev/tcp/tb53/22' && echo open",
    );
    assert!(out.ends_with("open"), "{out}");
    assert!(out.starts_with(&hosts[3].ip.to_string()), "{out}");
}

/// Undo a fault even when the test fails half way.
struct Undo<'a>(&'a Host, fn(&Host) -> Result<(), ez_testbed::TestbedError>);
impl Drop for Undo<'_> {
    fn drop(&mut self) {
        let _ = (self.1)(self.0);
    }
}

#[test]
fn freeze_and_thaw() {
    let Some(hosts) = Testbed::require(&[54], Mode::Systemd) else {
        return;
    };
    let h = &hosts[0];
    assert!(reachable(h));
    h.freeze().expect("freeze");
    let _undo = Undo(h, Host::thaw);
    let t = Instant::now();
    assert!(!reachable(h), "a frozen host answered ssh");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "failed too fast ({took:?}): not a timeout"
    );
    // TCP itself still connects: the kernel completes the handshake
    assert!(TcpStream::connect_timeout(&h.addr(), Duration::from_secs(3)).is_ok());
    h.freeze().expect("freeze twice is fine");
    h.thaw().expect("thaw");
    assert!(reachable(h), "thawed host does not answer");
    assert_eq!(run(h, "systemctl is-system-running"), "running");
}

#[test]
fn cut_and_restore_link() {
    let Some(hosts) = Testbed::require(&[55], Mode::Plain) else {
        return;
    };
    let h = &hosts[0];
    h.cut_link().expect("cut");
    let _undo = Undo(h, Host::restore_link);
    assert!(!reachable(h), "a cut host answered ssh");
    assert!(TcpStream::connect_timeout(&h.addr(), Duration::from_secs(2)).is_err());
    h.restore_link().expect("restore");
    assert!(reachable(h), "restored host does not answer");
}

fn rekey_on(index: u32, mode: Mode) {
    let bed = Testbed::new();
    // a freshly booted host: a previous run may have left this one rekeyed
    if Testbed::require(&[index], mode).is_none() {
        return;
    }
    bed.down(&[index]).expect("down");
    let Some(hosts) = Testbed::require(&[index], mode) else {
        return;
    };
    let h = &hosts[0];
    let before = scanned_key(h);
    let known_line = |h: &Host| {
        let known = std::fs::read_to_string(bed.known_hosts()).expect("read known_hosts");
        let prefix = format!("{},{} ", h.name, h.ip);
        known
            .lines()
            .find(|l| l.starts_with(&prefix))
            .map(str::to_string)
    };
    let known_before = known_line(h);
    assert!(
        known_before
            .as_deref()
            .is_some_and(|l| l.ends_with(&before))
    );
    assert!(reachable(h));
    h.rekey().expect("rekey");
    let after = scanned_key(h);
    assert_ne!(before, after, "{}: host key did not change", h.name);
    assert_eq!(known_line(h), known_before, "rekey touched known_hosts");
    let o = h.ssh("true").expect("ssh");
    assert!(
        !o.status.success(),
        "strict ssh accepted a changed host key"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{err}"
    );
    // the new key works for a client that accepts it
    let o = h
        .ssh_command(
            "root",
            &[
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ],
        )
        .arg("hostname")
        .output()
        .expect("ssh");
    assert_eq!(stdout(&o), h.name);
    bed.down(&[index]).expect("down");
}

#[test]
fn rekey_systemd_host() {
    rekey_on(56, Mode::Systemd);
}

#[test]
fn rekey_plain_host() {
    rekey_on(57, Mode::Plain);
}

#[test]
fn stop_and_start() {
    let Some(hosts) = Testbed::require(&[58], Mode::Systemd) else {
        return;
    };
    let h = &hosts[0];
    run(h, "echo survives > /root/persist");
    h.stop().expect("stop");
    assert!(!reachable(h), "a stopped host answered ssh");
    h.stop().expect("stop twice is fine");
    h.start(Mode::Systemd).expect("start");
    assert!(reachable(h));
    assert_eq!(
        run(h, "cat /root/persist"),
        "survives",
        "disk content is kept over a restart"
    );
    assert_eq!(run(h, "hostname"), h.name);
}

#[test]
fn isolate_from_root_leaves_a_jump_path() {
    let Some(jump) = Testbed::require(&[50], Mode::Systemd) else {
        return;
    };
    let Some(hosts) = Testbed::require(&[59], Mode::Plain) else {
        return;
    };
    let (jump, h) = (&jump[0], &hosts[0]);
    h.isolate_from_root().expect("isolate");
    let _undo = Undo(h, Host::unisolate);
    h.isolate_from_root().expect("isolate twice is fine");
    assert!(!reachable(h), "an isolated host answered the machine");
    // through tb50 (ProxyJump: ssh -W over tb50's sshd), with strict host keys
    let bed = Testbed::new();
    let proxy = format!(
        "ProxyCommand=ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -W %h:%p root@{}",
        bed.client_key().display(),
        bed.known_hosts().display(),
        jump.ip
    );
    let o = h.ssh_with(&["-o", &proxy], "hostname").expect("ssh");
    assert_eq!(
        stdout(&o),
        h.name,
        "via {}: {}",
        jump.name,
        String::from_utf8_lossy(&o.stderr)
    );
    h.unisolate().expect("unisolate");
    assert!(reachable(h), "unisolated host does not answer");
}

#[test]
fn concurrent_up_starts_each_host_once() {
    if basic_hosts().is_none() {
        return;
    }
    // several callers at once (as parallel tests do): all succeed, no host twice
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                Testbed::new()
                    .up(&[50, 51, 52], Mode::Systemd)
                    .map(|h| h.len())
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread").expect("up"), 3);
    }
    for n in [50, 51, 52] {
        let o = Command::new("pgrep")
            .args(["-f", &format!("systemd-nspawn .* -M tb{n} ")])
            .output()
            .expect("pgrep");
        assert_eq!(
            stdout(&o).lines().count(),
            1,
            "tb{n}: launchers: {}",
            stdout(&o)
        );
    }
}
