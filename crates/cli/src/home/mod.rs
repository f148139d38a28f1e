//! When and what is said of the deploy-host habits of kubeasz users (the files themselves are
//! `ez_ops::home`'s): the admin kubeconfig of the current cluster as
//! `~/.kube/config` and kubectl's bash completion in `~/.bashrc` (kubeasz's roles `deploy` and
//! `kube-node` do both).
//!
//! "Home" is `$EZ_HOME`, else `$HOME` ([`home_from_env`]); it is carried in
//! [`Ctx::home`](crate::ctx::Ctx) so that tests give a temp dir and never touch the real one.
//!
//! When (see `docs/en/operations.md`, "The deploy host: ~/.kube/config and completion"):
//! * `ezctl setup <c> 01|prepare|all|90` without `--tags`/`--plan` (so `start-aio` too):
//!   the cluster becomes current ([`kubeconfig::When::MakeCurrent`]) and the completion line
//!   is added;
//! * `ezctl checkout <c>`: the cluster becomes current;
//! * `kca-renew`, `add-master`, `del-master` (they may remake the admin kubeconfig):
//!   refreshed only when that cluster is the current one ([`kubeconfig::When::RefreshIfCurrent`]).
//!
//! Failing to write into the home never fails a setup that succeeded: one warning says what
//! to run instead.

pub use ez_ops::home::{bashrc, home_from_env, kubeconfig};

use crate::ctx::Ctx;

/// After a setup run that made the admin kubeconfig (step 01 or all): cluster `name`
/// becomes current and kubectl's completion is added to `~/.bashrc`. Prints one line per
/// change, a warning on failure; never fails.
pub fn after_setup(ctx: &Ctx, name: &str) {
    let Some(home) = &ctx.home else {
        return;
    };
    install_kubeconfig(ctx, name, kubeconfig::When::MakeCurrent);
    match bashrc::ensure_kubectl_completion(home, &ctx.base) {
        Ok(bashrc::Outcome::Added(path)) => eprintln!(
            "kubectl completion: added to {} (new shells; now: source {})",
            path.display(),
            path.display()
        ),
        Ok(bashrc::Outcome::AlreadyThere) => {}
        Err(e) => eprintln!("warning: kubectl completion not added: {e}"),
    }
}

/// After a day-2 command that may have remade the admin kubeconfig: `~/.kube/config` is
/// refreshed when cluster `name` is the current one. Never fails.
pub fn after_renewal(ctx: &Ctx, name: &str) {
    if ctx.home.is_some() {
        install_kubeconfig(ctx, name, kubeconfig::When::RefreshIfCurrent);
    }
}

/// Installs (or refreshes) `~/.kube/config` and prints what happened; errors as a warning.
fn install_kubeconfig(ctx: &Ctx, name: &str, when: kubeconfig::When) {
    let Some(home) = &ctx.home else {
        return;
    };
    match kubeconfig::install(home, &ctx.base, &ctx.cluster_dir(name), when) {
        Ok(o) => {
            if let Some(b) = &o.backup {
                eprintln!("{}", kubeconfig::backup_note(&o.path, b));
            }
            if o.written {
                eprintln!(
                    "kubeconfig: {} is now cluster {name}'s admin kubeconfig (mode 0400)",
                    o.path.display()
                );
            }
        }
        Err(e) => eprintln!(
            "warning: {e}; the admin kubeconfig stays in {} (`ezctl checkout {name}` installs it)",
            ctx.cluster_dir(name).join("kubectl.kubeconfig").display()
        ),
    }
}
