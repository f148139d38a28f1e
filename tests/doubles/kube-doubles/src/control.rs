//! kube-controller-manager and kube-scheduler doubles. Checks: flags of v1.36; `--kubeconfig`
//! (and the authentication/authorization kubeconfigs) pointing at 127.0.0.1 with a client
//! certificate of CN `system:kube-controller-manager` / `system:kube-scheduler` signed by the
//! embedded CA; for the controller manager the cluster-signing pair (a CA and its key), the
//! root CA, the service-account key and `--cluster-cidr`. Then the API server must answer
//! `/readyz` with those credentials (through kube-lb), re-checked every 30 s (exit non-zero
//! after 5 failures in a row). In between, every 3 s, the controller manager runs the
//! DaemonSet / Deployment / garbage-collection controllers and the scheduler binds pending
//! pods (`workloads.rs`).

use crate::certs;
use crate::flags::Flags;
use crate::kcfg::{self, Expect, KubeClient};
use crate::{Failed, Res};
use std::time::Duration;

fn local_server(c: &KubeClient, what: &str) -> Res<()> {
    let (host, _) = crate::tlsio::host_port(&c.server)?;
    if host != "127.0.0.1" {
        return Err(Failed(format!(
            "{what}: server {} is not https://127.0.0.1:<port> (kube-lb)",
            c.server
        )));
    }
    Ok(())
}

pub async fn run(component: &str, args: &[String]) -> Res<()> {
    let f = Flags::parse(component, args)?;
    let cn = format!("system:{component}");
    let want = Expect {
        server: None,
        cn: &cn,
        org: None,
    };
    let client = kcfg::load("kubeconfig", f.req("kubeconfig")?, &want)?;
    local_server(&client, "--kubeconfig")?;
    for flag in ["authentication-kubeconfig", "authorization-kubeconfig"] {
        if let Some(p) = f.get(flag) {
            kcfg::load(flag, p, &want)?;
        }
    }
    if component == "kube-controller-manager" {
        let signing = certs::load(
            "cluster-signing-cert-file",
            f.req("cluster-signing-cert-file")?,
        )?;
        if !signing.is_ca {
            return Err(Failed(
                "--cluster-signing-cert-file is not a CA certificate".into(),
            ));
        }
        certs::key_pair(
            &signing,
            "cluster-signing-key-file",
            f.req("cluster-signing-key-file")?,
        )?;
        let root = certs::load("root-ca-file", f.req("root-ca-file")?)?;
        if !root.is_ca {
            return Err(Failed("--root-ca-file is not a CA certificate".into()));
        }
        let sa = crate::tlsio::read(f.req("service-account-private-key-file")?)?;
        crate::tlsio::key(&sa, "--service-account-private-key-file")?;
        if f.get("allocate-node-cidrs") == Some("true") {
            let cidr = f.req("cluster-cidr")?;
            let ok = cidr.split_once('/').is_some_and(|(ip, len)| {
                ip.parse::<std::net::IpAddr>().is_ok() && len.parse::<u8>().is_ok()
            });
            if !ok {
                return Err(Failed(format!("--cluster-cidr={cidr} is not a CIDR")));
            }
        }
    }
    let mut failures = 0;
    let mut first = true;
    let mut tick: u64 = 0;
    loop {
        // /readyz at start and every 30 s; the controllers / scheduler every 3 s in between.
        if first || tick.is_multiple_of(10) {
            match client.get("/readyz").await {
                Ok(r) if r.status == 200 => {
                    if first {
                        eprintln!(
                            "{component} (double): API server {} ready, credentials accepted",
                            client.server
                        );
                        first = false;
                    }
                    failures = 0;
                }
                Ok(r) => {
                    failures += 1;
                    eprintln!(
                        "{component} (double): /readyz answered {}: {}",
                        r.status,
                        r.body_str()
                    );
                }
                Err(e) => {
                    failures += 1;
                    eprintln!("{component} (double): {}", e.0);
                }
            }
            if failures >= 5 {
                return Err(Failed(format!(
                    "the API server {} did not answer /readyz 5 times in a row",
                    client.server
                )));
            }
        }
        if !first {
            let pass = if component == "kube-controller-manager" {
                crate::workloads::reconcile(&client).await
            } else {
                crate::workloads::schedule(&client).await
            };
            if let Err(e) = pass {
                eprintln!("{component} (double): {}", e.0);
            }
        }
        tick += 1;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}
