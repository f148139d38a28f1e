//! User authentication: key file (with passphrase), ssh-agent, default keys, password.
//!
//! Order: the host's key file → ssh-agent identities → `~/.ssh/id_{ed25519,ecdsa,rsa}` (only
//! when the host names neither key nor password) → password, then keyboard-interactive with
//! the password. Only methods the server offers are tried; each attempt is recorded for the
//! [`ExecError::AuthRefused`] message.

use std::path::{Path, PathBuf};

use ssh2::{KeyboardInteractivePrompt, Prompt, Session};

use crate::b64;
use crate::error::{ExecError, Result, code};
use crate::{ExecutorConfig, HostSpec};

/// True when a private key file is passphrase-protected (OpenSSH or PEM format).
pub(crate) fn key_is_encrypted(pem: &str) -> bool {
    if pem.contains("BEGIN OPENSSH PRIVATE KEY") {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let Some(raw) = b64::decode(&body) else {
            return false;
        };
        let magic = b"openssh-key-v1\0";
        if !raw.starts_with(magic) || raw.len() < magic.len() + 4 {
            return false;
        }
        let rest = &raw[magic.len()..];
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest.get(4..4 + len).is_some_and(|cipher| cipher != b"none")
    } else {
        pem.contains("ENCRYPTED")
    }
}

struct PasswordPrompt<'a>(&'a str);

impl KeyboardInteractivePrompt for PasswordPrompt<'_> {
    fn prompt<'b>(&mut self, _user: &str, _instr: &str, prompts: &[Prompt<'b>]) -> Vec<String> {
        prompts.iter().map(|_| self.0.to_string()).collect()
    }
}

fn passphrase_for(key: &Path, cfg: &ExecutorConfig) -> Option<String> {
    std::env::var(&cfg.passphrase_env)
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| cfg.passphrase_prompt.as_ref().and_then(|p| p(key)))
}

fn default_keys() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME") else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| PathBuf::from(&home).join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}

/// Authenticate `sess` (already handshaken and host-key-verified) as `spec.user`.
pub(crate) fn authenticate(sess: &Session, spec: &HostSpec, cfg: &ExecutorConfig) -> Result<()> {
    let user = spec.user.as_str();
    let offered = match sess.auth_methods(user) {
        Ok(m) => m.to_string(),
        Err(_) if sess.authenticated() => return Ok(()),
        Err(e) => {
            return Err(crate::error::from_ssh(
                &spec.name,
                "ssh authentication",
                cfg.io_timeout,
                &e,
            ));
        }
    };
    if sess.authenticated() {
        return Ok(()); // "none" authentication succeeded
    }
    let offers = |m: &str| offered.split(',').any(|o| o == m);
    let mut tried: Vec<String> = Vec::new();
    let mut details: Vec<String> = Vec::new();

    let try_key =
        |key: &Path, tried: &mut Vec<String>, details: &mut Vec<String>| -> Result<bool> {
            tried.push(format!("publickey {}", key.display()));
            let pem = match std::fs::read_to_string(key) {
                Ok(p) => p,
                Err(e) => {
                    details.push(format!("cannot read key {}: {e}", key.display()));
                    return Ok(false);
                }
            };
            let passphrase = if key_is_encrypted(&pem) {
                match passphrase_for(key, cfg) {
                    Some(p) => Some(p),
                    None => {
                        details.push(format!(
                            "key {} is passphrase-protected: set {} or run interactively",
                            key.display(),
                            cfg.passphrase_env
                        ));
                        return Ok(false);
                    }
                }
            } else {
                None
            };
            match sess.userauth_pubkey_file(user, None, key, passphrase.as_deref()) {
                Ok(()) if sess.authenticated() => Ok(true),
                Ok(()) => Ok(false),
                Err(e) => {
                    if e.code() == ssh2::ErrorCode::Session(code::FILE) {
                        details.push(if passphrase.is_some() {
                            format!("cannot decrypt key {} (wrong passphrase?)", key.display())
                        } else {
                            format!("cannot load key {}: {}", key.display(), e.message())
                        });
                    } else if matches!(e.code(), ssh2::ErrorCode::Session(code::TIMEOUT)) {
                        return Err(crate::error::from_ssh(
                            &spec.name,
                            "ssh authentication",
                            cfg.io_timeout,
                            &e,
                        ));
                    }
                    Ok(false)
                }
            }
        };

    if offers("publickey") {
        if let Some(key) = &spec.key_file
            && try_key(key, &mut tried, &mut details)?
        {
            return Ok(());
        }
        if cfg.use_agent
            && std::env::var_os("SSH_AUTH_SOCK").is_some()
            && let Ok(mut agent) = sess.agent()
            && agent.connect().is_ok()
            && agent.list_identities().is_ok()
        {
            for id in agent.identities().unwrap_or_default() {
                tried.push(format!("agent key {}", id.comment()));
                if agent.userauth(user, &id).is_ok() && sess.authenticated() {
                    let _ = agent.disconnect();
                    return Ok(());
                }
            }
            let _ = agent.disconnect();
        }
        if spec.key_file.is_none() && spec.password.is_none() && cfg.use_default_keys {
            for key in default_keys() {
                if try_key(&key, &mut tried, &mut details)? {
                    return Ok(());
                }
            }
        }
    }
    if let Some(pw) = &spec.password {
        if offers("password") {
            tried.push("password".into());
            if sess.userauth_password(user, pw).is_ok() && sess.authenticated() {
                return Ok(());
            }
        }
        if offers("keyboard-interactive") && !sess.authenticated() {
            tried.push("keyboard-interactive".into());
            let mut p = PasswordPrompt(pw);
            if sess.userauth_keyboard_interactive(user, &mut p).is_ok() && sess.authenticated() {
                return Ok(());
            }
        }
        if !offers("password") && !offers("keyboard-interactive") {
            details.push("server does not accept passwords".into());
        }
    }
    if tried.is_empty() {
        details.push(format!(
            "server offers '{offered}' but no matching credential is configured"
        ));
    }
    Err(ExecError::AuthRefused {
        host: spec.name.clone(),
        user: user.to_string(),
        methods_tried: tried,
        detail: details.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_encrypted_keys() {
        // ssh-keygen -t ed25519 -N '' (unencrypted) and -N 'x' (aes256-ctr) headers.
        let plain = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n";
        let enc = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABD\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(!key_is_encrypted(plain));
        assert!(key_is_encrypted(enc));
        assert!(key_is_encrypted(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        ));
        assert!(!key_is_encrypted("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n"));
    }
}
