//! The workload controllers of the kube-controller-manager double and the kube-scheduler
//! double's binding, through the API (the same calls the real components make, without watches):
//!
//! * DaemonSet: one pod per node whose labels match the template's `nodeSelector`, named
//!   `<ds>-<hash of node name>` and created already bound (`spec.nodeName`); pods on nodes
//!   that are gone are deleted; status counts desired / scheduled / ready pods.
//! * Deployment: `spec.replicas` pods named `<deploy>-<template hash>-<i>` (no ReplicaSets);
//!   pods of an older template are deleted; status counts ready / available replicas.
//! * Pods whose owner no longer exists are deleted (garbage collection).
//! * Scheduler: a pod without a node is bound (`pods/binding`) to a Ready, schedulable node
//!   matching its `nodeSelector`, the one with the fewest pods.
//!
//! Names are deterministic, so two controller managers (two masters) create the same pods and
//! the second create is a harmless 409.

use crate::kcfg::KubeClient;
use crate::{Failed, Res};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Items of a list path.
async fn list(c: &KubeClient, path: &str) -> Res<Vec<Value>> {
    let r = c.get(path).await?;
    if r.status != 200 {
        return Err(Failed(format!("GET {path}: {} {}", r.status, r.body_str())));
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| Failed(format!("{path}: {e}")))?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

/// FNV-1a, hex: stable across processes (names must agree between controller managers).
fn short_hash(s: &str, len: usize) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    // finalizer of splitmix64: every input bit reaches the digits kept
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d049bb133111eb);
    h ^= h >> 31;
    format!("{h:016x}")[..len.min(16)].to_string()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v["metadata"][k].as_str().unwrap_or("")
}

/// Whether a node's labels satisfy a pod spec's `nodeSelector`.
fn selects(spec: &Value, node: &Value) -> bool {
    spec["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| node["metadata"]["labels"][k] == *v)
}

fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn pod_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn owned_by<'a>(pods: &'a [Value], uid: &str) -> Vec<&'a Value> {
    pods.iter()
        .filter(|p| {
            p["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o["uid"] == uid)
        })
        .collect()
}

/// A pod of `owner` (kind `kind`) from its template.
fn pod_from(
    owner: &Value,
    kind: &str,
    name: &str,
    extra_labels: Value,
    node: Option<&str>,
) -> Value {
    let t = &owner["spec"]["template"];
    let mut labels = t["metadata"]["labels"].clone();
    if let (Some(l), Some(e)) = (labels.as_object_mut(), extra_labels.as_object()) {
        l.extend(e.clone());
    }
    let mut spec = t["spec"].clone();
    if let Some(n) = node {
        spec["nodeName"] = json!(n);
    }
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": s(owner, "namespace"), "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": s(owner, "name"), "uid": s(owner, "uid"), "controller": true, "blockOwnerDeletion": true}]},
        "spec": spec, "status": {"phase": "Pending"}})
}

async fn create_pod(c: &KubeClient, pod: &Value) -> Res<()> {
    let path = format!("/api/v1/namespaces/{}/pods", s(pod, "namespace"));
    let r = c.send("POST", &path, "application/json", pod).await?;
    if r.status != 201 && r.status != 409 {
        return Err(Failed(format!(
            "creating pod {}: {} {}",
            s(pod, "name"),
            r.status,
            r.body_str()
        )));
    }
    Ok(())
}

async fn delete_pod(c: &KubeClient, pod: &Value) -> Res<()> {
    let path = format!(
        "/api/v1/namespaces/{}/pods/{}",
        s(pod, "namespace"),
        s(pod, "name")
    );
    let r = c
        .send("DELETE", &path, "application/json", &json!({}))
        .await?;
    if r.status != 200 && r.status != 404 {
        return Err(Failed(format!(
            "deleting pod {}: {}",
            s(pod, "name"),
            r.status
        )));
    }
    Ok(())
}

/// Writes `status` when it differs from the object's.
async fn set_status(c: &KubeClient, obj: &Value, plural: &str, status: Value) -> Res<()> {
    let mut want = obj["status"].clone();
    crate::api::merge(&mut want, &status);
    if want == obj["status"] {
        return Ok(());
    }
    let path = format!(
        "/apis/apps/v1/namespaces/{}/{plural}/{}/status",
        s(obj, "namespace"),
        s(obj, "name")
    );
    let r = c
        .send(
            "PATCH",
            &path,
            "application/merge-patch+json",
            &json!({"status": status}),
        )
        .await?;
    if r.status != 200 {
        return Err(Failed(format!(
            "status of {plural}/{}: {} {}",
            s(obj, "name"),
            r.status,
            r.body_str()
        )));
    }
    Ok(())
}

/// One pass of the DaemonSet, Deployment and garbage-collection controllers.
pub async fn reconcile(c: &KubeClient) -> Res<()> {
    let nodes = list(c, "/api/v1/nodes").await?;
    let pods = list(c, "/api/v1/pods").await?;
    let daemonsets = list(c, "/apis/apps/v1/daemonsets").await?;
    let deployments = list(c, "/apis/apps/v1/deployments").await?;
    let mut owners: HashSet<String> = HashSet::new();
    for ds in &daemonsets {
        owners.insert(s(ds, "uid").to_string());
        let spec = &ds["spec"]["template"]["spec"];
        let eligible: Vec<&Value> = nodes.iter().filter(|n| selects(spec, n)).collect();
        let mine = owned_by(&pods, s(ds, "uid"));
        for n in &eligible {
            let node = s(n, "name");
            if !mine.iter().any(|p| p["spec"]["nodeName"] == node) {
                let name = format!("{}-{}", s(ds, "name"), short_hash(node, 5));
                create_pod(c, &pod_from(ds, "DaemonSet", &name, json!({}), Some(node))).await?;
            }
        }
        for p in &mine {
            if !eligible
                .iter()
                .any(|n| p["spec"]["nodeName"] == s(n, "name"))
            {
                delete_pod(c, p).await?;
            }
        }
        let ready = mine.iter().filter(|p| pod_ready(p)).count();
        set_status(
            c,
            ds,
            "daemonsets",
            json!({"desiredNumberScheduled": eligible.len(), "currentNumberScheduled": mine.len(),
            "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": mine.len(),
            "numberMisscheduled": 0, "observedGeneration": ds["metadata"]["generation"]}),
        )
        .await?;
    }
    for d in &deployments {
        owners.insert(s(d, "uid").to_string());
        let replicas = d["spec"]["replicas"].as_u64().unwrap_or(1);
        let hash = short_hash(&d["spec"]["template"].to_string(), 10);
        let mine = owned_by(&pods, s(d, "uid"));
        for p in &mine {
            if p["metadata"]["labels"]["pod-template-hash"] != hash.as_str() {
                delete_pod(c, p).await?;
            }
        }
        for i in 0..replicas {
            let name = format!("{}-{hash}-{i}", s(d, "name"));
            if !mine.iter().any(|p| s(p, "name") == name) {
                let pod = pod_from(
                    d,
                    "Deployment",
                    &name,
                    json!({"pod-template-hash": hash}),
                    None,
                );
                create_pod(c, &pod).await?;
            }
        }
        let current: Vec<&&Value> = mine
            .iter()
            .filter(|p| p["metadata"]["labels"]["pod-template-hash"] == hash.as_str())
            .collect();
        let ready = current.iter().filter(|p| pod_ready(p)).count();
        set_status(c, d, "deployments", json!({"replicas": current.len(), "updatedReplicas": current.len(),
            "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": d["metadata"]["generation"]})).await?;
    }
    for p in &pods {
        let orphan = p["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|o| {
                (o["kind"] == "DaemonSet" || o["kind"] == "Deployment")
                    && !owners.contains(o["uid"].as_str().unwrap_or(""))
            });
        if orphan {
            delete_pod(c, p).await?;
        }
    }
    Ok(())
}

/// One pass of the scheduler: binds every pod that has no node.
pub async fn schedule(c: &KubeClient) -> Res<()> {
    let nodes = list(c, "/api/v1/nodes").await?;
    let pods = list(c, "/api/v1/pods").await?;
    for p in pods
        .iter()
        .filter(|p| p["spec"]["nodeName"].as_str().is_none_or(str::is_empty))
    {
        let spec = &p["spec"];
        let target = nodes
            .iter()
            .filter(|n| node_ready(n) && n["spec"]["unschedulable"] != true && selects(spec, n))
            .min_by_key(|n| {
                pods.iter()
                    .filter(|q| q["spec"]["nodeName"] == s(n, "name"))
                    .count()
            });
        let Some(n) = target else { continue };
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/binding",
            s(p, "namespace"),
            s(p, "name")
        );
        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": s(p, "name")}, "target": {"apiVersion": "v1", "kind": "Node", "name": s(n, "name")}});
        let r = c.send("POST", &path, "application/json", &binding).await?;
        if r.status == 201 {
            eprintln!(
                "kube-scheduler (double): bound {}/{} to {}",
                s(p, "namespace"),
                s(p, "name"),
                s(n, "name")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_selection() {
        assert_eq!(
            short_hash("k8s-10-250-0-41", 5),
            short_hash("k8s-10-250-0-41", 5)
        );
        assert_ne!(short_hash("a", 5), short_hash("b", 5));
        assert_ne!(
            short_hash("k8s-10-250-0-41", 5),
            short_hash("k8s-10-250-0-42", 5)
        );
        let node = json!({"metadata": {"labels": {"kubernetes.io/os": "linux"}}});
        assert!(selects(
            &json!({"nodeSelector": {"kubernetes.io/os": "linux"}}),
            &node
        ));
        assert!(!selects(
            &json!({"nodeSelector": {"kubernetes.io/os": "windows"}}),
            &node
        ));
        let ds = json!({"metadata": {"name": "calico-node", "namespace": "kube-system", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"k8s-app": "calico-node"}}, "spec": {"containers": []}}}});
        let p = pod_from(&ds, "DaemonSet", "calico-node-x", json!({}), Some("n1"));
        assert_eq!(p["spec"]["nodeName"], "n1");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(owned_by(&[p], "u1").len(), 1);
    }
}
