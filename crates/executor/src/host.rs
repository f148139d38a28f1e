//! Host definitions: who to connect to, as whom, and how to become root.
//!
//! [`HostSpec::from_ansible_vars`] reads the same per-host variables kubeasz inventories use
//! (Ansible connection variables), so an inventory line such as
//! `192.168.1.4 ansible_ssh_user=ops ansible_become=true ansible_become_pass=x` works unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::error::{ExecError, Result};

/// Privilege escalation with `sudo` for a non-root login user.
#[derive(Clone, PartialEq, Eq)]
pub struct Become {
    /// Target user (Ansible `ansible_become_user`, default `root`).
    pub user: String,
    /// Password fed to `sudo -S` on stdin; `None` means `sudo -n` (passwordless).
    pub password: Option<String>,
}

impl fmt::Debug for Become {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Become")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One SSH target.
///
/// Invariants: `port != 0`; `name` is what messages show (the inventory name), `address` is
/// what we connect to and what host keys are recorded under.
#[derive(Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Inventory name, used in every message.
    pub name: String,
    /// Address to connect to (`ansible_host`, else the name).
    pub address: String,
    /// SSH port (default 22).
    pub port: u16,
    /// Login user (default `root`, as kubeasz deploys as root).
    pub user: String,
    /// Private key file (ed25519, ecdsa or rsa; OpenSSH or PEM format).
    pub key_file: Option<PathBuf>,
    /// Login password (password or keyboard-interactive authentication).
    pub password: Option<String>,
    /// `sudo` settings when the login user is not the target user.
    pub become_: Option<Become>,
    /// Jump host (ProxyJump): the target is reached through a `direct-tcpip` channel of it.
    pub jump: Option<Box<HostSpec>>,
}

impl fmt::Debug for HostSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostSpec")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("key_file", &self.key_file)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("become_", &self.become_)
            .field("jump", &self.jump)
            .finish()
    }
}

impl HostSpec {
    /// A root@address:22 host with no explicit credentials (agent / default keys).
    pub fn new(address: impl Into<String>) -> Self {
        let address = address.into();
        HostSpec {
            name: address.clone(),
            address,
            port: 22,
            user: "root".into(),
            key_file: None,
            password: None,
            become_: None,
            jump: None,
        }
    }

    /// Builder: login user.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }
    /// Builder: port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Builder: private key file.
    pub fn key_file(mut self, key: impl Into<PathBuf>) -> Self {
        self.key_file = Some(key.into());
        self
    }
    /// Builder: login password.
    pub fn password(mut self, pw: impl Into<String>) -> Self {
        self.password = Some(pw.into());
        self
    }
    /// Builder: become root with sudo (optionally with a password).
    pub fn become_root(mut self, password: Option<String>) -> Self {
        self.become_ = Some(Become {
            user: "root".into(),
            password,
        });
        self
    }
    /// Builder: reach this host through `jump`.
    pub fn via(mut self, jump: HostSpec) -> Self {
        self.jump = Some(Box::new(jump));
        self
    }

    /// True when commands must be wrapped in sudo (become set and login user differs).
    pub fn needs_sudo(&self) -> bool {
        self.become_.as_ref().is_some_and(|b| b.user != self.user)
    }

    /// Stable identity of the connection (user, address, port and jump chain).
    pub fn connection_key(&self) -> String {
        let mut k = format!("{}@{}:{}", self.user, self.address, self.port);
        if let Some(j) = &self.jump {
            k.push_str(" via ");
            k.push_str(&j.connection_key());
        }
        k
    }

    /// Build a host from an inventory address and its Ansible variables.
    ///
    /// Understood: `ansible_host`/`ansible_ssh_host`, `ansible_port`/`ansible_ssh_port`,
    /// `ansible_user`/`ansible_ssh_user`, `ansible_ssh_private_key_file`/`ansible_private_key_file`,
    /// `ansible_password`/`ansible_ssh_pass`/`ansible_ssh_password`, `ansible_become`,
    /// `ansible_become_user`, `ansible_become_pass`/`ansible_become_password`, and a
    /// `ProxyJump=[user@]host[:port]` or `-J [user@]host[:port]` inside
    /// `ansible_ssh_common_args`/`ansible_ssh_extra_args`. Values may be quoted.
    pub fn from_ansible_vars(addr: &str, vars: &BTreeMap<String, String>) -> Result<HostSpec> {
        let get = |keys: &[&str]| -> Option<String> {
            keys.iter()
                .find_map(|k| vars.get(*k))
                .map(|v| unquote(v).to_string())
                .filter(|v| !v.is_empty())
        };
        let invalid = |what: &str, reason: String| ExecError::Invalid {
            host: addr.to_string(),
            what: what.to_string(),
            reason,
        };
        if addr.trim().is_empty() {
            return Err(invalid("host", "empty host address".into()));
        }
        let mut spec = HostSpec::new(addr);
        if let Some(h) = get(&["ansible_host", "ansible_ssh_host"]) {
            spec.address = h;
        }
        if let Some(p) = get(&["ansible_port", "ansible_ssh_port"]) {
            spec.port = parse_port(&p)
                .ok_or_else(|| invalid("ansible_port", format!("'{p}' is not a port (1-65535)")))?;
        }
        if let Some(u) = get(&["ansible_user", "ansible_ssh_user"]) {
            spec.user = u;
        }
        if let Some(k) = get(&["ansible_ssh_private_key_file", "ansible_private_key_file"]) {
            spec.key_file = Some(expand_home(&k));
        }
        spec.password = get(&[
            "ansible_password",
            "ansible_ssh_pass",
            "ansible_ssh_password",
        ]);
        let become_flag = match get(&["ansible_become", "ansible_sudo"]) {
            Some(v) => parse_bool(&v).ok_or_else(|| {
                invalid(
                    "ansible_become",
                    format!("'{v}' is not a boolean (true/false)"),
                )
            })?,
            None => false,
        };
        if become_flag {
            spec.become_ = Some(Become {
                user: get(&["ansible_become_user", "ansible_sudo_user"])
                    .unwrap_or_else(|| "root".into()),
                password: get(&[
                    "ansible_become_pass",
                    "ansible_become_password",
                    "ansible_sudo_pass",
                ]),
            });
        }
        for key in ["ansible_ssh_common_args", "ansible_ssh_extra_args"] {
            if let Some(args) = get(&[key])
                && let Some(j) = parse_proxy_jump(&args)
            {
                let (user, host, port) = split_user_host_port(&j)
                    .ok_or_else(|| invalid(key, format!("bad ProxyJump '{j}'")))?;
                let mut jump = HostSpec::new(host);
                jump.user = user.unwrap_or_else(|| spec.user.clone());
                jump.port = port.unwrap_or(22);
                jump.key_file = spec.key_file.clone();
                spec.jump = Some(Box::new(jump));
            }
        }
        Ok(spec)
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['\'', '"'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn parse_port(p: &str) -> Option<u16> {
    p.trim().parse::<u16>().ok().filter(|p| *p != 0)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "on" => Some(true),
        "false" | "no" | "n" | "0" | "off" => Some(false),
        _ => None,
    }
}

fn expand_home(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    PathBuf::from(p)
}

/// Find the first jump host in ssh arguments (`-o ProxyJump=x`, `-oProxyJump x`, `-J x`).
fn parse_proxy_jump(args: &str) -> Option<String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_matches(|c| c == '"' || c == '\'');
        let lower = w.to_ascii_lowercase();
        if let Some(pos) = lower.find("proxyjump") {
            let rest = &w[pos + "proxyjump".len()..];
            let value = rest.trim_start_matches(['=', ' ']);
            let value = if value.is_empty() {
                words.get(i + 1).copied().unwrap_or("")
            } else {
                value
            };
            let first = value
                .split(',')
                .next()
                .unwrap_or("")
                .trim_matches(['"', '\'']);
            if !first.is_empty() {
                return Some(first.to_string());
            }
        } else if w == "-J" {
            if let Some(v) = words.get(i + 1) {
                return v.split(',').next().map(str::to_string);
            }
        } else if let Some(v) = w.strip_prefix("-J") {
            return v.split(',').next().map(str::to_string);
        }
    }
    None
}

/// Split `[user@]host[:port]` (IPv6 as `[addr]:port`).
pub fn split_user_host_port(s: &str) -> Option<(Option<String>, String, Option<u16>)> {
    let s = s.trim().trim_start_matches("ssh://");
    let (user, rest) = match s.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, s),
    };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, tail) = r.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if tail.is_empty() => None,
            None => return None,
        };
        (h.to_string(), port)
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':')?;
        (h.to_string(), Some(parse_port(p)?))
    } else {
        (rest.to_string(), None)
    };
    if host.is_empty() || user.as_deref() == Some("") {
        return None;
    }
    Some((user, host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_root_at_22() {
        let h = HostSpec::from_ansible_vars("192.168.1.1", &BTreeMap::new()).unwrap();
        assert_eq!(h.address, "192.168.1.1");
        assert_eq!(h.user, "root");
        assert_eq!(h.port, 22);
        assert!(h.become_.is_none() && h.jump.is_none() && h.password.is_none());
    }

    #[test]
    fn reads_connection_vars_both_spellings() {
        let h = HostSpec::from_ansible_vars(
            "node1",
            &vars(&[
                ("ansible_host", "10.0.0.5"),
                ("ansible_ssh_port", "2222"),
                ("ansible_ssh_user", "'ops'"),
                ("ansible_ssh_private_key_file", "/keys/id"),
                ("ansible_ssh_pass", "\"s3cret\""),
            ]),
        )
        .unwrap();
        assert_eq!(h.name, "node1");
        assert_eq!(h.address, "10.0.0.5");
        assert_eq!(h.port, 2222);
        assert_eq!(h.user, "ops");
        assert_eq!(
            h.key_file.as_deref(),
            Some(std::path::Path::new("/keys/id"))
        );
        assert_eq!(h.password.as_deref(), Some("s3cret"));

        let h2 = HostSpec::from_ansible_vars(
            "n",
            &vars(&[
                ("ansible_port", "23"),
                ("ansible_user", "u"),
                ("ansible_password", "p"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (h2.port, h2.user.as_str(), h2.password.as_deref()),
            (23, "u", Some("p"))
        );
    }

    #[test]
    fn become_with_and_without_password() {
        let h = HostSpec::from_ansible_vars(
            "n",
            &vars(&[
                ("ansible_user", "tbsudo"),
                ("ansible_become", "yes"),
                ("ansible_become_pass", "pw"),
            ]),
        )
        .unwrap();
        let b = h.become_.clone().unwrap();
        assert_eq!(b.user, "root");
        assert_eq!(b.password.as_deref(), Some("pw"));
        assert!(h.needs_sudo());
        let root = HostSpec::from_ansible_vars("n", &vars(&[("ansible_become", "True")])).unwrap();
        assert!(!root.needs_sudo(), "root needs no sudo");
        let off = HostSpec::from_ansible_vars("n", &vars(&[("ansible_become", "false")])).unwrap();
        assert!(off.become_.is_none());
        // the password never shows in Debug output
        assert!(!format!("{h:?}").contains("pw\""));
    }

    #[test]
    fn rejects_bad_values() {
        let e = HostSpec::from_ansible_vars("n", &vars(&[("ansible_port", "70000")])).unwrap_err();
        assert!(e.to_string().contains("ansible_port"), "{e}");
        let e =
            HostSpec::from_ansible_vars("n", &vars(&[("ansible_become", "maybe")])).unwrap_err();
        assert!(e.to_string().contains("ansible_become"), "{e}");
        assert!(HostSpec::from_ansible_vars(" ", &BTreeMap::new()).is_err());
    }

    #[test]
    fn proxy_jump_from_common_args() {
        for args in [
            "-o ProxyJump=jump@10.0.0.9:2200",
            "-oProxyJump=jump@10.0.0.9:2200",
            "-o ProxyJump jump@10.0.0.9:2200",
            "-J jump@10.0.0.9:2200,other",
            "'-o StrictHostKeyChecking=no -o ProxyJump=jump@10.0.0.9:2200'",
        ] {
            let h = HostSpec::from_ansible_vars("t", &vars(&[("ansible_ssh_common_args", args)]))
                .unwrap();
            let j = h.jump.expect(args);
            assert_eq!(
                (j.user.as_str(), j.address.as_str(), j.port),
                ("jump", "10.0.0.9", 2200),
                "{args}"
            );
        }
        let h = HostSpec::from_ansible_vars(
            "t",
            &vars(&[
                ("ansible_user", "u"),
                ("ansible_ssh_extra_args", "-J 10.0.0.9"),
            ]),
        )
        .unwrap();
        let j = h.jump.unwrap();
        assert_eq!((j.user.as_str(), j.port), ("u", 22));
    }

    #[test]
    fn split_user_host_port_forms() {
        assert_eq!(split_user_host_port("h"), Some((None, "h".into(), None)));
        assert_eq!(
            split_user_host_port("u@h:2"),
            Some((Some("u".into()), "h".into(), Some(2)))
        );
        assert_eq!(
            split_user_host_port("[::1]:22"),
            Some((None, "::1".into(), Some(22)))
        );
        assert_eq!(split_user_host_port("u@h:x"), None);
        assert_eq!(split_user_host_port("@h"), None);
    }

    #[test]
    fn connection_key_includes_jump() {
        let h = HostSpec::new("10.0.0.2").via(HostSpec::new("10.0.0.1"));
        assert_eq!(h.connection_key(), "root@10.0.0.2:22 via root@10.0.0.1:22");
    }
}
