//! SSH connections to a cluster's hosts, all at once, with the inventory's ssh settings.

use crate::ctx::Ctx;
use anyhow::anyhow;
use ez_executor::{Executor, ExecutorConfig};
use ez_inventory::Cluster;
use ez_play::Remote;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::remote::SshRemote;

/// An executor configured for a cluster: its own known_hosts file beside the inventory.
pub fn executor_for(ctx: &Ctx, cluster: &Cluster) -> Executor {
    let cfg = ExecutorConfig {
        cluster_known_hosts: Some(cluster.dir.join("known_hosts")),
        accept_new_host_keys: ctx.accept_new_host_keys,
        forks: ctx.forks,
        ..ExecutorConfig::default()
    };
    Executor::new(cfg)
}

/// Connects to `hosts` (inventory names) concurrently. Every failure is collected; the error
/// lists them all, one line per host, each saying what to do.
pub async fn connect_hosts(
    ctx: &Ctx,
    exec: &Executor,
    cluster: &Cluster,
    hosts: &[String],
) -> anyhow::Result<BTreeMap<String, Arc<dyn Remote>>> {
    Ok(connect_ssh(ctx, exec, cluster, hosts)
        .await?
        .into_iter()
        .map(|(k, v)| (k, Arc::new(v) as Arc<dyn Remote>))
        .collect())
}

/// [`connect_hosts`], each connection as itself (to be wrapped, e.g. for relay).
pub async fn connect_ssh(
    ctx: &Ctx,
    exec: &Executor,
    cluster: &Cluster,
    hosts: &[String],
) -> anyhow::Result<BTreeMap<String, SshRemote>> {
    let ssh = ctx.ssh_client_config()?;
    let mut specs = Vec::new();
    for name in hosts {
        let host = cluster
            .host(name)
            .ok_or_else(|| anyhow!("host {name} is not in the inventory"))?;
        let spec = ctx.host_spec(ssh.as_ref(), &host.addr.to_string(), &host.vars)?;
        specs.push((name.clone(), spec));
    }
    let attempts = specs
        .iter()
        .map(|(name, spec)| async move { (name.clone(), exec.connect(spec).await) });
    let mut out: BTreeMap<String, SshRemote> = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, res) in futures::future::join_all(attempts).await {
        match res {
            Ok(handle) => {
                out.insert(name.clone(), SshRemote { name, handle });
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ConnectError::from(errors).into());
    }
    Ok(out)
}

/// Connecting failed on some hosts: one line per cause ([`grouped`]), and the hosts whose
/// login was refused (a new node whose deploy key is not authorized yet).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot reach {count} host(s); nothing was changed:\n  {}", lines.join("\n  "))]
pub struct ConnectError {
    pub count: usize,
    pub lines: Vec<String>,
    pub auth_refused: Vec<String>,
}

impl From<Vec<ez_executor::ExecError>> for ConnectError {
    fn from(errors: Vec<ez_executor::ExecError>) -> ConnectError {
        let auth_refused = errors
            .iter()
            .filter(|e| matches!(e, ez_executor::ExecError::AuthRefused { .. }))
            .map(|e| e.host().to_string())
            .collect();
        ConnectError {
            count: errors.len(),
            auth_refused,
            lines: grouped(errors),
        }
    }
}

impl ConnectError {
    /// The connection failure inside `e`, when it is one (a message otherwise).
    pub fn of(e: &anyhow::Error) -> ConnectError {
        e.downcast_ref::<ConnectError>()
            .cloned()
            .unwrap_or_else(|| ConnectError {
                count: 1,
                lines: vec![format!("{e:#}")],
                auth_refused: Vec::new(),
            })
    }
}

/// One line per cause: hosts that failed the same way are named together with one example
/// of the message (its host's), the others one line each; largest group first.
pub fn grouped(errors: Vec<ez_executor::ExecError>) -> Vec<String> {
    let mut groups: Vec<(Option<String>, Vec<ez_executor::ExecError>)> = Vec::new();
    for e in errors {
        let key = e.same_cause_key();
        match groups.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, g)) => g.push(e),
            None => groups.push((key, vec![e])),
        }
    }
    groups.sort_by(|a, b| {
        b.1.len()
            .cmp(&a.1.len())
            .then_with(|| a.1[0].to_string().cmp(&b.1[0].to_string()))
    });
    groups
        .into_iter()
        .map(|(_, g)| match g.as_slice() {
            [one] => one.to_string(),
            many => {
                let hosts: Vec<&str> = many.iter().map(|e| e.host()).collect();
                format!(
                    "{} hosts fail the same way ({}), e.g. {}",
                    many.len(),
                    hosts.join(", "),
                    many[0]
                )
            }
        })
        .collect()
}

/// The deploy host's address as the hosts see it (kubeasz takes it from `$SSH_CLIENT`).
pub async fn deploy_ip(remote: &dyn Remote) -> String {
    match remote
        .run("echo ${SSH_CLIENT%% *}", std::time::Duration::from_secs(20))
        .await
    {
        Ok(r) if r.ok() && !r.stdout.trim().is_empty() => r.stdout.trim().to_string(),
        _ => "127.0.0.1".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ez_executor::ExecError;

    fn unreachable(host: &str, reason: &str) -> ExecError {
        ExecError::Unreachable {
            host: host.into(),
            addr: format!("{host}:22"),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_refused_login_is_known_by_its_type_not_its_text() {
        let e = ConnectError::from(vec![
            unreachable("10.0.0.1", "Connection refused (os error 111)"),
            ExecError::AuthRefused {
                host: "10.0.0.9".into(),
                user: "root".into(),
                methods_tried: vec!["publickey".into()],
                detail: String::new(),
            },
        ]);
        assert_eq!(e.auth_refused, vec!["10.0.0.9".to_string()]);
        assert_eq!(e.count, 2);
        let text = e.to_string();
        assert!(
            text.starts_with("cannot reach 2 host(s); nothing was changed:\n  "),
            "{text}"
        );
        // through anyhow, as Session::open gets it
        let back = ConnectError::of(&anyhow::Error::new(e.clone()));
        assert_eq!(back.auth_refused, e.auth_refused);
        assert!(
            ConnectError::of(&anyhow::anyhow!("other"))
                .auth_refused
                .is_empty()
        );
    }

    #[test]
    fn hosts_failing_alike_are_one_line() {
        let refused = "Connection refused (os error 111)";
        let lines = grouped(vec![
            unreachable("10.0.0.2", refused),
            ExecError::AuthRefused {
                host: "10.0.0.9".into(),
                user: "root".into(),
                methods_tried: vec!["publickey".into()],
                detail: String::new(),
            },
            unreachable("10.0.0.1", refused),
            unreachable("10.0.0.3", refused),
            unreachable("10.0.0.4", "timed out after 10s"),
        ]);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "3 hosts fail the same way (10.0.0.2, 10.0.0.1, 10.0.0.3), e.g. 10.0.0.2: cannot reach 10.0.0.2:22: Connection refused"
            ),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("10.0.0.9: authentication as 'root' refused"))
        );
        assert!(lines.iter().any(|l| l.contains("10.0.0.4:22: timed out")));
    }
}
