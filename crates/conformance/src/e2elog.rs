//! Line scanner for the e2e suite's `e2e.log` (Ginkgo v1 and v2, verbose and succinct).
//!
//! What it reads, each only when the log states it:
//! * the version: `e2e test version: vX`, `kube-apiserver version: vX`,
//!   `Kubernetes e2e suite version: vX`, else a `KubeletVersion:vX` from a node dump;
//! * `Will run N of M specs`, `Ran N of M Specs in …`;
//! * `SUCCESS!|FAIL! -- N Passed | N Failed | N Pending | N Skipped`;
//! * `Summarizing N Failures:` and the `[Fail] …` (v1) / `[FAIL] …` (v2) lines under it;
//! * progress: one spec done per line starting with `•` (`•{"msg":…}`, `• [12.3 seconds]`,
//!   `• [FAILED] …`, `• Failure […]`) and one per `•` in succinct runs of `•`/`S`.
//!
//! Invariant: counts are `None` when the log does not state them; nothing is guessed.

use crate::version::KubeVersion;

/// Where a version was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    ApiServerLine,
    E2eTestLine,
    SuiteVersionLine,
    KubeletVersionInNodeDump,
}

/// What a (possibly partial) e2e.log says.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LogSummary {
    pub version: Option<(KubeVersion, VersionSource)>,
    pub will_run: Option<u64>,
    pub ran: Option<u64>,
    pub specs_total: Option<u64>,
    pub passed: Option<u64>,
    pub failed: Option<u64>,
    pub pending: Option<u64>,
    pub skipped: Option<u64>,
    /// `Some(true)` for `SUCCESS!`, `Some(false)` for `FAIL!`.
    pub success: Option<bool>,
    pub summarized_failures: Option<u64>,
    /// Names under `Summarizing N Failures:`, as printed (see [`failure_name_candidates`]).
    pub failures: Vec<String>,
    /// Specs finished so far, counted from `•` markers.
    pub progress_done: u64,
    /// Specs failed so far, counted from failure markers.
    pub progress_failed: u64,
    /// Spec names from Ginkgo v1 progress lines `•{"msg":"PASSED <name>",…}`, or from
    /// Ginkgo v2's verbose blocks (`-v`: the header after the separator, then `• [N seconds]`).
    pub passed_names: Vec<String>,
    /// Spec names from Ginkgo v1 progress lines `{"msg":"FAILED <name>",…}`, or v2 verbose
    /// blocks that end `• [FAILED]` (or panicked, timed out, interrupted).
    pub failed_names: Vec<String>,
}

impl VersionSource {
    /// Human label, e.g. `e2e.log: kube-apiserver version line`.
    pub fn label(self) -> &'static str {
        match self {
            VersionSource::ApiServerLine => "e2e.log: kube-apiserver version line",
            VersionSource::E2eTestLine => "e2e.log: e2e test version line",
            VersionSource::SuiteVersionLine => "e2e.log: e2e suite version line",
            VersionSource::KubeletVersionInNodeDump => "e2e.log: KubeletVersion in a node dump",
        }
    }
}

fn version_rank(s: VersionSource) -> u8 {
    match s {
        VersionSource::ApiServerLine => 0,
        VersionSource::E2eTestLine => 1,
        VersionSource::SuiteVersionLine => 2,
        VersionSource::KubeletVersionInNodeDump => 3,
    }
}

fn number_before(s: &str, word: &str) -> Option<u64> {
    let i = s.find(word)?;
    s[..i].trim_end().rsplit(' ').next()?.parse().ok()
}

/// Incremental scanner: feed lines as they arrive (used for live progress), read [`Self::summary`].
#[derive(Debug, Default)]
pub struct LogScanner {
    s: LogSummary,
    in_summary: bool,
    /// Versions are found by [`scan`] with a whole-buffer search instead of per line.
    versions_elsewhere: bool,
    /// The line before was Ginkgo v2's `------------------------------` separator.
    after_separator: bool,
    /// The spec whose verbose block is being read (its header line, labels dropped).
    current_spec: Option<String>,
}

impl LogScanner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn summary(&self) -> &LogSummary {
        &self.s
    }

    pub fn into_summary(self) -> LogSummary {
        self.s
    }

    fn set_version(&mut self, line: &str, key: &str, src: VersionSource) {
        if let Some(i) = line.find(key)
            && let Some(v) = KubeVersion::find_in(&line[i + key.len()..])
        {
            let better = self
                .s
                .version
                .is_none_or(|(_, old)| version_rank(src) < version_rank(old));
            if better {
                self.s.version = Some((v, src));
            }
        }
    }

    fn progress_json(&mut self, t: &str) -> bool {
        let Some(i) = t.find("{\"msg\":\"") else {
            return false;
        };
        if !t[..i].chars().all(|c| matches!(c, '•' | 'S' | ' ')) {
            return false;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&t[i..]) else {
            return false;
        };
        let msg = v.get("msg").and_then(|m| m.as_str()).unwrap_or_default();
        if let Some(n) = msg.strip_prefix("PASSED ") {
            self.s.passed_names.push(crate::lists::normalize_name(n));
        } else if let Some(n) = msg.strip_prefix("FAILED ") {
            self.s.failed_names.push(crate::lists::normalize_name(n));
        }
        let done = v.get("completed").and_then(|c| c.as_u64());
        let failed = v.get("failed").and_then(|c| c.as_u64());
        if let (Some(d), Some(f)) = (done, failed) {
            // The suite's own counter: completed excludes failures in Ginkgo v1.
            self.s.progress_done = d + f;
            self.s.progress_failed = f;
        } else {
            self.s.progress_done += 1;
        }
        if let Some(total) = v.get("total").and_then(|c| c.as_u64()) {
            self.s.will_run.get_or_insert(total);
        }
        true
    }

    /// Specs finished on an unfinished line of succinct progress (`•`/`S`/`P`/`-` only), which
    /// [`Self::line`] will count once the line ends.
    pub fn pending_progress(partial: &str) -> u64 {
        let t = partial.trim();
        if t.chars().all(|c| matches!(c, '•' | 'S' | 'P' | '-')) {
            t.chars().filter(|&c| c == '•').count() as u64
        } else {
            0
        }
    }

    /// Feeds one line (without its newline).
    pub fn line(&mut self, line: &str) {
        let t = line.trim();
        if t.contains("{\"msg\":\"") && self.progress_json(t) {
            return;
        }
        // Ginkgo v2 verbose: `------------------------------`, then the spec's header
        // `[sig-x] T does y [Conformance] [sig-x, Conformance]`, its output, `• [1.2 seconds]`.
        if t.len() >= 20 && t.bytes().all(|b| b == b'-') {
            self.after_separator = true;
            return;
        }
        if std::mem::take(&mut self.after_separator) && t.starts_with("[sig-") {
            self.current_spec = Some(strip_label_list(t));
        }
        if self.in_summary {
            if let Some(name) = t
                .strip_prefix("[Fail] ")
                .or_else(|| t.strip_prefix("[FAIL] "))
            {
                self.s.failures.push(name.trim().to_string());
                return;
            }
            if t.starts_with("Ran ") {
                self.in_summary = false;
            }
        }
        if let Some(rest) = t.strip_prefix('•') {
            // One finished spec: v1 JSON, verbose timing, or a failure block header.
            if rest.starts_with('{') || rest.starts_with(" [") || rest.starts_with(" Failure") {
                self.s.progress_done += 1;
                let failed = rest.starts_with("{\"msg\":\"FAILED")
                    || rest.starts_with(" Failure")
                    || rest.starts_with(" [FAILED]")
                    || rest.starts_with(" [PANICKED]")
                    || rest.starts_with(" [TIMEDOUT]")
                    || rest.starts_with(" [INTERRUPTED]");
                if failed {
                    self.s.progress_failed += 1;
                }
                if let Some(name) = self.current_spec.take() {
                    if failed {
                        self.s.failed_names.push(name);
                    } else {
                        self.s.passed_names.push(name);
                    }
                }
                return;
            }
        }
        if !t.is_empty() && t.chars().all(|c| matches!(c, '•' | 'S' | 'P' | '-')) {
            if t.contains('•') {
                self.s.progress_done += t.chars().filter(|&c| c == '•').count() as u64;
            }
            return;
        }
        if !self.versions_elsewhere && (t.contains("version: v") || t.contains("KubeletVersion:v"))
        {
            self.set_version(t, "kube-apiserver version: ", VersionSource::ApiServerLine);
            self.set_version(t, "e2e test version: ", VersionSource::E2eTestLine);
            self.set_version(
                t,
                "Kubernetes e2e suite version: ",
                VersionSource::SuiteVersionLine,
            );
            self.set_version(
                t,
                "KubeletVersion:",
                VersionSource::KubeletVersionInNodeDump,
            );
            return;
        }
        if let Some(rest) = t.strip_prefix("Will run ") {
            self.s.will_run = rest.split(' ').next().and_then(|n| n.parse().ok());
            if let Some(total) = rest.split(" of ").nth(1) {
                self.s.specs_total = total.split(' ').next().and_then(|n| n.parse().ok());
            }
            return;
        }
        if let Some(rest) = t.strip_prefix("Ran ")
            && rest.contains(" Specs")
        {
            let mut it = rest.split(' ');
            self.s.ran = it.next().and_then(|n| n.parse().ok());
            if it.next() == Some("of") {
                self.s.specs_total = it.next().and_then(|n| n.parse().ok());
            }
            return;
        }
        if let Some(i) = t.find("Summarizing ")
            && (t.ends_with("Failures:") || t.ends_with("Failure:"))
        {
            self.s.summarized_failures = number_before(&t[i..], "Failure");
            self.in_summary = true;
            return;
        }
        let verdict = if t.starts_with("SUCCESS! -- ") {
            Some(true)
        } else if t.starts_with("FAIL! -- ") {
            Some(false)
        } else {
            None
        };
        if let Some(ok) = verdict {
            self.s.success = Some(ok);
            self.s.passed = number_before(t, " Passed");
            self.s.failed = number_before(t, " Failed");
            self.s.pending = number_before(t, " Pending");
            self.s.skipped = number_before(t, " Skipped");
        }
    }
}

/// Version keys searched in the whole buffer by [`scan`], with their source.
const VERSION_KEYS: &[(&str, VersionSource)] = &[
    ("kube-apiserver version: ", VersionSource::ApiServerLine),
    ("e2e test version: ", VersionSource::E2eTestLine),
    (
        "Kubernetes e2e suite version: ",
        VersionSource::SuiteVersionLine,
    ),
    ("KubeletVersion:", VersionSource::KubeletVersionInNodeDump),
];

/// Can a line starting with this byte (first non-blank) matter outside a failure summary?
/// `•` (0xE2…), runs of `S`/`P`/`-`, `SUCCESS!`/`Summarizing`, `Will run`, `Ran`, `FAIL!`,
/// `[Fail]`, and v1 progress JSON `{…}`.
fn may_matter(first: u8) -> bool {
    matches!(
        first,
        0xE2 | b'S' | b'P' | b'-' | b'W' | b'R' | b'F' | b'[' | b'{'
    )
}

/// Scans a whole log. Invalid UTF-8 is replaced, never an error. Lines that cannot matter are
/// skipped on their first byte; versions are found with one substring search per key.
pub fn scan(bytes: &[u8]) -> LogSummary {
    let mut sc = LogScanner {
        versions_elsewhere: true,
        ..LogScanner::default()
    };
    for raw in bytes.split(|&b| b == b'\n') {
        let Some(&first) = raw.iter().find(|b| !b.is_ascii_whitespace()) else {
            continue;
        };
        if !sc.in_summary && !may_matter(first) {
            continue;
        }
        let line = String::from_utf8_lossy(raw);
        sc.line(line.trim_end_matches('\r'));
    }
    for (key, src) in VERSION_KEYS {
        if sc
            .s
            .version
            .is_some_and(|(_, old)| version_rank(old) <= version_rank(*src))
        {
            continue;
        }
        if let Some(pos) = memchr::memmem::find(bytes, key.as_bytes()) {
            let rest = &bytes[pos + key.len()..];
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len()).min(64);
            if let Some(v) = KubeVersion::find_in(&String::from_utf8_lossy(&rest[..end])) {
                sc.s.version = Some((v, *src));
            }
        }
    }
    sc.into_summary()
}

/// Names a `[Fail]`/`[FAIL]` summary line can stand for, most specific first: the line with the
/// `[It] ` token removed, then with a trailing Ginkgo v2 label list (`[sig-apps, Conformance]`)
/// dropped. Each is normalised with [`crate::lists::normalize_name`].
/// A v2 spec header without its trailing label list: `[sig-x] T does y [Conformance]
/// [sig-x, Conformance]` → `[sig-x] T does y [Conformance]` (a label list has a comma or is a
/// lone `[sig-…]`, never the `[Conformance]` tag the names end with).
fn strip_label_list(header: &str) -> String {
    let t = header.trim_end();
    if let Some(open) = t.rfind(" [")
        && t.ends_with(']')
    {
        let last = &t[open + 2..t.len() - 1];
        if last.contains(", ") || last.starts_with("sig-") {
            return t[..open].trim_end().to_string();
        }
    }
    t.to_string()
}

pub fn failure_name_candidates(printed: &str) -> Vec<String> {
    let base = crate::lists::normalize_name(&printed.replacen("[It] ", "", 1));
    let mut out = vec![base.clone()];
    if base.ends_with(']')
        && let Some(open) = base.rfind(" [")
    {
        out.push(base[..open].trim_end().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_verbose_tail_and_versions() {
        let log = "Feb 16 11:58:43.547: INFO: e2e test version: v1.20.2\n\
                   Feb 16 11:58:43.548: INFO: kube-apiserver version: v1.20.3\n\
                   Will run 311 of 5667 specs\n\
                   •{\"msg\":\"PASSED [sig-a] x\",\"total\":311,\"completed\":1}\n\
                   • Failure [60.373 seconds]\n\
                   Summarizing 1 Failure:\n\n\
                   [Fail] [sig-apps] Daemon set [Serial] [It] should rollback  [Conformance] \n\
                   /x/daemon_set.go:424\n\n\
                   Ran 311 of 5667 Specs in 6179.487 seconds\n\
                   FAIL! -- 310 Passed | 1 Failed | 0 Pending | 5356 Skipped\n";
        let s = scan(log.as_bytes());
        let (v, src) = s.version.unwrap();
        assert_eq!(v.to_string(), "v1.20.3");
        assert_eq!(src, VersionSource::ApiServerLine);
        assert_eq!(
            (s.will_run, s.ran, s.specs_total),
            (Some(311), Some(311), Some(5667))
        );
        assert_eq!(
            (s.passed, s.failed, s.pending, s.skipped),
            (Some(310), Some(1), Some(0), Some(5356))
        );
        assert_eq!(s.success, Some(false));
        assert_eq!(s.summarized_failures, Some(1));
        assert_eq!(s.failures.len(), 1);
        assert_eq!((s.progress_done, s.progress_failed), (2, 1));
        assert_eq!(
            failure_name_candidates(&s.failures[0])[0],
            "[sig-apps] Daemon set [Serial] should rollback [Conformance]"
        );
    }

    #[test]
    fn v2_verbose_blocks_name_each_spec() {
        let log = "Will run 3 of 10 specs\n------------------------------\n\
                   [sig-apps] CronJob should x [Slow] [Conformance] [sig-apps, Slow, Conformance]\n\
                   k8s.io/kubernetes/test/e2e/apps/cronjob.go:99\n  STEP: a\n\
                   • [300.1 seconds]\n------------------------------\n\
                   [sig-node] Sysctls should y [Environment:NotInUserNS] [Conformance] [sig-node, NodeConformance, Environment:NotInUserNS, Conformance]\n\
                   • [FAILED] [2.5 seconds]\n------------------------------\nSSSS\n\
                   ------------------------------\n[sig-cli] Kubectl z [Conformance] [sig-cli, Conformance]\n";
        let s = scan(log.as_bytes());
        assert_eq!(
            s.passed_names,
            vec!["[sig-apps] CronJob should x [Slow] [Conformance]"]
        );
        assert_eq!(
            s.failed_names,
            vec!["[sig-node] Sysctls should y [Environment:NotInUserNS] [Conformance]"]
        );
        assert_eq!((s.progress_done, s.progress_failed), (2, 1));
        assert_eq!(
            strip_label_list("[sig-x] a [Conformance]"),
            "[sig-x] a [Conformance]"
        );
    }

    #[test]
    fn v2_succinct_progress_and_label_suffix() {
        let log = "Will run 4 of 10 specs\nS•S•SSS\n• [FAILED] [0.399 seconds]\n•SS\n\
                   Summarizing 1 Failures:\n  [FAIL] [sig-x] T [It] does y [Conformance] [sig-x, Conformance]\n  a.go:45\n";
        let s = scan(log.as_bytes());
        assert_eq!(s.progress_done, 4);
        assert_eq!(s.progress_failed, 1);
        assert_eq!(s.ran, None, "no Ran line: not stated");
        let c = failure_name_candidates(&s.failures[0]);
        assert_eq!(c[1], "[sig-x] T does y [Conformance]");
    }

    #[test]
    fn an_unfinished_line_of_dots_counts_its_specs() {
        assert_eq!(LogScanner::pending_progress("S••S•"), 3);
        assert_eq!(LogScanner::pending_progress(""), 0);
        // not a progress line (yet): nothing
        assert_eq!(LogScanner::pending_progress("• [FAILED] [0.3 sec"), 0);
    }

    #[test]
    fn empty_log_states_nothing() {
        let s = scan(b"");
        assert!(s.version.is_none() && s.ran.is_none() && s.success.is_none());
    }
}
