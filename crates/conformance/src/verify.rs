//! The verify-conformance bot's rules (`kodata/features/verify-conformance.feature`), applied
//! offline to a submission folder `…/vX.Y/<product>/`.
//!
//! Every scenario of the feature file yields at least one [`Finding`]; the ones that need GitHub
//! or the network (URL content types, one commit per PR) are reported as
//! [`Severity::NotChecked`], never as passed.
//!
//! Invariant: [`Verification::rejected`] is true iff some finding is [`Severity::Reject`].

use crate::e2elog;
use crate::junit;
use crate::lists;
use crate::product::{self, Product};
use crate::report;
use crate::source::ResultFiles;
use crate::version::KubeVersion;
use std::path::Path;

/// The four files, in the bot's order, with the type each must be.
pub const REQUIRED_FILES: &[(&str, &str)] = &[
    ("README.md", "markdown"),
    ("PRODUCT.yaml", "yaml"),
    ("e2e.log", "text"),
    ("junit_01.xml", "xml"),
];

/// How many minors before the latest release the bot still accepts.
pub const SUPPORTED_PREVIOUS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Pass,
    /// The bot would reject the submission.
    Reject,
    Warning,
    /// Needs GitHub or the network; not checked here.
    NotChecked,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub release: Option<String>,
    pub product: Option<String>,
    pub findings: Vec<Finding>,
}

impl Verification {
    pub fn rejected(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Reject)
    }
}

/// Options beyond the folder.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub pr_title: Option<String>,
    /// The newest Kubernetes release today; defaults to the newest embedded list.
    pub latest_release: Option<KubeVersion>,
}

struct Out(Vec<Finding>);

impl Out {
    fn add(&mut self, rule: &'static str, severity: Severity, message: impl Into<String>) {
        self.0.push(Finding {
            rule,
            severity,
            message: message.into(),
        });
    }
    fn check(
        &mut self,
        rule: &'static str,
        ok: bool,
        pass: impl Into<String>,
        fail: impl Into<String>,
    ) {
        if ok {
            self.add(rule, Severity::Pass, pass.into());
        } else {
            self.add(rule, Severity::Reject, fail);
        }
    }
}

/// `v1.NN` exactly (the bot's `v1.[0-9]{2}`).
fn release_of_folder(name: &str) -> Option<KubeVersion> {
    let rest = name.strip_prefix("v1.")?;
    (rest.len() == 2 && rest.chars().all(|c| c.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

/// The bot's title regex `(.*) (v1.[0-9]{2})[ /](.*)`: the release and product, when it matches.
pub fn parse_title(title: &str) -> Option<(KubeVersion, String)> {
    // Greedy `(.*)` first: take the last " v1.NN" followed by ' ' or '/' and a rest.
    let b = title.as_bytes();
    let mut found = None;
    for i in 0..b.len() {
        if b[i] == b' ' && title[i + 1..].starts_with("v1.") {
            let v = &title[i + 1..];
            let digits = v.as_bytes().get(3..5)?;
            let sep = v.as_bytes().get(5);
            if i > 0
                && digits.iter().all(u8::is_ascii_digit)
                && matches!(sep, Some(b' ') | Some(b'/'))
            {
                let rel: KubeVersion = v[..5].parse().ok()?;
                found = Some((rel, v[6..].to_string()));
            }
        }
    }
    found
}

/// What the rules look at, read once from the folder.
struct Submission<'a> {
    dir: &'a Path,
    opts: &'a VerifyOptions,
    /// `vX.Y` of the parent folder, when it is one.
    folder_release: Option<KubeVersion>,
    product_dir: Option<String>,
    /// The folder's entries (`name`, or `name/` for a folder), sorted.
    present: Vec<String>,
    /// Why the folder could not be listed.
    unreadable: Option<String>,
    /// The contents of [`REQUIRED_FILES`], in order (`None`: missing).
    contents: Vec<Option<Vec<u8>>>,
}

impl<'a> Submission<'a> {
    fn read(dir: &'a Path, opts: &'a VerifyOptions) -> Submission<'a> {
        let folder_release = dir
            .file_name()
            .and(dir.parent())
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .and_then(release_of_folder);
        let product_dir = dir.file_name().and_then(|n| n.to_str()).map(str::to_string);
        let mut present = Vec::new();
        let mut unreadable = None;
        match std::fs::read_dir(dir) {
            Err(e) => unreadable = Some(format!("{}: {e}", dir.display())),
            Ok(rd) => {
                for entry in rd.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                    present.push(if is_dir { format!("{name}/") } else { name });
                }
            }
        }
        present.sort();
        let contents = REQUIRED_FILES
            .iter()
            .map(|(name, _)| std::fs::read(dir.join(name)).ok())
            .collect();
        Submission {
            dir,
            opts,
            folder_release,
            product_dir,
            present,
            unreadable,
            contents,
        }
    }
}

/// The bot's scenarios, in its order; each adds its findings.
const RULES: &[fn(&Submission, &mut Out)] = &[
    title,
    structure,
    file_set,
    product_yaml,
    release_support,
    test_results,
    commits,
];

/// Checks the submission folder `dir` against every rule.
pub fn verify(dir: &Path, opts: &VerifyOptions) -> Verification {
    let s = Submission::read(dir, opts);
    let mut o = Out(Vec::new());
    for rule in RULES {
        rule(&s, &mut o);
    }
    Verification {
        release: s.folder_release.map(|v| v.to_string()),
        product: s.product_dir.clone(),
        findings: o.0,
    }
}

fn title(s: &Submission, o: &mut Out) {
    let folder_release = s.folder_release;
    match &s.opts.pr_title {
        None => o.add(
            "PR title",
            Severity::NotChecked,
            "no --pr-title given; the bot wants e.g. \"Conformance results for v1.NN/<product>\"",
        ),
        Some(t) if t.trim().is_empty() => o.add("PR title is not empty", Severity::Reject, "the PR title is empty"),
        Some(t) => match parse_title(t) {
            None => o.add(
                "title contains release version and product name",
                Severity::Reject,
                format!("\"{t}\" does not match \"(.*) (v1.[0-9]{{2}})[ /](.*)\", e.g. \"Conformance results for v1.33/kubeasz\""),
            ),
            Some((rel, name)) => {
                o.add("title contains release version and product name", Severity::Pass, format!("{rel} / {name}"));
                match folder_release {
                    Some(f) => o.check(
                        "release version in title matches folder",
                        f == rel,
                        "title and folder name the same release",
                        format!("title says {rel}, folder says {f}"),
                    ),
                    None => o.add("release version in title matches folder", Severity::Reject, "the folder is not vX.Y/<product>"),
                }
            }
        },
    }
}

fn structure(s: &Submission, o: &mut Out) {
    o.check(
        "files in structure of releaseversion/productname",
        s.folder_release.is_some() && s.product_dir.as_deref().is_some_and(|p| !p.is_empty()),
        "folder is vX.Y/<product>",
        format!("{} is not …/v1.NN/<product>/", s.dir.display()),
    );
    o.add(
        "submission is only one product",
        Severity::Pass,
        "one folder checked (a PR touching several folders is checked on GitHub)",
    );
}

fn file_set(s: &Submission, o: &mut Out) {
    if let Some(why) = &s.unreadable {
        o.add(
            "submission contains all required files",
            Severity::Reject,
            why.clone(),
        );
    }
    let extra: Vec<&String> = s
        .present
        .iter()
        .filter(|n| !REQUIRED_FILES.iter().any(|(r, _)| r == n))
        .collect();
    o.check(
        "submission only contains required files",
        extra.is_empty(),
        "only README.md, PRODUCT.yaml, e2e.log, junit_01.xml",
        format!(
            "{} non-required file(s) included: {}",
            extra.len(),
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    for ((name, kind), data) in REQUIRED_FILES.iter().zip(&s.contents) {
        let problem = match &data {
            None => Some(format!("{name} is missing")),
            Some(d) if d.iter().all(u8::is_ascii_whitespace) => Some(format!("{name} is empty")),
            Some(d) => match *kind {
                "yaml" => Product::parse(&String::from_utf8_lossy(d), name)
                    .err()
                    .map(|e| e.to_string()),
                "xml" => junit::parse(d).err().map(|e| format!("{name}: {e}")),
                "text" | "markdown" => d
                    .contains(&0)
                    .then(|| format!("{name} is binary, not {kind}")),
                _ => None,
            },
        };
        match problem {
            None => o.add(
                "submission contains all required files",
                Severity::Pass,
                format!("{name} is valid {kind}"),
            ),
            Some(p) => o.add(
                "submission contains all required files",
                Severity::Reject,
                p,
            ),
        }
    }
}

fn product_yaml(s: &Submission, o: &mut Out) {
    let prod = s.contents[1]
        .as_deref()
        .and_then(|d| Product::parse(&String::from_utf8_lossy(d), "PRODUCT.yaml").ok());
    if let Some(p) = &prod {
        let missing: Vec<&str> = product::REQUIRED
            .iter()
            .copied()
            .filter(|f| p.get(f).is_none_or(|v| v.trim().is_empty()))
            .collect();
        o.check(
            "PRODUCT.yaml contains all required fields",
            missing.is_empty(),
            "all required fields present",
            format!("missing or empty: {}", missing.join(", ")),
        );
        let mut bad = Vec::new();
        for f in product::URL_FIELDS {
            if let Some(v) = p.get(f)
                && !product::valid_url(v)
            {
                bad.push(format!("{f} ({v}) is not a URL"));
            }
        }
        if let Some(v) = p.get("contact_email_address")
            && !product::valid_email(v)
        {
            bad.push(format!(
                "contact_email_address ({v}) is not an e-mail address"
            ));
        }
        o.check(
            "URL and email fields are valid",
            bad.is_empty(),
            "URLs and e-mail parse",
            bad.join("; "),
        );
        o.add(
            "URL fields resolve to their data types",
            Severity::NotChecked,
            "website_url, repo_url, documentation_url must serve text/html: needs the network",
        );
        let ty = p.get("type").unwrap_or("");
        o.check(
            "type field is valid",
            product::TYPES.contains(&ty),
            format!("type: {ty}"),
            format!("type \"{ty}\" is not one of: distribution, hosted platform, installer"),
        );
    }
}

fn release_support(s: &Submission, o: &mut Out) {
    if let Some(rel) = s.folder_release {
        let latest = s
            .opts
            .latest_release
            .or_else(|| lists::embedded_versions().last())
            .map(KubeVersion::release);
        if let Some(latest) = latest {
            let ok = rel.minor <= latest.minor && rel.minor + SUPPORTED_PREVIOUS >= latest.minor;
            o.check(
                "release version is a supported version",
                ok,
                format!("{rel} is within {latest} and the {SUPPORTED_PREVIOUS} before it"),
                format!("{rel} no longer qualifies: only {latest} and the {SUPPORTED_PREVIOUS} releases before it are accepted (--latest-release sets today's latest)"),
            );
        }
        match lists::required_list(rel) {
            Ok(c) if c.exact => o.add(
                "required test list available",
                Severity::Pass,
                format!("{} required tests", c.tests.len()),
            ),
            Ok(c) => o.add(
                "required test list available",
                Severity::Warning,
                c.warning().unwrap_or_default(),
            ),
            Err(e) => o.add(
                "required test list available",
                Severity::Reject,
                e.to_string(),
            ),
        }
    }
}

fn test_results(s: &Submission, o: &mut Out) {
    let folder_release = s.folder_release;
    let (log, junit_bytes) = (s.contents[2].clone(), s.contents[3].clone());
    if let Some(l) = &log {
        let s = e2elog::scan(l);
        match (s.version, folder_release) {
            (Some((v, src)), Some(rel)) => o.check(
                "e2e.log version matches folder",
                v.release() == rel,
                format!("{v} ({})", src.label()),
                format!(
                    "e2e.log is a {v} run ({}), the folder says {rel}",
                    src.label()
                ),
            ),
            (None, _) => o.add(
                "e2e.log version matches folder",
                Severity::Warning,
                "e2e.log states no Kubernetes version",
            ),
            _ => {}
        }
    }
    if junit_bytes.is_some() || log.is_some() {
        let rf = ResultFiles {
            e2e_log: log,
            junit: junit_bytes,
            e2e_log_origin: Some("e2e.log".into()),
            junit_origin: Some("junit_01.xml".into()),
            server_version: None,
        };
        if let Ok(r) = report::build(&rf, folder_release) {
            if r.required_error.is_none() {
                let n = r.required_missing.len();
                o.check(
                    "all required tests in junit_01.xml are present",
                    n == 0,
                    format!(
                        "{} of {} present",
                        r.required_total.unwrap_or(0),
                        r.required_total.unwrap_or(0)
                    ),
                    format!(
                        "{n} required test(s) missing, e.g. {}",
                        r.required_missing.first().map_or("", |s| s.as_str())
                    ),
                );
            }
            let failed = r.failed.unwrap_or(0);
            o.check(
                "all tests pass",
                failed == 0 && r.required_failed.is_empty(),
                "no failed test",
                format!(
                    "{failed} test(s) failed: {}",
                    r.failures
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
            o.check(
                "junit_01.xml and e2e.log agree",
                r.disagreements.is_empty(),
                "counts and failures agree",
                r.disagreements.join("; "),
            );
        }
    }
}

fn commits(_: &Submission, o: &mut Out) {
    o.add(
        "there is only one commit",
        Severity::NotChecked,
        "checked on the pull request",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_regex() {
        let (v, p) = parse_title("Conformance results for v1.33/kubeasz").unwrap();
        assert_eq!((v.to_string().as_str(), p.as_str()), ("v1.33", "kubeasz"));
        let (v, p) = parse_title("Conformance test for v1.23 Cool Engine").unwrap();
        assert_eq!((v.minor, p.as_str()), (23, "Cool Engine"));
        assert!(parse_title("v1.33/kubeasz").is_none(), "needs a prefix");
        assert!(parse_title("Conformance results for kubeasz").is_none());
        assert!(parse_title("Conformance results for v1.3/kubeasz").is_none());
    }

    #[test]
    fn folder_release_is_strict() {
        assert!(release_of_folder("v1.26").is_some());
        assert!(release_of_folder("v1.2").is_none());
        assert!(release_of_folder("1.26").is_none());
    }
}
