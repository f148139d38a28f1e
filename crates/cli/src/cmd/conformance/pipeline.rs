//! `ezctl conformance` without a subcommand: bundle → start-aio → workers → run → report →
//! submission → verify, with the stages done recorded in
//! `clusters/<cluster>/conformance/pipeline.json` so that a rerun resumes.
//!
//! Invariant: a stage is recorded only after it succeeded; stages that kubeasz-rs does not yet
//! implement fail with "not yet available" instead of pretending.

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

#[derive(Debug, Default)]
struct PipelineState {
    done: Vec<String>,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("pipeline.json")
}

fn load(dir: &Path) -> PipelineState {
    std::fs::read_to_string(state_path(dir))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| {
            let done = v.get("done")?.as_array()?;
            Some(PipelineState {
                done: done
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            })
        })
        .unwrap_or_default()
}

fn save(dir: &Path, st: &PipelineState) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let v = serde_json::json!({ "done": st.done });
    std::fs::write(
        state_path(dir),
        serde_json::to_vec_pretty(&v).unwrap_or_default(),
    )
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

async fn stage(ctx: &Ctx, cluster: &str, dir: &Path, name: &str) -> Result<(), u8> {
    let results = dir.join("results");
    let sub_root = dir.join("submission");
    match name {
        "bundle" | "start-aio" | "workers" => {
            let manual = match name {
                "bundle" => "./ezdown -D && ./ezdown -X conformance",
                "start-aio" => "./ezctl start-aio",
                _ => "./ezctl add-node <cluster> <worker-ip>   (two workers)",
            };
            Err(fail(
                &format!("pipeline stage `{name}` is not yet available in kubeasz-rs"),
                &format!(
                    "do it by hand ({manual}), then resume: ezctl conformance --cluster {cluster} --from {}",
                    next_of(name)
                ),
                1,
            ))
        }
        "run" => {
            let a = super::run::RunArgs {
                cluster: cluster.to_string(),
                kubeconfig: None,
                namespace: "conformance".into(),
                output_dir: results,
                conformance_image: None,
                sidecar_image: ez_conformance::images::SIDECAR_IMAGE.into(),
                test_repo_list: None,
                continue_run: false,
                cleanup: false,
                keep: false,
                startup_timeout: 300,
                timeout: 6 * 3600,
                quiet: false,
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
                product_config: None,
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

fn next_of(name: &str) -> &'static str {
    let i = STAGES.iter().position(|s| *s == name).unwrap_or(0);
    STAGES.get(i + 1).copied().unwrap_or("verify")
}

pub async fn run(ctx: &Ctx, cluster: &str, from: Option<&str>) -> anyhow::Result<u8> {
    if let Some(f) = from
        && !STAGES.contains(&f)
    {
        return Ok(fail(
            &format!("unknown stage {f}"),
            &format!("stages: {}", STAGES.join(", ")),
            2,
        ));
    }
    let dir = ctx.cluster_dir(cluster).join("conformance");
    let mut st = load(&dir);
    if let Some(f) = from {
        // Stages before --from were done by hand; later ones are redone.
        let i = STAGES.iter().position(|s| *s == f).unwrap_or(0);
        st.done = STAGES[..i].iter().map(|s| s.to_string()).collect();
    }
    let todo = remaining(&st.done, from);
    if todo.is_empty() {
        println!("every stage is done; start again with --from bundle");
        return Ok(0);
    }
    for name in todo {
        eprintln!("==> conformance stage {name}");
        if let Err(code) = stage(ctx, cluster, &dir, name).await {
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
