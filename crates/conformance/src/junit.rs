//! Streaming reader for the e2e suite's `junit_01.xml`, Ginkgo v1 and v2.
//!
//! * Ginkgo v1: root `<testsuite tests= failures= errors=>`; every spec is a `<testcase>`, specs
//!   not run carry `<skipped/>`, failed ones `<failure>`.
//! * Ginkgo v2: root `<testsuites tests= disabled= failures= errors=>` around one `<testsuite>`;
//!   testcases have `status="passed|failed|skipped|pending|…"` and names prefixed `[It] `;
//!   suite-level nodes (`[SynchronizedBeforeSuite]`, `[ReportAfterSuite] …`) are testcases too but
//!   are not specs: they are kept apart in [`Junit::suite_nodes`].
//!
//! Invariant: [`Junit::cases`] holds specs only, each name normalised with
//! [`crate::lists::normalize_name`], in document order.

use crate::lists::{normalize_name, unescape_entities};
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// Longest failure text kept per testcase (characters); the rest is cut.
pub const MAX_MESSAGE: usize = 4000;

/// The file is not a readable junit report.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("not a junit report: the root element is <{0}>, expected <testsuite> or <testsuites>")]
    NotJunit(String),
    #[error("not a junit report: the file has no XML element")]
    Empty,
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
}

/// Which Ginkgo wrote the report (told by its root element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// `<testsuite>` root (Ginkgo v1, Kubernetes ≤ v1.24).
    GinkgoV1,
    /// `<testsuites>` root (Ginkgo v2, Kubernetes ≥ v1.25).
    GinkgoV2,
}

/// Outcome of one testcase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

/// One spec.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Case {
    pub name: String,
    pub status: Status,
    /// `message` attribute and text of `<failure>`/`<error>`, cut to [`MAX_MESSAGE`].
    pub message: Option<String>,
}

/// The counts the root element states about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    pub tests: Option<u64>,
    pub failures: Option<u64>,
    pub errors: Option<u64>,
    pub disabled: Option<u64>,
    pub skipped: Option<u64>,
}

/// A parsed report.
#[derive(Debug, Clone)]
pub struct Junit {
    pub flavor: Flavor,
    pub header: Header,
    pub cases: Vec<Case>,
    pub suite_nodes: Vec<Case>,
    /// `SuiteSucceeded` property (Ginkgo v2 only).
    pub suite_succeeded: Option<bool>,
}

impl Junit {
    pub fn count(&self, s: Status) -> u64 {
        self.cases.iter().filter(|c| c.status == s).count() as u64
    }

    /// Specs that ran (passed or failed).
    pub fn ran(&self) -> u64 {
        self.count(Status::Passed) + self.count(Status::Failed)
    }

    /// Failures and errors the header claims, when it states either.
    pub fn header_failures(&self) -> Option<u64> {
        match (self.header.failures, self.header.errors) {
            (None, None) => None,
            (f, e) => Some(f.unwrap_or(0) + e.unwrap_or(0)),
        }
    }
}

/// Is this testcase a suite-level node rather than a spec?
pub fn is_suite_node(name: &str) -> bool {
    const NODES: &[&str] = &[
        "[SynchronizedBeforeSuite]",
        "[SynchronizedAfterSuite]",
        "[BeforeSuite]",
        "[AfterSuite]",
        "[ReportBeforeSuite]",
        "[ReportAfterSuite]",
        "[DeferCleanup (Suite)]",
    ];
    NODES.iter().any(|n| name.starts_with(n))
}

struct Open {
    name: String,
    status: Option<Status>,
    failed_child: bool,
    skipped_child: bool,
    message: String,
}

fn xml_err<R>(r: &Reader<R>, e: impl std::fmt::Display) -> JunitError {
    JunitError::Xml {
        position: r.buffer_position(),
        message: e.to_string(),
    }
}

fn attr(r: &Reader<&[u8]>, e: &BytesStart<'_>, key: &[u8]) -> Result<Option<String>, JunitError> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| xml_err(r, err))?;
        if a.key.as_ref() == key {
            let v = a
                .decode_and_unescape_value(r.decoder())
                .map_err(|err| xml_err(r, err))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// An attribute's value, unescaped only when it holds an entity.
fn attr_value(
    r: &Reader<&[u8]>,
    a: &quick_xml::events::attributes::Attribute<'_>,
) -> Result<String, JunitError> {
    if !a.value.contains(&b'&') {
        return std::str::from_utf8(&a.value)
            .map(str::to_string)
            .map_err(|err| xml_err(r, err));
    }
    a.decode_and_unescape_value(r.decoder())
        .map(|v| v.into_owned())
        .map_err(|err| xml_err(r, err))
}

fn num(r: &Reader<&[u8]>, e: &BytesStart<'_>, key: &[u8]) -> Result<Option<u64>, JunitError> {
    Ok(attr(r, e, key)?.and_then(|v| v.trim().parse().ok()))
}

fn push_message(buf: &mut String, s: &str) {
    // Bytes bound the characters from above: a cheap test before counting.
    if buf.len() >= MAX_MESSAGE * 4 {
        return;
    }
    let room = MAX_MESSAGE.saturating_sub(buf.chars().count());
    if room > 0 {
        buf.extend(s.chars().take(room));
    }
}

/// Parses a junit report in one streaming pass.
pub fn parse(xml: &[u8]) -> Result<Junit, JunitError> {
    let mut r = Reader::from_reader(xml);
    r.config_mut().check_end_names = true;
    let mut flavor = None;
    let mut header = Header::default();
    let mut cases = Vec::new();
    let mut suite_nodes = Vec::new();
    let mut suite_succeeded = None;
    let mut open: Option<Open> = None;
    // Depth of <failure>/<error> nesting inside the open testcase: text is kept only there.
    let mut in_failure = false;
    let mut depth = 0usize;
    loop {
        let ev = r.read_event().map_err(|e| xml_err(&r, e))?;
        match &ev {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        let (start, is_empty) = match &ev {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = e.local_name();
            let name = name.as_ref();
            if flavor.is_none() {
                flavor = Some(match name {
                    b"testsuites" => Flavor::GinkgoV2,
                    b"testsuite" => Flavor::GinkgoV1,
                    other => {
                        return Err(JunitError::NotJunit(
                            String::from_utf8_lossy(other).into_owned(),
                        ));
                    }
                });
                header = Header {
                    tests: num(&r, e, b"tests")?,
                    failures: num(&r, e, b"failures")?,
                    errors: num(&r, e, b"errors")?,
                    disabled: num(&r, e, b"disabled")?,
                    skipped: num(&r, e, b"skipped")?,
                };
            }
            match name {
                b"testcase" => {
                    let (mut name, mut status) = (String::new(), None);
                    for a in e.attributes().with_checks(false) {
                        let a = a.map_err(|err| xml_err(&r, err))?;
                        match a.key.as_ref() {
                            b"name" => name = attr_value(&r, &a)?,
                            b"status" => {
                                status = Some(match a.value.as_ref() {
                                    b"passed" => Status::Passed,
                                    b"skipped" | b"pending" | b"disabled" => Status::Skipped,
                                    _ => Status::Failed,
                                })
                            }
                            _ => {}
                        }
                    }
                    let c = Open {
                        name,
                        status,
                        failed_child: false,
                        skipped_child: false,
                        message: String::new(),
                    };
                    if is_empty {
                        finish(c, &mut cases, &mut suite_nodes);
                    } else {
                        open = Some(c);
                    }
                }
                b"failure" | b"error" => {
                    if let Some(c) = open.as_mut() {
                        c.failed_child = true;
                        if let Some(m) = attr(&r, e, b"message")?.filter(|m| !m.is_empty()) {
                            push_message(&mut c.message, &m);
                            push_message(&mut c.message, "\n");
                        }
                        in_failure = !is_empty;
                    }
                }
                b"skipped" => {
                    if let Some(c) = open.as_mut() {
                        c.skipped_child = true;
                    }
                }
                b"property" if attr(&r, e, b"name")?.as_deref() == Some("SuiteSucceeded") => {
                    suite_succeeded = attr(&r, e, b"value")?.map(|v| v == "true");
                }
                _ => {}
            }
            continue;
        }
        match ev {
            Event::End(e) => match e.local_name().as_ref() {
                b"testcase" => {
                    if let Some(c) = open.take() {
                        finish(c, &mut cases, &mut suite_nodes);
                    }
                    in_failure = false;
                }
                b"failure" | b"error" => in_failure = false,
                _ => {}
            },
            Event::Text(t) if in_failure => {
                if let Some(c) = open.as_mut() {
                    let s = t.decode().map_err(|e| xml_err(&r, e))?;
                    push_message(&mut c.message, &s);
                }
            }
            Event::CData(t) if in_failure => {
                if let Some(c) = open.as_mut() {
                    let s = t.decode().map_err(|e| xml_err(&r, e))?;
                    push_message(&mut c.message, &s);
                }
            }
            Event::GeneralRef(g) if in_failure => {
                if let Some(c) = open.as_mut() {
                    let s = g.decode().map_err(|e| xml_err(&r, e))?;
                    push_message(&mut c.message, &unescape_entities(&format!("&{s};")));
                }
            }
            Event::Eof if depth > 0 => {
                return Err(JunitError::Xml {
                    position: r.buffer_position(),
                    message: format!("file ends with {depth} element(s) still open (truncated?)"),
                });
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let flavor = flavor.ok_or(JunitError::Empty)?;
    Ok(Junit {
        flavor,
        header,
        cases,
        suite_nodes,
        suite_succeeded,
    })
}

fn finish(c: Open, cases: &mut Vec<Case>, suite_nodes: &mut Vec<Case>) {
    let status = if c.failed_child {
        Status::Failed
    } else if let Some(s) = c.status {
        s
    } else if c.skipped_child {
        Status::Skipped
    } else {
        Status::Passed
    };
    let message = Some(c.message.trim().to_string()).filter(|m| !m.is_empty());
    let case = Case {
        name: normalize_name(&c.name),
        status,
        message,
    };
    if is_suite_node(&c.name) {
        suite_nodes.push(case);
    } else {
        cases.push(case);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ginkgo_v1_skipped_and_failure_children() {
        let x = br#"<?xml version="1.0"?>
<testsuite name="Kubernetes e2e suite" tests="2" failures="1" errors="0">
  <testcase name="[sig-a] one &#39;q&#39; [Conformance]" classname="k"><skipped></skipped></testcase>
  <testcase name="[sig-a] two [Conformance]"></testcase>
  <testcase name="[sig-a] three [Conformance]"><failure type="Failure">boom &amp; bust</failure></testcase>
  <testcase name="[sig-a] four"/>
</testsuite>"#;
        let j = parse(x).unwrap();
        assert_eq!(j.flavor, Flavor::GinkgoV1);
        assert_eq!(j.header.tests, Some(2));
        assert_eq!(j.header_failures(), Some(1));
        assert_eq!(j.cases.len(), 4);
        assert_eq!(j.cases[0].name, "[sig-a] one 'q' [Conformance]");
        assert_eq!(j.cases[0].status, Status::Skipped);
        assert_eq!(j.cases[1].status, Status::Passed);
        assert_eq!(j.cases[2].status, Status::Failed);
        assert_eq!(j.cases[2].message.as_deref(), Some("boom & bust"));
        assert_eq!(j.cases[3].status, Status::Passed);
        assert_eq!(j.ran(), 3);
    }

    #[test]
    fn ginkgo_v2_status_prefix_and_suite_nodes() {
        let x = br#"<testsuites tests="3" disabled="1" failures="1" errors="0">
<testsuite name="Kubernetes e2e suite" tests="3">
 <properties><property name="SuiteSucceeded" value="false"></property></properties>
 <testcase name="[SynchronizedBeforeSuite]" status="passed"></testcase>
 <testcase name="[It] [sig-b] x [Conformance]" status="passed"></testcase>
 <testcase name="[It] [sig-b] y [Conformance]" status="failed"><failure message="" type="failed">[FAILED] nodes</failure></testcase>
 <testcase name="[It] [sig-b] z" status="skipped"><skipped message="skipped"></skipped></testcase>
 <testcase name="[ReportAfterSuite] Kubernetes e2e suite report" status="passed"></testcase>
</testsuite></testsuites>"#;
        let j = parse(x).unwrap();
        assert_eq!(j.flavor, Flavor::GinkgoV2);
        assert_eq!(j.suite_succeeded, Some(false));
        assert_eq!(j.cases.len(), 3);
        assert_eq!(j.suite_nodes.len(), 2);
        assert_eq!(j.cases[0].name, "[sig-b] x [Conformance]");
        assert_eq!(j.count(Status::Failed), 1);
        assert_eq!(j.cases[1].message.as_deref(), Some("[FAILED] nodes"));
        assert_eq!(j.count(Status::Skipped), 1);
    }

    #[test]
    fn non_junit_and_broken_xml_are_errors() {
        assert!(matches!(
            parse(b"<html><body/></html>"),
            Err(JunitError::NotJunit(r)) if r == "html"
        ));
        assert!(matches!(parse(b"   "), Err(JunitError::Empty)));
        assert!(matches!(
            parse(b"<testsuite><testcase name='a'></testsuite>"),
            Err(JunitError::Xml { .. })
        ));
        let e = parse(b"<testsuite tests='1'><testcase name='a'>").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
