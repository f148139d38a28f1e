//! SSH keys of the deploy host: kubeasz's `/root/.ssh/id_rsa`, made when missing, authorized
//! on this host, and installed on a new node with a password (add-node's `--ask-pass`).

use crate::ctx::Ctx;
use anyhow::{Context, bail};
use ez_executor::Command;
use ez_inventory::Cluster;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `~/.ssh/id_rsa` (what kubeasz uses).
pub fn default_key() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".ssh/id_rsa")
}

/// Generates `key` (RSA 2048, no passphrase, as kubeasz) when it does not exist.
pub fn ensure_key(key: &Path) -> anyhow::Result<()> {
    if key.exists() {
        return Ok(());
    }
    if let Some(d) = key.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"])
        .arg(key)
        .status()
        .context("running ssh-keygen (install openssh-client)")?;
    if !st.success() {
        bail!("ssh-keygen could not create {}", key.display());
    }
    eprintln!("created ssh key {}", key.display());
    Ok(())
}

/// Appends the public half of `key` to `~/.ssh/authorized_keys` of this host (once).
pub fn authorize_locally(key: &Path) -> anyhow::Result<()> {
    let pubkey = std::fs::read_to_string(key.with_extension("pub"))
        .with_context(|| format!("reading {}.pub", key.display()))?;
    let auth = default_key().with_file_name("authorized_keys");
    let current = std::fs::read_to_string(&auth).unwrap_or_default();
    if current.lines().any(|l| l.trim() == pubkey.trim()) {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&auth)
        .with_context(|| format!("opening {}", auth.display()))?;
    writeln!(f, "{}", pubkey.trim())?;
    Ok(())
}

/// Logs in to `ip` with a password and adds the deploy key's public half to root's
/// authorized_keys there, so the key-based run that follows works.
pub async fn install_key_with_password(
    ctx: &Ctx,
    cluster: &Cluster,
    ip: &str,
    password: &str,
) -> anyhow::Result<()> {
    let host = cluster
        .host(ip)
        .with_context(|| format!("{ip} is not in the inventory"))?;
    let key = host
        .vars
        .get("ansible_ssh_private_key_file")
        .or_else(|| cluster.vars.get("ansible_ssh_private_key_file"))
        .map(|k| PathBuf::from(k.trim_matches(['"', '\''])))
        .unwrap_or_else(default_key);
    ensure_key(&key)?;
    let pubkey = std::fs::read_to_string(key.with_extension("pub"))
        .with_context(|| format!("reading {}.pub", key.display()))?;
    let mut vars = host.vars.clone();
    vars.remove("ansible_ssh_private_key_file");
    let ssh = ctx.ssh_client_config()?;
    let mut spec = ctx.host_spec(ssh.as_ref(), ip, &vars)?;
    // This login is by password: a key from the ssh configuration is not installed yet.
    spec.key_file = None;
    spec.password = Some(password.to_string());
    let exec = crate::deploy::connect::executor_for(
        &Ctx {
            accept_new_host_keys: true,
            ..ctx.clone()
        },
        cluster,
    );
    let h = exec
        .connect(&spec)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let line = pubkey.trim().replace('\'', "");
    let script = format!(
        "umask 077; mkdir -p ~/.ssh; grep -qxF '{line}' ~/.ssh/authorized_keys 2>/dev/null || echo '{line}' >> ~/.ssh/authorized_keys"
    );
    let out = h
        .run(Command::new(script))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !out.success() {
        bail!(
            "{ip}: could not install the deploy key: {}",
            out.stderr_str()
        );
    }
    exec.disconnect_all();
    eprintln!("{ip}: deploy key {}.pub authorized", key.display());
    Ok(())
}
