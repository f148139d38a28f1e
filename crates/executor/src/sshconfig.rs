//! The OpenSSH client configuration (`~/.ssh/config`). kubeasz reaches its hosts through
//! Ansible, which runs OpenSSH, so a kubeasz user's `Host` blocks (a port, a user, a key, a
//! bastion for `10.0.*`) apply to every host of the inventory; kubeasz-rs honours them the same
//! way. Parsing (patterns, `Include`, first value wins) is the `ssh2-config` crate's.
//!
//! Precedence, as with Ansible: the inventory's `ansible_*` variables (passed to ssh on its
//! command line) win; the configuration fills what they leave unset; then the defaults (root,
//! port 22, the agent and the default keys). Used: `HostName` (with `%h`), `User`, `Port`,
//! `IdentityFile` (the first that exists; `~`, `%d`, `%u`, `%h`, `%r`, `%p`), `ProxyJump`
//! (several hops, each hop configured by its own `Host` block; `none` turns it off).

use crate::error::{ExecError, Result};
use crate::host::{HostSpec, split_user_host_port};
use ssh2_config::{ParseRule, SshConfig};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Jump chains longer than this are refused (a `ProxyJump` loop between `Host` blocks).
const MAX_HOPS: usize = 8;

/// A parsed client configuration file.
#[derive(Debug, Clone)]
pub struct SshClientConfig {
    cfg: SshConfig,
    path: PathBuf,
}

impl SshClientConfig {
    /// `~/.ssh/config`, when `$HOME` is set.
    pub fn default_path() -> Option<PathBuf> {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".ssh/config"))
    }

    /// Parses `path`; `Ok(None)` when it does not exist. Options kubeasz-rs does not use are
    /// accepted and ignored, as OpenSSH's own unknown-option handling would not help here.
    pub fn load(path: &Path) -> Result<Option<SshClientConfig>> {
        let bad = |reason: String| ExecError::Invalid {
            host: "-".into(),
            what: format!("ssh client configuration {}", path.display()),
            reason,
        };
        let f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
        let cfg = SshConfig::default()
            .parse(&mut BufReader::new(f), rules)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Some(SshClientConfig {
            cfg,
            path: path.to_path_buf(),
        }))
    }

    /// Parses configuration text (tests, and callers that read the file themselves).
    pub fn from_text(text: &str) -> Result<SshClientConfig> {
        let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
        let cfg = SshConfig::default()
            .parse(&mut text.as_bytes(), rules)
            .map_err(|e| ExecError::Invalid {
                host: "-".into(),
                what: "ssh client configuration".into(),
                reason: e.to_string(),
            })?;
        Ok(SshClientConfig {
            cfg,
            path: PathBuf::from("<text>"),
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills what the inventory left unset in `spec` (built from `vars` by
    /// [`HostSpec::from_ansible_vars`]).
    pub fn apply(&self, spec: &mut HostSpec, vars: &BTreeMap<String, String>) -> Result<()> {
        let set = |keys: &[&str]| {
            keys.iter()
                .any(|k| vars.get(*k).is_some_and(|v| !v.is_empty()))
        };
        let explicit = Explicit {
            port: set(&["ansible_port", "ansible_ssh_port"]),
            user: set(&["ansible_user", "ansible_ssh_user"]),
            key: set(&["ansible_ssh_private_key_file", "ansible_private_key_file"]),
        };
        let had_jump = spec.jump.is_some();
        self.fill(spec, explicit, 0)?;
        if had_jump {
            // The inventory's ProxyJump won; its hop still takes its own Host block.
            if let Some(j) = spec.jump.as_mut() {
                self.fill(j, Explicit::default(), 1)?;
            }
        }
        Ok(())
    }

    fn fill(&self, spec: &mut HostSpec, explicit: Explicit, depth: usize) -> Result<()> {
        if depth > MAX_HOPS {
            return Err(ExecError::Invalid {
                host: spec.name.clone(),
                what: format!("ProxyJump in {}", self.path.display()),
                reason: format!("more than {MAX_HOPS} jump hosts (a loop between Host blocks?)"),
            });
        }
        let dest = spec.address.clone();
        let p = self.cfg.query(&dest);
        if let Some(h) = &p.host_name {
            spec.address = expand(h, &dest, "", 0);
        }
        if !explicit.port
            && let Some(port) = p.port
        {
            spec.port = port;
        }
        if !explicit.user
            && let Some(u) = &p.user
        {
            spec.user = u.clone();
        }
        if !explicit.key
            && spec.key_file.is_none()
            && let Some(files) = &p.identity_file
        {
            spec.key_file = files
                .iter()
                .map(|f| PathBuf::from(expand(&f.to_string_lossy(), &dest, &spec.user, spec.port)))
                .find(|f| f.is_file());
        }
        let hops: Vec<&String> = p.proxy_jump.iter().flatten().collect();
        if spec.jump.is_some() || hops.first().is_none_or(|h| h.eq_ignore_ascii_case("none")) {
            return Ok(());
        }
        // `-J a,b target`: a is dialled first, b through a, the target through b.
        let mut prev: Option<Box<HostSpec>> = None;
        for hop in hops {
            let (user, host, port) =
                split_user_host_port(hop).ok_or_else(|| ExecError::Invalid {
                    host: spec.name.clone(),
                    what: format!("ProxyJump in {}", self.path.display()),
                    reason: format!("'{hop}' is not [user@]host[:port]"),
                })?;
            let mut j = HostSpec::new(host);
            j.port = port.unwrap_or(22);
            j.user = user.clone().unwrap_or_else(|| spec.user.clone());
            let hop_explicit = Explicit {
                port: port.is_some(),
                user: user.is_some(),
                key: false,
            };
            self.fill(&mut j, hop_explicit, depth + 1)?;
            if j.key_file.is_none() {
                j.key_file = spec.key_file.clone();
            }
            if j.jump.is_none() {
                j.jump = prev.take();
            }
            prev = Some(Box::new(j));
        }
        spec.jump = prev;
        Ok(())
    }
}

/// Which settings the inventory gave itself.
#[derive(Debug, Clone, Copy, Default)]
struct Explicit {
    port: bool,
    user: bool,
    key: bool,
}

/// OpenSSH's `%` tokens and a leading `~`.
fn expand(s: &str, host: &str, user: &str, port: u16) -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    let local = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let s = match s.strip_prefix("~/") {
        Some(rest) if !home.is_empty() => format!("{home}/{rest}"),
        _ => s.to_string(),
    };
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(host),
            Some('d') => out.push_str(&home),
            Some('u') => out.push_str(&local),
            Some('r') => out.push_str(user),
            Some('p') => out.push_str(&port.to_string()),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(addr: &str, kv: &[(&str, &str)], cfg: &SshClientConfig) -> HostSpec {
        let v = vars(kv);
        let mut s = HostSpec::from_ansible_vars(addr, &v).unwrap();
        cfg.apply(&mut s, &v).unwrap();
        s
    }

    #[test]
    fn host_blocks_fill_what_the_inventory_leaves_unset() {
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("lab_key");
        std::fs::write(&key, "k").unwrap();
        let cfg = SshClientConfig::from_text(&format!(
            "Host 10.0.0.*\n  Port 2222\n  User ops\n  IdentityFile {}/missing\n  IdentityFile {}\n\
             Host *\n  User fallback\n  Port 22\n",
            d.path().display(),
            key.display()
        ))
        .unwrap();
        let s = spec("10.0.0.5", &[], &cfg);
        assert_eq!((s.port, s.user.as_str()), (2222, "ops"));
        assert_eq!(
            s.key_file.as_deref(),
            Some(key.as_path()),
            "the first key that exists"
        );
        // the inventory wins where it speaks
        let s = spec(
            "10.0.0.5",
            &[("ansible_port", "22"), ("ansible_user", "root")],
            &cfg,
        );
        assert_eq!((s.port, s.user.as_str()), (22, "root"));
        // another host: only the catch-all block
        let s = spec("192.168.1.9", &[], &cfg);
        assert_eq!(
            (s.port, s.user.as_str(), s.key_file),
            (22, "fallback", None)
        );
    }

    #[test]
    fn hostname_rewrites_the_address_with_tokens() {
        let cfg = SshClientConfig::from_text("Host node?\n  HostName %h.lab.example\n").unwrap();
        let s = spec("node1", &[], &cfg);
        assert_eq!(
            (s.name.as_str(), s.address.as_str()),
            ("node1", "node1.lab.example")
        );
        // ansible_host is what ssh is given, so it is what the blocks match
        let s = spec("k8s-1", &[("ansible_host", "node2")], &cfg);
        assert_eq!(s.address, "node2.lab.example");
    }

    #[test]
    fn proxy_jump_chains_with_each_hop_configured() {
        let cfg = SshClientConfig::from_text(
            "Host bastion\n  HostName 203.0.113.7\n  User jump\n  Port 2200\n\
             Host inner\n  ProxyJump bastion\n\
             Host 10.1.*\n  ProxyJump bastion,admin@inner:23\n\
             Host 10.2.*\n  ProxyJump none\n",
        )
        .unwrap();
        let s = spec("10.1.0.4", &[], &cfg);
        let last = s.jump.as_deref().unwrap();
        assert_eq!(
            (last.address.as_str(), last.user.as_str(), last.port),
            ("inner", "admin", 23)
        );
        let first = last.jump.as_deref().unwrap();
        assert_eq!(
            (first.address.as_str(), first.user.as_str(), first.port),
            ("203.0.113.7", "jump", 2200)
        );
        assert!(first.jump.is_none());
        assert!(spec("10.2.0.4", &[], &cfg).jump.is_none());
        // the inventory's own ProxyJump wins, its hop still gets the bastion block
        let s = spec(
            "10.1.0.4",
            &[("ansible_ssh_common_args", "-o ProxyJump=bastion")],
            &cfg,
        );
        let j = s.jump.as_deref().unwrap();
        assert_eq!(
            (j.address.as_str(), j.port, j.user.as_str()),
            ("203.0.113.7", 2200, "jump")
        );
        assert!(j.jump.is_none());
    }

    #[test]
    fn jump_loops_and_bad_hops_are_refused() {
        let cfg =
            SshClientConfig::from_text("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n").unwrap();
        let v = BTreeMap::new();
        let mut s = HostSpec::from_ansible_vars("a", &v).unwrap();
        let e = cfg.apply(&mut s, &v).unwrap_err();
        assert!(e.to_string().contains("jump hosts"), "{e}");
        let cfg = SshClientConfig::from_text("Host x\n  ProxyJump u@h:notaport\n").unwrap();
        let mut s = HostSpec::from_ansible_vars("x", &v).unwrap();
        assert!(cfg.apply(&mut s, &v).is_err());
    }

    #[test]
    fn missing_file_is_none_and_tokens_expand() {
        assert!(
            SshClientConfig::load(Path::new("/nonexistent/ssh_config"))
                .unwrap()
                .is_none()
        );
        assert_eq!(expand("%h-%p-%r-%%", "h1", "u", 2), "h1-2-u-%");
    }
}
