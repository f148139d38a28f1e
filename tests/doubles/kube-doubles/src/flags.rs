//! Command-line flags: parsed as `--name=value` or `--name` (boolean) and checked against the
//! allow-list of real flag names of this Kubernetes version (`flags/<minor>/<component>.txt`).

use crate::{Failed, MINOR, Res};
use std::collections::BTreeMap;

/// The allow-list text of a component (compiled in).
fn allow_list(component: &str) -> Option<&'static str> {
    Some(match component {
        "kube-apiserver" => include_str!("../flags/v1.36/kube-apiserver.txt"),
        "kube-controller-manager" => include_str!("../flags/v1.36/kube-controller-manager.txt"),
        "kube-scheduler" => include_str!("../flags/v1.36/kube-scheduler.txt"),
        "kubelet" => include_str!("../flags/v1.36/kubelet.txt"),
        "kube-proxy" => include_str!("../flags/v1.36/kube-proxy.txt"),
        _ => return None,
    })
}

/// Parsed flags, by name (the last occurrence wins, as with pflag).
#[derive(Debug, Default)]
pub struct Flags(pub BTreeMap<String, String>);

impl Flags {
    /// Parses and checks every argument; an unknown flag or a stray argument is fatal.
    pub fn parse(component: &str, args: &[String]) -> Res<Flags> {
        let known: Vec<&str> = allow_list(component)
            .ok_or_else(|| Failed(format!("no flag list for {component}")))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let mut out = BTreeMap::new();
        for a in args {
            let Some(body) = a.strip_prefix("--") else {
                return Err(Failed(format!(
                    "unexpected argument `{a}` (flags are --name=value)"
                )));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, v),
                None => (body, "true"),
            };
            if !known.contains(&name) {
                return Err(Failed(format!(
                    "unknown flag: --{name} (not a {component} flag of Kubernetes {MINOR})"
                )));
            }
            out.insert(name.to_string(), value.trim_matches('"').to_string());
        }
        Ok(Flags(out))
    }

    /// A flag that must be present and non-empty.
    pub fn req(&self, name: &str) -> Res<&str> {
        match self.0.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(Failed(format!("required flag --{name} is missing"))),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn known_flags_pass_unknown_and_removed_fail() {
        let f = Flags::parse(
            "kube-apiserver",
            &s(&[
                "--secure-port=6443",
                "--anonymous-auth=false",
                "--allow-privileged",
            ]),
        )
        .unwrap();
        assert_eq!(f.req("secure-port").unwrap(), "6443");
        assert_eq!(f.get("allow-privileged"), Some("true"));
        let e = Flags::parse("kube-apiserver", &s(&["--insecure-port=0"])).unwrap_err();
        assert!(e.0.contains("--insecure-port"), "{}", e.0);
        let e = Flags::parse("kubelet", &s(&["--network-plugin=cni"])).unwrap_err();
        assert!(e.0.contains("unknown flag"), "{}", e.0);
        assert!(Flags::parse("kube-proxy", &s(&["stray"])).is_err());
        assert!(
            Flags::parse("kube-scheduler", &s(&[]))
                .unwrap()
                .req("kubeconfig")
                .is_err()
        );
    }
}
