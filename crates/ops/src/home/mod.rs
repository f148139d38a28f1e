//! The deploy host's home, where kubeasz users keep the admin kubeconfig of the current
//! cluster (`~/.kube/config`) and kubectl's bash completion (`~/.bashrc`): kubeasz's roles
//! `deploy` and `kube-node` write both. The CLI says when (`ez_cli::home`).
//!
//! "Home" is `$EZ_HOME`, else `$HOME` ([`home_from_env`]); it is carried in
//! [`Ctx::home`](crate::ctx::Ctx) so that tests give a temp dir and never touch the real one.

pub mod bashrc;
pub mod kubeconfig;

use std::path::PathBuf;

/// The deploy host's home: `$EZ_HOME`, else `$HOME` (empty values count as unset).
pub fn home_from_env() -> Option<PathBuf> {
    ["EZ_HOME", "HOME"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(PathBuf::from)
}
