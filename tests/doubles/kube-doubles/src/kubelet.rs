//! kubelet double. Checks: flags of v1.36; `--config` is a KubeletConfiguration
//! (kubelet.config.k8s.io/v1beta1) whose serving certificate chains to `clientCAFile`, has CN
//! `system:node:<--hostname-override>` and covers the node IP; `cgroupDriver` is systemd or
//! cgroupfs; `failSwapOn` with active swap and `failCgroupV1` on a cgroup v1 host fail as
//! the real kubelet does; `clusterDNS` are IPs; `containerRuntimeEndpoint` is a unix socket
//! that accepts a connection (containerd is up). `--kubeconfig` points at
//! `https://127.0.0.1:<port>` (kube-lb) with a client certificate CN `system:node:<name>`,
//! O `system:nodes`. Then it registers its Node (Ready, addresses, nodeInfo) and posts a
//! heartbeat every 10 s; Ready is False while the runtime socket does not answer. Pods bound
//! to the node are started from images already in containerd (`pods.rs`).

use crate::certs;
use crate::flags::Flags;
use crate::kcfg::{self, Expect, KubeClient};
use crate::{Failed, Res, version};
use serde_json::{Value, json};
use std::time::Duration;

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

fn cgroup_v1() -> bool {
    !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn swap_on() -> bool {
    std::fs::read_to_string("/proc/swaps")
        .map(|t| t.lines().count() > 1)
        .unwrap_or(false)
}

/// The node's IP: `--node-ip`, else the hostname-override resolved in /etc/hosts.
fn node_ip(f: &Flags, name: &str) -> Res<String> {
    if let Some(ip) = f.get("node-ip") {
        return Ok(ip.to_string());
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .find_map(|l| {
            let mut it = l.split_whitespace();
            let ip = it.next()?;
            it.any(|n| n == name).then(|| ip.to_string())
        })
        .ok_or_else(|| {
            Failed(format!(
                "cannot find the node IP: no --node-ip and {name} is not in /etc/hosts"
            ))
        })
}

async fn runtime_up(endpoint: &str) -> bool {
    let path = endpoint.trim_start_matches("unix://");
    tokio::net::UnixStream::connect(path).await.is_ok()
}

pub async fn run(args: &[String]) -> Res<()> {
    let f = Flags::parse("kubelet", args)?;
    let name = f.req("hostname-override")?.to_string();
    let config_path = f.req("config")?;
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| Failed(format!("--config={config_path}: {e}")))?;
    let cfg: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| Failed(format!("--config={config_path}: not YAML: {e}")))?;
    if s(&cfg, &["apiVersion"]) != Some("kubelet.config.k8s.io/v1beta1")
        || s(&cfg, &["kind"]) != Some("KubeletConfiguration")
    {
        return Err(Failed(format!(
            "--config={config_path}: not a kubelet.config.k8s.io/v1beta1 KubeletConfiguration"
        )));
    }
    let ca_file = s(&cfg, &["authentication", "x509", "clientCAFile"])
        .ok_or_else(|| Failed("config: authentication.x509.clientCAFile is not set".into()))?;
    let ca = certs::load("config authentication.x509.clientCAFile", ca_file)?;
    let cert_file =
        s(&cfg, &["tlsCertFile"]).ok_or_else(|| Failed("config: tlsCertFile is not set".into()))?;
    let key_file = s(&cfg, &["tlsPrivateKeyFile"])
        .ok_or_else(|| Failed("config: tlsPrivateKeyFile is not set".into()))?;
    let serving = certs::pair(
        &ca,
        "config tlsCertFile",
        cert_file,
        "config tlsPrivateKeyFile",
        key_file,
    )?;
    certs::subject(
        &serving,
        &format!("system:node:{name}"),
        Some("system:nodes"),
        "config tlsCertFile",
    )?;
    let ip = node_ip(&f, &name)?;
    certs::covers(&serving, &ip, "config tlsCertFile")?;
    match s(&cfg, &["cgroupDriver"]) {
        Some("systemd" | "cgroupfs") => {}
        other => {
            return Err(Failed(format!(
                "config: cgroupDriver {other:?} is not systemd or cgroupfs"
            )));
        }
    }
    if cfg["failCgroupV1"].as_bool().unwrap_or(true) && cgroup_v1() {
        return Err(Failed("kubelet is configured to not run on a host using cgroup v1 (failCgroupV1: true); cgroup v1 support is unsupported".into()));
    }
    if cfg["failSwapOn"].as_bool().unwrap_or(true) && swap_on() {
        return Err(Failed(
            "running with swap on is not supported, please disable swap (failSwapOn: true)".into(),
        ));
    }
    for dns in cfg["clusterDNS"].as_array().into_iter().flatten() {
        if dns
            .as_str()
            .and_then(|d| d.parse::<std::net::IpAddr>().ok())
            .is_none()
        {
            return Err(Failed(format!(
                "config: clusterDNS entry {dns} is not an IP"
            )));
        }
    }
    let endpoint = s(&cfg, &["containerRuntimeEndpoint"])
        .or(f.get("container-runtime-endpoint"))
        .ok_or_else(|| Failed("config: containerRuntimeEndpoint is not set".into()))?
        .to_string();
    if !endpoint.starts_with("unix://") {
        return Err(Failed(format!(
            "containerRuntimeEndpoint {endpoint} is not unix://"
        )));
    }
    if !runtime_up(&endpoint).await {
        return Err(Failed(format!(
            "container runtime is not running: cannot connect to {endpoint}"
        )));
    }
    let cn = format!("system:node:{name}");
    let client = kcfg::load(
        "kubeconfig",
        f.req("kubeconfig")?,
        &Expect {
            server: None,
            cn: &cn,
            org: Some("system:nodes"),
        },
    )?;
    let (host, _) = crate::tlsio::host_port(&client.server)?;
    if host != "127.0.0.1" {
        return Err(Failed(format!(
            "--kubeconfig: server {} is not https://127.0.0.1:<port> (kube-lb)",
            client.server
        )));
    }
    eprintln!(
        "kubelet (double): node {name} ({ip}), runtime {endpoint}, API {}",
        client.server
    );
    let pods_client = client.clone();
    let (pod_node, pod_ip) = (name.clone(), ip.clone());
    let runtime = crate::pods::Runtime::new(&endpoint);
    tokio::spawn(async move {
        loop {
            if let Err(e) = crate::pods::sync(&pods_client, &runtime, &pod_node, &pod_ip).await {
                eprintln!("kubelet (double): pods: {}", e.0);
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    });
    let mut registered = false;
    loop {
        match heartbeat(&client, &name, &ip, &endpoint, &mut registered).await {
            Ok(()) => {}
            Err(e) => eprintln!("kubelet (double): {}", e.0),
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn heartbeat(
    c: &KubeClient,
    name: &str,
    ip: &str,
    endpoint: &str,
    registered: &mut bool,
) -> Res<()> {
    let up = runtime_up(endpoint).await;
    let t = now();
    let ready = json!({"type": "Ready", "status": if up {"True"} else {"False"}, "reason": if up {"KubeletReady"} else {"KubeletNotReady"},
        "message": if up {"kubelet is posting ready status (test double)".to_string()} else {format!("container runtime is down: {endpoint}")},
        "lastHeartbeatTime": t, "lastTransitionTime": t});
    let status = json!({"conditions": [ready], "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "nodeInfo": {"kubeletVersion": version(), "kubeProxyVersion": version(), "operatingSystem": "linux", "architecture": std::env::consts::ARCH, "containerRuntimeVersion": "containerd://(test double did not ask)"}});
    if !*registered {
        let r = c.get(&format!("/api/v1/nodes/{name}")).await?;
        if r.status == 404 {
            let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": std::env::consts::ARCH}}, "spec": {}, "status": status});
            let r = c
                .send("POST", "/api/v1/nodes", "application/json", &node)
                .await?;
            if r.status != 201 && r.status != 409 {
                return Err(Failed(format!(
                    "registering node {name}: {} {}",
                    r.status,
                    r.body_str()
                )));
            }
            eprintln!("kubelet (double): registered node {name}");
        } else if r.status != 200 {
            return Err(Failed(format!(
                "GET node {name}: {} {}",
                r.status,
                r.body_str()
            )));
        }
        *registered = true;
    }
    let r = c
        .send(
            "PATCH",
            &format!("/api/v1/nodes/{name}/status"),
            "application/merge-patch+json",
            &json!({"status": status}),
        )
        .await?;
    if r.status == 404 {
        *registered = false;
        return Err(Failed(format!(
            "node {name} was deleted; registering again"
        )));
    }
    if r.status != 200 {
        return Err(Failed(format!(
            "posting status of {name}: {} {}",
            r.status,
            r.body_str()
        )));
    }
    Ok(())
}
