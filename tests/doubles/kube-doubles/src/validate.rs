//! Checks the API server double applies before storing an object, each one a check the real
//! server makes too: object names, RBAC role references, pods and pod templates that name an
//! image for every container, workload selectors that match their template's labels, Secret
//! data that is base64, and Service cluster IPs inside `--service-cluster-ip-range`.

use crate::resources::Kind;
use base64::Engine;
use serde_json::Value;
use std::net::Ipv4Addr;

/// An IPv4 range `a.b.c.d/len`.
#[derive(Debug, Clone, Copy)]
pub struct Cidr {
    pub net: u32,
    pub len: u32,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
        Some(Cidr {
            net: u32::from(ip),
            len,
        })
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len)
        };
        u32::from(ip) & mask == self.net & mask
    }
}

fn dns_subdomain(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

fn containers(spec: &Value, what: &str) -> Result<(), String> {
    let cs = spec["containers"].as_array().filter(|c| !c.is_empty());
    let Some(cs) = cs else {
        return Err(format!("{what}.containers: Required value"));
    };
    for c in cs
        .iter()
        .chain(spec["initContainers"].as_array().into_iter().flatten())
    {
        if c["name"].as_str().is_none_or(str::is_empty) {
            return Err(format!("{what}.containers.name: Required value"));
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            return Err(format!(
                "{what}.containers[{}].image: Required value",
                c["name"].as_str().unwrap_or("")
            ));
        }
    }
    Ok(())
}

/// Ok, or the message of a 422 Invalid.
pub fn object(kind: &Kind, obj: &Value, service_range: Option<Cidr>) -> Result<(), String> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let rbac = kind.group == "rbac.authorization.k8s.io";
    let name_ok = if rbac {
        !name.is_empty() && !name.contains('/') && !name.contains('%')
    } else {
        dns_subdomain(name)
    };
    if !name_ok {
        return Err(format!("metadata.name: Invalid value: {name:?}"));
    }
    match kind.kind {
        "ClusterRoleBinding" => crate::rbac::validate(obj, false)?,
        "RoleBinding" => crate::rbac::validate(obj, true)?,
        "Pod" => containers(&obj["spec"], "spec")?,
        "DaemonSet" | "Deployment" => {
            let t = &obj["spec"]["template"];
            if !crate::select::label_selector_matches(
                &obj["spec"]["selector"],
                &t["metadata"]["labels"],
            ) {
                return Err(
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                        .into(),
                );
            }
            containers(&t["spec"], "spec.template.spec")?;
        }
        "Secret" => {
            for (k, v) in obj["data"].as_object().into_iter().flatten() {
                let ok = v
                    .as_str()
                    .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
                if !ok {
                    return Err(format!("data[{k}]: not base64"));
                }
            }
        }
        "Service" => {
            let ip = obj["spec"]["clusterIP"].as_str().unwrap_or("");
            if !ip.is_empty() && ip != "None" {
                let parsed: Option<Ipv4Addr> = ip.parse().ok();
                let inside = match (parsed, service_range) {
                    (Some(a), Some(r)) => r.contains(a),
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                if !inside {
                    return Err(format!(
                        "spec.clusterIPs: Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range"
                    ));
                }
            }
            for p in obj["spec"]["ports"].as_array().into_iter().flatten() {
                if p["port"].as_u64().is_none_or(|n| n == 0 || n > 65535) {
                    return Err("spec.ports.port: Invalid value".into());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::find;
    use serde_json::json;

    #[test]
    fn checks() {
        let svc = find("", "services").unwrap();
        let range = Cidr::parse("10.68.0.0/16");
        let s = json!({"metadata": {"name": "kube-dns"}, "spec": {"clusterIP": "10.68.0.2", "ports": [{"port": 53}]}});
        assert!(object(svc, &s, range).is_ok());
        let s = json!({"metadata": {"name": "kube-dns"}, "spec": {"clusterIP": "10.69.0.2", "ports": [{"port": 53}]}});
        assert!(
            object(svc, &s, range)
                .unwrap_err()
                .contains("not in the valid range")
        );
        let ds = find("apps", "daemonsets").unwrap();
        let d = json!({"metadata": {"name": "calico-node"}, "spec": {"selector": {"matchLabels": {"k8s-app": "calico-node"}},
            "template": {"metadata": {"labels": {"k8s-app": "calico-node"}}, "spec": {"containers": [{"name": "n", "image": "calico/node:v1"}]}}}});
        assert!(object(ds, &d, None).is_ok());
        let mut bad = d.clone();
        bad["spec"]["template"]["metadata"]["labels"]["k8s-app"] = json!("other");
        assert!(object(ds, &bad, None).is_err());
        let mut bad = d;
        bad["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
        assert!(object(ds, &bad, None).unwrap_err().contains("image"));
        let cm = find("", "configmaps").unwrap();
        assert!(object(cm, &json!({"metadata": {"name": "Bad_Name"}}), None).is_err());
        let cr = find("rbac.authorization.k8s.io", "clusterroles").unwrap();
        assert!(object(cr, &json!({"metadata": {"name": "system:coredns"}}), None).is_ok());
        let sec = find("", "secrets").unwrap();
        assert!(
            object(
                sec,
                &json!({"metadata": {"name": "s"}, "data": {"a": "!!"}}),
                None
            )
            .is_err()
        );
    }
}
