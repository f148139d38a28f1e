//! `ezctl conformance report PATH… [--version v1.NN] [--json]`.

use super::{EXIT_UNREADABLE, fail, parse_version};
use crate::ctx::Ctx;
use ez_conformance::report::{self, Report, Verdict};
use ez_conformance::source;
use ez_conformance::version::KubeVersion;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A results directory, a Sonobuoy tarball, or the e2e.log and junit_01.xml files.
    #[arg(required = true, num_args = 1..=2)]
    pub paths: Vec<PathBuf>,
    /// Kubernetes version of the run, when the files do not state it (v1.NN or v1.NN.P).
    #[arg(long, value_parser = parse_version)]
    pub version: Option<KubeVersion>,
}

/// Loads and builds a report; `Err(exit code)` after printing the reason.
pub fn load(paths: &[PathBuf], version: Option<KubeVersion>) -> Result<Report, u8> {
    let files = source::load(paths).map_err(|e| {
        fail(
            &e,
            "point at a results directory, a sonobuoy tarball, or e2e.log + junit_01.xml",
            EXIT_UNREADABLE,
        )
    })?;
    report::build(&files, version).map_err(|e| {
        fail(
            &e,
            "junit_01.xml must be the e2e suite's report (written by e2e.test --report-dir)",
            EXIT_UNREADABLE,
        )
    })
}

pub fn run(ctx: &Ctx, a: ReportArgs) -> u8 {
    let r = match load(&a.paths, a.version) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if ctx.json {
        match serde_json::to_string_pretty(&r) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&e, "", EXIT_UNREADABLE),
        }
    } else {
        print!("{}", human(&r));
    }
    exit_code(&r)
}

pub fn exit_code(r: &Report) -> u8 {
    if r.verdict == Verdict::Passed { 0 } else { 1 }
}

fn n(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

/// A short human summary.
pub fn human(r: &Report) -> String {
    let mut o = String::new();
    let ver = r.kubernetes_version.as_deref().unwrap_or("unknown");
    let src = r
        .kubernetes_version_source
        .as_deref()
        .unwrap_or("not stated");
    o.push_str(&format!("Kubernetes {ver} (from {src})\n"));
    o.push_str(&format!(
        "Ran {} of {} specs: {} passed, {} failed, {} skipped\n",
        n(r.ran),
        n(r.specs_total),
        n(r.passed),
        n(r.failed),
        n(r.skipped)
    ));
    if let (Some(total), Some(lv)) = (r.required_total, &r.required_list_version) {
        let passed = r.required_passed.map_or("?".to_string(), |p| p.to_string());
        o.push_str(&format!(
            "Required ({lv} list, {total} tests): {passed} passed, {} failed, {} missing; {} extra test(s) ran\n",
            r.required_failed.len(),
            r.required_missing.len(),
            r.extra.len()
        ));
    }
    for f in &r.failures {
        let tag = match f.required {
            Some(true) => "required",
            Some(false) => "not required",
            None => "required?",
        };
        o.push_str(&format!("  FAILED ({tag}): {}\n", f.name));
        if let Some(m) = &f.message {
            let first = m.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            o.push_str(&format!(
                "    {}\n",
                first.chars().take(200).collect::<String>()
            ));
        }
    }
    const SHOW: usize = 10;
    for m in r.required_missing.iter().take(SHOW) {
        o.push_str(&format!("  MISSING: {m}\n"));
    }
    if r.required_missing.len() > SHOW {
        o.push_str(&format!(
            "  … and {} more missing (use --json for all)\n",
            r.required_missing.len() - SHOW
        ));
    }
    for d in &r.disagreements {
        o.push_str(&format!("  DISAGREE: {d}\n"));
    }
    for w in &r.warnings {
        o.push_str(&format!("  warning: {w}\n"));
    }
    if let Some(e) = &r.required_error {
        o.push_str(&format!("  cannot check required tests: {e}\n"));
    }
    o.push_str(match r.verdict {
        Verdict::Passed => "PASSED: every required conformance test passed\n",
        Verdict::Failed => "FAILED: required conformance tests failed or are missing\n",
        Verdict::Unknown => "UNKNOWN: the required tests could not be checked\n",
    });
    o
}
