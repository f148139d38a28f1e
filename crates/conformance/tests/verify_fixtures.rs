//! Submission writing and the bot's rules, on real fixtures and deliberately broken copies.

mod common;

use ez_conformance::product::Product;
use ez_conformance::verify::{self, Severity, Verification, VerifyOptions};
use ez_conformance::{report, source, submission};
use std::path::{Path, PathBuf};

fn opts(title: &str, latest: &str) -> VerifyOptions {
    VerifyOptions {
        pr_title: Some(title.to_string()),
        latest_release: Some(latest.parse().unwrap()),
    }
}

fn rejects(v: &Verification) -> Vec<String> {
    v.findings
        .iter()
        .filter(|f| f.severity == Severity::Reject)
        .map(|f| format!("{}: {}", f.rule, f.message))
        .collect()
}

/// Builds `tmp/v1.26/kind/` from the kind fixture with `ezctl conformance submission`'s code.
fn build_kind(tmp: &Path, kind: &Path) -> PathBuf {
    let files = source::load(&[kind.to_path_buf()]).unwrap();
    let r = report::build(&files, None).unwrap();
    let product = Product::load(&kind.join("PRODUCT.yaml")).unwrap();
    let facts = submission::ReadmeFacts {
        cluster: "default".into(),
        recorded_commands: vec![],
    };
    submission::write(tmp, &files, &r, &product, &facts).unwrap()
}

#[test]
fn good_submission_built_from_kind_passes_every_offline_rule() {
    let kind = common::fixture("submissions/v1.26/kind");
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_kind(tmp.path(), &kind);
    assert!(dir.ends_with("v1.26/kind"), "{}", dir.display());
    // Result files are copied byte for byte.
    assert_eq!(
        std::fs::read(dir.join("junit_01.xml")).unwrap(),
        std::fs::read(kind.join("junit_01.xml")).unwrap()
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("ezctl conformance run"), "{readme}");
    let v = verify::verify(&dir, &opts("Conformance results for v1.26/kind", "v1.26"));
    assert!(!v.rejected(), "{:?}", rejects(&v));
    assert!(
        v.findings
            .iter()
            .any(|f| f.severity == Severity::NotChecked)
    );
    // Writing again over it is refused.
    let files = source::load(std::slice::from_ref(&kind)).unwrap();
    let r = report::build(&files, None).unwrap();
    let product = Product::load(&kind.join("PRODUCT.yaml")).unwrap();
    let facts = submission::ReadmeFacts {
        cluster: "c".into(),
        recorded_commands: vec![],
    };
    assert!(matches!(
        submission::write(tmp.path(), &files, &r, &product, &facts),
        Err(submission::SubmissionError::Exists(_))
    ));
}

#[test]
fn kind_folder_as_published_has_an_extra_file() {
    let kind = common::fixture("submissions/v1.26/kind");
    let v = verify::verify(&kind, &opts("Conformance results for v1.26/kind", "v1.26"));
    let r = rejects(&v);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].contains("kind.svg"), "{r:?}");
}

/// Damages a submission folder in place.
type Breaker = Box<dyn Fn(&Path)>;

#[test]
fn broken_copies_are_rejected_for_the_right_reason() {
    let kind = common::fixture("submissions/v1.26/kind");
    let o = opts("Conformance results for v1.26/kind", "v1.26");
    let cases: Vec<(&str, Breaker, &str)> = vec![
        (
            "missing README",
            Box::new(|d: &Path| std::fs::remove_file(d.join("README.md")).unwrap()),
            "README.md is missing",
        ),
        (
            "extra logo",
            Box::new(|d: &Path| std::fs::write(d.join("kind.svg"), "<svg/>").unwrap()),
            "kind.svg",
        ),
        (
            "required test missing",
            Box::new(|d: &Path| {
                let p = d.join("junit_01.xml");
                let x = std::fs::read_to_string(&p).unwrap();
                let name = "[It] [sig-api-machinery] server version should find the server version [Conformance]";
                let start = x.find(&format!("<testcase name=\"{name}\"")).unwrap();
                let end = start + x[start..].find("</testcase>").unwrap() + "</testcase>".len();
                std::fs::write(&p, format!("{}{}", &x[..start], &x[end..])).unwrap();
            }),
            "1 required test(s) missing",
        ),
        (
            "a failure under a header of 0 failures",
            Box::new(|d: &Path| {
                let p = d.join("junit_01.xml");
                let x = std::fs::read_to_string(&p).unwrap();
                let name = "[It] [sig-api-machinery] server version should find the server version [Conformance]\" classname=\"Kubernetes e2e suite\" status=\"passed\"";
                let i = x.find(name).unwrap();
                let fixed = format!(
                    "{}{}",
                    &x[..i],
                    &x[i..]
                        .replacen("status=\"passed\"", "status=\"failed\"", 1)
                        .replacen(
                            "></testcase>",
                            "><failure message=\"x\" type=\"failed\"></failure></testcase>",
                            1
                        )
                );
                std::fs::write(&p, fixed).unwrap();
            }),
            "header says 0 failure(s) but 1 testcase(s) failed",
        ),
        (
            "bad PRODUCT.yaml",
            Box::new(|d: &Path| {
                std::fs::write(d.join("PRODUCT.yaml"), "vendor: x\nname: kind\nversion: 1\ntype: hosted\nwebsite_url: kind.sigs.k8s.io\ndocumentation_url: https://kind.sigs.k8s.io/\ncontact_email_address: nobody\n").unwrap()
            }),
            "missing or empty: description",
        ),
        (
            "PRODUCT.yaml not YAML",
            Box::new(|d: &Path| std::fs::write(d.join("PRODUCT.yaml"), "a: [unclosed\n").unwrap()),
            "not valid YAML",
        ),
    ];
    for (what, breaker, expect) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dir = build_kind(tmp.path(), &kind);
        breaker(&dir);
        let v = verify::verify(&dir, &o);
        let r = rejects(&v);
        assert!(
            r.iter().any(|m| m.contains(expect)),
            "{what}: expected «{expect}» in {r:?}"
        );
    }
    // The bad PRODUCT.yaml case trips every field rule at once.
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_kind(tmp.path(), &kind);
    std::fs::write(dir.join("PRODUCT.yaml"), "vendor: x\nname: kind\nversion: 1\ntype: hosted\nwebsite_url: kind.sigs.k8s.io\ndocumentation_url: https://kind.sigs.k8s.io/\ncontact_email_address: nobody\ndescription: d\n").unwrap();
    let r = rejects(&verify::verify(&dir, &o)).join("\n");
    assert!(
        r.contains("website_url (kind.sigs.k8s.io) is not a URL"),
        "{r}"
    );
    assert!(r.contains("not an e-mail address"), "{r}");
    assert!(r.contains("type \"hosted\""), "{r}");
}

#[test]
fn titles_and_release_window() {
    let kind = common::fixture("submissions/v1.26/kind");
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_kind(tmp.path(), &kind);
    let r = rejects(&verify::verify(
        &dir,
        &opts("Conformance results for v1.27/kind", "v1.26"),
    ));
    assert!(
        r.iter()
            .any(|m| m.contains("title says v1.27, folder says v1.26")),
        "{r:?}"
    );
    let r = rejects(&verify::verify(&dir, &opts("kind results", "v1.26")));
    assert!(r.iter().any(|m| m.contains("does not match")), "{r:?}");
    let r = rejects(&verify::verify(
        &dir,
        &opts("Conformance results for v1.26/kind", "v1.29"),
    ));
    assert!(r.iter().any(|m| m.contains("no longer qualifies")), "{r:?}");
}

#[test]
fn previder_failed_and_kubeasz_v1_20_as_published() {
    let p = common::fixture("submissions/v1.32/previder-failed");
    let r = rejects(&verify::verify(
        &p,
        &opts("Conformance results for v1.32/Previder", "v1.32"),
    ))
    .join("\n");
    assert!(r.contains("2 test(s) failed"), "{r}");
    assert!(r.contains("type \"hosted\""), "{r}");
    let k = common::fixture("submissions/v1.20/kubeasz");
    let v = verify::verify(
        &k,
        &VerifyOptions {
            pr_title: None,
            latest_release: None,
        },
    );
    let r = rejects(&v).join("\n");
    assert!(r.contains("missing or empty: contact_email_address"), "{r}");
    assert!(r.contains("no longer qualifies"), "{r}");
    assert!(
        !r.contains("test(s) failed") && !r.contains("missing, e.g."),
        "{r}"
    );
}
