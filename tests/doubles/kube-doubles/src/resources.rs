//! The kinds the API server double serves and their discovery documents: what `kubectl
//! apply` of the network and addon manifests needs (core v1, apps/v1, rbac, policy/v1,
//! apiregistration). Invariant: every kind here is stored by `generic.rs` under
//! `/registry/<plural>/[<namespace>/]<name>`, except nodes (`apiserver.rs`, `/registry/minions/`).

use serde_json::{Value, json};

/// One served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// API group, `""` for core.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
    /// Subresources served (`status`, `binding`).
    pub subresources: &'static [&'static str],
}

impl Kind {
    /// `apps/v1`, or `v1` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `daemonsets.apps`, `pods`: how the real server names the resource in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Storage key of one object.
    pub fn key(&self, ns: Option<&str>, name: &str) -> String {
        match ns {
            Some(ns) if self.namespaced => format!("/registry/{}/{ns}/{name}", self.plural),
            _ => format!("/registry/{}/{name}", self.plural),
        }
    }

    /// Storage prefix of a list (all namespaces when `ns` is None).
    pub fn prefix(&self, ns: Option<&str>) -> String {
        match ns {
            Some(ns) if self.namespaced => format!("/registry/{}/{ns}/", self.plural),
            _ => format!("/registry/{}/", self.plural),
        }
    }
}

const fn k(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    subresources: &'static [&'static str],
) -> Kind {
    Kind {
        group,
        version,
        plural,
        kind,
        namespaced,
        short,
        subresources,
    }
}

/// Every kind served generically.
pub const KINDS: &[Kind] = &[
    k("", "v1", "namespaces", "Namespace", false, &["ns"], &[]),
    k("", "v1", "configmaps", "ConfigMap", true, &["cm"], &[]),
    k("", "v1", "secrets", "Secret", true, &[], &[]),
    k(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
    ),
    k("", "v1", "services", "Service", true, &["svc"], &["status"]),
    k(
        "",
        "v1",
        "pods",
        "Pod",
        true,
        &["po"],
        &["status", "binding"],
    ),
    k(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        &["status"],
    ),
    k(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        &["status"],
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        &[],
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
        &[],
    ),
    k(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        &[],
    ),
    k(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &["status"],
    ),
    k(
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        false,
        &[],
        &["status"],
    ),
];

/// The kind of `plural` in `group`.
pub fn find(group: &str, plural: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.plural == plural)
}

/// The non-core groups, in order of first appearance.
fn groups() -> Vec<&'static str> {
    let mut out: Vec<&str> = Vec::new();
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        if !out.contains(&k.group) {
            out.push(k.group);
        }
    }
    out
}

fn group_doc(g: &str) -> Value {
    let v = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
    json!({"name": g, "versions": [v], "preferredVersion": v})
}

/// `/apis`.
pub fn group_list() -> Value {
    let groups: Vec<Value> = groups().into_iter().map(group_doc).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(g: &str) -> Option<Value> {
    groups().contains(&g).then(|| {
        let mut d = group_doc(g);
        d["kind"] = json!("APIGroup");
        d["apiVersion"] = json!("v1");
        d
    })
}

fn verbs() -> Value {
    json!(["create", "delete", "get", "list", "patch", "update"])
}

/// `/api/v1` or `/apis/<group>/v1`: resources of one group version (core includes nodes).
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let mut res = Vec::new();
    if group.is_empty() {
        if version != "v1" {
            return None;
        }
        res.push(json!({"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node", "verbs": verbs(), "shortNames": ["no"]}));
        res.push(json!({"name": "nodes/status", "singularName": "", "namespaced": false, "kind": "Node", "verbs": ["get", "patch", "update"]}));
    } else if !groups().contains(&group) || version != "v1" {
        return None;
    }
    for k in KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        res.push(json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
            "kind": k.kind, "verbs": verbs(), "shortNames": k.short}));
        for sub in k.subresources {
            let verbs = if *sub == "binding" {
                json!(["create"])
            } else {
                json!(["get", "patch", "update"])
            };
            res.push(json!({"name": format!("{}/{sub}", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": if *sub == "binding" {"Binding"} else {k.kind}, "verbs": verbs}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_discovery() {
        let ds = find("apps", "daemonsets").unwrap();
        assert_eq!(
            ds.key(Some("kube-system"), "calico-node"),
            "/registry/daemonsets/kube-system/calico-node"
        );
        let cr = find("rbac.authorization.k8s.io", "clusterroles").unwrap();
        assert_eq!(
            cr.key(Some("x"), "calico-node"),
            "/registry/clusterroles/calico-node"
        );
        assert!(
            find("", "nodes").is_none(),
            "nodes are served by apiserver.rs"
        );
        let core = resource_list("", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(names.contains(&"pods/binding") && names.contains(&"configmaps"));
        assert!(resource_list("apps", "v1beta1").is_none());
        assert_eq!(group_list()["groups"].as_array().unwrap().len(), 4);
        assert!(group("policy").is_some() && group("batch").is_none());
    }
}
