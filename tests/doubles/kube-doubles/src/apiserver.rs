//! kube-apiserver double. Checks: flags of v1.36; serving certificate chains to
//! `--client-ca-file`, matches its key and covers 127.0.0.1, `--bind-address`, the
//! kubernetes service IP and `kubernetes.default.svc`; etcd, kubelet-client, proxy-client and
//! service-account key pairs; every etcd server in `--etcd-servers` answers `GET /health`
//! over mTLS with `--etcd-certfile/keyfile/cafile` (at least one healthy, as the real server
//! needs etcd to start). Then serves HTTPS on `--bind-address:--secure-port`, demanding a
//! client certificate signed by `--client-ca-file`, and tells systemd READY=1.
//!
//! API served: /healthz /livez /readyz (readyz asks etcd again) /version, discovery (/api,
//! /apis, /api/v1), ClusterRoleBindings (`rbac.rs`), nodes (list/get/create/patch/put/delete, status subresource, Table
//! output for `kubectl get`), an empty pod list (for `kubectl drain`). Nodes are stored in
//! etcd under `/registry/minions/<name>` through etcd's JSON gateway, so every API server
//! of a cluster sees the same nodes. A Ready condition whose heartbeat is older than 40 s is
//! served as `Unknown` (what the node lifecycle controller would do).

use crate::api::{Who, merge, not_served, now, status};
use crate::certs;
use crate::etcd::Etcd;
use crate::flags::Flags;
use crate::http::{Request, Response, read_request, write_response};
use crate::tlsio;
use crate::validate::Cidr;
use crate::{Failed, Res, version};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::io::BufReader;
use tokio::net::TcpListener;

struct Server {
    etcd: Etcd,
    advertise: String,
    services: Option<Cidr>,
}

/// The kubernetes service IP: first address of the service range + 1 (IPv4).
fn service_ip(cidr: &str) -> Res<IpAddr> {
    let (net, _) = cidr
        .split_once('/')
        .ok_or_else(|| Failed(format!("--service-cluster-ip-range={cidr} is not a CIDR")))?;
    let ip: std::net::Ipv4Addr = net.parse().map_err(|_| {
        Failed(format!(
            "--service-cluster-ip-range={cidr}: not an IPv4 CIDR"
        ))
    })?;
    Ok(IpAddr::from(std::net::Ipv4Addr::from(u32::from(ip) + 1)))
}

fn check(f: &Flags) -> Res<(Arc<rustls::ServerConfig>, Etcd, String)> {
    let bind = f.req("bind-address")?;
    let port: u16 = f
        .req("secure-port")?
        .parse()
        .map_err(|_| Failed("--secure-port is not a port".into()))?;
    let ca = certs::load("client-ca-file", f.req("client-ca-file")?)?;
    let serving = certs::pair(
        &ca,
        "tls-cert-file",
        f.req("tls-cert-file")?,
        "tls-private-key-file",
        f.req("tls-private-key-file")?,
    )?;
    let svc = service_ip(f.req("service-cluster-ip-range")?)?;
    for host in [
        "127.0.0.1",
        bind,
        &svc.to_string(),
        "kubernetes",
        "kubernetes.default.svc",
    ] {
        certs::covers(&serving, host, "--tls-cert-file")?;
    }
    if !serving.server_auth {
        return Err(Failed("--tls-cert-file has no serverAuth usage".into()));
    }
    for m in f.req("authorization-mode")?.split(',') {
        if ![
            "Node",
            "RBAC",
            "ABAC",
            "AlwaysAllow",
            "AlwaysDeny",
            "Webhook",
        ]
        .contains(&m)
        {
            return Err(Failed(format!("--authorization-mode: unknown mode {m}")));
        }
    }
    // etcd client
    let etcd_ca = certs::load("etcd-cafile", f.req("etcd-cafile")?)?;
    let etcd_client = certs::pair(
        &etcd_ca,
        "etcd-certfile",
        f.req("etcd-certfile")?,
        "etcd-keyfile",
        f.req("etcd-keyfile")?,
    )?;
    if !etcd_client.client_auth {
        return Err(Failed(
            "--etcd-certfile has no clientAuth usage; etcd will refuse it".into(),
        ));
    }
    // kubelet client, aggregator proxy client, service accounts
    if let Some(kca) = f.get("kubelet-certificate-authority") {
        let kca = certs::load("kubelet-certificate-authority", kca)?;
        certs::pair(
            &kca,
            "kubelet-client-certificate",
            f.req("kubelet-client-certificate")?,
            "kubelet-client-key",
            f.req("kubelet-client-key")?,
        )?;
    }
    if let Some(rca) = f.get("requestheader-client-ca-file") {
        let rca = certs::load("requestheader-client-ca-file", rca)?;
        let proxy = certs::pair(
            &rca,
            "proxy-client-cert-file",
            f.req("proxy-client-cert-file")?,
            "proxy-client-key-file",
            f.req("proxy-client-key-file")?,
        )?;
        if let Some(names) = f.get("requestheader-allowed-names") {
            let cn = proxy.common_name.clone().unwrap_or_default();
            if !names.split(',').any(|n| n == cn) {
                return Err(Failed(format!(
                    "--proxy-client-cert-file CN {cn:?} is not in --requestheader-allowed-names={names}"
                )));
            }
        }
    }
    let sa_pub = certs::load(
        "service-account-key-file",
        f.req("service-account-key-file")?,
    )?;
    certs::key_pair(
        &sa_pub,
        "service-account-signing-key-file",
        f.req("service-account-signing-key-file")?,
    )?;
    f.req("service-account-issuer")?;
    if let Some(p) = f.get("audit-policy-file")
        && !std::path::Path::new(p).is_file()
    {
        return Err(Failed(format!("--audit-policy-file={p} does not exist")));
    }
    let servers: Vec<String> = f
        .req("etcd-servers")?
        .split(',')
        .map(str::to_string)
        .collect();
    for s in &servers {
        let (host, _) = tlsio::host_port(s)?;
        let _ = host;
    }
    let etcd_cfg = tlsio::client_config(
        &tlsio::read(f.req("etcd-cafile")?)?,
        &tlsio::read(f.req("etcd-certfile")?)?,
        &tlsio::read(f.req("etcd-keyfile")?)?,
        "--etcd-certfile",
    )?;
    let tls = tlsio::server_config(
        &tlsio::read(f.req("tls-cert-file")?)?,
        &tlsio::read(f.req("tls-private-key-file")?)?,
        &tlsio::read(f.req("client-ca-file")?)?,
    )?;
    Ok((
        tls,
        Etcd {
            servers,
            cfg: etcd_cfg,
        },
        format!("{bind}:{port}"),
    ))
}

pub async fn run(args: &[String]) -> Res<()> {
    let f = Flags::parse("kube-apiserver", args)?;
    let (tls, etcd, addr) = check(&f)?;
    for e in etcd.any_healthy().await? {
        eprintln!("kube-apiserver (double): warning: {e}");
    }
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| Failed(format!("cannot listen on {addr}: {e}")))?;
    eprintln!(
        "kube-apiserver (double): serving on https://{addr}, etcd {:?}",
        etcd.servers
    );
    sd_notify_ready();
    let server = Arc::new(Server {
        etcd,
        advertise: addr,
        services: Cidr::parse(f.req("service-cluster-ip-range")?),
    });
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let (acceptor, server) = (acceptor.clone(), server.clone());
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("kube-apiserver (double): TLS handshake with {peer} refused: {e}");
                    return;
                }
            };
            let who = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| ez_pki::CertInfo::from_der(std::path::Path::new("client"), c).ok());
            let Some(who) = who else { return };
            let user = who.common_name.clone().unwrap_or_default();
            let groups = who.organizations.clone();
            let mut stream = BufReader::new(tls);
            while let Ok(Some(req)) = read_request(&mut stream).await {
                let resp = server
                    .handle(
                        &Who {
                            user: user.clone(),
                            groups: groups.clone(),
                        },
                        &req,
                    )
                    .await
                    .unwrap_or_else(|e| status(500, "InternalError", &e.0));
                if write_response(stream.get_mut(), &resp).await.is_err() {
                    break;
                }
                if req
                    .header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close"))
                {
                    break;
                }
            }
        });
    }
}

/// Tells systemd (Type=notify) the server is up.
fn sd_notify_ready() {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
        let path = std::path::PathBuf::from(path);
        if let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = sock.send_to(b"READY=1", &path);
        }
    }
}

/// Serves a stale Ready condition as Unknown (heartbeat older than 40 s).
fn with_liveness(mut node: Value) -> Value {
    if let Some(conds) = node["status"]["conditions"].as_array_mut() {
        for c in conds.iter_mut().filter(|c| c["type"] == "Ready") {
            let fresh = c["lastHeartbeatTime"]
                .as_str()
                .and_then(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .is_some_and(|t| (time::OffsetDateTime::now_utc() - t).whole_seconds() < 40);
            if !fresh {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Kubelet stopped posting node status.");
            }
        }
    }
    node
}

fn ready_text(node: &Value) -> String {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .map(|c| c["status"].as_str().unwrap_or("") == "True")
        .unwrap_or(false);
    let mut s = if ready {
        "Ready".to_string()
    } else {
        "NotReady".to_string()
    };
    if node["spec"]["unschedulable"] == true {
        s.push_str(",SchedulingDisabled");
    }
    s
}

fn table(nodes: &[Value]) -> Value {
    let col = |n: &str| json!({"name": n, "type": "string", "format": if n == "Name" {"name"} else {""}, "description": n, "priority": 0});
    let rows: Vec<Value> = nodes
        .iter()
        .map(|n| {
            let roles: Vec<String> = n["metadata"]["labels"].as_object().into_iter().flatten().filter_map(|(k, v)| if k == "kubernetes.io/role" { v.as_str().map(str::to_string) } else { k.strip_prefix("node-role.kubernetes.io/").map(str::to_string) }).collect();
            let roles = if roles.is_empty() { "<none>".to_string() } else { roles.join(",") };
            json!({"cells": [n["metadata"]["name"], ready_text(n), roles, "", n["status"]["nodeInfo"]["kubeletVersion"]],
                   "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": n["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": ""},
           "columnDefinitions": [col("Name"), col("Status"), col("Roles"), col("Age"), col("Version")], "rows": rows})
}

const NODES: &str = "/registry/minions/";

impl Server {
    /// Health, version and discovery documents; `None` for other paths.
    async fn discovery(&self, path: &str) -> Option<Response> {
        use crate::resources as r;
        let j = |v: serde_json::Value| Some(Response::json(200, &v));
        match path {
            "/healthz" | "/livez" => Some(Response::text(200, "ok")),
            "/readyz" => Some(match self.etcd.any_healthy().await {
                Ok(_) => Response::text(200, "ok"),
                Err(e) => Response::text(
                    500,
                    &format!("[-]etcd failed: {}\nreadyz check failed", e.0),
                ),
            }),
            "/version" => j(
                json!({"major": "1", "minor": "36", "gitVersion": version(), "platform": "linux/amd64", "goVersion": "test-double"}),
            ),
            "/api" => j(
                json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.advertise}]}),
            ),
            "/apis" => j(r::group_list()),
            "/api/v1" => j(r::resource_list("", "v1")?),
            "/openapi/v3" => j(crate::openapi::root()),
            _ => {
                if let Some(gv) = path.strip_prefix("/openapi/v3/") {
                    return j(crate::openapi::group_version(gv)?);
                }
                let rest = path.strip_prefix("/apis/")?;
                match rest.split_once('/') {
                    None => j(r::group(rest)?),
                    Some((g, v)) if !v.contains('/') => j(r::resource_list(g, v)?),
                    _ => None,
                }
            }
        }
    }

    async fn handle(&self, who: &Who, req: &Request) -> Res<Response> {
        let (user, groups) = (who.user.as_str(), who.groups.as_slice());
        let admin = who.admin();
        let path = req.path.trim_end_matches('/');
        let wants_table = req.header("accept").is_some_and(|a| a.contains("as=Table"));
        if req.method == "GET"
            && let Some(r) = self.discovery(path).await
        {
            return Ok(r);
        }
        if let Some(r) = crate::generic::handle(&self.etcd, self.services, who, req, path).await {
            return r;
        }
        let Some(rest) = path.strip_prefix("/api/v1/nodes") else {
            return Ok(not_served(&req.method, &req.path));
        };
        let mut seg = rest
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty());
        let name = seg.next();
        let sub = seg.next();
        let own = name.is_some_and(|n| user == format!("system:node:{n}"))
            && groups.iter().any(|g| g == "system:nodes");
        let may_write = admin || own;
        match (req.method.as_str(), name, sub) {
            ("GET", None, None) => {
                let nodes: Vec<Value> = self
                    .etcd
                    .list(NODES)
                    .await?
                    .into_iter()
                    .map(with_liveness)
                    .collect();
                if wants_table {
                    return Ok(Response::json(200, &table(&nodes)));
                }
                Ok(Response::json(
                    200,
                    &json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": nodes}),
                ))
            }
            ("POST", None, None) => {
                let mut node: Value = serde_json::from_slice(&req.body)
                    .map_err(|e| Failed(format!("bad node JSON: {e}")))?;
                let Some(n) = node["metadata"]["name"].as_str().map(str::to_string) else {
                    return Ok(status(400, "BadRequest", "metadata.name is required"));
                };
                if !(admin || user == format!("system:node:{n}")) {
                    return Ok(status(
                        403,
                        "Forbidden",
                        &format!(
                            "nodes \"{n}\" is forbidden: User \"{user}\" cannot create resource \"nodes\""
                        ),
                    ));
                }
                if self.etcd.get(&format!("{NODES}{n}")).await?.is_some() {
                    return Ok(status(
                        409,
                        "AlreadyExists",
                        &format!("nodes \"{n}\" already exists"),
                    ));
                }
                node["kind"] = json!("Node");
                node["apiVersion"] = json!("v1");
                node["metadata"]["creationTimestamp"] = json!(now());
                node["metadata"]["uid"] = json!(format!(
                    "{:x}",
                    time::OffsetDateTime::now_utc().unix_timestamp_nanos()
                ));
                node["metadata"]["resourceVersion"] = json!("1");
                self.etcd.put(&format!("{NODES}{n}"), &node).await?;
                Ok(Response::json(201, &node))
            }
            (method, Some(n), None | Some("status")) => {
                let key = format!("{NODES}{n}");
                let current = self.etcd.get(&key).await?;
                if method == "GET" {
                    return Ok(match current {
                        Some(node) if wants_table => {
                            Response::json(200, &table(&[with_liveness(node)]))
                        }
                        Some(node) => Response::json(200, &with_liveness(node)),
                        None => status(404, "NotFound", &format!("nodes \"{n}\" not found")),
                    });
                }
                if !may_write {
                    return Ok(status(
                        403,
                        "Forbidden",
                        &format!(
                            "nodes \"{n}\" is forbidden: User \"{user}\" cannot {} resource \"nodes\"",
                            method.to_lowercase()
                        ),
                    ));
                }
                let Some(mut node) = current else {
                    return Ok(status(404, "NotFound", &format!("nodes \"{n}\" not found")));
                };
                match method {
                    "DELETE" if admin => {
                        self.etcd.delete(&key).await?;
                        Ok(Response::json(
                            200,
                            &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": n, "kind": "nodes"}}),
                        ))
                    }
                    "PATCH" => {
                        let patch: Value = serde_json::from_slice(&req.body)
                            .map_err(|e| Failed(format!("bad patch: {e}")))?;
                        if req
                            .header("content-type")
                            .is_some_and(|c| c.contains("json-patch+json"))
                        {
                            return Ok(status(
                                415,
                                "UnsupportedMediaType",
                                "this test double only supports merge patches",
                            ));
                        }
                        merge(&mut node, &patch);
                        self.etcd.put(&key, &node).await?;
                        Ok(Response::json(200, &node))
                    }
                    "PUT" => {
                        let mut new: Value = serde_json::from_slice(&req.body)
                            .map_err(|e| Failed(format!("bad node JSON: {e}")))?;
                        new["metadata"]["creationTimestamp"] =
                            node["metadata"]["creationTimestamp"].clone();
                        self.etcd.put(&key, &new).await?;
                        Ok(Response::json(200, &new))
                    }
                    _ => Ok(status(
                        405,
                        "MethodNotAllowed",
                        &format!("{method} is not supported on nodes by this double"),
                    )),
                }
            }
            _ => Ok(status(
                404,
                "NotFound",
                &format!(
                    "the server could not find the requested resource ({} {})",
                    req.method, req.path
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (The merge patch is tested beside it, in `api.rs`.)
    #[test]
    fn service_ip_is_the_first_address_of_the_range() {
        assert_eq!(service_ip("10.68.0.0/16").unwrap().to_string(), "10.68.0.1");
        assert!(service_ip("10.68.0.0").is_err());
    }

    #[test]
    fn stale_heartbeat_is_unknown() {
        let n = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2020-01-01T00:00:00Z"}]}});
        assert_eq!(
            with_liveness(n)["status"]["conditions"][0]["status"],
            "Unknown"
        );
        let n = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": now()}]}});
        assert_eq!(ready_text(&with_liveness(n)), "Ready");
    }
}
