//! The context every cluster operation gets: the resolved global options of the command line
//! (the CLI builds it from its flags, tests build it directly).

use std::path::PathBuf;

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
    /// Where sessions report the engine's events and summaries (the CLI's display; silent
    /// by default).
    pub reporter: crate::report::Reporter,
}

impl Ctx {
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
