//! `ezctl conformance` without a subcommand: the pipeline of `ez_ops::pipeline` (its stages,
//! state file and invariant); the deploy stages are ez_ops's, the others the conformance
//! commands'. Here, running them in order and what is printed.

use super::fail;
use crate::ctx::Ctx;
use std::path::{Path, PathBuf};

/// The hosts the pipeline installs on.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    /// start-aio's options (`ip` None: this host).
    pub aio: crate::cmd::ops::StartAio,
    /// `submission --product-config`.
    pub product_config: Option<PathBuf>,
    /// Workers to add after start-aio.
    pub workers: Vec<String>,
    /// `--registry`: the bundle's registry during the run stage, and the nodes' mirror to it.
    pub registry: Option<String>,
}

impl Hosts {
    /// start-aio's `-e` values: the user's, and with `--registry` (unless the user set
    /// REGISTRY_MIRRORS) the nodes' mirror of registry.k8s.io to the deploy host's registry
    /// under kubeasz's name for it, `easzlab.io.local` (in every node's /etc/hosts).
    pub fn aio_extra(&self) -> Vec<String> {
        let mut extra = self.aio.extra.clone();
        let user_set = extra.iter().any(|e| e.starts_with("REGISTRY_MIRRORS="));
        if let (Some(addr), false) = (&self.registry, user_set) {
            let port = addr.rsplit(':').next().filter(|p| p.parse::<u16>().is_ok());
            let port = port.unwrap_or("5000");
            extra.push(format!(
                "REGISTRY_MIRRORS=[\"registry.k8s.io=http://easzlab.io.local:{port}/v2/registry.k8s.io\"]"
            ));
        }
        extra
    }
}

async fn stage(ctx: &Ctx, cluster: &str, dir: &Path, name: &str, hosts: &Hosts) -> Result<(), u8> {
    let results = dir.join("results");
    let sub_root = dir.join("submission");
    match name {
        "bundle" => stage_bundle(ctx).await,
        "start-aio" => stage_start_aio(ctx, cluster, hosts).await,
        "workers" => stage_workers(ctx, cluster, hosts).await,
        "run" => {
            let a = super::run::RunArgs {
                cluster: cluster.to_string(),
                kubeconfig: None,
                namespace: "conformance".into(),
                output_dir: results,
                conformance_image: None,
                sidecar_image: ez_conformance::images::SIDECAR_IMAGE.into(),
                test_repo_list: None,
                focus: None,
                allow_pull: false,
                continue_run: false,
                // A rerun after a lost connection finds the run still going: follow it.
                attach_existing: true,
                installed_by: installed_by(cluster, hosts),
                cleanup: false,
                keep: false,
                startup_timeout: 300,
                timeout: 6 * 3600,
                quiet: false,
                runner: super::run::Runner::Native,
                sonobuoy: None,
                registry: hosts.registry.clone(),
            };
            match super::run::execute_serving(ctx, &a).await {
                Ok(0) => Ok(()),
                Ok(c) => Err(fail(
                    &format!("the suite exited with code {c}"),
                    "see the report stage's output",
                    1,
                )),
                Err(c) => Err(c),
            }
        }
        "report" => match super::report::load(&[results], None) {
            Ok(r) => {
                print!("{}", super::report::human(&r));
                if super::report::exit_code(&r) == 0 {
                    Ok(())
                } else {
                    Err(1)
                }
            }
            Err(c) => Err(c),
        },
        "submission" => {
            let a = super::submission::SubmissionArgs {
                results: vec![results],
                out: sub_root,
                product_config: hosts.product_config.clone(),
                cluster: cluster.to_string(),
                version: None,
            };
            match super::submission::run(ctx, a) {
                0 => Ok(()),
                c => Err(c),
            }
        }
        _ => {
            // verify: the one folder under submission/vX.Y/.
            let folder = std::fs::read_dir(&sub_root)
                .ok()
                .and_then(|mut d| d.find_map(|e| e.ok()))
                .and_then(|rel| std::fs::read_dir(rel.path()).ok()?.find_map(|e| e.ok()))
                .map(|e| e.path());
            let Some(folder) = folder else {
                return Err(fail(
                    &format!("no submission under {}", sub_root.display()),
                    "",
                    1,
                ));
            };
            let a = super::verify::VerifyArgs {
                dir: folder,
                pr_title: None,
                latest_release: None,
            };
            match super::verify::run(ctx, a) {
                0 => Ok(()),
                c => Err(c),
            }
        }
    }
}

/// The commands the pipeline's install stages stand for, as a person would type them (for
/// the submission README), after the pipeline's own command line as a comment.
fn installed_by(cluster: &str, hosts: &Hosts) -> Vec<String> {
    let a = &hosts.aio;
    let mut aio = String::from("./ezctl start-aio");
    if let Some(ip) = a.ip {
        aio.push_str(&format!(" --ip {ip}"));
    }
    if let Some(n) = &a.network {
        aio.push_str(&format!(" --network {n}"));
    }
    let mut whole = aio.replacen("./ezctl start-aio", "./ezctl conformance", 1);
    for e in &a.extra {
        whole.push_str(&format!(" -e '{e}'"));
    }
    for e in hosts.aio_extra() {
        aio.push_str(&format!(" -e '{e}'"));
    }
    for w in &hosts.workers {
        whole.push_str(&format!(" --worker {w}"));
    }
    if let Some(r) = &hosts.registry {
        whole.push_str(&format!(" --registry {r}"));
    }
    let mut out = vec![
        format!("# the whole pipeline in one command: {whole}; its stages:"),
        "./ezdown -D -X conformance".to_string(),
        aio,
    ];
    out.extend(
        hosts
            .workers
            .iter()
            .map(|w| format!("./ezctl add-node {cluster} {w}")),
    );
    out
}

/// A stage's outcome from a command's exit code or error.
fn outcome(what: &str, r: anyhow::Result<u8>) -> Result<(), u8> {
    match r {
        Ok(0) => Ok(()),
        Ok(c) => Err(c),
        Err(e) => Err(fail(&format!("{what}: {e:#}"), "", 1)),
    }
}

/// The bundle: verified when present (nothing downloaded again), else `ezdown -D -X conformance`.
async fn stage_bundle(ctx: &Ctx) -> Result<(), u8> {
    use clap::Parser;
    let base = ctx.base.to_string_lossy().to_string();
    let argv: Vec<&str> = if ez_inventory::BundleLayout::new(&ctx.base)
        .manifest()
        .is_file()
    {
        vec!["ezdown", "--base", &base, "--verify"]
    } else {
        vec!["ezdown", "--base", &base, "-D", "-X", "conformance"]
    };
    eprintln!("    {}", argv.join(" "));
    let cli = crate::ezdown::EzdownCli::parse_from(argv);
    outcome("ezdown", crate::ezdown::run(cli).await)
}

/// start-aio, or, when `default` exists from an earlier attempt, `setup default all`
/// (`ez_ops::pipeline::install_aio`), printed as those commands print.
async fn stage_start_aio(ctx: &Ctx, cluster: &str, hosts: &Hosts) -> Result<(), u8> {
    use ez_ops::aio::Notice;
    use ez_ops::pipeline::Installed;
    let a = &hosts.aio;
    let o = ez_ops::aio::Options {
        ip: a.ip,
        ssh_key: a.ssh_key.clone(),
        extra: hosts.aio_extra(),
        network: a.network.clone(),
    };
    if ctx.cluster_dir(cluster).join("hosts").is_file() {
        eprintln!("    clusters/default exists: ezctl setup default all");
    }
    let notice = |n: Notice| match n {
        Notice::Ip(ip) => println!("get local host ipadd: {ip}"),
        Notice::Note(n) => eprintln!("note: {n}"),
        Notice::Created(dir) => println!("cluster:default created: {}", dir.display()),
    };
    let confirm = async || crate::cmd::setup::abort_window(ctx, cluster, "setup all", false).await;
    let r = ez_ops::pipeline::install_aio(ctx, cluster, &o, notice, confirm).await;
    let (what, summaries) = match r {
        Ok(Installed::New(s)) => ("start-aio", s),
        Ok(Installed::Converged(s)) => ("setup default all", s),
        Err(e) => return Err(refused_in("start-aio", e)),
    };
    match crate::cmd::setup::verdict(ctx, cluster, "all", true, &summaries) {
        0 => Ok(()),
        c => {
            eprintln!("    {what} failed");
            Err(c)
        }
    }
}

/// add-node for each `--worker` not yet in the inventory (`ez_ops::pipeline::add_workers`).
async fn stage_workers(ctx: &Ctx, cluster: &str, hosts: &Hosts) -> Result<(), u8> {
    let already = |w: &str| eprintln!("    {w} is already in the inventory");
    let added = |w: &str| println!("node(s) {w} added to cluster {cluster}");
    ez_ops::pipeline::add_workers(ctx, cluster, &hosts.workers, already, added)
        .await
        .map_err(|e| refused_in("workers", e))
}

/// A stage's error as its exit code: a refusal printed as the conformance commands print
/// theirs, any other error as one line.
fn refused(e: anyhow::Error) -> u8 {
    refused_in("", e)
}

/// [`refused`], an error other than a refusal prefixed by the stage (`start-aio: …`).
fn refused_in(stage: &str, e: anyhow::Error) -> u8 {
    match e.downcast::<crate::refusal::Refusal>() {
        Ok(r) if r.message.is_empty() => r.code,
        Ok(r) => fail(&r.message, &r.hints.join("; "), r.code),
        Err(e) if stage.is_empty() => fail(&format!("{e:#}"), "", 1),
        Err(e) => fail(&format!("{stage}: {e:#}"), "", 1),
    }
}

pub async fn run(
    ctx: &Ctx,
    cluster: &str,
    from: Option<&str>,
    until: Option<&str>,
    hosts: &Hosts,
) -> anyhow::Result<u8> {
    use ez_ops::pipeline::PipelineState;
    let dir = ez_ops::pipeline::dir(ctx, cluster);
    let mut st = PipelineState::load(&dir);
    let todo = match ez_ops::pipeline::plan(&mut st, from, until) {
        Ok(t) => t,
        Err(e) => return Ok(refused(e)),
    };
    if todo.is_empty() {
        println!("every stage is done; start again with --from bundle");
        return Ok(0);
    }
    for name in todo {
        eprintln!("==> conformance stage {name}");
        if let Err(code) = stage(ctx, cluster, &dir, name, hosts).await {
            eprintln!(
                "stage {name} failed; fix it and rerun `ezctl conformance --cluster {cluster}` to resume here"
            );
            return Ok(code);
        }
        st.done.push(name.to_string());
        if let Err(e) = st.save(&dir) {
            let path = PipelineState::path(&dir);
            return Ok(fail(&format!("{}: {e}", path.display()), "", 1));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_install_is_what_a_person_would_type() {
        let hosts = Hosts {
            aio: crate::cmd::ops::StartAio {
                ip: "10.250.0.40".parse().ok(),
                network: Some("flannel".into()),
                ..Default::default()
            },
            product_config: None,
            workers: vec!["10.250.0.41".into()],
            registry: None,
        };
        assert_eq!(
            installed_by("default", &hosts),
            [
                "# the whole pipeline in one command: ./ezctl conformance --ip 10.250.0.40 --network flannel --worker 10.250.0.41; its stages:",
                "./ezdown -D -X conformance",
                "./ezctl start-aio --ip 10.250.0.40 --network flannel",
                "./ezctl add-node default 10.250.0.41",
            ]
        );
    }

    #[test]
    fn registry_adds_the_nodes_mirror_unless_the_user_set_one() {
        let mut hosts = Hosts {
            aio: crate::cmd::ops::StartAio {
                ip: "10.250.0.40".parse().ok(),
                extra: vec!["CALICO_MTU=1400".into()],
                ..Default::default()
            },
            registry: Some("10.250.0.1:5001".into()),
            ..Default::default()
        };
        let mirror = "REGISTRY_MIRRORS=[\"registry.k8s.io=http://easzlab.io.local:5001/v2/registry.k8s.io\"]";
        assert_eq!(hosts.aio_extra(), ["CALICO_MTU=1400", mirror]);
        let lines = installed_by("default", &hosts);
        assert_eq!(
            lines[0],
            "# the whole pipeline in one command: ./ezctl conformance --ip 10.250.0.40 -e 'CALICO_MTU=1400' --registry 10.250.0.1:5001; its stages:"
        );
        assert_eq!(
            lines[2],
            format!("./ezctl start-aio --ip 10.250.0.40 -e 'CALICO_MTU=1400' -e '{mirror}'")
        );
        hosts
            .aio
            .extra
            .push("REGISTRY_MIRRORS=[\"registry.k8s.io=http://r:5000\"]".into());
        assert_eq!(hosts.aio_extra(), hosts.aio.extra);
        hosts.registry = None;
        assert_eq!(hosts.aio_extra(), hosts.aio.extra);
    }
}
