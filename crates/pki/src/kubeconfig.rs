//! Kubeconfig files with embedded certificates, the shape `kubectl config
//! set-cluster/set-credentials/set-context/use-context --embed-certs=true`
//! produces (same key order, one cluster, one user, one context).
//!
//! Invariant: rendering is a pure function of its inputs, so rewriting an
//! unchanged kubeconfig yields identical bytes (this is what makes `ensure`
//! idempotent for kubeconfigs).

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::error::PkiError;

/// A kubeconfig document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub clusters: Vec<NamedCluster>,
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context")]
    pub current_context: String,
    pub kind: String,
    #[serde(default)]
    pub preferences: BTreeMap<String, String>,
    pub users: Vec<NamedUser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: Cluster,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    #[serde(rename = "certificate-authority-data")]
    pub certificate_authority_data: String,
    pub server: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: Context,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    #[serde(rename = "client-certificate-data")]
    pub client_certificate_data: String,
    #[serde(rename = "client-key-data")]
    pub client_key_data: String,
}

/// Names and server of one kubeconfig (the rows of the §4 kubeconfig table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigNames {
    pub cluster: String,
    pub user: String,
    pub context: String,
    pub server: String,
}

impl Kubeconfig {
    /// A kubeconfig embedding the CA and a client certificate and key (all PEM).
    pub fn new(names: &KubeconfigNames, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Self {
        Self {
            api_version: "v1".to_string(),
            clusters: vec![NamedCluster {
                cluster: Cluster {
                    certificate_authority_data: STANDARD.encode(ca_pem),
                    server: names.server.clone(),
                },
                name: names.cluster.clone(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: names.cluster.clone(),
                    user: names.user.clone(),
                },
                name: names.context.clone(),
            }],
            current_context: names.context.clone(),
            kind: "Config".to_string(),
            preferences: BTreeMap::new(),
            users: vec![NamedUser {
                name: names.user.clone(),
                user: User {
                    client_certificate_data: STANDARD.encode(cert_pem),
                    client_key_data: STANDARD.encode(key_pem),
                },
            }],
        }
    }

    /// YAML text; `path` is only used in errors.
    pub fn to_yaml(&self, path: &Path) -> Result<String, PkiError> {
        serde_yaml_ng::to_string(self).map_err(|e| PkiError::Kubeconfig {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Parses a kubeconfig file.
    pub fn load(path: &Path) -> Result<Self, PkiError> {
        let text = std::fs::read_to_string(path).map_err(|source| PkiError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_yaml_ng::from_str(&text).map_err(|e| PkiError::Kubeconfig {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// The server of the current context's cluster.
    pub fn server(&self) -> Option<&str> {
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)?;
        self.clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .map(|c| c.cluster.server.as_str())
    }

    /// Points every cluster entry at `server` (what kubeasz does with `sed` when
    /// it copies a kubeconfig to a host, e.g. `https://127.0.0.1:6443`).
    pub fn set_server(&mut self, server: &str) {
        for cluster in &mut self.clusters {
            cluster.cluster.server = server.to_string();
        }
    }

    /// Decoded embedded data of the current context: (CA PEM, client cert PEM, client key PEM).
    pub fn embedded_pems(&self) -> Option<(String, String, String)> {
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)?;
        let user = self.users.iter().find(|u| u.name == ctx.context.user)?;
        let decode = |s: &str| {
            STANDARD
                .decode(s)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        };
        Some((
            decode(&cluster.cluster.certificate_authority_data)?,
            decode(&user.user.client_certificate_data)?,
            decode(&user.user.client_key_data)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> KubeconfigNames {
        KubeconfigNames {
            cluster: "cluster1".into(),
            user: "admin".into(),
            context: "context-cluster1".into(),
            server: "https://192.168.1.1:6443".into(),
        }
    }

    #[test]
    fn yaml_has_kubectl_shape_and_round_trips() {
        let kc = Kubeconfig::new(&names(), "CA", "CERT", "KEY");
        let yaml = kc.to_yaml(Path::new("k")).unwrap();
        let keys: Vec<&str> = yaml
            .lines()
            .filter(|l| !l.starts_with([' ', '-']))
            .collect();
        assert_eq!(
            keys,
            [
                "apiVersion: v1",
                "clusters:",
                "contexts:",
                "current-context: context-cluster1",
                "kind: Config",
                "preferences: {}",
                "users:"
            ]
        );
        assert!(yaml.contains("certificate-authority-data: Q0E="), "{yaml}");
        let back: Kubeconfig = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(back, kc);
        assert_eq!(back.server(), Some("https://192.168.1.1:6443"));
        assert_eq!(
            back.embedded_pems(),
            Some(("CA".to_string(), "CERT".to_string(), "KEY".to_string()))
        );
        let mut moved = back.clone();
        moved.set_server("https://127.0.0.1:6443");
        assert_eq!(moved.server(), Some("https://127.0.0.1:6443"));
        // Same inputs, same bytes.
        assert_eq!(
            Kubeconfig::new(&names(), "CA", "CERT", "KEY")
                .to_yaml(Path::new("k"))
                .unwrap(),
            yaml
        );
    }
}
