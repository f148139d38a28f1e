//! kube-proxy double. Checks: flags of v1.36; `--config` is a KubeProxyConfiguration
//! (kubeproxy.config.k8s.io/v1alpha1) with `mode` iptables, ipvs or nftables and the host tool
//! that mode needs present (`iptables` / `nft` / `/proc/net/ip_vs`), `clusterCIDR` a CIDR,
//! `hostnameOverride` set, and `clientConnection.kubeconfig` pointing at
//! `https://127.0.0.1:<port>` with a client certificate CN `system:kube-proxy` signed by the
//! embedded CA. Then it must be able to read its Node through the API (retrying for 2 min,
//! as the kubelet may register later), and idles.

use crate::flags::Flags;
use crate::kcfg::{self, Expect};
use crate::{Failed, Res};
use serde_json::Value;
use std::time::Duration;

fn has_tool(name: &str) -> bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| std::path::Path::new(d).join(name).exists())
}

pub async fn run(args: &[String]) -> Res<()> {
    let f = Flags::parse("kube-proxy", args)?;
    let path = f.req("config")?;
    let text =
        std::fs::read_to_string(path).map_err(|e| Failed(format!("--config={path}: {e}")))?;
    let cfg: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| Failed(format!("--config={path}: not YAML: {e}")))?;
    if cfg["apiVersion"] != "kubeproxy.config.k8s.io/v1alpha1"
        || cfg["kind"] != "KubeProxyConfiguration"
    {
        return Err(Failed(format!(
            "--config={path}: not a kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration"
        )));
    }
    let mode = cfg["mode"].as_str().unwrap_or("");
    let tool_ok = match mode {
        "iptables" => has_tool("iptables"),
        "nftables" => has_tool("nft"),
        "ipvs" => std::path::Path::new("/proc/net/ip_vs").exists(),
        other => {
            return Err(Failed(format!(
                "config: invalid mode {other:?} (iptables, ipvs or nftables)"
            )));
        }
    };
    if !tool_ok {
        return Err(Failed(format!(
            "proxy mode {mode} is not usable on this host (its tool or kernel support is missing)"
        )));
    }
    let cidr = cfg["clusterCIDR"].as_str().unwrap_or("");
    if !cidr.split(',').all(|c| {
        c.split_once('/').is_some_and(|(ip, l)| {
            ip.parse::<std::net::IpAddr>().is_ok() && l.parse::<u8>().is_ok()
        })
    }) {
        return Err(Failed(format!(
            "config: clusterCIDR {cidr:?} is not a CIDR list"
        )));
    }
    let name = cfg["hostnameOverride"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Failed("config: hostnameOverride is not set".into()))?;
    let kc = cfg["clientConnection"]["kubeconfig"]
        .as_str()
        .ok_or_else(|| Failed("config: clientConnection.kubeconfig is not set".into()))?;
    let client = kcfg::load(
        "config clientConnection.kubeconfig",
        kc,
        &Expect {
            server: None,
            cn: "system:kube-proxy",
            org: None,
        },
    )?;
    let (host, _) = crate::tlsio::host_port(&client.server)?;
    if host != "127.0.0.1" {
        return Err(Failed(format!(
            "clientConnection.kubeconfig: server {} is not https://127.0.0.1:<port> (kube-lb)",
            client.server
        )));
    }
    let mut last = String::new();
    for _ in 0..40 {
        match client.get(&format!("/api/v1/nodes/{name}")).await {
            Ok(r) if r.status == 200 => {
                eprintln!(
                    "kube-proxy (double): mode {mode}, node {name} visible through {}",
                    client.server
                );
                loop {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            }
            Ok(r) => last = format!("{} {}", r.status, r.body_str()),
            Err(e) => last = e.0,
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Err(Failed(format!(
        "cannot read node {name} through {}: {last}",
        client.server
    )))
}
