//! `ezctl conformance` without a subcommand: bundle → start-aio → workers → run → report →
//! submission → verify, with the stages done recorded in
//! `<base>/conformance/<cluster>/pipeline.json` so that a rerun resumes (beside `results/` and
//! `submission/`). Not under `clusters/<cluster>/`: start-aio creates that folder atomically
//! and refuses one that exists, and the bundle stage is recorded before the cluster exists.
//! Here: the stages and their state, and the two stages that install (start-aio, workers);
//! the others are the conformance crate's, run by the CLI.
//!
//! Invariant: a stage is recorded only after it succeeded. Every stage can be re-entered:
//! `bundle` verifies an existing bundle instead of downloading it again, `start-aio` on an
//! existing `default` cluster runs `setup default all` (which converges), `workers` adds only
//! the workers not yet in the inventory, `run` re-attaches to the run it started before (the
//! suite takes hours; losing the deploy host's connection must not lose it).

use crate::ctx::Ctx;
use crate::refusal::Refusal;
use crate::{aio, nodes, setup};
use ez_play::Summary;
use std::path::{Path, PathBuf};

/// The stages, in order.
pub const STAGES: &[&str] = &[
    "bundle",
    "start-aio",
    "workers",
    "run",
    "report",
    "submission",
    "verify",
];

/// `pipeline.json`: the stages done, in order (`{"done": ["bundle", "start-aio", …]}`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct PipelineState {
    #[serde(default)]
    pub done: Vec<String>,
}

impl PipelineState {
    /// `<dir>/pipeline.json`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("pipeline.json")
    }

    /// The state in `dir`; none (a fresh start) when the file is missing or unreadable.
    pub fn load(dir: &Path) -> PipelineState {
        std::fs::read_to_string(Self::path(dir))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path(dir), text)
    }
}

/// The folder of cluster `cluster`'s pipeline.
pub fn dir(ctx: &Ctx, cluster: &str) -> PathBuf {
    ctx.base.join("conformance").join(cluster)
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

/// The stages to run now: from `--from` (the stages before it count as done by hand, later
/// ones are redone) or the first not done, up to `--until`; refused for an unknown stage.
pub fn plan(
    st: &mut PipelineState,
    from: Option<&str>,
    until: Option<&str>,
) -> anyhow::Result<Vec<&'static str>> {
    if let Some(f) = from.into_iter().chain(until).find(|f| !STAGES.contains(f)) {
        return Refusal::new(2, format!("unknown stage {f}"))
            .hint(format!("stages: {}", STAGES.join(", ")))
            .into_result();
    }
    if let Some(f) = from {
        let i = STAGES.iter().position(|s| *s == f).unwrap_or(0);
        st.done = STAGES[..i].iter().map(|s| s.to_string()).collect();
    }
    let mut todo = remaining(&st.done, from);
    if let Some(u) = until {
        let last = STAGES.iter().position(|s| *s == u).unwrap_or(STAGES.len());
        todo.retain(|s| STAGES.iter().position(|x| x == s).unwrap_or(0) <= last);
    }
    Ok(todo)
}

/// What the start-aio stage did.
pub enum Installed {
    /// start-aio made the cluster `default`; setup's summaries.
    New(Vec<Summary>),
    /// `default` existed from an earlier attempt: `setup default all`'s summaries.
    Converged(Vec<Summary>),
}

/// The start-aio stage: start-aio, or, when `default` exists from an earlier attempt,
/// `setup default all` (which converges). `confirm` is the abort window of the setup.
pub async fn install_aio(
    ctx: &Ctx,
    cluster: &str,
    o: &aio::Options,
    notice: impl Fn(aio::Notice),
    confirm: impl AsyncFnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Installed> {
    if cluster != aio::CLUSTER {
        return Refusal::new(
            2,
            format!("start-aio always makes the cluster `default`, not `{cluster}`"),
        )
        .hint("run the pipeline with --cluster default, or install the cluster yourself and resume with --from run")
        .into_result();
    }
    if ctx.cluster_dir(cluster).join("hosts").is_file() {
        let req = setup::Request::all(ctx.forks);
        let s = setup::setup(ctx, cluster, req, confirm).await?;
        return Ok(Installed::Converged(s));
    }
    Ok(Installed::New(
        aio::start_aio(ctx, o, notice, confirm).await?,
    ))
}

/// The workers stage: add-node for each of `workers` not yet in the inventory (`already` is
/// told those), `added` after each; refused without workers (the suite needs two untainted
/// nodes).
pub async fn add_workers(
    ctx: &Ctx,
    cluster: &str,
    workers: &[String],
    already: impl Fn(&str),
    added: impl Fn(&str),
) -> anyhow::Result<()> {
    if workers.is_empty() {
        return Refusal::new(
            2,
            "no --worker given: the conformance suite needs at least two untainted nodes",
        )
        .hint("rerun with --worker <ip> (repeatable), e.g. ezctl conformance --worker 192.168.1.12")
        .into_result();
    }
    let existing =
        std::fs::read_to_string(ctx.cluster_dir(cluster).join("hosts")).unwrap_or_default();
    for w in workers {
        if existing
            .lines()
            .any(|l| l.split_whitespace().next() == Some(w.as_str()))
        {
            already(w);
            continue;
        }
        nodes::add_nodes(ctx, cluster, &[(w.clone(), Vec::new())], None).await?;
        added(w);
    }
    Ok(())
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

    #[test]
    fn from_marks_the_stages_before_as_done_and_until_stops() {
        let mut st = PipelineState::default();
        let todo = plan(&mut st, Some("workers"), Some("run")).expect("plan");
        assert_eq!(todo, ["workers", "run"]);
        assert_eq!(st.done, ["bundle", "start-aio"]);
        let e = plan(&mut st, Some("nope"), None).expect_err("unknown");
        let r = e.downcast_ref::<Refusal>().expect("refusal");
        assert_eq!(r.code, 2);
        assert!(r.hints[0].contains("bundle, start-aio"), "{r:?}");
    }
}
