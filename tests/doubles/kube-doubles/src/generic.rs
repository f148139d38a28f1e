//! Create/get/list/replace/patch/delete of the kinds in `resources.rs`, stored as JSON in
//! etcd (so every API server of a cluster agrees). Patches: JSON merge, strategic merge
//! (applied as a merge: maps merged, lists replaced) and server-side apply
//! (`application/apply-patch+yaml`, creating a missing object; same merge, no field
//! ownership). Lists take `labelSelector` and `fieldSelector`; `kubectl get` gets a Table.
//!
//! Authorization: `system:masters` and the controller manager may write everything, the
//! scheduler may bind pods, a kubelet may write the status of pods bound to its node; every
//! authenticated identity may read.

use crate::api::{Who, age_secs, merge, now, status, unique};
use crate::etcd::Etcd;
use crate::http::{Request, Response};
use crate::resources::{self, Kind};
use crate::select::Selector;
use crate::validate::{self, Cidr};
use crate::{Failed, Res};
use serde_json::{Value, json};

/// Where a request points.
struct Target<'a> {
    kind: &'static Kind,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn target(path: &str) -> Option<Target<'_>> {
    let (group, rest) = if let Some(r) = path.strip_prefix("/api/v1/") {
        ("", r)
    } else {
        let r = path.strip_prefix("/apis/")?;
        let mut it = r.splitn(3, '/');
        let (g, _v, rest) = (it.next()?, it.next()?, it.next()?);
        (g, rest)
    };
    let seg: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (ns, seg) = match seg.as_slice() {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest.to_vec()),
        _ => (None, seg),
    };
    let kind = resources::find(group, seg.first()?)?;
    if seg.len() > 3 || (ns.is_some() && !kind.namespaced) {
        return None;
    }
    Some(Target {
        kind,
        ns,
        name: seg.get(1).copied(),
        sub: seg.get(2).copied(),
    })
}

fn forbidden(who: &Who, verb: &str, t: &Target<'_>) -> Response {
    let res = match t.sub {
        Some(s) => format!("{}/{s}", t.kind.plural),
        None => t.kind.plural.to_string(),
    };
    status(
        403,
        "Forbidden",
        &format!(
            "{} \"{}\" is forbidden: User \"{}\" cannot {verb} resource \"{res}\"{}",
            t.kind.qualified(),
            t.name.unwrap_or(""),
            who.user,
            t.ns.map(|n| format!(" in the namespace \"{n}\""))
                .unwrap_or_default()
        ),
    )
}

/// Whether `who` may write; `Some(node)` means: only a pod bound to that node.
enum Grant {
    Yes,
    OwnPods(String),
    No,
}

fn grant(who: &Who, t: &Target<'_>) -> Grant {
    if who.admin() || who.user == "system:kube-controller-manager" {
        return Grant::Yes;
    }
    let pod_sub = |s: &str| t.kind.plural == "pods" && t.sub == Some(s);
    if who.user == "system:kube-scheduler" && pod_sub("binding") {
        return Grant::Yes;
    }
    match who.node() {
        Some(n) if pod_sub("status") => Grant::OwnPods(n.to_string()),
        _ => Grant::No,
    }
}

fn not_found(t: &Target<'_>, name: &str) -> Response {
    status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", t.kind.qualified()),
    )
}

fn parse_body(req: &Request, t: &Target<'_>) -> Res<Value> {
    let ct = req.header("content-type").unwrap_or("");
    if ct.contains("protobuf") {
        if t.kind.kind == "ClusterRoleBinding" {
            return crate::pb::cluster_role_binding(&req.body)
                .ok_or_else(|| Failed("not a ClusterRoleBinding in k8s protobuf".into()));
        }
        return Err(Failed(format!(
            "this test double reads protobuf only for ClusterRoleBindings, not {}",
            t.kind.kind
        )));
    }
    if ct.contains("yaml") {
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&req.body)
            .map_err(|e| Failed(format!("bad YAML body: {e}")))?;
        return serde_json::to_value(v).map_err(|e| Failed(format!("bad YAML body: {e}")));
    }
    serde_json::from_slice(&req.body).map_err(|e| Failed(format!("bad JSON body: {e}")))
}

fn table(kind: &Kind, items: &[Value]) -> Value {
    let col = |n: &str| json!({"name": n, "type": "string", "format": if n == "Name" {"name"} else {""}, "description": n, "priority": 0});
    let age = |o: &Value| {
        let s = age_secs(o["metadata"]["creationTimestamp"].as_str().unwrap_or(""));
        match s {
            s if s < 120 => format!("{s}s"),
            s if s < 7200 => format!("{}m", s / 60),
            s => format!("{}h", s / 3600),
        }
    };
    let pods = kind.plural == "pods";
    let mut cols = vec![col("Name")];
    if pods {
        cols.extend([col("Status"), col("Node")]);
    }
    cols.push(col("Age"));
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            if pods {
                let waiting = o["status"]["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|c| c["state"]["waiting"]["reason"].as_str());
                let phase = o["status"]["phase"].as_str().unwrap_or("Pending");
                cells.push(json!(waiting.unwrap_or(phase)));
                cells.push(json!(o["spec"]["nodeName"].as_str().unwrap_or("<none>")));
            }
            cells.push(json!(age(o)));
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": ""}, "columnDefinitions": cols, "rows": rows})
}

/// Fills server-set fields of a new object.
fn stamp_new(t: &Target<'_>, obj: &mut Value) {
    obj["kind"] = json!(t.kind.kind);
    obj["apiVersion"] = json!(t.kind.api_version());
    if let Some(ns) = t.ns {
        obj["metadata"]["namespace"] = json!(ns);
    }
    obj["metadata"]["uid"] = json!(unique());
    obj["metadata"]["creationTimestamp"] = json!(now());
    obj["metadata"]["resourceVersion"] = json!(unique());
    obj["metadata"]["generation"] = json!(1);
}

/// Serves `path` when it names a kind of `resources.rs`; `None` otherwise.
pub async fn handle(
    etcd: &Etcd,
    services: Option<Cidr>,
    who: &Who,
    req: &Request,
    path: &str,
) -> Option<Res<Response>> {
    let t = target(path)?;
    Some(serve(etcd, services, who, req, &t).await)
}

async fn serve(
    etcd: &Etcd,
    services: Option<Cidr>,
    who: &Who,
    req: &Request,
    t: &Target<'_>,
) -> Res<Response> {
    let method = req.method.as_str();
    if method == "GET" {
        return read(etcd, req, t).await;
    }
    let grant = grant(who, t);
    if matches!(grant, Grant::No) {
        return Ok(forbidden(who, &method.to_lowercase(), t));
    }
    match (method, t.name, t.sub) {
        ("POST", None, None) => {
            let mut obj = parse_body(req, t)?;
            if obj["metadata"]["name"].as_str().is_none()
                && let Some(g) = obj["metadata"]["generateName"].as_str()
            {
                let suffix = unique();
                let n = format!("{g}{}", &suffix[suffix.len().saturating_sub(5)..]);
                obj["metadata"]["name"] = json!(n);
            }
            create(etcd, services, t, obj).await
        }
        ("POST", Some(n), Some("binding")) => {
            let b = parse_body(req, t)?;
            let node = b["target"]["name"].as_str().unwrap_or("").to_string();
            let key = t.kind.key(t.ns, n);
            let Some(mut pod) = etcd.get(&key).await? else {
                return Ok(not_found(t, n));
            };
            if pod["spec"]["nodeName"]
                .as_str()
                .is_some_and(|x| !x.is_empty())
            {
                return Ok(status(
                    409,
                    "Conflict",
                    &format!(
                        "pod {n} is already assigned to node {}",
                        pod["spec"]["nodeName"]
                    ),
                ));
            }
            pod["spec"]["nodeName"] = json!(node);
            pod["metadata"]["resourceVersion"] = json!(unique());
            etcd.put(&key, &pod).await?;
            Ok(Response::json(
                201,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}),
            ))
        }
        (_, Some(n), sub) if sub.is_none() || sub == Some("status") => {
            let key = t.kind.key(t.ns, n);
            let current = etcd.get(&key).await?;
            if let (Grant::OwnPods(node), Some(pod)) = (&grant, &current)
                && pod["spec"]["nodeName"].as_str() != Some(node.as_str())
            {
                return Ok(forbidden(who, &method.to_lowercase(), t));
            }
            write(etcd, services, req, t, n, &key, current).await
        }
        _ => Ok(status(
            405,
            "MethodNotAllowed",
            &format!("{method} {} is not supported by this double", req.path),
        )),
    }
}

async fn read(etcd: &Etcd, req: &Request, t: &Target<'_>) -> Res<Response> {
    if let Some(n) = t.name {
        return Ok(match etcd.get(&t.kind.key(t.ns, n)).await? {
            Some(o) if req.header("accept").is_some_and(|a| a.contains("as=Table")) => {
                Response::json(200, &table(t.kind, &[o]))
            }
            Some(o) => Response::json(200, &o),
            None => not_found(t, n),
        });
    }
    if req.param("watch").is_some_and(|w| w == "true" || w == "1") {
        return Ok(status(
            405,
            "MethodNotAllowed",
            "this test double does not serve watches",
        ));
    }
    let sel = |p: &str| Selector::parse(&req.param(p).unwrap_or_default());
    let (labels, fields) = match (sel("labelSelector"), sel("fieldSelector")) {
        (Ok(l), Ok(f)) => (l, f),
        (Err(e), _) | (_, Err(e)) => return Ok(status(400, "BadRequest", &e)),
    };
    let items: Vec<Value> = etcd
        .list(&t.kind.prefix(t.ns))
        .await?
        .into_iter()
        .filter(|o| labels.matches_labels(&o["metadata"]["labels"]) && fields.matches_fields(o))
        .collect();
    if req.header("accept").is_some_and(|a| a.contains("as=Table")) {
        return Ok(Response::json(200, &table(t.kind, &items)));
    }
    Ok(Response::json(
        200,
        &json!({"kind": format!("{}List", t.kind.kind), "apiVersion": t.kind.api_version(), "metadata": {"resourceVersion": unique()}, "items": items}),
    ))
}

async fn create(
    etcd: &Etcd,
    services: Option<Cidr>,
    t: &Target<'_>,
    mut obj: Value,
) -> Res<Response> {
    if t.kind.namespaced && t.ns.is_none() {
        return Ok(status(400, "BadRequest", "a namespace is required"));
    }
    if let Some(k) = obj["kind"].as_str()
        && k != t.kind.kind
    {
        return Ok(status(
            400,
            "BadRequest",
            &format!("kind {k} sent to {}", t.kind.plural),
        ));
    }
    let Some(n) = obj["metadata"]["name"].as_str().map(str::to_string) else {
        return Ok(status(400, "BadRequest", "metadata.name: Required value"));
    };
    if let Err(m) = validate::object(t.kind, &obj, services) {
        return Ok(invalid(t, &n, &m));
    }
    let key = t.kind.key(t.ns, &n);
    if etcd.get(&key).await?.is_some() {
        return Ok(status(
            409,
            "AlreadyExists",
            &format!("{} \"{n}\" already exists", t.kind.qualified()),
        ));
    }
    stamp_new(t, &mut obj);
    etcd.put(&key, &obj).await?;
    Ok(Response::json(201, &obj))
}

fn invalid(t: &Target<'_>, name: &str, msg: &str) -> Response {
    status(
        422,
        "Invalid",
        &format!(
            "{}.{} \"{name}\" is invalid: {msg}",
            t.kind.kind, t.kind.group
        )
        .replace(". \"", " \""),
    )
}

async fn write(
    etcd: &Etcd,
    services: Option<Cidr>,
    req: &Request,
    t: &Target<'_>,
    n: &str,
    key: &str,
    current: Option<Value>,
) -> Res<Response> {
    let method = req.method.as_str();
    let ct = req.header("content-type").unwrap_or("");
    let apply = method == "PATCH" && ct.contains("apply-patch");
    let Some(old) = current else {
        if apply && t.sub.is_none() {
            let mut obj = parse_body(req, t)?;
            obj["metadata"]["name"] = json!(n);
            return create(etcd, services, t, obj).await;
        }
        return Ok(not_found(t, n));
    };
    let status_only = t.sub == Some("status");
    let mut new = match method {
        "DELETE" => {
            etcd.delete(key).await?;
            return Ok(Response::json(200, &old));
        }
        "PUT" => {
            let mut body = parse_body(req, t)?;
            if status_only {
                let mut o = old.clone();
                o["status"] = body["status"].take();
                o
            } else {
                body["status"] = old["status"].clone();
                body
            }
        }
        "PATCH" if ct.contains("json-patch+json") => {
            return Ok(status(
                415,
                "UnsupportedMediaType",
                "this test double does not take JSON patches",
            ));
        }
        "PATCH" => {
            let patch = parse_body(req, t)?;
            let mut o = old.clone();
            if status_only {
                merge(&mut o["status"], &patch["status"]);
            } else {
                let mut p = patch;
                if let Some(m) = p.as_object_mut() {
                    m.remove("status");
                }
                merge(&mut o, &p);
            }
            o
        }
        _ => {
            return Ok(status(
                405,
                "MethodNotAllowed",
                &format!("{method} is not supported here"),
            ));
        }
    };
    for f in ["uid", "creationTimestamp", "namespace", "name"] {
        new["metadata"][f] = old["metadata"][f].clone();
    }
    new["kind"] = json!(t.kind.kind);
    new["apiVersion"] = json!(t.kind.api_version());
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    let spec_changed = new["spec"] != old["spec"];
    new["metadata"]["generation"] = json!(if spec_changed {
        generation + 1
    } else {
        generation
    });
    if let Err(m) = validate::object(t.kind, &new, services) {
        return Ok(invalid(t, n, &m));
    }
    if new == old {
        return Ok(Response::json(200, &old));
    }
    new["metadata"]["resourceVersion"] = json!(unique());
    etcd.put(key, &new).await?;
    Ok(Response::json(200, &new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = target("/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node").unwrap();
        assert_eq!(
            (t.kind.plural, t.ns, t.name, t.sub),
            ("daemonsets", Some("kube-system"), Some("calico-node"), None)
        );
        let t = target("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (t.kind.plural, t.ns, t.name),
            ("namespaces", None, Some("kube-system"))
        );
        let t = target("/api/v1/namespaces/kube-system/pods/p/status").unwrap();
        assert_eq!((t.kind.plural, t.sub), ("pods", Some("status")));
        let t = target("/api/v1/pods").unwrap();
        assert_eq!((t.ns, t.name), (None, None));
        assert!(target("/api/v1/nodes/n1").is_none());
        assert!(target("/apis/rbac.authorization.k8s.io/v1/namespaces/x/clusterroles").is_none());
        let t = target("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubernetes-crb")
            .unwrap();
        assert_eq!(t.name, Some("kubernetes-crb"));
    }

    #[test]
    fn grants() {
        let t = target("/api/v1/namespaces/kube-system/pods/p/status").unwrap();
        let node = Who {
            user: "system:node:n1".into(),
            groups: vec!["system:nodes".into()],
        };
        assert!(matches!(grant(&node, &t), Grant::OwnPods(n) if n == "n1"));
        let t2 = target("/api/v1/namespaces/kube-system/pods/p").unwrap();
        assert!(matches!(grant(&node, &t2), Grant::No));
        let proxy = Who {
            user: "system:kube-proxy".into(),
            groups: vec!["k8s".into()],
        };
        assert!(matches!(grant(&proxy, &t), Grant::No));
        let sched = Who {
            user: "system:kube-scheduler".into(),
            groups: vec![],
        };
        let b = target("/api/v1/namespaces/kube-system/pods/p/binding").unwrap();
        assert!(matches!(grant(&sched, &b), Grant::Yes));
    }
}
