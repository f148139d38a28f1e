//! `ezctl conformance run` keeps the suite's output as it streams (`<output-dir>/e2e.stream.log`),
//! so a run whose pod is lost (here: evicted after one spec) still leaves what it ran, and
//! `ezctl conformance report` counts it. Against the mock API server double of
//! crates/conformance/tests (no real cluster can be made to evict on cue).

#[path = "../../conformance/tests/mock_api_server/mod.rs"]
mod mock_api_server;

use clap::Parser;
use mock_api_server::{State, pod};

const LOG: &str = "Will run 2 of 10 specs\n------------------------------\n\
[sig-x] A does a [Conformance] [sig-x, Conformance]\n  STEP: a\n• [1.0 seconds]\n\
------------------------------\n[sig-x] B does b [Conformance] [sig-x, Conformance]\n  STEP: b\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_run_leaves_its_streamed_output() {
    let st = State {
        server_version: "v1.33.4".into(),
        suite_log: LOG.into(),
        pod_timeline: vec![
            pod(1, "Running", None, "running", "running"),
            pod(
                2,
                "Failed",
                Some("Evicted"),
                "waiting:ContainerCreating",
                "waiting:ContainerCreating",
            ),
        ],
        ..Default::default()
    };
    let (addr, _shared) = mock_api_server::start(st).await;
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: m, cluster: {{server: \"http://{addr}\"}}}}]\n\
             users: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: m, user: u}}}}]\n\
             current-context: c\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("results");
    let (kcs, outs) = (kc.display().to_string(), out.display().to_string());
    let cli = ez_cli::EzctlCli::parse_from([
        "ezctl",
        "conformance",
        "run",
        "--kubeconfig",
        &kcs,
        "--output-dir",
        &outs,
        "-y",
        "--quiet",
        "--startup-timeout",
        "20",
        "--timeout",
        "60",
    ]);
    let code = tokio::time::timeout(std::time::Duration::from_secs(120), ez_cli::run_ezctl(cli))
        .await
        .expect("the run ends")
        .unwrap();
    assert_eq!(code, 1, "an evicted run fails");
    let kept =
        std::fs::read_to_string(out.join("e2e.stream.log")).expect("the streamed output is kept");
    assert!(
        kept.contains("[sig-x] A does a") && kept.contains("• [1.0 seconds]"),
        "{kept}"
    );
    let s = ez_conformance::e2elog::scan(kept.as_bytes());
    assert_eq!(s.passed_names, vec!["[sig-x] A does a [Conformance]"]);
    assert_eq!(s.progress_done, 1);
}
