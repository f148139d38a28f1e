//! `ezctl conformance run`: the suite in a pod, on Hydrophone's design, as a state machine over a
//! small API trait.
//!
//! * Objects: namespace, service account, cluster role (`*` on everything, plus the
//!   `/metrics` and `/logs` non-resource URLs) and its binding, and one pod: container
//!   `conformance-container` (image `registry.k8s.io/conformance:<server version>`,
//!   `E2E_FOCUS=\[Conformance\]`, `E2E_SKIP=""`, never `E2E_PARALLEL`) and a sidecar
//!   `output-container` sharing the `/tmp/results` emptyDir.
//! * Results: go-runner writes `$RESULTS_DIR/done` with the path of `e2e.tar.gz` when the suite
//!   ends; the sidecar then prints that tarball base64-encoded between two marker lines in its
//!   own log and sleeps, so the results are copied over the plain log API (no exec/SPDY) and
//!   can be fetched again with `--continue` as long as the pod lives.
//! * [`machine`] drives the run; [`api::ClusterApi`] is everything it needs from Kubernetes;
//!   [`kube_api`] implements it with kube-rs.

pub mod api;
pub mod collect;
pub mod kube_api;
pub mod lines;
pub mod machine;
pub mod objects;
pub mod preflight;
pub mod sonobuoy;

use crate::version::KubeVersion;
use std::path::PathBuf;
use std::time::Duration;

/// Names and knobs of a run. Invariant: `namespace` holds every namespaced object of the run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub namespace: String,
    pub pod: String,
    pub service_account: String,
    pub cluster_role: String,
    /// Overrides `registry.k8s.io/conformance:<server version>`.
    pub conformance_image: Option<String>,
    pub sidecar_image: String,
    /// A ginkgo focus instead of `\[Conformance\]`: a check run of a few specs, never a
    /// certification (recorded in `ezctl-run.json`; `submission` refuses it).
    pub focus: Option<String>,
    /// Start even when the conformance or sidecar image is missing from a node (the nodes
    /// pull it from its registry).
    pub allow_pull: bool,
    /// KUBE_TEST_REPO_LIST contents, put in a ConfigMap and mounted for the suite.
    pub repo_list: Option<String>,
    pub output_dir: PathBuf,
    /// Re-attach to a run in progress instead of starting one.
    pub continue_run: bool,
    /// When a run exists, re-attach to it; when none does, start one (how `ezctl conformance`
    /// resumes its run stage after the deploy host lost the connection).
    pub attach_existing: bool,
    /// Delete a previous run's objects before starting.
    pub cleanup_first: bool,
    /// Keep the objects after the results are copied.
    pub keep: bool,
    pub startup_timeout: Duration,
    pub run_timeout: Duration,
    pub results_timeout: Duration,
    /// Pause between re-list attempts after a lost watch.
    pub retry_delay: Duration,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            namespace: "conformance".into(),
            pod: "e2e-conformance-test".into(),
            service_account: "conformance-serviceaccount".into(),
            cluster_role: "conformance-serviceaccount-role".into(),
            conformance_image: None,
            focus: None,
            allow_pull: false,
            sidecar_image: crate::images::SIDECAR_IMAGE.into(),
            repo_list: None,
            output_dir: PathBuf::from("."),
            continue_run: false,
            attach_existing: false,
            cleanup_first: false,
            keep: false,
            startup_timeout: Duration::from_secs(300),
            run_timeout: Duration::from_secs(6 * 3600),
            results_timeout: Duration::from_secs(600),
            retry_delay: Duration::from_secs(2),
        }
    }
}

/// The conformance container's name.
pub const SUITE_CONTAINER: &str = "conformance-container";
/// The sidecar's name.
pub const SIDECAR_CONTAINER: &str = "output-container";
/// Marker lines around the base64 tarball in the sidecar log.
pub const BEGIN_MARK: &str = "==EZ-RESULTS-BEGIN==";
pub const END_MARK: &str = "==EZ-RESULTS-END==";

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "a conformance run already exists in namespace {0}: re-attach with --continue, or start \
         over with --cleanup"
    )]
    RunInProgress(String),
    #[error(
        "the suite needs at least two Ready nodes that take pods, this cluster has {usable}{detail}"
    )]
    TooFewNodes { usable: usize, detail: String },
    #[error("images the run starts are missing from nodes: {0}")]
    ImagesMissing(String),
    #[error("no conformance run to continue in namespace {0}")]
    NothingToContinue(String),
    #[error(
        "cannot pull image {image} ({reason}: {message}); on an air-gapped cluster load it first \
         with `ezdown -X conformance` and point --conformance-image / --test-repo-list at the local registry"
    )]
    ImagePull {
        image: String,
        reason: String,
        message: String,
    },
    #[error(
        "the conformance pod was evicted from its node: {0}; free the node (disk, memory) and start over with --cleanup"
    )]
    Evicted(String),
    #[error("the conformance pod disappeared (deleted by someone else?)")]
    PodGone,
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: &'static str, secs: u64 },
    #[error("the suite ended but its results were not readable: {0}")]
    Results(String),
    #[error("Kubernetes API: {0}")]
    Api(#[from] api::ApiError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Progress of the suite, parsed from its log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub failed: u64,
    pub elapsed: Duration,
    pub eta: Option<Duration>,
}

impl Progress {
    /// ETA by linear extrapolation once at least one spec is done.
    pub fn with_eta(mut self) -> Self {
        self.eta = match self.total {
            Some(t) if self.done > 0 && t >= self.done => {
                let per = self.elapsed.as_secs_f64() / self.done as f64;
                Some(Duration::from_secs_f64(per * (t - self.done) as f64))
            }
            _ => None,
        };
        self
    }
}

/// What the machine reports while it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    Preflight { server: KubeVersion, image: String },
    CleanedUp,
    Created,
    Reattached,
    PodRunning,
    WatchLost,
    LogLine(String),
    Progress(Progress),
    SuiteExited(i32),
    ResultsCopied(PathBuf),
    Finished,
}

/// The end of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub exit_code: i32,
    pub output_dir: PathBuf,
    pub image: String,
}
