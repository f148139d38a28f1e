//! Options shared by every `ezctl` command and the context built from them.

use std::path::PathBuf;

/// Global flags, accepted before or after the command.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Base directory holding bin/, down/ and clusters/ (kubeasz: /etc/kubeasz).
    #[arg(long, global = true, env = "EZ_BASE", default_value = "/etc/kubeasz")]
    pub base: PathBuf,
    /// Hosts worked on at once.
    #[arg(long, global = true, default_value_t = 30)]
    pub forks: usize,
    /// Trust and record the host key of hosts not yet in known_hosts.
    #[arg(long, global = true)]
    pub accept_new_host_keys: bool,
    /// Print machine-readable JSON events instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Do not wait for the 5-second abort window.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Preflight checks to override knowingly (repeatable or comma separated; `all` skips
    /// every check). Also read from EZ_SKIP_PREFLIGHT.
    #[arg(long, global = true, value_delimiter = ',', env = "EZ_SKIP_PREFLIGHT", value_parser = check_name)]
    pub skip_preflight: Vec<String>,
    /// OpenSSH client configuration whose Host blocks apply to every host, as they do for
    /// kubeasz through Ansible (HostName, User, Port, IdentityFile, ProxyJump; the inventory's
    /// ansible_* variables win). Default ~/.ssh/config when it exists; `none` ignores it.
    #[arg(long, global = true, env = "EZ_SSH_CONFIG", value_name = "FILE|none")]
    pub ssh_config: Option<String>,
}

/// What every command gets: resolved global options.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub base: PathBuf,
    pub forks: usize,
    pub accept_new_host_keys: bool,
    pub json: bool,
    pub yes: bool,
    /// Preflight checks not to enforce (see `deploy::preflight::check_names`).
    pub skip_preflight: Vec<String>,
    /// The OpenSSH client configuration to honour, and whether the user named it (then it
    /// must exist).
    pub ssh_config: Option<(PathBuf, bool)>,
    /// The deploy host's home directory, where `~/.kube/config`, `~/.bashrc` and the shell
    /// extras go: `$EZ_HOME`, else `$HOME` (see [`crate::home::home_from_env`]). `None`: the
    /// home is left alone (setup and day-2 commands skip the kubeconfig and the completion
    /// line; `checkout` and `install-shell-extras` refuse). Tests give a temp dir or `None`,
    /// never the real home.
    pub home: Option<PathBuf>,
}

impl Ctx {
    pub fn from_args(a: &GlobalArgs) -> Self {
        Ctx {
            base: a.base.clone(),
            forks: a.forks.max(1),
            accept_new_host_keys: a.accept_new_host_keys,
            json: a.json,
            yes: a.yes,
            skip_preflight: a.skip_preflight.clone(),
            ssh_config: match a.ssh_config.as_deref() {
                Some("none") => None,
                Some(p) => Some((PathBuf::from(p), true)),
                None => ez_executor::SshClientConfig::default_path().map(|p| (p, false)),
            },
            home: crate::home::home_from_env(),
        }
    }

    /// The parsed OpenSSH client configuration, if any.
    pub fn ssh_client_config(&self) -> anyhow::Result<Option<ez_executor::SshClientConfig>> {
        let Some((path, named)) = &self.ssh_config else {
            return Ok(None);
        };
        let cfg = ez_executor::SshClientConfig::load(path).map_err(|e| {
            anyhow::anyhow!("{e}; fix the file, or pass --ssh-config none to ignore it")
        })?;
        if cfg.is_none() && *named {
            anyhow::bail!("--ssh-config {}: no such file", path.display());
        }
        Ok(cfg)
    }

    /// A host's connection settings: the inventory's `ansible_*` variables, then the OpenSSH
    /// client configuration for what they leave unset.
    pub fn host_spec(
        &self,
        ssh: Option<&ez_executor::SshClientConfig>,
        addr: &str,
        vars: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<ez_executor::HostSpec> {
        let mut spec = ez_executor::HostSpec::from_ansible_vars(addr, vars)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(cfg) = ssh {
            cfg.apply(&mut spec, vars)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(spec)
    }

    /// `clusters/<name>` under the base directory.
    pub fn cluster_dir(&self, name: &str) -> PathBuf {
        self.base.join("clusters").join(name)
    }
}

/// A `--skip-preflight` value: a check's name or `all`; a typo is refused with the valid
/// names instead of silently skipping nothing.
fn check_name(v: &str) -> Result<String, String> {
    let names = crate::deploy::preflight::check_names();
    if v == "all" || names.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "no preflight check '{v}'; valid: all, {}",
            names.join(", ")
        ))
    }
}
