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
    #[arg(long, global = true, value_delimiter = ',', env = "EZ_SKIP_PREFLIGHT")]
    pub skip_preflight: Vec<String>,
}

/// What every command gets: resolved global options.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub base: PathBuf,
    pub forks: usize,
    pub accept_new_host_keys: bool,
    pub json: bool,
    pub yes: bool,
    /// Preflight checks not to enforce (see `deploy::preflight::CHECKS`).
    pub skip_preflight: Vec<String>,
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
        }
    }

    /// `clusters/<name>` under the base directory.
    pub fn cluster_dir(&self, name: &str) -> PathBuf {
        self.base.join("clusters").join(name)
    }
}
