//! Checks made before a run is created, so that a run that cannot pass is refused in seconds,
//! not hours later: two Ready nodes that take pods (the suite schedules pods across nodes and
//! its scheduling specs need a second node), and the run's own images present on them.
//!
//! Invariant: only a fact the cluster states is refused; an image list the kubelet capped
//! (`nodeStatusMaxImages`) proves nothing and is not held against the node.

use super::RunError;
use super::api::NodeInfo;

/// The kubelet's default `nodeStatusMaxImages`: a list this long may be cut.
pub const KUBELET_MAX_IMAGES: usize = 50;

/// `name` as the kubelet reports it: with the registry host and, on Docker Hub, `library/`.
pub fn normalize(name: &str) -> String {
    let first = name.split('/').next().unwrap_or("");
    let has_host =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_host {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    }
}

/// Refuses a cluster with fewer than two Ready, schedulable nodes.
pub fn check_nodes(nodes: &[NodeInfo]) -> Result<Vec<&NodeInfo>, RunError> {
    let usable: Vec<&NodeInfo> = nodes.iter().filter(|n| n.ready && n.schedulable).collect();
    if usable.len() >= 2 {
        return Ok(usable);
    }
    let why: Vec<String> = nodes
        .iter()
        .filter(|n| !(n.ready && n.schedulable))
        .map(|n| {
            let because = if n.unschedulable_because.is_empty() {
                "cordoned or tainted NoSchedule/NoExecute".to_string()
            } else {
                n.unschedulable_because.join(", ")
            };
            let what = match (n.ready, n.schedulable) {
                (false, false) => format!("not Ready, and {because}"),
                (false, true) => "not Ready".to_string(),
                _ => because,
            };
            let hint = if n
                .unschedulable_because
                .iter()
                .any(|t| t.contains("disk-pressure"))
            {
                " (kubelet evicts pods there: free the node's disk first)"
            } else {
                ""
            };
            format!("{} is {what}{hint}", n.name)
        })
        .collect();
    let detail = if why.is_empty() {
        format!(
            " ({} node(s) in all); add a worker with `ezctl add-node <cluster> <ip>`",
            nodes.len()
        )
    } else {
        format!(
            " ({}); add a worker with `ezctl add-node <cluster> <ip>`, or untaint/uncordon a node",
            why.join("; ")
        )
    };
    Err(RunError::TooFewNodes {
        usable: usable.len(),
        detail,
    })
}

/// Refuses a run whose `images` some usable node lacks (each image, the nodes lacking it).
pub fn check_images(usable: &[&NodeInfo], images: &[&str]) -> Result<(), RunError> {
    let mut missing = Vec::new();
    for img in images {
        let want = normalize(img);
        let lacking: Vec<&str> = usable
            .iter()
            .filter(|n| n.images.len() < KUBELET_MAX_IMAGES)
            .filter(|n| !n.images.iter().any(|have| normalize(have) == want))
            .map(|n| n.name.as_str())
            .collect();
        if !lacking.is_empty() {
            missing.push(format!("{img} (on {})", lacking.join(", ")));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(RunError::ImagesMissing(missing.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ready: bool, schedulable: bool, images: &[&str]) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            ready,
            schedulable,
            unschedulable_because: Vec::new(),
            images: images.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn one_schedulable_node_is_refused_with_the_reason() {
        let nodes = [
            node("m1", true, false, &[]),
            node("w1", true, true, &[]),
            node("w2", false, true, &[]),
        ];
        let e = check_nodes(&nodes).unwrap_err().to_string();
        assert!(e.contains("has 1"), "{e}");
        assert!(e.contains("m1 is cordoned or tainted"), "{e}");
        assert!(e.contains("w2 is not Ready"), "{e}");
        assert!(e.contains("ezctl add-node"), "{e}");
        let ok = [node("a", true, true, &[]), node("b", true, true, &[])];
        assert_eq!(check_nodes(&ok).unwrap().len(), 2);
        // the node's own words: a disk-pressure taint says what to do
        let mut full = node("w3", true, false, &[]);
        full.unschedulable_because = vec!["node.kubernetes.io/disk-pressure:NoSchedule".into()];
        let e = check_nodes(&[full, node("w1", true, true, &[])])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("w3 is node.kubernetes.io/disk-pressure:NoSchedule (kubelet evicts pods there: free the node's disk first)"),
            "{e}"
        );
    }

    #[test]
    fn missing_images_name_image_and_node() {
        let a = node("a", true, true, &["registry.k8s.io/conformance:v1.36.3"]);
        let b = node("b", true, true, &["docker.io/library/busybox:1.36"]);
        let e = check_images(
            &[&a, &b],
            &["registry.k8s.io/conformance:v1.36.3", "busybox:1.36"],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("registry.k8s.io/conformance:v1.36.3 (on b)"),
            "{e}"
        );
        assert!(e.contains("busybox:1.36 (on a)"), "{e}");
        // a capped list proves nothing
        let many: Vec<String> = (0..KUBELET_MAX_IMAGES)
            .map(|i| format!("x/y:{i}"))
            .collect();
        let c = NodeInfo {
            name: "c".into(),
            ready: true,
            schedulable: true,
            unschedulable_because: Vec::new(),
            images: many,
        };
        assert!(check_images(&[&c], &["busybox:1.36"]).is_ok());
    }

    #[test]
    fn names_normalize_as_the_kubelet_reports_them() {
        assert_eq!(normalize("busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(normalize("easzlab/pause:3"), "docker.io/easzlab/pause:3");
        assert_eq!(
            normalize("registry.k8s.io/pause:3"),
            "registry.k8s.io/pause:3"
        );
        assert_eq!(normalize("127.0.0.1:5000/a:1"), "127.0.0.1:5000/a:1");
    }
}
