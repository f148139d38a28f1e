//! `ezctl conformance run --runner sonobuoy` against the Sonobuoy CLI double
//! (`tests/doubles/sonobuoy/sonobuoy`, which checks the certified-mode flags and keeps a run's
//! state), with a Sonobuoy-layout tarball made from real submissions' e2e.log and junit_01.xml.

use super::tests::{TempDir, data, exec};
use std::path::Path;

/// `base/bin/sonobuoy` (the double, configured beside itself), a cluster `c1` with a
/// kubeconfig, and the tarball `retrieve` hands out, made from `submission`'s files.
fn setup(base: &Path, submission: &Path) {
    let bin = base.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let double =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/doubles/sonobuoy/sonobuoy");
    std::fs::copy(&double, bin.join("sonobuoy")).unwrap();
    let staging = base.join("staging/plugins/e2e/results/global");
    std::fs::create_dir_all(&staging).unwrap();
    for f in ["e2e.log", "junit_01.xml"] {
        std::fs::copy(submission.join(f), staging.join(f)).unwrap();
    }
    let tarball = base.join("results.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(base.join("staging"))
        .arg("plugins")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        bin.join("sonobuoy-double.env"),
        format!(
            "SONOBUOY_DOUBLE_STATE={}\nSONOBUOY_DOUBLE_TARBALL={}\n",
            base.join("sonobuoy-state").display(),
            tarball.display()
        ),
    )
    .unwrap();
    let c1 = base.join("clusters/c1");
    std::fs::create_dir_all(&c1).unwrap();
    std::fs::write(
        c1.join("kubectl.kubeconfig"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n",
    )
    .unwrap();
}

fn calls(base: &Path) -> String {
    std::fs::read_to_string(base.join("sonobuoy-state/calls")).unwrap_or_default()
}

#[test]
fn certified_run_results_refusal_continue_and_cleanup() {
    let d = data();
    let t = TempDir::new("sonobuoy");
    let base = t.path().to_path_buf();
    let kind = d.join("submissions/v1.26/kind");
    setup(&base, &kind);
    let b = base.display().to_string();
    let out = base.join("results");
    let o = out.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--base",
            &b,
            "conformance",
            "run",
            "--runner",
            "sonobuoy",
            "--cluster",
            "c1",
            "--output-dir",
            &o,
        ];
        args.extend_from_slice(extra);
        exec(&args)
    };

    // A whole run: certified mode, waited for, results out, run deleted.
    assert_eq!(run(&[]), 0);
    for f in ["e2e.log", "junit_01.xml"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(kind.join(f)).unwrap(),
            "{f} differs from the run's"
        );
    }
    let rec = std::fs::read_to_string(out.join("ezctl-run.json")).unwrap();
    assert!(rec.contains("\"runner\": \"sonobuoy\""), "{rec}");
    assert!(rec.contains("--runner sonobuoy --cluster c1"), "{rec}");
    let c = calls(&base);
    assert!(
        c.contains("run --mode=certified-conformance --wait=360 --timeout=21600 --kubeconfig="),
        "{c}"
    );
    assert!(
        c.contains("retrieve ") && c.contains("delete --all --wait"),
        "{c}"
    );

    // A run kept in the cluster, then a new one is refused (nothing started) ...
    assert_eq!(run(&["--keep"]), 0);
    let before = calls(&base)
        .lines()
        .filter(|l| l.starts_with("run "))
        .count();
    assert_eq!(run(&[]), 1);
    assert_eq!(
        calls(&base)
            .lines()
            .filter(|l| l.starts_with("run "))
            .count(),
        before,
        "a second run was started over an existing one"
    );
    // ... --continue waits for it and collects it, --cleanup replaces it.
    assert_eq!(run(&["--continue", "--keep"]), 0);
    assert!(calls(&base).contains("wait --kubeconfig="));
    assert_eq!(run(&["--cleanup"]), 0);
    // --continue with no run is an error.
    assert_eq!(run(&["--continue"]), 1);

    // A run with failures exits 1; no binary is a clear error.
    let t2 = TempDir::new("sonobuoy-failed");
    let base2 = t2.path().to_path_buf();
    setup(&base2, &d.join("submissions/v1.32/previder-failed"));
    let b2 = base2.display().to_string();
    let o2 = base2.join("results").display().to_string();
    let run2 = || {
        exec(&[
            "--base",
            &b2,
            "conformance",
            "run",
            "--runner",
            "sonobuoy",
            "--cluster",
            "c1",
            "--output-dir",
            &o2,
        ])
    };
    assert_eq!(run2(), 1);
    std::fs::remove_file(base2.join("bin/sonobuoy")).unwrap();
    assert_eq!(run2(), super::EXIT_UNREADABLE);
}
