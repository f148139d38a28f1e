//! The API server double's `rbac.authorization.k8s.io/v1` ClusterRoleBindings — the one RBAC
//! object the installer creates (`kubernetes-crb`). Stored in etcd under
//! `/registry/clusterrolebindings/<name>`; only `system:masters` may write. Checked as the
//! real server does: `roleRef` names a ClusterRole of that API group, subjects have a valid kind.

use crate::etcd::Etcd;
use crate::http::{Request, Response};
use crate::{Failed, Res};
use serde_json::{Value, json};

pub const GROUP: &str = "rbac.authorization.k8s.io";
const PREFIX: &str = "/registry/clusterrolebindings/";

/// The group as listed by `/apis`.
pub fn group() -> Value {
    let v = json!({"groupVersion": format!("{GROUP}/v1"), "version": "v1"});
    json!({"name": GROUP, "versions": [v], "preferredVersion": v})
}

fn status(code: u16, reason: &str, msg: &str) -> Response {
    Response::json(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": msg, "reason": reason, "code": code}),
    )
}

fn validate(crb: &Value) -> Result<(), String> {
    let rr = &crb["roleRef"];
    if rr["apiGroup"] != GROUP
        || rr["kind"] != "ClusterRole"
        || rr["name"].as_str().is_none_or(str::is_empty)
    {
        return Err("roleRef must name a ClusterRole of rbac.authorization.k8s.io".into());
    }
    for s in crb["subjects"].as_array().into_iter().flatten() {
        match s["kind"].as_str() {
            Some("User" | "Group" | "ServiceAccount")
                if s["name"].as_str().is_some_and(|n| !n.is_empty()) => {}
            _ => return Err(format!("invalid subject {s}")),
        }
    }
    Ok(())
}

/// Serves `path` if it is under `/apis/rbac.authorization.k8s.io`; `None` otherwise.
pub async fn handle(etcd: &Etcd, admin: bool, req: &Request, path: &str) -> Option<Res<Response>> {
    let rest = path.strip_prefix("/apis/rbac.authorization.k8s.io")?;
    Some(serve(etcd, admin, req, rest).await)
}

async fn serve(etcd: &Etcd, admin: bool, req: &Request, rest: &str) -> Res<Response> {
    let list = |items: Vec<Value>| json!({"kind": "ClusterRoleBindingList", "apiVersion": format!("{GROUP}/v1"), "metadata": {"resourceVersion": "1"}, "items": items});
    match (req.method.as_str(), rest) {
        ("GET", "") => {
            return Ok(Response::json(
                200,
                &json!({"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": group()["versions"], "preferredVersion": group()["preferredVersion"]}),
            ));
        }
        ("GET", "/v1") => {
            return Ok(Response::json(
                200,
                &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/v1"), "resources": [
                {"name": "clusterrolebindings", "singularName": "clusterrolebinding", "namespaced": false, "kind": "ClusterRoleBinding", "verbs": ["create", "delete", "get", "list"]}]}),
            ));
        }
        ("GET", "/v1/clusterrolebindings") => {
            return Ok(Response::json(200, &list(etcd.list(PREFIX).await?)));
        }
        _ => {}
    }
    let Some(name) = rest.strip_prefix("/v1/clusterrolebindings") else {
        return Ok(status(
            404,
            "NotFound",
            &format!(
                "the server could not find the requested resource ({} {})",
                req.method, req.path
            ),
        ));
    };
    let name = name.trim_start_matches('/');
    if req.method != "GET" && !admin {
        return Ok(status(
            403,
            "Forbidden",
            "only system:masters may change clusterrolebindings on this test double",
        ));
    }
    match (req.method.as_str(), name) {
        ("POST", "") => {
            let protobuf = req
                .header("content-type")
                .is_some_and(|c| c.contains("protobuf"));
            let parsed = if protobuf {
                crate::pb::cluster_role_binding(&req.body)
                    .ok_or_else(|| "not a ClusterRoleBinding in k8s protobuf".to_string())
            } else {
                serde_json::from_slice(&req.body).map_err(|e| e.to_string())
            };
            let mut crb: Value =
                parsed.map_err(|e| Failed(format!("bad ClusterRoleBinding: {e}")))?;
            let Some(n) = crb["metadata"]["name"].as_str().map(str::to_string) else {
                return Ok(status(400, "BadRequest", "metadata.name is required"));
            };
            if let Err(m) = validate(&crb) {
                return Ok(status(
                    422,
                    "Invalid",
                    &format!(
                        "ClusterRoleBinding.rbac.authorization.k8s.io \"{n}\" is invalid: {m}"
                    ),
                ));
            }
            if etcd.get(&format!("{PREFIX}{n}")).await?.is_some() {
                return Ok(status(
                    409,
                    "AlreadyExists",
                    &format!(
                        "clusterrolebindings.rbac.authorization.k8s.io \"{n}\" already exists"
                    ),
                ));
            }
            crb["kind"] = json!("ClusterRoleBinding");
            crb["apiVersion"] = json!(format!("{GROUP}/v1"));
            crb["metadata"]["resourceVersion"] = json!("1");
            etcd.put(&format!("{PREFIX}{n}"), &crb).await?;
            Ok(Response::json(201, &crb))
        }
        ("GET", n) if !n.is_empty() => Ok(match etcd.get(&format!("{PREFIX}{n}")).await? {
            Some(crb) => Response::json(200, &crb),
            None => status(
                404,
                "NotFound",
                &format!("clusterrolebindings.rbac.authorization.k8s.io \"{n}\" not found"),
            ),
        }),
        ("DELETE", n) if !n.is_empty() => {
            if etcd.delete(&format!("{PREFIX}{n}")).await? {
                Ok(Response::json(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                ))
            } else {
                Ok(status(
                    404,
                    "NotFound",
                    &format!("clusterrolebindings.rbac.authorization.k8s.io \"{n}\" not found"),
                ))
            }
        }
        _ => Ok(status(
            405,
            "MethodNotAllowed",
            &format!(
                "{} is not supported on clusterrolebindings by this double",
                req.method
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_refs_and_subjects_are_checked() {
        let ok = json!({"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "system:kubelet-api-admin"}, "subjects": [{"kind": "User", "name": "kubernetes", "apiGroup": GROUP}]});
        assert!(validate(&ok).is_ok());
        let mut bad = ok.clone();
        bad["roleRef"]["kind"] = json!("Role");
        assert!(validate(&bad).is_err());
        let mut bad = ok;
        bad["subjects"][0]["kind"] = json!("Robot");
        assert!(validate(&bad).is_err());
    }
}
