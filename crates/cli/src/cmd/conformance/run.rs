//! `ezctl conformance run`: the suite in the cluster (see `ez_conformance::run`).

use super::{EXIT_UNREADABLE, fail};
use crate::ctx::Ctx;
use ez_conformance::run::kube_api::KubeApi;
use ez_conformance::run::{Progress, RunConfig, RunError, RunEvent, machine};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Cluster whose kubeconfig (clusters/<cluster>/kubectl.kubeconfig) is used.
    #[arg(long, default_value = "default")]
    pub cluster: String,
    /// Kubeconfig to use instead of the cluster's.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the run.
    #[arg(long, default_value = "conformance")]
    pub namespace: String,
    /// Where e2e.log, junit_01.xml and e2e.tar.gz are written.
    #[arg(long, default_value = "./results")]
    pub output_dir: PathBuf,
    /// Conformance image (default: registry.k8s.io/conformance:<server version>).
    #[arg(long)]
    pub conformance_image: Option<String>,
    /// Image of the results sidecar.
    #[arg(long, default_value = ez_conformance::images::SIDECAR_IMAGE)]
    pub sidecar_image: String,
    /// KUBE_TEST_REPO_LIST file for the e2e images (see `ezctl conformance images`).
    #[arg(long)]
    pub test_repo_list: Option<PathBuf>,
    /// A check run of the specs this ginkgo regexp matches instead of every `[Conformance]`
    /// spec (still serial): for trying a cluster quickly, never for certification (the
    /// submission command refuses its results).
    #[arg(long)]
    pub focus: Option<String>,
    /// Start even when the conformance or sidecar image is missing from a node (the nodes
    /// pull it from its registry; refused by default, as an offline cluster fails late).
    #[arg(long)]
    pub allow_pull: bool,
    /// Re-attach to the run in progress.
    #[arg(long = "continue", conflicts_with = "cleanup")]
    pub continue_run: bool,
    /// Re-attach when a run exists, else start one (the pipeline's resume; no flag).
    #[arg(skip)]
    pub attach_existing: bool,
    /// The commands that installed the cluster (the pipeline's stages), recorded before this
    /// run's own for the submission README (no flag).
    #[arg(skip)]
    pub installed_by: Vec<String>,
    /// Delete a previous run first.
    #[arg(long)]
    pub cleanup: bool,
    /// Keep the namespace and pod after copying the results.
    #[arg(long)]
    pub keep: bool,
    /// Seconds to wait for the pod to start.
    #[arg(long, default_value_t = 300)]
    pub startup_timeout: u64,
    /// Seconds the whole suite may take.
    #[arg(long, default_value_t = 6 * 3600)]
    pub timeout: u64,
    /// Do not print the suite's log, only progress.
    #[arg(long)]
    pub quiet: bool,
    /// Who runs the suite: `native` (a pod, Hydrophone's design) or `sonobuoy` (its
    /// certified-conformance mode, through the sonobuoy binary).
    #[arg(long, value_enum, default_value_t = Runner::Native)]
    pub runner: Runner,
    /// The sonobuoy binary (default: <base>/bin/sonobuoy).
    #[arg(long)]
    pub sonobuoy: Option<PathBuf>,
    /// Serve the bundle's images (as `ezctl registry` does) on ADDR while the suite runs, for
    /// what a spec pulls with policy Always (ImageVolume) on a cluster that reaches no
    /// registry: the nodes pull through it with config.yml's REGISTRY_MIRRORS, e.g.
    /// `["registry.k8s.io=http://easzlab.io.local:5000/v2/registry.k8s.io"]`.
    /// Without ADDR: 0.0.0.0:5000, kubeasz's registry port on the deploy host.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = DEFAULT_REGISTRY)]
    pub registry: Option<String>,
}

/// Who runs the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runner {
    Native,
    Sonobuoy,
}

fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
}

fn progress_line(p: &Progress) -> String {
    let total = p.total.map_or("?".to_string(), |t| t.to_string());
    let eta = p.eta.map_or("?".to_string(), hms);
    format!(
        "[conformance] {}/{total} specs, {} failed, elapsed {}, ETA {eta}",
        p.done,
        p.failed,
        hms(p.elapsed)
    )
}

async fn client(ctx: &Ctx, a: &RunArgs) -> Result<KubeApi, String> {
    let path = a
        .kubeconfig
        .clone()
        .unwrap_or_else(|| ctx.cluster_dir(&a.cluster).join("kubectl.kubeconfig"));
    if a.kubeconfig.is_some() && !path.is_file() {
        return Err(format!("{}: no such kubeconfig", path.display()));
    }
    ez_conformance::run::kube_api::client_from(Some(&path))
        .await
        .map_err(|e| e.to_string())
}

/// The command lines that reproduce this run, for the submission README: those that
/// installed the cluster when the pipeline did, then the run's own.
fn command_line(ctx: &Ctx, a: &RunArgs) -> Vec<String> {
    let mut out = a.installed_by.clone();
    // the pipeline's output folder is under the base: shown as from there (ezctl's folder)
    let shown = match a.output_dir.strip_prefix(&ctx.base) {
        Ok(rel) if !a.installed_by.is_empty() => RunArgs {
            output_dir: PathBuf::from(".").join(rel),
            ..a.clone()
        },
        _ => a.clone(),
    };
    out.push(command_text(&shown));
    out
}

/// `./ezctl conformance run …` with the options that shape the run (either runner).
pub(super) fn command_text(a: &RunArgs) -> String {
    let runner = match a.runner {
        Runner::Native => "",
        Runner::Sonobuoy => " --runner sonobuoy",
    };
    let mut c = format!(
        "./ezctl conformance run{runner} --cluster {} --output-dir {}",
        a.cluster,
        a.output_dir.display()
    );
    if let Some(i) = &a.conformance_image {
        c.push_str(&format!(" --conformance-image {i}"));
    }
    if let Some(f) = &a.test_repo_list {
        c.push_str(&format!(" --test-repo-list {}", f.display()));
    }
    if let Some(f) = &a.focus {
        c.push_str(&format!(" --focus '{f}'"));
    }
    if let Some(r) = &a.registry {
        c.push_str(&format!(" --registry {r}"));
    }
    c
}

/// Runs the suite; `Ok(exit code of the suite)` or the error already printed as `Err(code)`.
pub async fn execute(ctx: &Ctx, a: &RunArgs) -> Result<i32, u8> {
    let repo_list = match &a.test_repo_list {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t),
            Err(e) => return Err(fail(&format!("{}: {e}", p.display()), "", EXIT_UNREADABLE)),
        },
        None => None,
    };
    let api = match client(ctx, a).await {
        Ok(c) => c,
        Err(e) => {
            return Err(fail(
                &format!("cannot reach the cluster: {e}"),
                "check clusters/<cluster>/kubectl.kubeconfig or pass --kubeconfig",
                1,
            ));
        }
    };
    let cfg = RunConfig {
        namespace: a.namespace.clone(),
        conformance_image: a.conformance_image.clone(),
        focus: a.focus.clone(),
        allow_pull: a.allow_pull,
        sidecar_image: a.sidecar_image.clone(),
        repo_list,
        output_dir: a.output_dir.clone(),
        continue_run: a.continue_run,
        attach_existing: a.attach_existing,
        cleanup_first: a.cleanup,
        keep: a.keep,
        startup_timeout: Duration::from_secs(a.startup_timeout),
        run_timeout: Duration::from_secs(a.timeout),
        ..Default::default()
    };
    let quiet = a.quiet || ctx.json;
    let mut last_print: Option<Instant> = None;
    // The suite's output as it streams, kept beside the results: a run whose pod is lost
    // (evicted, its node gone) still leaves what it ran, which `report` reads.
    let stream_path = a.output_dir.join(STREAM_LOG);
    let mut stream = StreamLog::open(&stream_path);
    let mut on = |e: RunEvent| match e {
        RunEvent::LogLine(l) => {
            stream.write(&l);
            if !quiet {
                println!("{l}");
            }
        }
        RunEvent::Progress(p) => {
            let due = last_print.is_none_or(|t| t.elapsed() >= Duration::from_secs(30));
            if due || p.failed > 0 && p.done == p.total.unwrap_or(0) {
                eprintln!("{}", progress_line(&p));
                last_print = Some(Instant::now());
            }
        }
        RunEvent::Preflight { server, image } => {
            eprintln!("[conformance] server {server}, image {image}")
        }
        RunEvent::WatchLost => eprintln!("[conformance] watch lost; re-listing"),
        RunEvent::SuiteExited(c) => eprintln!("[conformance] suite exited with code {c}"),
        RunEvent::ResultsCopied(d) => eprintln!("[conformance] results in {}", d.display()),
        RunEvent::Created => eprintln!("[conformance] run created in namespace {}", a.namespace),
        RunEvent::Reattached => eprintln!("[conformance] re-attached to the run in progress"),
        _ => {}
    };
    match machine::run(&api, &cfg, &command_line(ctx, a), &mut on).await {
        Ok(o) => Ok(o.exit_code),
        Err(e) => {
            let next = match &e {
                RunError::RunInProgress(_) => "ezctl conformance run --continue (or --cleanup)",
                RunError::ImagePull { .. } => "ezdown -X conformance, then retry with --cleanup",
                RunError::ImagesMissing(_) => {
                    "on an offline cluster: `ezdown -X conformance`, then `ezctl setup <cluster> 03` \
                     loads the bundle's images on every node; when the nodes can pull them, rerun \
                     with --allow-pull"
                }
                RunError::Timeout { .. } => {
                    "ezctl conformance run --continue re-attaches if the pod still runs"
                }
                _ => "",
            };
            let kept = std::fs::metadata(&stream_path).is_ok_and(|m| m.len() > 0);
            let next = if kept {
                let p = stream_path.display();
                let more = format!(
                    "the suite's output so far is in {p}: `ezctl conformance report {p}` counts what ran"
                );
                if next.is_empty() {
                    more
                } else {
                    format!("{next}; {more}")
                }
            } else {
                next.to_string()
            };
            Err(fail(&e, &next, 1))
        }
    }
}

pub async fn run(ctx: &Ctx, a: RunArgs) -> anyhow::Result<u8> {
    let result = execute_serving(ctx, &a).await;
    Ok(match result {
        Ok(0) => 0,
        Ok(_) => 1,
        Err(code) => code,
    })
}

/// `--registry`'s address when given without one: kubeasz's registry port on the deploy host.
pub const DEFAULT_REGISTRY: &str = "0.0.0.0:5000";

/// The file in the output directory where `--registry` logs each request it answered.
pub const REGISTRY_LOG: &str = "registry-access.log";

/// Runs the suite with its runner, with the bundle's registry serving for the run's length
/// when `--registry` asks for it (stopped whatever the run's outcome).
pub async fn execute_serving(ctx: &Ctx, a: &RunArgs) -> Result<i32, u8> {
    let registry = serve_bundle(ctx, a).await?;
    let result = match a.runner {
        Runner::Native => execute(ctx, a).await,
        Runner::Sonobuoy => super::sonobuoy::execute(ctx, a).await,
    };
    if let Some(r) = registry {
        r.stop().await;
    }
    result
}

/// Starts `--registry` on the bundle in the base; its access log goes to [`REGISTRY_LOG`].
async fn serve_bundle(ctx: &Ctx, a: &RunArgs) -> Result<Option<ez_registry::Running>, u8> {
    use std::io::Write;
    let Some(listen) = &a.registry else {
        return Ok(None);
    };
    let log_path = a.output_dir.join(REGISTRY_LOG);
    let log = std::fs::create_dir_all(&a.output_dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
    });
    let log = match log {
        Ok(f) => std::sync::Mutex::new(Some(f)),
        Err(e) => {
            eprintln!(
                "[conformance] warning: no registry access log in {}: {e}",
                log_path.display()
            );
            std::sync::Mutex::new(None)
        }
    };
    let observer: ez_registry::serve::Observer =
        std::sync::Arc::new(move |x: &ez_registry::Access| {
            if let Ok(mut guard) = log.lock()
                && let Some(f) = guard.as_mut()
                && writeln!(f, "{x}").is_err()
            {
                *guard = None;
            }
        });
    let fetch = "run `./ezdown -D -X conformance` (the suite's images), then this command again";
    match ez_registry::Running::start(&ctx.base, listen, observer).await {
        Ok(r) if r.images.is_empty() => {
            r.stop().await;
            Err(fail(
                &format!(
                    "--registry: no image tar in {}",
                    ctx.base.join("down").display()
                ),
                fetch,
                1,
            ))
        }
        Ok(r) => {
            eprintln!(
                "[conformance] the bundle's {} images served on http://{} for the run (ezctl registry; requests in {})",
                r.images.len(),
                r.addr,
                log_path.display()
            );
            Ok(Some(r))
        }
        Err(e) => Err(fail(
            &format!("--registry {listen}: {e}"),
            "give a free address (kubeasz's registry is port 5000 on the deploy host), or stop what listens there",
            1,
        )),
    }
}

/// The file in the output directory that keeps the suite's streamed output.
pub const STREAM_LOG: &str = "e2e.stream.log";

/// Appends the streamed lines to [`STREAM_LOG`]; a file that cannot be written is said once
/// and the run goes on (the pod's own e2e.log is still copied at the end).
struct StreamLog {
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl StreamLog {
    fn open(path: &std::path::Path) -> StreamLog {
        let opened = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            });
        match opened {
            Ok(f) => StreamLog {
                file: Some(std::io::BufWriter::new(f)),
            },
            Err(e) => {
                eprintln!(
                    "[conformance] warning: cannot keep the streamed output in {}: {e}",
                    path.display()
                );
                StreamLog { file: None }
            }
        }
    }

    fn write(&mut self, line: &str) {
        use std::io::Write;
        let Some(f) = self.file.as_mut() else {
            return;
        };
        if let Err(e) = writeln!(f, "{line}").and_then(|()| f.flush()) {
            eprintln!("[conformance] warning: stopped keeping the streamed output: {e}");
            self.file = None;
        }
    }
}
