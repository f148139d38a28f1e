//! Report on every real fixture, asserting the numbers the files themselves state.

mod common;

use ez_conformance::junit::Flavor;
use ez_conformance::report::{self, Report, Verdict};
use ez_conformance::source;
use std::path::PathBuf;

fn report_of(paths: &[PathBuf], version: Option<&str>) -> Report {
    let files = source::load(paths).unwrap();
    report::build(&files, version.map(|v| v.parse().unwrap())).unwrap()
}

#[test]
fn v1_20_kubeasz_ginkgo_v1() {
    let dir = common::fixture("submissions/v1.20/kubeasz");
    let r = report_of(&[dir], None);
    assert_eq!(r.kubernetes_version.as_deref(), Some("v1.20.2"));
    assert_eq!(r.junit_flavor, Some(Flavor::GinkgoV1));
    assert_eq!((r.ran, r.specs_total), (Some(311), Some(5667)));
    assert_eq!(
        (r.passed, r.failed, r.skipped),
        (Some(311), Some(0), Some(5356))
    );
    assert_eq!(r.required_total, Some(311));
    assert_eq!(r.required_passed, Some(311));
    assert!(r.required_missing.is_empty() && r.required_failed.is_empty());
    assert!(r.extra.is_empty(), "{:?}", r.extra);
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
    assert_eq!(r.verdict, Verdict::Passed);
    assert_eq!(r.sources["passed"], "junit_01.xml");
    assert_eq!(r.sources["specs_total"], "e2e.log");
}

#[test]
fn v1_20_log_only_uses_progress_lines() {
    let log = common::fixture("submissions/v1.20/kubeasz/e2e.log");
    let r = report_of(&[log], None);
    assert_eq!((r.ran, r.passed, r.failed), (Some(311), Some(311), Some(0)));
    assert_eq!(r.sources["passed"], "e2e.log");
    assert_eq!(r.required_passed, Some(311));
    assert_eq!(r.verdict, Verdict::Passed);
}

#[test]
fn v1_26_kind_ginkgo_v2_pair_of_files() {
    let d = common::fixture("submissions/v1.26/kind");
    let r = report_of(&[d.join("e2e.log"), d.join("junit_01.xml")], None);
    assert_eq!(r.kubernetes_version.as_deref(), Some("v1.26.6"));
    assert_eq!(r.junit_flavor, Some(Flavor::GinkgoV2));
    assert_eq!((r.ran, r.specs_total), (Some(368), Some(7069)));
    assert_eq!(
        (r.passed, r.failed, r.skipped),
        (Some(368), Some(0), Some(6701))
    );
    assert_eq!(r.required_total, Some(368));
    assert!(
        r.required_missing.is_empty(),
        "{:?}",
        &r.required_missing[..r.required_missing.len().min(3)]
    );
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
    assert_eq!(r.verdict, Verdict::Passed);
}

#[test]
fn v1_32_previder_two_required_failures() {
    let d = common::fixture("submissions/v1.32/previder-failed");
    let r = report_of(&[d], None);
    assert_eq!((r.ran, r.specs_total), (Some(411), Some(6622)));
    assert_eq!((r.passed, r.failed), (Some(409), Some(2)));
    assert_eq!(r.verdict, Verdict::Failed);
    let mut want = vec![
        "[sig-architecture] Conformance Tests should have at least two untainted nodes [Conformance]",
        "[sig-apps] Daemon set [Serial] should rollback without unnecessary restarts [Conformance]",
    ];
    want.sort();
    assert_eq!(r.required_failed.len(), 2);
    let mut got = r.required_failed.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(r.failures.len(), 2);
    assert!(r.failures.iter().all(|f| f.required == Some(true)));
    assert!(r.failures.iter().all(|f| f.message.is_some()));
    assert!(r.required_missing.is_empty());
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
}

#[test]
fn v1_32_previder_log_only_still_names_the_failures() {
    let log = common::fixture("submissions/v1.32/previder-failed/e2e.log");
    let r = report_of(&[log], Some("v1.32"));
    assert_eq!((r.ran, r.passed, r.failed), (Some(411), Some(409), Some(2)));
    assert_eq!(r.failures.len(), 2);
    assert!(
        r.failures.iter().all(|f| f.required == Some(true)),
        "{:?}",
        r.failures
    );
    assert_eq!(r.verdict, Verdict::Failed);
}

fn sono(rel: &str) -> PathBuf {
    PathBuf::from("sonobuoy/testdata").join(rel)
}

#[test]
fn sonobuoy_4_e2e_failures() {
    let t = common::fixture(sono(
        "test/integration/testdata/results-4-e2e-failures.tar.gz",
    ));
    let r = report_of(&[t], None);
    assert_eq!(r.kubernetes_version.as_deref(), Some("v1.21.1"));
    assert_eq!((r.ran, r.specs_total), (Some(25), Some(5771)));
    assert_eq!(
        (r.passed, r.failed, r.skipped),
        (Some(21), Some(4), Some(5746))
    );
    assert_eq!(r.failures.len(), 4);
    assert!(r.disagreements.is_empty(), "{:?}", r.disagreements);
    assert_eq!(r.required_list_version.as_deref(), Some("v1.20"));
    assert!(r.warnings.iter().any(|w| w.contains("not embedded")));
    assert_eq!(r.verdict, Verdict::Failed);
}

#[test]
fn sonobuoy_quick_no_failures() {
    let t = common::fixture(sono(
        "test/integration/testdata/results-quick-no-failures.tar.gz",
    ));
    let r = report_of(&[t], None);
    assert_eq!(r.kubernetes_version.as_deref(), Some("v1.21.1"));
    assert_eq!(
        (r.ran, r.specs_total, r.passed, r.failed),
        (Some(1), Some(5771), Some(1), Some(0))
    );
    assert_eq!(r.skipped, Some(5770));
    assert!(r.failures.is_empty());
    // One spec is not a conformance run: almost every required test is missing.
    assert_eq!(r.verdict, Verdict::Failed);
}

#[test]
fn sonobuoy_missing_junit_falls_back_to_log() {
    let t = common::fixture(sono("test/integration/testdata/results-missing-e2e.tar.gz"));
    let r = report_of(&[t], None);
    assert_eq!(r.junit_flavor, None);
    assert_eq!(
        (r.ran, r.specs_total, r.passed, r.failed),
        (Some(1), Some(698), Some(1), Some(0))
    );
    assert_eq!(r.sources["ran"], "e2e.log");
    assert_eq!(r.kubernetes_version.as_deref(), Some("v1.8.4"));
    assert!(
        r.required_error.as_deref().unwrap_or("").contains("v1.20"),
        "{:?}",
        r.required_error
    );
    assert_eq!(r.verdict, Verdict::Unknown);
}

#[test]
fn sonobuoy_old_layouts_with_dot_slash_and_appledouble() {
    for (name, total, version) in [
        ("results-0.8.tar.gz", 693, "v1.7.2"),
        ("results-0.9.tar.gz", 693, "v1.8.4"),
        ("results-0.10.tar.gz", 698, "v1.8.4"),
    ] {
        let t = common::fixture(sono("pkg/client/results/testdata").join(name));
        let r = report_of(&[t], None);
        assert_eq!(r.kubernetes_version.as_deref(), Some(version), "{name}");
        assert_eq!((r.ran, r.specs_total), (Some(1), Some(total)), "{name}");
        assert_eq!((r.passed, r.failed), (Some(1), Some(0)), "{name}");
        assert_eq!(
            r.sources["kubernetes_version"], "serverversion.json",
            "{name}"
        );
        assert_eq!(r.verdict, Verdict::Unknown, "{name}: no list before v1.20");
    }
}

#[test]
fn sonobuoy_cmd_results_output_tarball() {
    // Its golden summary ("Passed: 1, Failed: 1") counts a hand-edited sonobuoy_results.yaml whose
    // devnote says "It won't match the actual logs"; the report reads the files themselves: the
    // junit lists 3585 testcases, 3381 skipped, none failed (header: tests=204 failures=0), while
    // the e2e.log claims "SUCCESS! -- 0 Passed": a disagreement the report must surface.
    let t = common::fixture(sono("cmd/sonobuoy/app/testdata/testResultsOutput.tar.gz"));
    let r = report_of(&[t], None);
    assert_eq!(
        (r.passed, r.failed, r.specs_total),
        (Some(204), Some(0), Some(3585))
    );
    assert_eq!(r.sources["passed"], "junit_01.xml");
    assert!(
        r.disagreements
            .iter()
            .any(|d| d.contains("passed: junit_01.xml has 204, e2e.log says 0")),
        "{:?}",
        r.disagreements
    );
    assert_eq!(r.kubernetes_version.as_deref(), Some("v1.14.2"));
    assert_eq!(r.verdict, Verdict::Unknown);
}

#[test]
fn unknown_version_and_non_junit_are_clear_errors() {
    let d = common::fixture("submissions/v1.20/kubeasz");
    let files = source::load(&[d]).unwrap();
    let r = report::build(&files, Some("v1.99".parse().unwrap())).unwrap();
    assert!(
        r.required_error.as_deref().unwrap().contains("newer than"),
        "{:?}",
        r.required_error
    );
    assert_eq!(r.verdict, Verdict::Unknown);
    let bad = source::ResultFiles {
        junit: Some(
            std::fs::read(common::fixture(
                "sonobuoy/testdata/pkg/client/results/testdata/item_good_junit.json",
            ))
            .unwrap(),
        ),
        ..Default::default()
    };
    let e = report::build(&bad, None).unwrap_err();
    assert!(e.to_string().contains("junit"), "{e}");
}
