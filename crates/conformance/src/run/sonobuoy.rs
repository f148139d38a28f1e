//! The suite through Sonobuoy's own binary in its `certified-conformance` mode (focus
//! `[Conformance]`, no skip, serial), for users who must show a Sonobuoy run. The several
//! commands people type by hand (run, wait, retrieve, extract, delete) become one, with the
//! same results layout as the native runner: `e2e.log`, `junit_01.xml`, the Sonobuoy tarball
//! and `ezctl-run.json` in the output folder.
//!
//! Invariant: a run that already exists in the cluster is never replaced silently: it is
//! refused unless `continue_run` (wait for it) or `cleanup` (delete it first).

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// One Sonobuoy run: the binary, the cluster's kubeconfig, where the results go, the run's
/// options and the command line that reproduces it (recorded in `ezctl-run.json`).
#[derive(Debug, Clone)]
pub struct SonobuoyRun {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub output_dir: PathBuf,
    pub conformance_image: Option<String>,
    /// A KUBE_TEST_REPO_LIST file (Sonobuoy's `--e2e-repo-config` takes the same YAML).
    pub test_repo_list: Option<PathBuf>,
    /// Seconds the whole suite may take.
    pub timeout: u64,
    pub cleanup: bool,
    pub continue_run: bool,
    pub keep: bool,
    pub command: String,
}

/// Why a run stopped: what happened, what to do next (may be empty) and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub message: String,
    pub next: String,
    /// 1, or [`EXIT_UNREADABLE`] when a file could not be read.
    pub code: u8,
}

/// The exit code of a stop on a file that could not be read (the CLI's for unreadable input).
pub const EXIT_UNREADABLE: u8 = 2;

fn stop(message: String, next: &str) -> Stop {
    Stop {
        message,
        next: next.to_string(),
        code: 1,
    }
}

/// What the run tells as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `--continue`: waiting for the run in progress.
    Waiting,
    /// The results were copied into the output folder from this tarball.
    Results { dir: PathBuf, tarball: PathBuf },
}

impl SonobuoyRun {
    fn command(&self, args: &[String]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        c.args(args)
            .arg(format!("--kubeconfig={}", self.kubeconfig.display()))
            .stdin(Stdio::null());
        c
    }

    /// Runs `args` with Sonobuoy's output shown on stderr; Err names the command on failure.
    async fn shown(&self, args: &[String]) -> Result<(), String> {
        let st = self
            .command(args)
            .stdout(Stdio::inherit())
            .status()
            .await
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("`sonobuoy {}` failed ({st})", args.join(" ")))
        }
    }

    /// Runs `args` and returns stdout (stderr passed through).
    async fn output(&self, args: &[String]) -> Result<(bool, String), String> {
        let o = self
            .command(args)
            .stderr(Stdio::inherit())
            .output()
            .await
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        Ok((
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ))
    }

    /// Whether a Sonobuoy run exists in the cluster (`sonobuoy status` succeeds).
    async fn exists(&self) -> Result<bool, String> {
        let o = self
            .command(&["status".into(), "--json".into()])
            .stderr(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("{}: {e}", self.bin.display()))?;
        Ok(o.status.success())
    }

    /// `sonobuoy run …` for this run: certified mode, waiting up to the run's timeout.
    pub fn run_args(&self) -> Vec<String> {
        let minutes = self.timeout.div_ceil(60).max(1);
        let mut v = vec![
            "run".to_string(),
            "--mode=certified-conformance".to_string(),
            format!("--wait={minutes}"),
            format!("--timeout={}", self.timeout),
        ];
        if let Some(i) = &self.conformance_image {
            v.push(format!("--kube-conformance-image={i}"));
        }
        if let Some(f) = &self.test_repo_list {
            v.push(format!("--e2e-repo-config={}", f.display()));
        }
        v
    }

    /// Runs (or waits for) the Sonobuoy run and collects its results: `Ok(exit code of the
    /// suite)` (1 when a test failed), or why it stopped.
    pub async fn execute(&self, mut on: impl FnMut(Event)) -> Result<i32, Stop> {
        if !self.bin.is_file() {
            return Err(Stop {
                message: format!("no Sonobuoy binary at {}", self.bin.display()),
                next: "fetch it with `ezdown -X sonobuoy` (or pass --sonobuoy PATH), or use the native runner".into(),
                code: EXIT_UNREADABLE,
            });
        }
        if !self.kubeconfig.is_file() {
            return Err(stop(
                format!("{}: no such kubeconfig", self.kubeconfig.display()),
                "check clusters/<cluster>/kubectl.kubeconfig or pass --kubeconfig",
            ));
        }
        let plain = |m: String| stop(m, "");
        let delete = || vec!["delete".to_string(), "--all".into(), "--wait".into()];
        if self.cleanup {
            self.shown(&delete()).await.map_err(plain)?;
        }
        let exists = self.exists().await.map_err(plain)?;
        if self.continue_run {
            if !exists {
                return Err(stop(
                    "no Sonobuoy run to continue in this cluster".into(),
                    "start one without --continue",
                ));
            }
            on(Event::Waiting);
            self.shown(&["wait".into()]).await.map_err(plain)?;
        } else {
            if exists {
                return Err(stop(
                    "a Sonobuoy run already exists in this cluster".into(),
                    "ezctl conformance run --runner sonobuoy --continue (or --cleanup)",
                ));
            }
            self.shown(&self.run_args()).await.map_err(|m| {
                stop(
                    m,
                    "`sonobuoy status` and `sonobuoy logs` tell why; --continue waits again",
                )
            })?;
        }
        let out_dir = &self.output_dir;
        std::fs::create_dir_all(out_dir)
            .map_err(|e| plain(format!("{}: {e}", out_dir.display())))?;
        let (ok, out) = self
            .output(&["retrieve".into(), out_dir.display().to_string()])
            .await
            .map_err(plain)?;
        let tarball = out
            .lines()
            .map(str::trim)
            .rfind(|l| l.ends_with(".tar.gz"))
            .map(PathBuf::from);
        let Some(tarball) = tarball.filter(|t| ok && t.is_file()) else {
            return Err(stop(
                format!("`sonobuoy retrieve` gave no tarball: {}", out.trim()),
                "retry with --continue",
            ));
        };
        let files = extract(&tarball, out_dir).map_err(|m| Stop {
            message: m,
            next: String::new(),
            code: EXIT_UNREADABLE,
        })?;
        let record = serde_json::json!({
            "conformance_image": self.conformance_image.clone().unwrap_or_else(|| "Sonobuoy's default for the server version".into()),
            "runner": "sonobuoy",
            "sonobuoy_tarball": tarball.file_name().map(|n| n.to_string_lossy().into_owned()),
            "commands": [self.command.clone()],
        });
        let rec = out_dir.join(crate::submission::RUN_RECORD);
        std::fs::write(&rec, serde_json::to_vec_pretty(&record).unwrap_or_default())
            .map_err(|e| plain(format!("{}: {e}", rec.display())))?;
        on(Event::Results {
            dir: out_dir.clone(),
            tarball: tarball.clone(),
        });
        if !self.keep {
            self.shown(&delete()).await.map_err(|m| {
                stop(
                    m,
                    "the results are safe; delete the run with `sonobuoy delete --all`",
                )
            })?;
        }
        let failed = crate::report::build(&files, None)
            .ok()
            .and_then(|r| r.failed)
            .unwrap_or(0);
        Ok(if failed > 0 { 1 } else { 0 })
    }
}

/// Copies e2e.log and junit_01.xml out of the tarball into `out`; returns the files read.
fn extract(tarball: &Path, out: &Path) -> Result<crate::source::ResultFiles, String> {
    let files = crate::source::load(&[tarball.to_path_buf()]).map_err(|e| e.to_string())?;
    for (name, data) in [("e2e.log", &files.e2e_log), ("junit_01.xml", &files.junit)] {
        let Some(bytes) = data else {
            return Err(format!("{}: no {name} in the tarball", tarball.display()));
        };
        let p = out.join(name);
        std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(files)
}
