//! The run as a sequence of states: preflight → create (or re-attach) → wait for the pod →
//! follow the suite's log → wait for the suite's exit → copy the results → clean up.
//!
//! Invariants:
//! * a run is never started over an existing one: `--continue` re-attaches, `--cleanup` deletes
//!   first, otherwise [`RunError::RunInProgress`];
//! * a lost watch (stream end, error, HTTP 410) is followed by a fresh GET and a new watch from
//!   the returned resource version, never by giving up;
//! * every wait has a deadline ([`RunConfig`] timeouts).

use super::api::{ClusterApi, PodInfo, WatchItem};
use super::lines::LineSplitter;
use super::{
    Progress, RunConfig, RunError, RunEvent, RunOutcome, SIDECAR_CONTAINER, SUITE_CONTAINER,
    collect, objects,
};
use crate::e2elog::LogScanner;
use futures::StreamExt;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

const PULL_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// Fails on states the run cannot recover from.
fn check_fatal(p: &PodInfo) -> Result<(), RunError> {
    for c in [&p.suite, &p.sidecar] {
        if let Some(r) = &c.waiting_reason
            && PULL_REASONS.contains(&r.as_str())
        {
            return Err(RunError::ImagePull {
                image: c.image.clone(),
                reason: r.clone(),
                message: c.waiting_message.clone().unwrap_or_default(),
            });
        }
    }
    if p.reason.as_deref() == Some("Evicted") {
        return Err(RunError::Evicted(p.message.clone().unwrap_or_default()));
    }
    Ok(())
}

fn timeout_err(what: &'static str, d: Duration) -> RunError {
    RunError::Timeout {
        what,
        secs: d.as_secs(),
    }
}

/// Waits until `done(pod)`; re-lists and re-watches whenever the watch is lost.
async fn wait_pod<A: ClusterApi>(
    api: &A,
    cfg: &RunConfig,
    deadline: Instant,
    what: &'static str,
    total: Duration,
    on: &mut (dyn FnMut(RunEvent) + Send),
    done: impl Fn(&PodInfo) -> bool,
) -> Result<PodInfo, RunError> {
    let (ns, name) = (cfg.namespace.as_str(), cfg.pod.as_str());
    loop {
        let pod = timeout_at(deadline, api.get_pod(ns, name))
            .await
            .map_err(|_| timeout_err(what, total))??
            .ok_or(RunError::PodGone)?;
        check_fatal(&pod)?;
        if done(&pod) {
            return Ok(pod);
        }
        let watch = timeout_at(deadline, api.watch_pod(ns, name, &pod.resource_version))
            .await
            .map_err(|_| timeout_err(what, total))?;
        if let Ok(mut stream) = watch {
            loop {
                match timeout_at(deadline, stream.next()).await {
                    Err(_) => return Err(timeout_err(what, total)),
                    Ok(Some(Ok(WatchItem::Pod(p)))) => {
                        check_fatal(&p)?;
                        if done(&p) {
                            return Ok(*p);
                        }
                    }
                    Ok(Some(Ok(WatchItem::Deleted))) => return Err(RunError::PodGone),
                    Ok(Some(Ok(WatchItem::Expired)) | Some(Err(_)) | None) => break,
                }
            }
        }
        on(RunEvent::WatchLost);
        if timeout_at(deadline, tokio::time::sleep(cfg.retry_delay))
            .await
            .is_err()
        {
            return Err(timeout_err(what, total));
        }
    }
}

/// Follows the suite's log until it ends with the container; re-attaches (skipping lines already
/// seen) while the container still runs.
async fn follow_log<A: ClusterApi>(
    api: &A,
    cfg: &RunConfig,
    deadline: Instant,
    on: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<(), RunError> {
    let started = Instant::now();
    let mut scanner = LogScanner::new();
    let mut seen = 0usize;
    let mut last = Progress::default();
    loop {
        let stream = timeout_at(
            deadline,
            api.logs(&cfg.namespace, &cfg.pod, SUITE_CONTAINER, true),
        )
        .await
        .map_err(|_| timeout_err("the suite to finish", cfg.run_timeout))?;
        if let Ok(mut chunks) = stream {
            let mut n = 0usize;
            let mut split = LineSplitter::new();
            loop {
                match timeout_at(deadline, chunks.next()).await {
                    Err(_) => return Err(timeout_err("the suite to finish", cfg.run_timeout)),
                    Ok(Some(Ok(chunk))) => {
                        for line in split.push(&chunk) {
                            n += 1;
                            if n <= seen {
                                continue;
                            }
                            seen = n;
                            scanner.line(&line);
                            on(RunEvent::LogLine(line));
                        }
                        // The unfinished line counts once every line before it was seen.
                        let pending = if n >= seen {
                            LogScanner::pending_progress(split.pending())
                        } else {
                            0
                        };
                        let s = scanner.summary();
                        let p = Progress {
                            done: s.progress_done + pending,
                            total: s.will_run,
                            failed: s.progress_failed,
                            elapsed: started.elapsed(),
                            eta: None,
                        }
                        .with_eta();
                        if (p.done, p.failed, p.total) != (last.done, last.failed, last.total) {
                            on(RunEvent::Progress(p.clone()));
                            last = p;
                        }
                    }
                    Ok(Some(Err(_)) | None) => {
                        // The last line of a log that ends without a newline.
                        if let Some(line) = split.finish()
                            && n + 1 > seen
                        {
                            seen = n + 1;
                            scanner.line(&line);
                            on(RunEvent::LogLine(line));
                        }
                        break;
                    }
                }
            }
        }
        let pod = api
            .get_pod(&cfg.namespace, &cfg.pod)
            .await?
            .ok_or(RunError::PodGone)?;
        check_fatal(&pod)?;
        if pod.suite.exit_code.is_some() || pod.phase == "Succeeded" || pod.phase == "Failed" {
            return Ok(());
        }
        if timeout_at(deadline, tokio::time::sleep(cfg.retry_delay))
            .await
            .is_err()
        {
            return Err(timeout_err("the suite to finish", cfg.run_timeout));
        }
    }
}

/// Reads the sidecar's log until the results block is complete, then writes the files.
async fn copy_results<A: ClusterApi>(api: &A, cfg: &RunConfig) -> Result<(), RunError> {
    let deadline = Instant::now() + cfg.results_timeout;
    loop {
        let mut lines = Vec::new();
        let mut split = LineSplitter::new();
        if let Ok(Ok(mut s)) = timeout_at(
            deadline,
            api.logs(&cfg.namespace, &cfg.pod, SIDECAR_CONTAINER, false),
        )
        .await
        {
            while let Ok(Some(Ok(chunk))) = timeout_at(deadline, s.next()).await {
                lines.extend(split.push(&chunk));
            }
        }
        lines.extend(split.finish());
        if let Some(b64) = collect::between_markers(&lines) {
            collect::write_results(&b64, &cfg.output_dir)?;
            return Ok(());
        }
        if timeout_at(deadline, tokio::time::sleep(cfg.retry_delay))
            .await
            .is_err()
        {
            return Err(timeout_err(
                "the results in the sidecar log",
                cfg.results_timeout,
            ));
        }
    }
}

/// Writes `ezctl-run.json` (image, commands) beside the results for `ezctl conformance submission`.
fn write_record(cfg: &RunConfig, image: &str, commands: &[String]) -> Result<(), RunError> {
    let p = cfg.output_dir.join(crate::submission::RUN_RECORD);
    let v = serde_json::json!({
        "conformance_image": image,
        "commands": commands,
        "focus": cfg.focus,
    });
    std::fs::create_dir_all(&cfg.output_dir).map_err(|source| RunError::Io {
        path: cfg.output_dir.clone(),
        source,
    })?;
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap_or_default())
        .map_err(|source| RunError::Io { path: p, source })
}

/// Runs (or re-attaches to) the suite and returns its exit code. `commands` are recorded for the
/// submission README.
pub async fn run<A: ClusterApi>(
    api: &A,
    cfg: &RunConfig,
    commands: &[String],
    on: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<RunOutcome, RunError> {
    // Preflight.
    let server = api.server_version().await?;
    let image = cfg
        .conformance_image
        .clone()
        .unwrap_or_else(|| format!("registry.k8s.io/conformance:{server}"));
    on(RunEvent::Preflight {
        server,
        image: image.clone(),
    });
    let exists = api.namespace_exists(&cfg.namespace).await?;
    if cfg.continue_run || (cfg.attach_existing && exists) {
        if !exists {
            return Err(RunError::NothingToContinue(cfg.namespace.clone()));
        }
        on(RunEvent::Reattached);
    } else {
        if exists {
            if !cfg.cleanup_first {
                return Err(RunError::RunInProgress(cfg.namespace.clone()));
            }
            api.delete_run(cfg).await?;
            let deadline = Instant::now() + cfg.startup_timeout;
            while api.namespace_exists(&cfg.namespace).await? {
                if timeout_at(deadline, tokio::time::sleep(cfg.retry_delay))
                    .await
                    .is_err()
                {
                    return Err(timeout_err(
                        "the previous run to be deleted",
                        cfg.startup_timeout,
                    ));
                }
            }
            on(RunEvent::CleanedUp);
        }
        // Refuse in seconds what would fail hours later (see preflight).
        let nodes = api.nodes().await?;
        let usable = super::preflight::check_nodes(&nodes)?;
        if !cfg.allow_pull {
            super::preflight::check_images(&usable, &[&image, &cfg.sidecar_image])?;
        }
        api.create_run(&objects::build(cfg, &image)).await?;
        on(RunEvent::Created);
    }
    // Wait for the suite container to start (or to have ended already, on re-attach).
    let startup = Instant::now() + cfg.startup_timeout;
    wait_pod(
        api,
        cfg,
        startup,
        "the conformance pod to start",
        cfg.startup_timeout,
        on,
        |p| p.suite.running || p.suite.exit_code.is_some(),
    )
    .await?;
    on(RunEvent::PodRunning);
    let end = Instant::now() + cfg.run_timeout;
    follow_log(api, cfg, end, on).await?;
    let pod = wait_pod(
        api,
        cfg,
        end,
        "the suite to finish",
        cfg.run_timeout,
        on,
        |p| p.suite.exit_code.is_some(),
    )
    .await?;
    let code = pod.suite.exit_code.unwrap_or(-1);
    on(RunEvent::SuiteExited(code));
    copy_results(api, cfg).await?;
    write_record(cfg, &image, commands)?;
    on(RunEvent::ResultsCopied(cfg.output_dir.clone()));
    if !cfg.keep {
        api.delete_run(cfg).await?;
    }
    on(RunEvent::Finished);
    Ok(RunOutcome {
        exit_code: code,
        output_dir: cfg.output_dir.clone(),
        image,
    })
}
