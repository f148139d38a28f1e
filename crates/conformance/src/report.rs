//! The report: what a run's files say, checked against the required list of its release.
//!
//! Number sources, in order of authority (the bot trusts junit from v1.25 on):
//! * `passed`, `failed`, `ran`: junit_01.xml when present, else the e2e.log summary line;
//! * `specs_total`, `skipped`: the e2e.log (`Ran N of M`, `… N Skipped`) when stated, else junit;
//! * the version: `--version`, else the e2e.log version lines, else `serverversion.json`.
//!
//! Invariant: every count is `None` when no source states it, and [`Report::sources`] names the
//! source of every count that is `Some`.

use crate::e2elog::{self, LogSummary};
use crate::junit::{self, Junit, JunitError, Status};
use crate::lists::{self, ListChoice};
use crate::source::ResultFiles;
use crate::version::KubeVersion;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The input cannot be read as results at all.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("junit_01.xml ({origin}): {source}")]
    Junit {
        origin: String,
        #[source]
        source: JunitError,
    },
}

/// One failed spec.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub name: String,
    pub message: Option<String>,
    /// Whether the spec is in the required list (`None` when no list could be chosen).
    pub required: Option<bool>,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every required test is present and passed.
    Passed,
    /// A required test is missing or failed.
    Failed,
    /// The required tests cannot be checked (no list for the version, or no names in the files).
    Unknown,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub kubernetes_version: Option<String>,
    pub kubernetes_version_source: Option<String>,
    pub junit_flavor: Option<junit::Flavor>,
    pub specs_total: Option<u64>,
    pub ran: Option<u64>,
    pub passed: Option<u64>,
    pub failed: Option<u64>,
    pub skipped: Option<u64>,
    pub failures: Vec<Failure>,
    /// Release whose list was used, and whether it is the run's own.
    pub required_list_version: Option<String>,
    pub required_list_exact: Option<bool>,
    pub required_total: Option<usize>,
    pub required_passed: Option<usize>,
    pub required_missing: Vec<String>,
    pub required_failed: Vec<String>,
    /// Tests that ran but are not in the required list.
    pub extra: Vec<String>,
    /// Source of every stated count: field name → `junit_01.xml` | `e2e.log` | `serverversion.json` | `--version`.
    pub sources: BTreeMap<&'static str, String>,
    /// Where the files were read.
    pub files: BTreeMap<&'static str, String>,
    /// junit and e2e.log contradicting each other, or a junit header contradicting its body.
    pub disagreements: Vec<String>,
    pub warnings: Vec<String>,
    /// Why the required tests could not be checked.
    pub required_error: Option<String>,
    pub verdict: Verdict,
}

const JUNIT: &str = "junit_01.xml";
const LOG: &str = "e2e.log";

/// Builds the report. `version_override` is the user's `--version`.
pub fn build(
    rf: &ResultFiles,
    version_override: Option<KubeVersion>,
) -> Result<Report, ReportError> {
    // The two files are independent: parse them on two threads.
    let (junit, log) = std::thread::scope(|sc| {
        let log = sc.spawn(|| rf.e2e_log.as_deref().map(e2elog::scan));
        let junit = rf.junit.as_deref().map(junit::parse);
        // A panic in the scanner is a bug; re-raise it here rather than lose it.
        let log = log.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (junit, log)
    });
    let junit = match junit {
        Some(r) => Some(r.map_err(|source| ReportError::Junit {
            origin: rf.junit_origin.clone().unwrap_or_default(),
            source,
        })?),
        None => None,
    };
    Ok(assemble(rf, junit.as_ref(), log.as_ref(), version_override))
}

fn assemble(
    rf: &ResultFiles,
    junit: Option<&Junit>,
    log: Option<&LogSummary>,
    version_override: Option<KubeVersion>,
) -> Report {
    let mut sources = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut disagreements = Vec::new();
    let mut files = BTreeMap::new();
    if let Some(o) = &rf.junit_origin {
        files.insert("junit_01.xml", o.clone());
    }
    if let Some(o) = &rf.e2e_log_origin {
        files.insert("e2e.log", o.clone());
    }
    if junit.is_none() {
        warnings.push("no junit_01.xml: numbers come from e2e.log only".to_string());
    }
    if log.is_none() {
        warnings.push("no e2e.log: the submission needs one".to_string());
    }

    // Version.
    let log_version = log.and_then(|l| l.version);
    let (version, vsource) = match (version_override, log_version, rf.server_version) {
        (Some(v), ..) => (Some(v), Some("--version".to_string())),
        (None, Some((v, s)), _) => (Some(v), Some(s.label().to_string())),
        (None, None, Some(v)) => (Some(v), Some("serverversion.json".to_string())),
        _ => (None, None),
    };
    if let (Some(o), Some((lv, _))) = (version_override, log_version)
        && o.release() != lv.release()
    {
        warnings.push(format!(
            "--version {o} differs from the version in e2e.log ({lv})"
        ));
    }

    // Counts.
    let mut pick = |field: &'static str, j: Option<u64>, l: Option<u64>, log_first: bool| {
        let (v, src) = match (j, l, log_first) {
            (_, Some(l), true) => (Some(l), LOG),
            (Some(j), _, _) => (Some(j), JUNIT),
            (None, Some(l), _) => (Some(l), LOG),
            (None, None, _) => (None, ""),
        };
        if v.is_some() {
            sources.insert(field, src.to_string());
        }
        v
    };
    let j_passed = junit.map(|j| j.count(Status::Passed));
    let j_failed = junit.map(|j| j.count(Status::Failed));
    let j_skipped = junit.map(|j| j.count(Status::Skipped));
    let j_total = junit.map(|j| j.cases.len() as u64);
    let j_ran = junit.map(|j| j.ran());
    let passed = pick("passed", j_passed, log.and_then(|l| l.passed), false);
    let failed = pick("failed", j_failed, log.and_then(|l| l.failed), false);
    let ran = pick("ran", j_ran, log.and_then(|l| l.ran), false);
    let specs_total = pick(
        "specs_total",
        j_total,
        log.and_then(|l| l.specs_total),
        true,
    );
    let skipped = pick("skipped", j_skipped, log.and_then(|l| l.skipped), true);
    if let Some(s) = &vsource {
        sources.insert("kubernetes_version", s.clone());
    }

    // Disagreements.
    if let Some(j) = junit {
        let body_failed = j.count(Status::Failed)
            + j.suite_nodes
                .iter()
                .filter(|c| c.status == Status::Failed)
                .count() as u64;
        if let Some(h) = j.header_failures()
            && h != body_failed
        {
            disagreements.push(format!(
                "junit_01.xml header says {h} failure(s) but {body_failed} testcase(s) failed"
            ));
        }
        if let Some(l) = log {
            let cmp = |what: &str, jv: u64, lv: Option<u64>, out: &mut Vec<String>| {
                if let Some(lv) = lv
                    && lv != jv
                {
                    out.push(format!("{what}: junit_01.xml has {jv}, e2e.log says {lv}"));
                }
            };
            cmp(
                "failed",
                j.count(Status::Failed),
                l.failed,
                &mut disagreements,
            );
            cmp(
                "passed",
                j.count(Status::Passed),
                l.passed,
                &mut disagreements,
            );
            cmp("ran", j.ran(), l.ran, &mut disagreements);
            if l.success == Some(false) && j.count(Status::Failed) == 0 {
                disagreements
                    .push("e2e.log says FAIL! but junit_01.xml has no failed testcase".to_string());
            }
            let j_fail: HashSet<&str> = j
                .cases
                .iter()
                .filter(|c| c.status == Status::Failed)
                .map(|c| c.name.as_str())
                .collect();
            for printed in &l.failures {
                let cands = e2elog::failure_name_candidates(printed);
                if !cands.iter().any(|c| j_fail.contains(c.as_str())) {
                    disagreements.push(format!(
                        "e2e.log lists a failure that junit_01.xml does not: {printed}"
                    ));
                }
            }
        }
    }

    // Required list.
    let choice: Result<ListChoice, String> = match version {
        Some(v) => lists::required_list(v).map_err(|e| e.to_string()),
        None => Err(
            "the Kubernetes version is not stated in these files; pass --version v1.NN".to_string(),
        ),
    };
    let mut r = Report {
        kubernetes_version: version.map(|v| v.to_string()),
        kubernetes_version_source: vsource,
        junit_flavor: junit.map(|j| j.flavor),
        specs_total,
        ran,
        passed,
        failed,
        skipped,
        failures: Vec::new(),
        required_list_version: None,
        required_list_exact: None,
        required_total: None,
        required_passed: None,
        required_missing: Vec::new(),
        required_failed: Vec::new(),
        extra: Vec::new(),
        sources,
        files,
        disagreements,
        warnings,
        required_error: None,
        verdict: Verdict::Unknown,
    };
    let required: Option<Vec<String>> = match &choice {
        Ok(c) => {
            if let Some(w) = c.warning() {
                r.warnings.push(w);
            }
            r.required_list_version = Some(c.list_version.to_string());
            r.required_list_exact = Some(c.exact);
            r.required_total = Some(c.tests.len());
            Some(c.codenames())
        }
        Err(e) => {
            r.required_error = Some(e.clone());
            None
        }
    };
    let req_set: Option<HashSet<&str>> = required
        .as_ref()
        .map(|v| v.iter().map(String::as_str).collect());

    // Per-spec outcomes: junit, else the v1 progress lines of the log.
    let mut outcome: HashMap<String, Status> = HashMap::new();
    let mut messages: HashMap<String, Option<String>> = HashMap::new();
    let names_known;
    if let Some(j) = junit {
        names_known = true;
        for c in &j.cases {
            outcome.insert(c.name.clone(), c.status);
            if c.status == Status::Failed {
                messages.insert(c.name.clone(), c.message.clone());
            }
        }
    } else if let Some(l) = log {
        names_known = !l.passed_names.is_empty() || !l.failed_names.is_empty();
        for n in &l.passed_names {
            outcome.insert(n.clone(), Status::Passed);
        }
        for n in &l.failed_names {
            outcome.insert(n.clone(), Status::Failed);
            messages.insert(n.clone(), None);
        }
        for printed in &l.failures {
            let cands = e2elog::failure_name_candidates(printed);
            let name = cands
                .iter()
                .find(|c| {
                    req_set.as_ref().is_some_and(|s| s.contains(c.as_str()))
                        || outcome.contains_key(*c)
                })
                .unwrap_or(&cands[0])
                .clone();
            outcome.insert(name.clone(), Status::Failed);
            messages.entry(name).or_insert(None);
        }
    } else {
        names_known = false;
    }

    let mut failures: Vec<Failure> = messages
        .into_iter()
        .map(|(name, message)| Failure {
            required: req_set.as_ref().map(|s| s.contains(name.as_str())),
            name,
            message,
        })
        .collect();
    failures.sort_by(|a, b| a.name.cmp(&b.name));
    r.failures = failures;

    if let (Some(req), Some(set)) = (&required, &req_set) {
        if names_known {
            let mut ok = 0;
            for name in req {
                match outcome.get(name) {
                    Some(Status::Passed) => ok += 1,
                    Some(Status::Failed) => r.required_failed.push(name.clone()),
                    Some(Status::Skipped) | None => r.required_missing.push(name.clone()),
                }
            }
            r.required_passed = Some(ok);
            let mut extra: Vec<String> = outcome
                .iter()
                .filter(|(n, s)| **s != Status::Skipped && !set.contains(n.as_str()))
                .map(|(n, _)| n.clone())
                .collect();
            extra.sort();
            r.extra = extra;
            r.verdict = if r.required_missing.is_empty() && r.required_failed.is_empty() {
                Verdict::Passed
            } else {
                Verdict::Failed
            };
        } else {
            r.required_error = Some(
                "the files name no individual tests (no junit_01.xml, and e2e.log has no per-test \
                 progress lines); the required tests cannot be checked"
                    .to_string(),
            );
            // A stated failure is still a failure.
            if failed.is_some_and(|f| f > 0) {
                r.verdict = Verdict::Failed;
            }
        }
    }
    for f in r.failures.iter().filter(|f| f.required == Some(false)) {
        r.warnings.push(format!(
            "a test outside the required list failed: {}",
            f.name
        ));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rf(log: &str, junit: Option<&str>) -> ResultFiles {
        ResultFiles {
            e2e_log: Some(log.as_bytes().to_vec()),
            junit: junit.map(|j| j.as_bytes().to_vec()),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_version_is_reported_not_guessed() {
        let r = build(&rf("Ran 1 of 2 Specs in 1 seconds\n", None), None).unwrap();
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(r.required_error.unwrap().contains("--version"));
        assert_eq!(r.ran, Some(1));
        assert_eq!(r.sources["ran"], "e2e.log");
    }

    #[test]
    fn header_contradicting_body_is_a_disagreement() {
        let j = r#"<testsuite tests="1" failures="0"><testcase name="a"><failure>x</failure></testcase></testsuite>"#;
        let r = build(&rf("", Some(j)), Some("v1.26".parse().unwrap())).unwrap();
        assert_eq!(r.disagreements.len(), 1, "{:?}", r.disagreements);
        assert_eq!(r.failed, Some(1));
        assert_eq!(r.failures[0].required, Some(false));
        assert_eq!(r.verdict, Verdict::Failed, "required tests are all missing");
        assert_eq!(r.required_missing.len(), 368);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("outside the required list"))
        );
    }

    #[test]
    fn non_junit_xml_is_an_error() {
        let e = build(&rf("", Some("<html/>")), None).unwrap_err();
        assert!(e.to_string().contains("not a junit report"), "{e}");
    }
}
