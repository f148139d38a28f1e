//! Kubeconfigs: the file must name a server (checked against what the installer promised),
//! embed a CA and a client certificate signed by it with the expected identity; the result is
//! an API client using exactly those credentials.

use crate::http::Response;
use crate::tlsio;
use crate::{Failed, Res};
use ez_pki::{CertInfo, Kubeconfig};
use std::path::Path;
use std::sync::Arc;

/// A client of the API server built from a kubeconfig.
#[derive(Clone)]
pub struct KubeClient {
    pub server: String,
    cfg: Arc<rustls::ClientConfig>,
}

/// What a kubeconfig must say.
pub struct Expect<'a> {
    /// Required server URL (kubeasz rewrites node kubeconfigs to `https://127.0.0.1:<port>`).
    pub server: Option<&'a str>,
    pub cn: &'a str,
    pub org: Option<&'a str>,
}

/// Loads and checks `path`; returns a client with its credentials.
pub fn load(flag: &str, path: &str, want: &Expect<'_>) -> Res<KubeClient> {
    let what = format!("--{flag}={path}");
    let kc = Kubeconfig::load(Path::new(path)).map_err(|e| Failed(format!("{what}: {e}")))?;
    let server = kc
        .server()
        .ok_or_else(|| {
            Failed(format!(
                "{what}: the current context names no cluster server"
            ))
        })?
        .to_string();
    if let Some(s) = want.server
        && server != s
    {
        return Err(Failed(format!("{what}: server is {server}, expected {s}")));
    }
    let (ca_pem, cert_pem, key_pem) = kc.embedded_pems().ok_or_else(|| {
        Failed(format!(
            "{what}: no embedded CA/client certificate/key in the current context"
        ))
    })?;
    let ca = CertInfo::from_pem(
        Path::new(&format!("{path}#certificate-authority-data")),
        ca_pem.as_bytes(),
    )
    .map_err(|e| Failed(format!("{what}: {e}")))?;
    let leaf_path = format!("{path}#client-certificate-data");
    let leaf = CertInfo::from_pem(Path::new(&leaf_path), cert_pem.as_bytes())
        .map_err(|e| Failed(format!("{what}: {e}")))?;
    crate::certs::chain(&ca, &leaf, &what)?;
    crate::certs::subject(&leaf, want.cn, want.org, &what)?;
    if !leaf
        .matches_key_pem(Path::new(path), &key_pem)
        .unwrap_or(false)
    {
        return Err(Failed(format!(
            "{what}: client-key-data is not the key of client-certificate-data"
        )));
    }
    let cfg = tlsio::client_config(
        ca_pem.as_bytes(),
        cert_pem.as_bytes(),
        key_pem.as_bytes(),
        &what,
    )?;
    Ok(KubeClient { server, cfg })
}

impl KubeClient {
    pub async fn get(&self, path: &str) -> Res<Response> {
        tlsio::request(self.cfg.clone(), &self.server, "GET", path, None).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &serde_json::Value,
    ) -> Res<Response> {
        let b = body.to_string();
        tlsio::request(
            self.cfg.clone(),
            &self.server,
            method,
            path,
            Some((content_type, b.as_bytes())),
        )
        .await
    }
}
