//! The kubelet double's pods: for every pod bound to its node that is not Running yet, it checks
//! that each image (init containers, containers, and containerd's sandbox image) is already in
//! the node's containerd (namespace `k8s.io`): the proof that the bundle's images reached an
//! air-gapped node, since this kubelet never pulls. A missing image leaves the pod Pending with
//! `ErrImageNeverPull`, as the real kubelet reports it. Otherwise it starts one container from
//! each image through containerd (`ctr run --rm`, the image's own command) and reports the pod
//! Running once every container started (exited 0, or still running after a few seconds, then
//! stopped). Containers are not kept running afterwards.

use crate::kcfg::KubeClient;
use crate::{Failed, Res};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// containerd as the kubelet double uses it: the `ctr` client and the socket.
pub struct Runtime {
    ctr: PathBuf,
    address: String,
    /// containerd's sandbox (pause) image, from its config.
    sandbox: Option<String>,
}

/// The sandbox image named in a containerd config (`sandbox = …` v3, `sandbox_image = …` v2).
fn sandbox_of(config: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        matches!(k.trim(), "sandbox" | "sandbox_image")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    })
}

/// A reference as containerd names it: `docker.io/library/` added to short names, `:latest`
/// to untagged ones.
pub fn normalize(image: &str) -> String {
    let (first, rest) = image.split_once('/').unwrap_or(("", image));
    let full = if first.is_empty() {
        format!("docker.io/library/{rest}")
    } else if first.contains('.') || first.contains(':') || first == "localhost" {
        image.to_string()
    } else {
        format!("docker.io/{image}")
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if last.contains(':') || last.contains('@') {
        full
    } else {
        format!("{full}:latest")
    }
}

impl Runtime {
    /// `ctr` next to the kubelet (`<bin_dir>/containerd-bin/ctr`, kubeasz's layout), else on
    /// PATH; the sandbox image from `/etc/containerd/config.toml` when it is there.
    pub fn new(endpoint: &str) -> Runtime {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("containerd-bin/ctr")))
            .filter(|p| p.is_file());
        let config = std::fs::read_to_string("/etc/containerd/config.toml").unwrap_or_default();
        Runtime {
            ctr: beside.unwrap_or_else(|| PathBuf::from("ctr")),
            address: endpoint.trim_start_matches("unix://").to_string(),
            sandbox: sandbox_of(&config),
        }
    }

    fn cmd(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.ctr);
        c.arg("--address")
            .arg(&self.address)
            .args(["-n", "k8s.io"])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Names of the images in containerd's `k8s.io` namespace.
    async fn images(&self) -> Res<HashSet<String>> {
        let out = self
            .cmd()
            .args(["images", "ls", "-q"])
            .output()
            .await
            .map_err(|e| Failed(format!("{}: {e}", self.ctr.display())))?;
        if !out.status.success() {
            return Err(Failed(format!(
                "ctr images ls: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// Starts a container `id` from `image` with its own command; Ok(first output line).
    async fn start(&self, image: &str, id: &str) -> Result<String, String> {
        let mut child = self
            .cmd()
            .args(["run", "--rm", image, id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.ctr.display()))?;
        let Some(mut out) = child.stdout.take() else {
            return Err("no stdout".into());
        };
        let mut err = child.stderr.take();
        match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
            Ok(Ok(st)) => {
                use tokio::io::AsyncReadExt;
                let mut o = String::new();
                let _ = out.read_to_string(&mut o).await;
                if st.success() {
                    return Ok(o.lines().next().unwrap_or("").to_string());
                }
                let mut e = String::new();
                if let Some(err) = err.as_mut() {
                    let _ = err.read_to_string(&mut e).await;
                }
                Err(format!("{} {}", o.trim(), e.trim()))
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => {
                // Still running after 5 s: it started; stop it (ctr removes it on exit).
                let _ = self
                    .cmd()
                    .args(["tasks", "kill", "-s", "SIGKILL", id])
                    .output()
                    .await;
                let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
                Ok("(still running after 5 s; stopped)".into())
            }
        }
    }
}

fn containers(pod: &Value) -> Vec<(String, String)> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["image"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn waiting(pod: &Value, reason: &str, message: &str) -> Value {
    let statuses: Vec<Value> = containers(pod)
        .into_iter()
        .map(|(n, i)| json!({"name": n, "image": i, "ready": false, "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}))
        .collect();
    json!({"phase": "Pending", "containerStatuses": statuses,
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": message}]})
}

/// One pass over the pods bound to `node` (reported with `ip` as host IP).
pub async fn sync(c: &KubeClient, rt: &Runtime, node: &str, ip: &str) -> Res<()> {
    let r = c
        .get(&format!(
            "/api/v1/pods?fieldSelector=spec.nodeName%3D{node}"
        ))
        .await?;
    if r.status != 200 {
        return Err(Failed(format!("listing pods of {node}: {}", r.status)));
    }
    let list: Value = serde_json::from_slice(&r.body).map_err(|e| Failed(e.to_string()))?;
    let pending: Vec<&Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["status"]["phase"] != "Running")
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let images = rt.images().await?;
    for pod in pending {
        let (ns, name) = (
            pod["metadata"]["namespace"].as_str().unwrap_or(""),
            pod["metadata"]["name"].as_str().unwrap_or(""),
        );
        let cs = containers(pod);
        let needed = rt
            .sandbox
            .iter()
            .cloned()
            .chain(cs.iter().map(|(_, i)| i.clone()));
        let missing: Vec<String> = needed.filter(|i| !images.contains(&normalize(i))).collect();
        let status = if let Some(m) = missing.first() {
            let msg = format!(
                "Container image \"{m}\" is not present with pull policy of Never (test double: this kubelet never pulls; the image was not imported on {node})"
            );
            eprintln!("kubelet (double): pod {ns}/{name}: {msg}");
            waiting(pod, "ErrImageNeverPull", &msg)
        } else {
            let mut failed = None;
            let mut statuses = Vec::new();
            for (cname, image) in &cs {
                let id = format!("kd-{name}-{cname}");
                match rt.start(&normalize(image), &id).await {
                    Ok(out) => {
                        eprintln!(
                            "kubelet (double): pod {ns}/{name}: container {cname} started from {image}: {out}"
                        );
                        statuses.push(json!({"name": cname, "image": image, "imageID": normalize(image), "ready": true, "started": true, "restartCount": 0,
                            "containerID": format!("containerd://{id}"), "state": {"running": {"startedAt": crate::api::now()}}}));
                    }
                    Err(e) => {
                        failed = Some(format!(
                            "container {cname} from {image} failed to start: {e}"
                        ));
                        break;
                    }
                }
            }
            match failed {
                Some(msg) => {
                    eprintln!("kubelet (double): pod {ns}/{name}: {msg}");
                    waiting(pod, "RunContainerError", &msg)
                }
                None => {
                    let t = crate::api::now();
                    let cond =
                        |ty: &str| json!({"type": ty, "status": "True", "lastTransitionTime": t});
                    let host_net = pod["spec"]["hostNetwork"] == true;
                    let mut st = json!({"phase": "Running", "hostIP": ip, "startTime": t, "containerStatuses": statuses,
                        "conditions": [cond("PodScheduled"), cond("Initialized"), cond("ContainersReady"), cond("Ready")]});
                    if host_net {
                        st["podIP"] = json!(ip);
                    }
                    st
                }
            }
        };
        let path = format!("/api/v1/namespaces/{ns}/pods/{name}/status");
        let r = c
            .send(
                "PATCH",
                &path,
                "application/merge-patch+json",
                &json!({"status": status}),
            )
            .await?;
        if r.status != 200 && r.status != 404 {
            return Err(Failed(format!(
                "status of pod {ns}/{name}: {} {}",
                r.status,
                r.body_str()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sandbox() {
        assert_eq!(
            normalize("calico/node:v3.32.1"),
            "docker.io/calico/node:v3.32.1"
        );
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            normalize("easzlab.io.local:5000/easzlab/pause:3.10.2"),
            "easzlab.io.local:5000/easzlab/pause:3.10.2"
        );
        assert_eq!(
            normalize("docker.io/coredns/coredns:1.14.6"),
            "docker.io/coredns/coredns:1.14.6"
        );
        let v3 = "[plugins]\n  [plugins.'io.containerd.cri.v1.images'.pinned_images]\n    sandbox = \"easzlab.io.local:5000/easzlab/pause:3.10.2\"\n";
        assert_eq!(
            sandbox_of(v3).as_deref(),
            Some("easzlab.io.local:5000/easzlab/pause:3.10.2")
        );
        assert_eq!(
            sandbox_of("  sandbox_image = \"x/pause:1\"").as_deref(),
            Some("x/pause:1")
        );
        assert_eq!(sandbox_of("root = \"/var/lib/containerd\""), None);
    }
}
