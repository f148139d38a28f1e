//! `ezctl new | list | checkout | help | check-config`: cluster folders under `clusters/`.
//!
//! Messages follow kubeasz's `ezctl` wording so that its docs and habits still apply. Every
//! write is atomic (temp file + rename) and happens only after the new files validated.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ez_inventory::templates;
use ez_inventory::{Diagnostic, load};

use crate::ctx::Ctx;
use crate::home::kubeconfig::{self, without_server};
use crate::refusal::Refusal;

/// The cluster-folder commands, flattened into `ezctl`'s top level.
///
/// A wrapper around [`ClusterCmd`] so that it can turn off clap's generated `help`
/// subcommand: `ezctl help <cmd>` is a kubeasz command and is implemented here.
#[derive(Debug)]
pub struct ClusterCommand(pub ClusterCmd);

impl clap::FromArgMatches for ClusterCommand {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        ClusterCmd::from_arg_matches(m).map(ClusterCommand)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

impl clap::Subcommand for ClusterCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        ClusterCmd::augment_subcommands(cmd).disable_help_subcommand(true)
    }
    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        ClusterCmd::augment_subcommands_for_update(cmd).disable_help_subcommand(true)
    }
    fn has_subcommand(name: &str) -> bool {
        ClusterCmd::has_subcommand(name)
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCmd {
    /// Create clusters/<cluster>/hosts and config.yml from the example templates.
    New {
        cluster: String,
        /// A YAML/JSON file of component versions overriding the bundle's table (partial is fine).
        #[arg(long, value_name = "FILE")]
        versions: Option<PathBuf>,
    },
    /// List the clusters under <base>/clusters, marking the one ~/.kube/config points to.
    List,
    /// Make <cluster> the current one: its kubectl.kubeconfig becomes ~/.kube/config (mode
    /// 0400; a kubeconfig ezctl did not write is kept as ~/.kube/config.bak-ezctl-<time>).
    Checkout { cluster: String },
    /// Validate clusters/<cluster>/hosts and config.yml and print every problem found.
    CheckConfig { cluster: String },
    /// Show help for one command (as `ezctl help setup` in kubeasz).
    Help { command: Option<String> },
}

pub async fn run(ctx: &Ctx, cmd: ClusterCommand) -> anyhow::Result<u8> {
    match cmd.0 {
        ClusterCmd::New { cluster, versions } => new(ctx, &cluster, versions.as_deref()),
        ClusterCmd::List => crate::refusal::finish(list(ctx, &home_kubeconfig(ctx)?)),
        ClusterCmd::Checkout { cluster } => crate::refusal::finish(checkout(ctx, &cluster)),
        ClusterCmd::CheckConfig { cluster } => crate::refusal::finish(check_config(ctx, &cluster)),
        ClusterCmd::Help { command } => Ok(help(command.as_deref())),
    }
}

fn home_kubeconfig(ctx: &Ctx) -> anyhow::Result<PathBuf> {
    let home = ctx
        .home
        .as_deref()
        .context("HOME is not set (nor EZ_HOME); cannot find ~/.kube/config")?;
    Ok(kubeconfig::path(home))
}

/// `ezctl new <c>` (`ez_ops::new_cluster::new`): what was made and the next steps.
fn new(ctx: &Ctx, cluster: &str, versions: Option<&Path>) -> anyhow::Result<u8> {
    let body = || {
        let made = ez_ops::new_cluster::new(ctx, cluster, versions)?;
        for n in made.notes {
            println!("note: {n}");
        }
        let dir = made.dir;
        println!("cluster:{cluster} created: {}", dir.display());
        println!("next steps 1: to config '{}'", dir.join("hosts").display());
        println!(
            "next steps 2: to config '{}'",
            dir.join("config.yml").display()
        );
        println!("then check them with 'ezctl check-config {cluster}'");
        Ok(0)
    };
    crate::refusal::finish(body())
}

pub use ez_ops::new_cluster::{create_cluster_dir, version_table};

/// Cluster folder names, sorted.
fn cluster_names(base: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(base.join("clusters"))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The `ezctl list` lines (`==> cluster N:\t<c>[ (current)]`), or `None` without clusters;
/// the flag tells whether ~/.kube/config was readable.
fn list_lines(ctx: &Ctx, kubeconfig: &Path) -> Option<(Vec<String>, bool)> {
    let names = cluster_names(&ctx.base).ok().filter(|n| !n.is_empty())?;
    let current = std::fs::read_to_string(kubeconfig)
        .ok()
        .map(|t| without_server(&t));
    let lines = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let kc = ctx.cluster_dir(n).join("kubectl.kubeconfig");
            let is_current = match (&current, std::fs::read_to_string(kc)) {
                (Some(cur), Ok(t)) => *cur == without_server(&t),
                _ => false,
            };
            format!(
                "==> cluster {}:\t{n}{}",
                i + 1,
                if is_current { " (current)" } else { "" }
            )
        })
        .collect();
    Some((lines, current.is_some()))
}

fn list(ctx: &Ctx, kubeconfig: &Path) -> anyhow::Result<u8> {
    let Some((lines, have_kubeconfig)) = list_lines(ctx, kubeconfig) else {
        return Refusal::new(1, "cluster not found, run 'ezctl new' first").into_result();
    };
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}")?;
    }
    if !have_kubeconfig {
        eprintln!(
            "note: kubeconfig not found ({}), run 'ezctl setup' first",
            kubeconfig.display()
        );
    }
    Ok(0)
}

/// `checkout <c>`: the cluster's admin kubeconfig becomes `~/.kube/config` (mode 0400; a
/// kubeconfig ezctl did not write is kept as a backup first, see [`kubeconfig::install`]).
fn checkout(ctx: &Ctx, cluster: &str) -> anyhow::Result<u8> {
    let dir = ctx.cluster_dir(cluster);
    if templates::check_cluster_name(cluster).is_err() || !dir.is_dir() {
        return Refusal::new(
            1,
            format!("invalid config, run 'ezctl new {cluster}' first"),
        )
        .into_result();
    }
    if !dir.join("kubectl.kubeconfig").is_file() {
        return Refusal::new(
            1,
            format!("invalid kubeconfig, run 'ezctl setup {cluster}' first"),
        )
        .into_result();
    }
    let home = ctx
        .home
        .as_deref()
        .context("HOME is not set (nor EZ_HOME); cannot install ~/.kube/config")?;
    let o = kubeconfig::install(home, &ctx.base, &dir, kubeconfig::When::MakeCurrent)?;
    if let Some(b) = &o.backup {
        eprintln!("{}", kubeconfig::backup_note(&o.path, b));
    }
    println!("set default kubeconfig: cluster {cluster} (current)");
    Ok(0)
}

/// Prints diagnostics: rustc style on stderr, or one JSON object per line on stdout with
/// `--json`. A closed stdout (`| head`) just stops the output.
fn print_diagnostics(ctx: &Ctx, diags: &[Diagnostic]) {
    if ctx.json {
        let mut out = std::io::stdout().lock();
        for d in diags {
            let v = serde_json::json!({
                "severity": d.severity.to_string(),
                "code": d.code,
                "file": d.file.display().to_string(),
                "line": d.span.map(|s| s.line),
                "column": d.span.map(|s| s.column),
                "message": d.message,
                "hint": d.hint,
            });
            if writeln!(out, "{v}").is_err() {
                return;
            }
        }
        return;
    }
    for d in diags {
        eprintln!("{d}\n");
    }
}

fn check_config(ctx: &Ctx, cluster: &str) -> anyhow::Result<u8> {
    if let Err(e) = templates::check_cluster_name(cluster) {
        return Refusal::new(1, e.to_string()).into_result();
    }
    let diags = load::check_cluster(&ctx.cluster_dir(cluster));
    print_diagnostics(ctx, &diags);
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if !ctx.json {
        if errors == 0 {
            println!("cluster:{cluster} config ok ({warnings} warning(s))");
        } else {
            eprintln!("cluster:{cluster}: {errors} error(s), {warnings} warning(s)");
        }
    }
    Ok(u8::from(errors > 0))
}

/// Help of kubeasz commands that are documented but not (yet) subcommands here.
const KUBEASZ_HELP: &[(&str, &str)] = &[
    (
        "setup",
        "Usage: ezctl setup <cluster> <step> [extra args]\n\
         steps:\n  01|prepare            prepare the nodes (packages, kernel settings, CA and kubeconfigs)\n  \
         02|etcd               etcd cluster\n  03|container-runtime  containerd (or docker)\n  \
         04|kube-master        control plane\n  05|kube-node          workers\n  06|network            network plugin\n  \
         07|cluster-addon      coredns, node-local DNS, metrics-server, optional addons\n  \
         90|all                01 to 07 in one run\n  10|ex-lb              external load balancer\n  11|harbor             harbor registry\n\
         examples: ezctl setup test-k8s 01\n          ezctl setup test-k8s all\n          ezctl setup test-k8s 04 -t restart_master",
    ),
    (
        "kcfg-adm",
        "Usage: ezctl kcfg-adm <cluster> -A|-D|-L [-e 4800h] [-t admin|view] [-u user]\n  \
         -A add a user kubeconfig, -D delete one (-u), -L list them\n  \
         -e expiry (default 4800h), -t role (default admin), -u user name prefix (default user)",
    ),
    (
        "kca-renew",
        "Usage: ezctl kca-renew <cluster>\nWARNING: replaces the CA and every certificate and kubeconfig, then restarts\n\
         etcd, the control plane, kubelet/kube-proxy, the network plugin and the addons.",
    ),
    (
        "add-etcd",
        "Usage: ezctl add-etcd <cluster> <ip> [k=v ...]\nread more: docs/op/op-etcd.md",
    ),
    (
        "add-master",
        "Usage: ezctl add-master <cluster> <ip> [k=v ...]\nread more: docs/op/op-master.md",
    ),
    (
        "add-node",
        "Usage: ezctl add-node <cluster> <ip> [k=v ...]\nread more: docs/op/op-node.md",
    ),
    (
        "del-etcd",
        "Usage: ezctl del-etcd <cluster> <ip>\nread more: docs/op/op-etcd.md",
    ),
    (
        "del-master",
        "Usage: ezctl del-master <cluster> <ip>\nread more: docs/op/op-master.md",
    ),
    (
        "del-node",
        "Usage: ezctl del-node <cluster> <ip>\nread more: docs/op/op-node.md",
    ),
];

fn help(command: Option<&str>) -> u8 {
    use clap::CommandFactory;
    let mut cli = crate::EzctlCli::command();
    cli.build();
    let Some(name) = command else {
        let _ = cli.print_help();
        return 0;
    };
    if let Some(sub) = cli.find_subcommand_mut(name) {
        let _ = sub.print_long_help();
        return 0;
    }
    match KUBEASZ_HELP.iter().find(|(c, _)| *c == name) {
        Some((_, text)) => {
            println!("{text}");
            0
        }
        None => {
            eprintln!(
                "ezctl: error: no help for unknown command `{name}`; run 'ezctl help' for the list"
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ez_inventory::VersionTable;

    /// A fresh directory under the system temp dir, removed on drop.
    struct Tmp(tempfile::TempDir);
    impl Tmp {
        fn new() -> Tmp {
            Tmp(tempfile::Builder::new()
                .prefix("ezctl-cluster-")
                .tempdir()
                .expect("tmp"))
        }
    }

    fn ctx(base: &Path) -> Ctx {
        Ctx {
            base: base.to_path_buf(),
            forks: 1,
            accept_new_host_keys: false,
            json: false,
            yes: true,
            skip_preflight: Vec::new(),
            ssh_config: None,
            home: Some(base.join("home")),
            reporter: Default::default(),
        }
    }

    #[test]
    fn new_creates_valid_files_and_refuses_an_existing_cluster() {
        let t = Tmp::new();
        let c = ctx(t.0.path());
        assert_eq!(new(&c, "k1", None).expect("new"), 0);
        let dir = c.cluster_dir("k1");
        let hosts = std::fs::read_to_string(dir.join("hosts")).expect("hosts");
        assert!(hosts.contains("/clusters/k1\""));
        assert!(load::load_cluster(&dir).is_ok());
        let before = std::fs::read_to_string(dir.join("config.yml")).expect("config");
        assert_eq!(new(&c, "k1", None).expect("new again"), 1);
        assert_eq!(
            std::fs::read_to_string(dir.join("config.yml")).expect("config"),
            before
        );
        assert_eq!(new(&c, "../evil", None).expect("bad name"), 1);
        assert!(!t.0.path().join("evil").exists());
        // No temp files left behind.
        let leftovers = std::fs::read_dir(&dir).expect("dir").count();
        assert_eq!(leftovers, 2);
    }

    #[test]
    fn new_takes_a_partial_version_overlay() {
        let t = Tmp::new();
        let c = ctx(t.0.path());
        let f = t.0.path().join("v.yml");
        std::fs::write(&f, "kubernetes: v1.35.6\ncalico: v3.28.4\n").expect("write");
        assert_eq!(new(&c, "k2", Some(&f)).expect("new"), 0);
        let cl = load::load_cluster(&c.cluster_dir("k2")).expect("load");
        assert_eq!(cl.config.k8s_ver, "1.35.6");
        assert_eq!(cl.config.calico_ver, "v3.28.4");
        std::fs::write(&f, "kubernetess: v1\n").expect("write");
        assert!(new(&c, "k3", Some(&f)).is_err());
        assert!(!c.cluster_dir("k3").exists());
    }

    #[test]
    fn new_follows_a_flannel_bundle_without_the_dns_cache() {
        let t = Tmp::new();
        let c = ctx(t.0.path());
        let mut m = ez_bundle::manifest::Manifest::new("amd64", VersionTable::default());
        m.selection =
            ez_bundle::selection::Selection::parse(Some("flannel"), &["nodelocaldns".into()])
                .expect("selection");
        m.versions.flannel = "v0.28.10".into();
        m.write(t.0.path()).expect("manifest");
        assert_eq!(new(&c, "f", None).expect("new"), 0);
        let cl = load::load_cluster(&c.cluster_dir("f")).expect("load");
        assert_eq!(cl.derived.cluster_network, "flannel");
        assert!(!cl.config.enable_local_dns_cache);
        assert_eq!(cl.config.metricsserver_install, "yes");
        assert_eq!(cl.config.flannel_ver, "v0.28.10");
    }

    #[test]
    fn checkout_and_list_mark_the_current_cluster() {
        let t = Tmp::new();
        let c = ctx(t.0.path());
        std::fs::create_dir(t.0.path().join("home")).expect("home");
        let kube = t.0.path().join("home/.kube/config");
        assert_eq!(crate::refusal::finish(list(&c, &kube)).expect("list"), 1);
        for (n, body) in [("a", "A"), ("b", "B")] {
            new(&c, n, None).expect("new");
            std::fs::write(
                c.cluster_dir(n).join("kubectl.kubeconfig"),
                format!("server: https://x\nuser: {body}\n"),
            )
            .expect("kc");
        }
        new(&c, "nokc", None).expect("new");
        assert_eq!(
            crate::refusal::finish(checkout(&c, "nokc")).expect("checkout"),
            1
        );
        assert_eq!(
            crate::refusal::finish(checkout(&c, "missing")).expect("checkout"),
            1
        );
        assert!(!kube.exists());
        assert_eq!(
            crate::refusal::finish(checkout(&c, "b")).expect("checkout"),
            0
        );
        assert_eq!(
            std::fs::read_to_string(&kube).expect("kube"),
            "server: https://x\nuser: B\n"
        );
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&kube).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o400);
        }
        // Switching back and forth replaces our own file.
        assert_eq!(
            crate::refusal::finish(checkout(&c, "a")).expect("checkout"),
            0
        );
        assert_eq!(
            crate::refusal::finish(checkout(&c, "b")).expect("checkout"),
            0
        );
        // Another server line still counts as the same cluster.
        std::fs::remove_file(&kube).expect("rm");
        std::fs::write(&kube, "server: https://other\nuser: B\n").expect("write");
        let (lines, have) = list_lines(&c, &kube).expect("clusters");
        assert!(have);
        assert_eq!(
            lines,
            [
                "==> cluster 1:\ta",
                "==> cluster 2:\tb (current)",
                "==> cluster 3:\tnokc"
            ]
        );
        assert_eq!(crate::refusal::finish(list(&c, &kube)).expect("list"), 0);
        // No backup was made of any of these: they all were the clusters' own.
        let baks = std::fs::read_dir(t.0.path().join("home/.kube"))
            .expect("dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".bak-ezctl-"))
            .count();
        assert_eq!(baks, 0);
    }

    #[test]
    fn check_config_exit_codes() {
        let t = Tmp::new();
        let c = ctx(t.0.path());
        assert_eq!(
            crate::refusal::finish(check_config(&c, "none")).expect("check"),
            1
        );
        new(&c, "ok", None).expect("new");
        assert_eq!(
            crate::refusal::finish(check_config(&c, "ok")).expect("check"),
            0
        );
        let hosts = c.cluster_dir("ok").join("hosts");
        let text = std::fs::read_to_string(&hosts)
            .expect("hosts")
            .replace("PROXY_MODE=\"nftables\"", "PROXY_MODE=\"userspace\"");
        std::fs::write(&hosts, text).expect("write");
        assert_eq!(
            crate::refusal::finish(check_config(&c, "ok")).expect("check"),
            1
        );
    }

    #[test]
    fn the_command_line_parses_kubeasz_style() {
        use clap::{CommandFactory, Parser};
        crate::EzctlCli::command().debug_assert();
        let cli = crate::EzctlCli::try_parse_from(["ezctl", "help", "setup"]).expect("help setup");
        assert!(
            matches!(cli.command, crate::EzctlCommand::Cluster(ClusterCommand(ClusterCmd::Help { command: Some(ref c) })) if c == "setup")
        );
        let cli =
            crate::EzctlCli::try_parse_from(["ezctl", "check-config", "k"]).expect("check-config");
        assert!(matches!(
            cli.command,
            crate::EzctlCommand::Cluster(ClusterCommand(ClusterCmd::CheckConfig { .. }))
        ));
        assert!(crate::EzctlCli::try_parse_from(["ezctl", "new"]).is_err());
    }

    #[test]
    fn help_knows_commands() {
        assert_eq!(help(Some("setup")), 0);
        assert_eq!(help(Some("new")), 0);
        assert_eq!(help(Some("nope")), 1);
    }
}
