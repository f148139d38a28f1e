//! TEST DOUBLE: a mock Kubernetes API server on 127.0.0.1, enough of the API for
//! `ezctl conformance run` (no real cluster exists where these tests run).
//!
//! It serves `/version`, namespaces, service accounts, config maps, cluster roles and bindings,
//! one pod (GET follows a scripted timeline, one step per GET, staying on the last), pod watches
//! (each watch request takes the next scripted reply, then closes: a lost watch), and container
//! logs, and the node list (by default two Ready, schedulable nodes holding the conformance
//! image of `server_version` and the sidecar image). Every request is recorded as
//! `METHOD path`.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One reply to a watch request.
pub enum WatchReply {
    /// HTTP 200 with an ERROR event, code 410 (resource version too old).
    Gone,
    /// These pods as MODIFIED events, then the stream closes.
    Events(Vec<Value>),
}

#[derive(Default)]
pub struct State {
    pub server_version: String,
    pub namespace_exists: bool,
    pub pod_timeline: Vec<Value>,
    pub pod_gets: usize,
    pub pod_created: bool,
    pub watches: VecDeque<WatchReply>,
    pub suite_log: String,
    pub sidecar_log: String,
    pub requests: Vec<String>,
    /// Every request but `/version` is refused with this HTTP status (401/403: a kubeconfig
    /// without the rights a run needs).
    pub refuse: Option<u16>,
    /// Replaces the default node list (see [`node`]).
    pub nodes: Option<Vec<Value>>,
}

/// A node: Ready or not, tainted NoSchedule or not, holding `images`.
pub fn node(name: &str, ready: bool, tainted: bool, images: &[&str]) -> Value {
    let taints = if tainted {
        json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "spec": {"taints": taints},
        "status": {
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "images": [{"names": images, "sizeBytes": 1}]
        }
    })
}

pub type Shared = Arc<Mutex<State>>;

/// A container state: `waiting:Reason[:message]`, `running`, `terminated:CODE`.
fn cstate(spec: &str) -> Value {
    let parts: Vec<&str> = spec.splitn(3, ':').collect();
    match parts.as_slice() {
        ["running"] => json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}}),
        ["terminated", code] => {
            json!({"terminated": {"exitCode": code.parse::<i32>().unwrap(), "reason": "Completed"}})
        }
        ["waiting", reason] => json!({"waiting": {"reason": reason}}),
        ["waiting", reason, msg] => json!({"waiting": {"reason": reason, "message": msg}}),
        _ => panic!("bad container state {spec}"),
    }
}

/// A pod JSON with the two containers of a run.
pub fn pod(rv: u32, phase: &str, reason: Option<&str>, suite: &str, sidecar: &str) -> Value {
    let cs = |name: &str, image: &str, st: &str| json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "state": cstate(st)});
    let mut status = json!({
        "phase": phase,
        "containerStatuses": [
            cs("conformance-container", "registry.k8s.io/conformance:v1.33.4", suite),
            cs("output-container", "registry.k8s.io/e2e-test-images/busybox:1.36.1-1", sidecar),
        ]
    });
    if let Some(r) = reason {
        status["reason"] = json!(r);
        status["message"] = json!("The node was low on resource: ephemeral-storage.");
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "e2e-conformance-test", "namespace": "conformance", "resourceVersion": rv.to_string()},
        "spec": {"containers": [
            {"name": "conformance-container", "image": "registry.k8s.io/conformance:v1.33.4"},
            {"name": "output-container", "image": "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"}
        ]},
        "status": status
    })
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason})
}

fn reply(code: StatusCode, body: impl Into<Bytes>, ctype: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert("content-type", ctype.parse().unwrap());
    r
}

fn json_reply(code: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    reply(code, v.to_string(), "application/json")
}

async fn handle(st: Shared, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut s = st.lock().unwrap();
    s.requests.push(format!("{method} {path}"));
    if let Some(code) = s.refuse
        && path != "/version"
    {
        let reason = if code == 401 {
            "Unauthorized"
        } else {
            "Forbidden"
        };
        let mut body = status(code, reason);
        body["message"] = json!(format!(
            "namespaces is {} : User \"viewer\" cannot get resource \"namespaces\"",
            reason.to_lowercase()
        ));
        let sc = StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN);
        return Ok(json_reply(sc, &body));
    }
    let ok = StatusCode::OK;
    let created = StatusCode::CREATED;
    let echo = || -> Value { serde_json::from_slice(&body).unwrap_or(json!({})) };
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let r = match (method.as_str(), seg.as_slice()) {
        ("GET", ["version"]) => json_reply(
            ok,
            &json!({"major": "1", "minor": "33", "gitVersion": s.server_version, "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "", "platform": ""}),
        ),
        ("GET", ["api", "v1", "nodes"]) => {
            let items = s.nodes.clone().unwrap_or_else(|| {
                let conf = format!("registry.k8s.io/conformance:{}", s.server_version);
                let imgs = [conf.as_str(), ez_conformance::images::SIDECAR_IMAGE];
                vec![
                    node("n1", true, false, &imgs),
                    node("n2", true, false, &imgs),
                ]
            });
            json_reply(
                ok,
                &json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": items}),
            )
        }
        ("GET", ["api", "v1", "namespaces", ns]) => {
            if s.namespace_exists {
                json_reply(
                    ok,
                    &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                )
            } else {
                json_reply(StatusCode::NOT_FOUND, &status(404, "NotFound"))
            }
        }
        ("POST", ["api", "v1", "namespaces"]) => {
            s.namespace_exists = true;
            json_reply(created, &echo())
        }
        ("DELETE", ["api", "v1", "namespaces", _]) => {
            s.namespace_exists = false;
            s.pod_created = false;
            json_reply(
                ok,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
            )
        }
        ("POST", ["api", "v1", "namespaces", _, "pods"]) => {
            s.pod_created = true;
            json_reply(created, &echo())
        }
        ("POST", ["api", "v1", "namespaces", _, _])
        | ("POST", ["apis", "rbac.authorization.k8s.io", "v1", _]) => json_reply(created, &echo()),
        ("DELETE", ["apis", "rbac.authorization.k8s.io", "v1", _, _]) => json_reply(
            ok,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
        ),
        ("GET", ["api", "v1", "namespaces", _, "pods", _]) => {
            if s.pod_timeline.is_empty() || !s.namespace_exists {
                json_reply(StatusCode::NOT_FOUND, &status(404, "NotFound"))
            } else {
                let i = s.pod_gets.min(s.pod_timeline.len() - 1);
                s.pod_gets += 1;
                json_reply(ok, &s.pod_timeline[i].clone())
            }
        }
        ("GET", ["api", "v1", "namespaces", _, "pods"]) if query.contains("watch=true") => {
            let text = match s.watches.pop_front() {
                Some(WatchReply::Gone) => format!(
                    "{}\n",
                    json!({"type": "ERROR", "object": status(410, "Expired")})
                ),
                Some(WatchReply::Events(pods)) => pods
                    .iter()
                    .map(|p| format!("{}\n", json!({"type": "MODIFIED", "object": p})))
                    .collect(),
                None => String::new(),
            };
            reply(ok, text, "application/json")
        }
        ("GET", ["api", "v1", "namespaces", _, "pods", _, "log"]) => {
            let text = if query.contains("container=output-container") {
                s.sidecar_log.clone()
            } else {
                s.suite_log.clone()
            };
            reply(ok, text, "text/plain")
        }
        _ => json_reply(StatusCode::NOT_FOUND, &status(404, "NotFound")),
    };
    Ok(r)
}

/// Starts the double; returns its address and state.
pub async fn start(state: State) -> (SocketAddr, Shared) {
    let shared: Shared = Arc::new(Mutex::new(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let st = shared.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let st = st.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, shared)
}

/// Standard base64 encoding (for the sidecar's results block).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push('\n');
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
