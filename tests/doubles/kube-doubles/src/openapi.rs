//! The smallest OpenAPI v3 documents that let `kubectl apply` leave validation to the server:
//! kubectl's field-validation check reads `/openapi/v3`, then each group version's document,
//! and looks for the `fieldValidation` query parameter on an operation tagged with the kind's
//! `x-kubernetes-group-version-kind`. The double then validates objects itself (`validate.rs`).
//! No schemas are served.

use crate::resources::{KINDS, Kind};
use serde_json::{Map, Value, json};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per served group version.
pub fn root() -> Value {
    let mut paths = Map::new();
    for k in KINDS {
        let p = gv_path(k.group, k.version);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=double")}),
        );
    }
    json!({"paths": paths})
}

fn op(k: &Kind, verb: &str) -> Value {
    let params: Vec<Value> = ["fieldValidation", "fieldManager", "dryRun"]
        .iter()
        .map(|n| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}}))
        .collect();
    json!({"operationId": format!("{verb}{}", k.kind), "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind}})
}

/// `/openapi/v3/<api/v1 | apis/g/v>`, if served.
pub fn group_version(path: &str) -> Option<Value> {
    let kinds: Vec<&Kind> = KINDS
        .iter()
        .filter(|k| gv_path(k.group, k.version) == path)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for k in kinds {
        let coll = if k.namespaced {
            format!("/{path}/namespaces/{{namespace}}/{}", k.plural)
        } else {
            format!("/{path}/{}", k.plural)
        };
        paths.insert(coll.clone(), json!({"post": op(k, "post")}));
        paths.insert(
            format!("{coll}/{{name}}"),
            json!({"put": op(k, "put"), "patch": op(k, "patch")}),
        );
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes (test double)", "version": crate::VERSION}, "paths": paths}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        assert!(root()["paths"]["apis/apps/v1"]["serverRelativeURL"].is_string());
        let apps = group_version("apis/apps/v1").unwrap();
        let post = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/daemonsets"]["post"];
        assert_eq!(post["x-kubernetes-group-version-kind"]["kind"], "DaemonSet");
        assert_eq!(post["parameters"][0]["name"], "fieldValidation");
        assert!(group_version("apis/batch/v1").is_none());
    }
}
