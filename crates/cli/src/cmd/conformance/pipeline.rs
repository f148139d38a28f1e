//! `ezctl conformance` without a subcommand: bundle → start-aio → workers → run → report →
//! submission → verify, with the stages done recorded in
//! `<base>/conformance/<cluster>/pipeline.json` so that a rerun resumes (beside `results/` and
//! `submission/`). Not under `clusters/<cluster>/`: start-aio creates that folder atomically and
//! refuses one that exists, and the bundle stage is recorded before the cluster exists.
//!
//! Invariant: a stage is recorded only after it succeeded. Every stage can be re-entered:
//! `bundle` verifies an existing bundle instead of downloading it again, `start-aio` on an
//! existing `default` cluster runs `setup default all` (which converges), `workers` adds only
//! the workers not yet in the inventory, `run` re-attaches to the run it started before (the
//! suite takes hours; losing the deploy host's connection must not lose it).

use super::fail;
use crate::ctx::Ctx;
use std::path::{Path, PathBuf};

pub const STAGES: &[&str] = &[
    "bundle",
    "start-aio",
    "workers",
    "run",
    "report",
    "submission",
    "verify",
];

/// The hosts the pipeline installs on.
#[derive(Debug, Clone, Default)]
pub struct Hosts {
    /// start-aio's options (`ip` None: this host).
    pub aio: crate::cmd::ops::StartAio,
    /// `submission --product-config`.
    pub product_config: Option<PathBuf>,
    /// Workers to add after start-aio.
    pub workers: Vec<String>,
}

/// `pipeline.json`: the stages done, in order (`{"done": ["bundle", "aio", …]}`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct PipelineState {
    #[serde(default)]
    done: Vec<String>,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("pipeline.json")
}

/// The state in `dir`; none (a fresh start) when the file is missing or unreadable.
fn load(dir: &Path) -> PipelineState {
    std::fs::read_to_string(state_path(dir))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save(dir: &Path, st: &PipelineState) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_vec_pretty(st).map_err(std::io::Error::other)?;
    std::fs::write(state_path(dir), text)
}

/// The stages still to do, given those done and an optional `--from`.
pub fn remaining(done: &[String], from: Option<&str>) -> Vec<&'static str> {
    let start = match from {
        Some(f) => STAGES.iter().position(|s| *s == f).unwrap_or(STAGES.len()),
        None => STAGES
            .iter()
            .position(|s| !done.iter().any(|d| d == s))
            .unwrap_or(STAGES.len()),
    };
    STAGES[start..].to_vec()
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
                cleanup: false,
                keep: false,
                startup_timeout: 300,
                timeout: 6 * 3600,
                quiet: false,
                runner: super::run::Runner::Native,
                sonobuoy: None,
            };
            match super::run::execute(ctx, &a).await {
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

/// start-aio, or, when `default` exists from an earlier attempt, `setup default all`.
async fn stage_start_aio(ctx: &Ctx, cluster: &str, hosts: &Hosts) -> Result<(), u8> {
    if cluster != "default" {
        return Err(fail(
            &format!("start-aio always makes the cluster `default`, not `{cluster}`"),
            "run the pipeline with --cluster default, or install the cluster yourself and resume with --from run",
            2,
        ));
    }
    if ctx.cluster_dir("default").join("hosts").is_file() {
        eprintln!("    clusters/default exists: ezctl setup default all");
        let opts = ez_play::RunOptions {
            forks: ctx.forks,
            ..Default::default()
        };
        return outcome(
            "setup default all",
            crate::cmd::setup::setup(ctx, "default", "all", opts).await,
        );
    }
    outcome(
        "start-aio",
        crate::cmd::ops::start_aio(ctx, &hosts.aio).await,
    )
}

/// add-node for each `--worker` not yet in the inventory.
async fn stage_workers(ctx: &Ctx, cluster: &str, hosts: &Hosts) -> Result<(), u8> {
    if hosts.workers.is_empty() {
        return Err(fail(
            &"no --worker given: the conformance suite needs at least two untainted nodes",
            "rerun with --worker <ip> (repeatable), e.g. ezctl conformance --worker 192.168.1.12",
            2,
        ));
    }
    let existing =
        std::fs::read_to_string(ctx.cluster_dir(cluster).join("hosts")).unwrap_or_default();
    for w in &hosts.workers {
        if existing
            .lines()
            .any(|l| l.split_whitespace().next() == Some(w.as_str()))
        {
            eprintln!("    {w} is already in the inventory");
            continue;
        }
        outcome(
            &format!("add-node {cluster} {w}"),
            crate::cmd::ops::add_node_cmd(ctx, cluster, w).await,
        )?;
    }
    Ok(())
}

pub async fn run(
    ctx: &Ctx,
    cluster: &str,
    from: Option<&str>,
    until: Option<&str>,
    hosts: &Hosts,
) -> anyhow::Result<u8> {
    if let Some(f) = from.into_iter().chain(until).find(|f| !STAGES.contains(f)) {
        return Ok(fail(
            &format!("unknown stage {f}"),
            &format!("stages: {}", STAGES.join(", ")),
            2,
        ));
    }
    let dir = ctx.base.join("conformance").join(cluster);
    let mut st = load(&dir);
    if let Some(f) = from {
        // Stages before --from were done by hand; later ones are redone.
        let i = STAGES.iter().position(|s| *s == f).unwrap_or(0);
        st.done = STAGES[..i].iter().map(|s| s.to_string()).collect();
    }
    let mut todo = remaining(&st.done, from);
    if let Some(u) = until {
        // `until` is a known stage (checked above): keep the stages up to it.
        let last = STAGES.iter().position(|s| *s == u).unwrap_or(STAGES.len());
        todo.retain(|s| STAGES.iter().position(|x| x == s).unwrap_or(0) <= last);
    }
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
        if let Err(e) = save(&dir, &st) {
            return Ok(fail(&format!("{}: {e}", state_path(&dir).display()), "", 1));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_picks_the_first_stage_not_done() {
        assert_eq!(remaining(&[], None)[0], "bundle");
        let done: Vec<String> = ["bundle", "start-aio", "workers"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            remaining(&done, None),
            vec!["run", "report", "submission", "verify"]
        );
        assert_eq!(
            remaining(&[], Some("report")),
            vec!["report", "submission", "verify"]
        );
        let all: Vec<String> = STAGES.iter().map(|s| s.to_string()).collect();
        assert!(remaining(&all, None).is_empty());
    }
}
