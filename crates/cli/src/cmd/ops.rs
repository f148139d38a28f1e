//! Day-2 and quick-start commands: `start-aio`, `add-node(s)`, `del-node`, `add/del-master`,
//! `add/del-etcd`, `backup`, `restore`, `start`, `stop`, `destroy`, `kca-renew`, `upgrade`;
//! each in its own module, its steps as playbooks. See `docs/en/operations.md` for each
//! command next to kubeasz's.

mod backup;
mod certs;
mod etcd;
mod keys;
mod lifecycle;
mod masters;
mod nodes;
pub mod run;
mod upgrade;

use crate::ctx::Ctx;
use std::net::IpAddr;
use std::path::PathBuf;

pub use keys::{Password, default_key};
pub use lifecycle::Lifecycle;

#[derive(Debug, clap::Subcommand)]
pub enum OpsCommand {
    /// Install an all-in-one cluster `default` on this host (or on --ip).
    StartAio(StartAio),
    /// Add a worker node: `add-node <c> <ip> [k8s_nodename=… ansible_ssh_port=…]`.
    AddNode {
        cluster: String,
        ip: String,
        /// Host variables written on the node's inventory line.
        vars: Vec<String>,
        /// Log in with a password first and authorize the deploy key (password from the prompt or $EZ_SSH_PASS).
        #[arg(long)]
        ask_pass: bool,
    },
    /// Add several worker nodes in one run.
    AddNodes {
        cluster: String,
        #[arg(required = true)]
        ips: Vec<String>,
        #[arg(long)]
        ask_pass: bool,
    },
    /// Remove a worker node: drain, clean it, delete it from the cluster and the inventory.
    DelNode { cluster: String, ip: String },
    /// Add a master: `add-master <c> <ip> [k=v…]`.
    AddMaster {
        cluster: String,
        ip: String,
        vars: Vec<String>,
    },
    /// Remove a master (never the last one).
    DelMaster { cluster: String, ip: String },
    /// Roll the Kubernetes binaries of the bundle out, masters first, one host at a time.
    Upgrade { cluster: String },
    /// Add an etcd member: `add-etcd <c> <ip> [k=v…]`.
    AddEtcd {
        cluster: String,
        ip: String,
        vars: Vec<String>,
    },
    /// Remove an etcd member (never the last one).
    DelEtcd { cluster: String, ip: String },
    /// Start every service of the cluster (kubeasz's order) and enable it at boot.
    Start { cluster: String },
    /// Stop every service of the cluster (kubeasz's order) and disable it at boot.
    Stop { cluster: String },
    /// Remove everything the steps installed from every host of the cluster.
    Destroy { cluster: String },
    /// Renew the CA and every certificate and kubeconfig; distribute them, restart everything.
    KcaRenew { cluster: String },
    /// Save an etcd snapshot to clusters/<c>/backup/ (snapshot_<ts>.db and snapshot.db).
    Backup { cluster: String },
    /// Restore etcd from a snapshot in clusters/<c>/backup/ (default snapshot.db).
    Restore {
        cluster: String,
        /// A file name in clusters/<c>/backup/, or a path.
        snapshot: Option<String>,
    },
}

/// `start-aio` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StartAio {
    /// The host to install on (default: this host's address on the default route).
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// Private key to log in with (default ~/.ssh/id_rsa, created when missing).
    #[arg(long)]
    pub ssh_key: Option<PathBuf>,
    /// Extra config.yml values, KEY=VALUE (YAML value), like ansible's `-e`; a key of the
    /// example config.yml is replaced, e.g. `-e ENABLE_LOCAL_DNS_CACHE=false`.
    #[arg(short = 'e', long = "extra")]
    pub extra: Vec<String>,
    /// The pod network: calico (default: kubeasz forces calico) or flannel. The bundle must
    /// hold its images (`ezdown -D --network flannel`).
    #[arg(long, value_parser = ["calico", "flannel"])]
    pub network: Option<String>,
}

pub async fn run(ctx: &Ctx, cmd: OpsCommand) -> anyhow::Result<u8> {
    match cmd {
        OpsCommand::StartAio(a) => start_aio(ctx, &a).await,
        OpsCommand::AddNode {
            cluster,
            ip,
            vars,
            ask_pass,
        } => nodes::add_nodes(ctx, &cluster, &[(ip, vars)], &ask(ask_pass)).await,
        OpsCommand::AddNodes {
            cluster,
            ips,
            ask_pass,
        } => {
            let nodes: Vec<(String, Vec<String>)> =
                ips.into_iter().map(|ip| (ip, Vec::new())).collect();
            nodes::add_nodes(ctx, &cluster, &nodes, &ask(ask_pass)).await
        }
        OpsCommand::DelNode { cluster, ip } => nodes::del_node(ctx, &cluster, &ip).await,
        OpsCommand::AddMaster { cluster, ip, vars } => {
            masters::add_master(ctx, &cluster, &ip, &vars).await
        }
        OpsCommand::DelMaster { cluster, ip } => masters::del_master(ctx, &cluster, &ip).await,
        OpsCommand::Upgrade { cluster } => upgrade::upgrade(ctx, &cluster).await,
        OpsCommand::AddEtcd { cluster, ip, vars } => {
            etcd::add_etcd(ctx, &cluster, &ip, &vars).await
        }
        OpsCommand::DelEtcd { cluster, ip } => etcd::del_etcd(ctx, &cluster, &ip).await,
        OpsCommand::Start { cluster } => lifecycle::run(ctx, &cluster, Lifecycle::Start).await,
        OpsCommand::Stop { cluster } => lifecycle::run(ctx, &cluster, Lifecycle::Stop).await,
        OpsCommand::Destroy { cluster } => lifecycle::run(ctx, &cluster, Lifecycle::Destroy).await,
        OpsCommand::KcaRenew { cluster } => certs::kca_renew(ctx, &cluster).await,
        OpsCommand::Backup { cluster } => backup::backup(ctx, &cluster).await,
        OpsCommand::Restore { cluster, snapshot } => {
            backup::restore(ctx, &cluster, snapshot.as_deref()).await
        }
    }
}

pub use ez_ops::aio::default_route_ip;

/// `start-aio` (`ez_ops::aio::start_aio`): what it tells printed as kubeasz prints it, the
/// abort window of `setup default all`, then setup's verdict.
pub async fn start_aio(ctx: &Ctx, a: &StartAio) -> anyhow::Result<u8> {
    use ez_ops::aio::Notice;
    let o = ez_ops::aio::Options {
        ip: a.ip,
        ssh_key: a.ssh_key.clone(),
        extra: a.extra.clone(),
        network: a.network.clone(),
    };
    let notice = |n: Notice| match n {
        Notice::Ip(ip) => println!("get local host ipadd: {ip}"),
        Notice::Note(n) => eprintln!("note: {n}"),
        Notice::Created(dir) => println!("cluster:default created: {}", dir.display()),
    };
    let name = ez_ops::aio::CLUSTER;
    let confirm = async || super::setup::abort_window(ctx, name, "setup all", false).await;
    let body = async {
        let summaries = ez_ops::aio::start_aio(ctx, &o, notice, confirm).await?;
        Ok(super::setup::verdict(ctx, name, "all", true, &summaries))
    };
    crate::refusal::finish(body.await)
}

fn ask(flag: bool) -> Password {
    if flag { Password::Ask } else { Password::None }
}

/// `add-node <c> <ip>` logging in with `password` first to authorize the deploy key
/// (what `--ask-pass` does with a prompted password).
pub async fn add_node_with_password(
    ctx: &Ctx,
    cluster: &str,
    ip: &str,
    password: &str,
) -> anyhow::Result<u8> {
    nodes::add_nodes(
        ctx,
        cluster,
        &[(ip.to_string(), Vec::new())],
        &Password::Given(password.to_string()),
    )
    .await
}

/// `add-node <c> <ip>` without host vars (for tests and callers that build no command line).
pub async fn add_node_cmd(ctx: &Ctx, cluster: &str, ip: &str) -> anyhow::Result<u8> {
    nodes::add_nodes(
        ctx,
        cluster,
        &[(ip.to_string(), Vec::new())],
        &Password::None,
    )
    .await
}

/// `del-node <c> <ip>`.
pub async fn del_node_cmd(ctx: &Ctx, cluster: &str, ip: &str) -> anyhow::Result<u8> {
    nodes::del_node(ctx, cluster, ip).await
}

/// `add-master <c> <ip>`.
pub async fn add_master_cmd(ctx: &Ctx, cluster: &str, ip: &str) -> anyhow::Result<u8> {
    masters::add_master(ctx, cluster, ip, &[]).await
}

/// `del-master <c> <ip>`.
pub async fn del_master_cmd(ctx: &Ctx, cluster: &str, ip: &str) -> anyhow::Result<u8> {
    masters::del_master(ctx, cluster, ip).await
}

/// `upgrade <c>`.
pub async fn upgrade_cmd(ctx: &Ctx, cluster: &str) -> anyhow::Result<u8> {
    upgrade::upgrade(ctx, cluster).await
}

/// `add-etcd <c> <ip>`.
pub async fn add_etcd_cmd(ctx: &Ctx, cluster: &str, ip: &str) -> anyhow::Result<u8> {
    etcd::add_etcd(ctx, cluster, ip, &[]).await
}

/// `del-etcd <c> <ip>`.
pub async fn del_etcd_cmd(ctx: &Ctx, cluster: &str, ip: &str) -> anyhow::Result<u8> {
    etcd::del_etcd(ctx, cluster, ip).await
}

/// `start <c>`, `stop <c>`, `destroy <c>`.
pub async fn lifecycle_cmd(ctx: &Ctx, cluster: &str, what: Lifecycle) -> anyhow::Result<u8> {
    lifecycle::run(ctx, cluster, what).await
}

/// `kca-renew <c>`.
pub async fn kca_renew_cmd(ctx: &Ctx, cluster: &str) -> anyhow::Result<u8> {
    certs::kca_renew(ctx, cluster).await
}

/// `backup <c>`.
pub async fn backup_cmd(ctx: &Ctx, cluster: &str) -> anyhow::Result<u8> {
    backup::backup(ctx, cluster).await
}

/// `restore <c> [snapshot]`.
pub async fn restore_cmd(ctx: &Ctx, cluster: &str, snapshot: Option<&str>) -> anyhow::Result<u8> {
    backup::restore(ctx, cluster, snapshot).await
}

/// `add-nodes <c> <ip>…`.
pub async fn add_nodes_cmd(ctx: &Ctx, cluster: &str, ips: &[String]) -> anyhow::Result<u8> {
    let nodes: Vec<(String, Vec<String>)> = ips.iter().map(|ip| (ip.clone(), Vec::new())).collect();
    nodes::add_nodes(ctx, cluster, &nodes, &Password::None).await
}

#[cfg(test)]
mod tests {
    use crate::{EzctlCli, EzctlCommand};
    use clap::Parser;

    fn parse(args: &[&str]) -> super::OpsCommand {
        match EzctlCli::try_parse_from(args).unwrap().command {
            EzctlCommand::Ops(c) => c,
            other => panic!("not an ops command: {other:?}"),
        }
    }

    #[test]
    fn command_lines_read_as_in_kubeasz() {
        match parse(&[
            "ezctl",
            "add-node",
            "c1",
            "10.0.0.9",
            "k8s_nodename=w9",
            "ansible_ssh_port=2222",
            "--ask-pass",
        ]) {
            super::OpsCommand::AddNode {
                cluster,
                ip,
                vars,
                ask_pass,
            } => {
                assert_eq!(
                    (cluster.as_str(), ip.as_str(), ask_pass),
                    ("c1", "10.0.0.9", true)
                );
                assert_eq!(vars, vec!["k8s_nodename=w9", "ansible_ssh_port=2222"]);
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "ezctl",
            "start-aio",
            "--ip",
            "10.0.0.5",
            "-e",
            "MAX_PODS=200",
        ]) {
            super::OpsCommand::StartAio(a) => {
                assert_eq!(a.ip.map(|i| i.to_string()).as_deref(), Some("10.0.0.5"));
                assert_eq!(a.extra, vec!["MAX_PODS=200"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["ezctl", "del-node", "c1", "10.0.0.9"]),
            super::OpsCommand::DelNode { .. }
        ));
        match parse(&["ezctl", "restore", "c1", "snapshot_202611270700.db"]) {
            super::OpsCommand::Restore { cluster, snapshot } => {
                assert_eq!(cluster, "c1");
                assert_eq!(snapshot.as_deref(), Some("snapshot_202611270700.db"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["ezctl", "add-etcd", "c1", "10.0.0.9", "k8s_nodename=e9"]) {
            super::OpsCommand::AddEtcd { ip, vars, .. } => {
                assert_eq!((ip.as_str(), vars.len()), ("10.0.0.9", 1))
            }
            other => panic!("{other:?}"),
        }
        for (cmd, want) in [
            ("backup", "Backup"),
            ("start", "Start"),
            ("stop", "Stop"),
            ("destroy", "Destroy"),
            ("kca-renew", "KcaRenew"),
            ("upgrade", "Upgrade"),
        ] {
            let got = format!("{:?}", parse(&["ezctl", cmd, "c1"]));
            assert!(got.starts_with(want), "{cmd}: {got}");
        }
        for cmd in ["del-etcd", "add-master", "del-master"] {
            assert!(
                EzctlCli::try_parse_from(["ezctl", cmd, "c1"]).is_err(),
                "{cmd} needs an IP"
            );
        }
        assert!(
            EzctlCli::try_parse_from(["ezctl", "add-nodes", "c1"]).is_err(),
            "add-nodes needs an IP"
        );
        assert!(EzctlCli::try_parse_from(["ezctl", "start-aio", "--ip", "not-an-ip"]).is_err());
        assert!(EzctlCli::try_parse_from(["ezctl", "start-aio", "--network", "cilium"]).is_err());
        match parse(&[
            "ezctl",
            "start-aio",
            "--network",
            "flannel",
            "-e",
            "ENABLE_LOCAL_DNS_CACHE=false",
        ]) {
            super::OpsCommand::StartAio(a) => {
                assert_eq!(a.network.as_deref(), Some("flannel"));
                assert_eq!(a.extra, ["ENABLE_LOCAL_DNS_CACHE=false"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
