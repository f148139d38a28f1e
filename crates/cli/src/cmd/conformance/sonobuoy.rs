//! `ezctl conformance run --runner sonobuoy`: the suite through Sonobuoy's own binary in its
//! `certified-conformance` mode (focus `[Conformance]`, no skip, serial), for users who must
//! show a Sonobuoy run. The several commands people type by hand (run, wait, retrieve,
//! extract, delete) become one, with the same results layout as the native runner:
//! `e2e.log`, `junit_01.xml`, the Sonobuoy tarball and `ezctl-run.json` in `--output-dir`.
//!
//! Invariant: a run that already exists in the cluster is never replaced silently: it is
//! refused unless `--continue` (wait for it) or `--cleanup` (delete it first).

use super::run::RunArgs;
use super::{EXIT_UNREADABLE, fail};
use crate::ctx::Ctx;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The Sonobuoy binary and the kubeconfig it is given.
struct Sonobuoy {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Sonobuoy {
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
}

/// `sonobuoy run …` for these options: certified mode, waiting up to the run's timeout.
pub fn run_args(a: &RunArgs) -> Vec<String> {
    let minutes = a.timeout.div_ceil(60).max(1);
    let mut v = vec![
        "run".to_string(),
        "--mode=certified-conformance".to_string(),
        format!("--wait={minutes}"),
        format!("--timeout={}", a.timeout),
    ];
    if let Some(i) = &a.conformance_image {
        v.push(format!("--kube-conformance-image={i}"));
    }
    if let Some(f) = &a.test_repo_list {
        // Sonobuoy takes the same KUBE_TEST_REPO_LIST YAML.
        v.push(format!("--e2e-repo-config={}", f.display()));
    }
    v
}

/// Copies e2e.log and junit_01.xml out of the tarball into `out`; returns the files read.
fn extract(tarball: &Path, out: &Path) -> Result<ez_conformance::source::ResultFiles, String> {
    let files =
        ez_conformance::source::load(&[tarball.to_path_buf()]).map_err(|e| e.to_string())?;
    for (name, data) in [("e2e.log", &files.e2e_log), ("junit_01.xml", &files.junit)] {
        let Some(bytes) = data else {
            return Err(format!("{}: no {name} in the tarball", tarball.display()));
        };
        let p = out.join(name);
        std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(files)
}

/// Runs (or waits for) the Sonobuoy run and collects its results; `Ok(exit code of the
/// suite)` (1 when a test failed), or the error already printed as `Err(code)`.
pub async fn execute(ctx: &Ctx, a: &RunArgs) -> Result<i32, u8> {
    let bin = a
        .sonobuoy
        .clone()
        .unwrap_or_else(|| ez_inventory::BundleLayout::new(&ctx.base).bin_file("sonobuoy"));
    if !bin.is_file() {
        return Err(fail(
            &format!("no Sonobuoy binary at {}", bin.display()),
            "fetch it with `ezdown -X sonobuoy` (or pass --sonobuoy PATH), or use the native runner",
            EXIT_UNREADABLE,
        ));
    }
    let kubeconfig = a
        .kubeconfig
        .clone()
        .unwrap_or_else(|| ctx.cluster_dir(&a.cluster).join("kubectl.kubeconfig"));
    if !kubeconfig.is_file() {
        return Err(fail(
            &format!("{}: no such kubeconfig", kubeconfig.display()),
            "check clusters/<cluster>/kubectl.kubeconfig or pass --kubeconfig",
            1,
        ));
    }
    let s = Sonobuoy { bin, kubeconfig };
    let err = |m: String, next: &str| fail(&m, next, 1);
    let delete = || vec!["delete".to_string(), "--all".into(), "--wait".into()];
    if a.cleanup {
        s.shown(&delete()).await.map_err(|m| err(m, ""))?;
    }
    let exists = s.exists().await.map_err(|m| err(m, ""))?;
    if a.continue_run {
        if !exists {
            return Err(err(
                "no Sonobuoy run to continue in this cluster".into(),
                "start one without --continue",
            ));
        }
        eprintln!("[conformance] waiting for the Sonobuoy run in progress");
        s.shown(&["wait".into()]).await.map_err(|m| err(m, ""))?;
    } else {
        if exists {
            return Err(err(
                "a Sonobuoy run already exists in this cluster".into(),
                "ezctl conformance run --runner sonobuoy --continue (or --cleanup)",
            ));
        }
        s.shown(&run_args(a)).await.map_err(|m| {
            err(
                m,
                "`sonobuoy status` and `sonobuoy logs` tell why; --continue waits again",
            )
        })?;
    }
    std::fs::create_dir_all(&a.output_dir)
        .map_err(|e| err(format!("{}: {e}", a.output_dir.display()), ""))?;
    let (ok, out) = s
        .output(&["retrieve".into(), a.output_dir.display().to_string()])
        .await
        .map_err(|m| err(m, ""))?;
    let tarball = out
        .lines()
        .map(str::trim)
        .rfind(|l| l.ends_with(".tar.gz"))
        .map(PathBuf::from);
    let Some(tarball) = tarball.filter(|t| ok && t.is_file()) else {
        return Err(err(
            format!("`sonobuoy retrieve` gave no tarball: {}", out.trim()),
            "retry with --continue",
        ));
    };
    let files = extract(&tarball, &a.output_dir).map_err(|m| fail(&m, "", EXIT_UNREADABLE))?;
    let record = serde_json::json!({
        "conformance_image": a.conformance_image.clone().unwrap_or_else(|| "Sonobuoy's default for the server version".into()),
        "runner": "sonobuoy",
        "sonobuoy_tarball": tarball.file_name().map(|n| n.to_string_lossy().into_owned()),
        "commands": [super::run::command_text(a)],
    });
    let rec = a.output_dir.join(ez_conformance::submission::RUN_RECORD);
    std::fs::write(&rec, serde_json::to_vec_pretty(&record).unwrap_or_default())
        .map_err(|e| err(format!("{}: {e}", rec.display()), ""))?;
    eprintln!(
        "[conformance] results in {} (from {})",
        a.output_dir.display(),
        tarball.display()
    );
    if !a.keep {
        s.shown(&delete()).await.map_err(|m| {
            err(
                m,
                "the results are safe; delete the run with `sonobuoy delete --all`",
            )
        })?;
    }
    let failed = ez_conformance::report::build(&files, None)
        .ok()
        .and_then(|r| r.failed)
        .unwrap_or(0);
    Ok(if failed > 0 { 1 } else { 0 })
}
