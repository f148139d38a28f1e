//! RBAC checks of the API server double: a ClusterRoleBinding's `roleRef` names a ClusterRole
//! of `rbac.authorization.k8s.io` (a RoleBinding's may also name a Role), and every subject
//! has a valid kind and a name, as the real server validates them. The objects themselves
//! are stored by `generic.rs`.

use serde_json::Value;

pub const GROUP: &str = "rbac.authorization.k8s.io";

/// Ok, or what is wrong with a (Cluster)RoleBinding.
pub fn validate(binding: &Value, namespaced: bool) -> Result<(), String> {
    let rr = &binding["roleRef"];
    let kind_ok = rr["kind"] == "ClusterRole" || (namespaced && rr["kind"] == "Role");
    if rr["apiGroup"] != GROUP || !kind_ok || rr["name"].as_str().is_none_or(str::is_empty) {
        return Err(if namespaced {
            "roleRef must name a Role or ClusterRole of rbac.authorization.k8s.io".into()
        } else {
            "roleRef must name a ClusterRole of rbac.authorization.k8s.io".into()
        });
    }
    for s in binding["subjects"].as_array().into_iter().flatten() {
        match s["kind"].as_str() {
            Some("User" | "Group" | "ServiceAccount")
                if s["name"].as_str().is_some_and(|n| !n.is_empty()) => {}
            _ => return Err(format!("invalid subject {s}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_refs_and_subjects_are_checked() {
        let ok = json!({"roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "system:kubelet-api-admin"}, "subjects": [{"kind": "User", "name": "kubernetes", "apiGroup": GROUP}]});
        assert!(validate(&ok, false).is_ok());
        let mut role = ok.clone();
        role["roleRef"]["kind"] = json!("Role");
        assert!(validate(&role, false).is_err());
        assert!(validate(&role, true).is_ok());
        let mut bad = ok;
        bad["subjects"][0]["kind"] = json!("Robot");
        assert!(validate(&bad, false).is_err());
    }
}
