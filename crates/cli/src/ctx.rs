//! Options shared by every `ezctl` command and the context ([`Ctx`], of `ez_ops`) built from them.

pub use ez_ops::ctx::Ctx;
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

/// The context of a parsed command line.
pub fn from_args(a: &GlobalArgs) -> Ctx {
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
        reporter: ez_ops::report::Reporter::new(std::sync::Arc::new(
            crate::cmd::setup_display::Display::new(a.json),
        )),
    }
}

/// A `--skip-preflight` value: a check's name or `all`; a typo is refused with the valid
/// names instead of silently skipping nothing.
fn check_name(v: &str) -> Result<String, String> {
    let names = ez_ops::deploy::preflight::check_names();
    if v == "all" || names.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(format!(
            "no preflight check '{v}'; valid: all, {}",
            names.join(", ")
        ))
    }
}
