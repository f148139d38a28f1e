//! The deploy key (`ez_ops::keys`) and how add-node gets the password it installs it with.

use anyhow::bail;
use std::io::IsTerminal;

pub use ez_ops::keys::*;

/// How add-node gets a login password to install the deploy key with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// Key authentication only.
    None,
    /// `--ask-pass`: `$EZ_SSH_PASS`, else asked on the terminal.
    Ask,
    /// Given by the caller (library use, tests).
    Given(String),
}

/// The login password for `--ask-pass`: `$EZ_SSH_PASS`, else asked on the terminal (no echo).
pub fn ask_password(ip: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("EZ_SSH_PASS") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("--ask-pass: no terminal to ask on; set EZ_SSH_PASS");
    }
    eprint!("SSH password for root@{ip}: ");
    let _ = std::process::Command::new("stty").arg("-echo").status();
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    let _ = std::process::Command::new("stty").arg("echo").status();
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

impl Password {
    /// The password to log in to `ip` with (asked now for `Ask`); None for key-only logins.
    pub fn for_host(&self, ip: &str) -> anyhow::Result<Option<String>> {
        Ok(match self {
            Password::None => None,
            Password::Given(p) => Some(p.clone()),
            Password::Ask => Some(ask_password(ip)?),
        })
    }
}
