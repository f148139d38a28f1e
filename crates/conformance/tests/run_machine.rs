//! The run state machine through the real kube-rs client against the mock API server double.

mod mock_api_server;

use ez_conformance::run::kube_api::KubeApi;
use ez_conformance::run::{RunConfig, RunError, RunEvent, machine};
use mock_api_server::{State, WatchReply, node, pod};
use std::time::Duration;

const SUITE_LOG: &str = "I0101 e2e test version: v1.33.4\nWill run 2 of 10 specs\n\
•{\"msg\":\"PASSED [sig-a] one [Conformance]\",\"total\":2,\"completed\":1,\"skipped\":3,\"failed\":0}\n\
•{\"msg\":\"PASSED [sig-a] two [Conformance]\",\"total\":2,\"completed\":2,\"skipped\":8,\"failed\":0}\n\
Ran 2 of 10 Specs in 3.0 seconds\nSUCCESS! -- 2 Passed | 0 Failed | 0 Pending | 8 Skipped\n";

fn results_tarball() -> Vec<u8> {
    let junit = r#"<testsuite tests="2" failures="0"><testcase name="[sig-a] one [Conformance]"></testcase><testcase name="[sig-a] two [Conformance]"></testcase></testsuite>"#;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, data) in [
        ("e2e.log", SUITE_LOG.as_bytes()),
        ("junit_01.xml", junit.as_bytes()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn sidecar_log() -> String {
    format!(
        "==EZ-RESULTS-BEGIN==\n{}\n==EZ-RESULTS-END==\n",
        mock_api_server::base64(&results_tarball())
    )
}

fn base_state() -> State {
    State {
        server_version: "v1.33.4".into(),
        suite_log: SUITE_LOG.into(),
        sidecar_log: sidecar_log(),
        ..Default::default()
    }
}

fn cfg(out: &std::path::Path) -> RunConfig {
    RunConfig {
        output_dir: out.to_path_buf(),
        startup_timeout: Duration::from_secs(5),
        run_timeout: Duration::from_secs(10),
        results_timeout: Duration::from_secs(5),
        retry_delay: Duration::from_millis(10),
        ..Default::default()
    }
}

async fn client(addr: std::net::SocketAddr) -> KubeApi {
    let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
    KubeApi {
        client: kube::Client::try_from(config).unwrap(),
    }
}

async fn go(
    st: State,
    cfg: RunConfig,
) -> (
    Result<ez_conformance::run::RunOutcome, RunError>,
    Vec<RunEvent>,
    Vec<String>,
) {
    let (addr, shared) = mock_api_server::start(st).await;
    let api = client(addr).await;
    let mut events = Vec::new();
    let r = machine::run(
        &api,
        &cfg,
        &["ezctl conformance run".to_string()],
        &mut |e| events.push(e),
    )
    .await;
    let reqs = shared.lock().unwrap().requests.clone();
    (r, events, reqs)
}

#[tokio::test]
async fn full_run_survives_a_lost_watch_and_copies_results() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.pod_timeline = vec![
        pod(
            1,
            "Pending",
            None,
            "waiting:ContainerCreating",
            "waiting:ContainerCreating",
        ),
        pod(5, "Running", None, "running", "running"),
        pod(9, "Running", None, "terminated:0", "running"),
    ];
    st.watches.push_back(WatchReply::Gone);
    let (r, ev, reqs) = go(st, cfg(tmp.path())).await;
    let out = r.unwrap();
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.image, "registry.k8s.io/conformance:v1.33.4");
    assert!(ev.contains(&RunEvent::WatchLost), "{ev:?}");
    assert!(
        ev.iter()
            .any(|e| matches!(e, RunEvent::Progress(p) if p.done == 2 && p.total == Some(2))),
        "{ev:?}"
    );
    assert!(ev.contains(&RunEvent::SuiteExited(0)));
    for f in ["e2e.log", "junit_01.xml", "e2e.tar.gz", "ezctl-run.json"] {
        assert!(tmp.path().join(f).is_file(), "{f} not copied");
    }
    assert!(
        reqs.contains(&"POST /api/v1/namespaces/conformance/pods".to_string()),
        "{reqs:?}"
    );
    assert!(
        reqs.contains(&"DELETE /api/v1/namespaces/conformance".to_string()),
        "cleanup: {reqs:?}"
    );
    // A re-list follows the lost watch: at least two GETs of the pod before it ran.
    let gets = reqs
        .iter()
        .filter(|r| *r == "GET /api/v1/namespaces/conformance/pods/e2e-conformance-test")
        .count();
    assert!(gets >= 3, "{reqs:?}");
    let files = ez_conformance::source::load(&[tmp.path().to_path_buf()]).unwrap();
    let rep = ez_conformance::report::build(&files, None).unwrap();
    assert_eq!((rep.passed, rep.failed), (Some(2), Some(0)));
}

#[tokio::test]
async fn image_pull_failure_names_the_image_and_ezdown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.pod_timeline = vec![pod(
        1,
        "Pending",
        None,
        "waiting:ImagePullBackOff:Back-off pulling image \"registry.k8s.io/conformance:v1.33.4\"",
        "running",
    )];
    let (r, _, _) = go(st, cfg(tmp.path())).await;
    let e = r.unwrap_err();
    assert!(matches!(e, RunError::ImagePull { .. }), "{e}");
    let m = e.to_string();
    assert!(
        m.contains("registry.k8s.io/conformance:v1.33.4") && m.contains("ezdown -X conformance"),
        "{m}"
    );
}

#[tokio::test]
async fn eviction_during_the_run_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.suite_log = "Will run 2 of 10 specs\n".into();
    st.pod_timeline = vec![
        pod(1, "Running", None, "running", "running"),
        pod(
            2,
            "Failed",
            Some("Evicted"),
            "waiting:ContainerCreating",
            "waiting:ContainerCreating",
        ),
    ];
    let (r, _, _) = go(st, cfg(tmp.path())).await;
    let e = r.unwrap_err();
    assert!(matches!(e, RunError::Evicted(_)), "{e}");
    assert!(e.to_string().contains("ephemeral-storage"), "{e}");
}

#[tokio::test]
async fn a_pod_that_never_starts_times_out() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.pod_timeline = vec![pod(
        1,
        "Pending",
        None,
        "waiting:ContainerCreating",
        "waiting:ContainerCreating",
    )];
    let mut c = cfg(tmp.path());
    c.startup_timeout = Duration::from_millis(300);
    let (r, ev, _) = go(st, c).await;
    let e = r.unwrap_err();
    assert!(matches!(e, RunError::Timeout { .. }), "{e}");
    assert!(
        ev.contains(&RunEvent::WatchLost),
        "watches end and are retried until the deadline"
    );
}

#[tokio::test]
async fn continue_reattaches_without_creating_and_returns_the_suite_code() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.namespace_exists = true;
    st.pod_timeline = vec![
        pod(7, "Running", None, "running", "running"),
        pod(8, "Running", None, "terminated:1", "running"),
    ];
    let mut c = cfg(tmp.path());
    c.continue_run = true;
    let (r, ev, reqs) = go(st, c).await;
    assert_eq!(r.unwrap().exit_code, 1);
    assert!(ev.contains(&RunEvent::Reattached));
    assert!(!reqs.iter().any(|r| r.starts_with("POST")), "{reqs:?}");
}

#[tokio::test]
async fn a_run_in_progress_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.namespace_exists = true;
    st.pod_timeline = vec![pod(7, "Running", None, "running", "running")];
    let (r, _, reqs) = go(st, cfg(tmp.path())).await;
    let e = r.unwrap_err();
    assert!(matches!(e, RunError::RunInProgress(_)), "{e}");
    assert!(e.to_string().contains("--continue") && e.to_string().contains("--cleanup"));
    assert!(
        !reqs
            .iter()
            .any(|r| r.starts_with("POST") || r.starts_with("DELETE")),
        "{reqs:?}"
    );
}

#[tokio::test]
async fn cleanup_first_deletes_the_old_run_then_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.namespace_exists = true;
    st.pod_timeline = vec![
        pod(1, "Running", None, "running", "running"),
        pod(2, "Running", None, "terminated:0", "running"),
    ];
    let mut c = cfg(tmp.path());
    c.cleanup_first = true;
    let (r, ev, reqs) = go(st, c).await;
    assert_eq!(r.unwrap().exit_code, 0);
    assert!(ev.contains(&RunEvent::CleanedUp));
    let del = reqs
        .iter()
        .position(|r| r == "DELETE /api/v1/namespaces/conformance")
        .unwrap();
    let post = reqs
        .iter()
        .position(|r| r == "POST /api/v1/namespaces")
        .unwrap();
    assert!(del < post, "{reqs:?}");
}

#[tokio::test]
async fn nothing_to_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = cfg(tmp.path());
    c.continue_run = true;
    let (r, _, _) = go(base_state(), c).await;
    assert!(matches!(r.unwrap_err(), RunError::NothingToContinue(_)));
}

#[tokio::test]
async fn attach_existing_follows_the_run_in_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.namespace_exists = true;
    st.pod_timeline = vec![
        pod(7, "Running", None, "running", "running"),
        pod(8, "Running", None, "terminated:0", "running"),
    ];
    let mut c = cfg(tmp.path());
    c.attach_existing = true;
    let (r, ev, reqs) = go(st, c).await;
    assert_eq!(r.unwrap().exit_code, 0);
    assert!(ev.contains(&RunEvent::Reattached), "{ev:?}");
    assert!(!ev.contains(&RunEvent::Created), "{ev:?}");
    assert!(
        !reqs.iter().any(|r| r.starts_with("POST")),
        "no run is created over the one in progress: {reqs:?}"
    );
}

#[tokio::test]
async fn attach_existing_starts_a_run_when_there_is_none() {
    let tmp = tempfile::tempdir().unwrap();
    let mut st = base_state();
    st.pod_timeline = vec![
        pod(1, "Running", None, "running", "running"),
        pod(2, "Running", None, "terminated:0", "running"),
    ];
    let mut c = cfg(tmp.path());
    c.attach_existing = true;
    let (r, ev, reqs) = go(st, c).await;
    assert_eq!(r.unwrap().exit_code, 0);
    assert!(ev.contains(&RunEvent::Created), "{ev:?}");
    assert!(!ev.contains(&RunEvent::Reattached), "{ev:?}");
    assert!(
        reqs.iter().any(|r| r == "POST /api/v1/namespaces"),
        "{reqs:?}"
    );
}

#[tokio::test]
async fn a_kubeconfig_without_the_rights_is_told_what_to_use_and_nothing_is_created() {
    for (code, says) in [(403, "cluster-admin"), (401, "credentials")] {
        let tmp = tempfile::tempdir().unwrap();
        let mut st = base_state();
        st.refuse = Some(code);
        let (r, _, reqs) = go(st, cfg(tmp.path())).await;
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains(says) && e.contains("--kubeconfig"),
            "{code}: {e}"
        );
        assert!(!reqs.iter().any(|r| r.starts_with("POST")), "{reqs:?}");
    }
}

#[tokio::test]
async fn an_unreachable_api_server_is_named_as_such() {
    // a port that was just free: nothing listens there
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let api = client(addr).await;
    let r = machine::run(&api, &cfg(tmp.path()), &[], &mut |_| {}).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("cannot reach the API server"), "{e}");
}

#[tokio::test]
async fn one_schedulable_node_is_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let imgs = ["registry.k8s.io/conformance:v1.33.4"];
    let st = State {
        nodes: Some(vec![
            node("master", true, true, &imgs),
            node("worker", true, false, &imgs),
        ]),
        ..base_state()
    };
    let (r, _, reqs) = go(st, cfg(tmp.path())).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("at least two Ready nodes"), "{e}");
    assert!(
        e.contains("master is node-role.kubernetes.io/control-plane:NoSchedule"),
        "{e}"
    );
    assert!(!reqs.iter().any(|r| r.starts_with("POST")), "{reqs:?}");
}

#[tokio::test]
async fn images_missing_from_a_node_are_named_unless_pulling_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = "registry.k8s.io/conformance:v1.33.4";
    let nodes = vec![
        node(
            "n1",
            true,
            false,
            &[conf, ez_conformance::images::SIDECAR_IMAGE],
        ),
        node("n2", true, false, &[ez_conformance::images::SIDECAR_IMAGE]),
    ];
    let st = State {
        nodes: Some(nodes.clone()),
        ..base_state()
    };
    let (r, _, reqs) = go(st, cfg(tmp.path())).await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains(&format!("{conf} (on n2)")), "{e}");
    assert!(!reqs.iter().any(|r| r.starts_with("POST")), "{reqs:?}");
    // --allow-pull: the nodes will pull it; the run goes on
    let st = State {
        nodes: Some(nodes),
        pod_timeline: vec![
            pod(1, "Running", None, "running", "running"),
            pod(2, "Running", None, "terminated:0", "running"),
        ],
        ..base_state()
    };
    let c = RunConfig {
        allow_pull: true,
        ..cfg(tmp.path())
    };
    let (r, _, _) = go(st, c).await;
    assert_eq!(r.unwrap().exit_code, 0);
}
