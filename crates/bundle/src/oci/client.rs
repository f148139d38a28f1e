//! A minimal OCI distribution client: pulls with the registry's authentication (Docker Hub's
//! bearer-token flow, HTTP Basic; anonymous unless a login is found, see [`super::creds`]),
//! manifests and indexes, blobs verified while streaming.

use crate::checksum::Sha256;
use crate::error::{BundleError, Result};
use crate::session::Session;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use tokio::sync::{Mutex, OnceCell};

use super::auth;
use super::creds::{self, Found};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// One repository on one registry endpoint.
pub struct Repo<'a> {
    s: &'a Session,
    /// e.g. `https://registry-1.docker.io` or `http://127.0.0.1:5000`.
    pub base: String,
    pub repo: String,
    /// The `Authorization` value obtained after the first challenge.
    authorization: Mutex<Option<String>>,
    /// The login found for this registry (looked up on the first challenge only).
    credential: OnceCell<Option<Found>>,
}

/// A fetched manifest: raw bytes (their digest is the manifest's identity), media type.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Sha256,
}

impl<'a> Repo<'a> {
    pub fn new(s: &'a Session, base: String, repo: String) -> Repo<'a> {
        Repo {
            s,
            base,
            repo,
            authorization: Mutex::new(None),
            credential: OnceCell::new(),
        }
    }

    fn err(&self, msg: impl Into<String>) -> BundleError {
        BundleError::Registry {
            registry: self.base.clone(),
            msg: msg.into(),
        }
    }

    /// The current `Authorization` value, if one was obtained.
    pub async fn auth_header(&self) -> Option<String> {
        self.authorization.lock().await.clone()
    }

    /// The registry's login from the auth files (none when the files have no entry).
    async fn credential(&self) -> Result<Option<&Found>> {
        let found = self
            .credential
            .get_or_try_init(|| async {
                let files = self.s.registry_auth.clone();
                let base = self.base.clone();
                tokio::task::spawn_blocking(move || creds::lookup(&files, &base))
                    .await
                    .map_err(|e| BundleError::Other(format!("credential lookup failed: {e}")))?
            })
            .await?;
        Ok(found.as_ref())
    }

    /// Answers a 401's challenge and keeps the resulting `Authorization` value.
    async fn login(&self, challenge: &str) -> Result<()> {
        let cred = self.credential().await?;
        let value = auth::authorize(self.s, &self.base, &self.repo, challenge, cred).await?;
        *self.authorization.lock().await = Some(value);
        Ok(())
    }

    /// GETs `path` (under `/v2/<repo>/`), authenticating once on a 401 and retrying transient
    /// failures with backoff.
    async fn get(&self, path: &str, accept: &str) -> Result<reqwest::Response> {
        let url = format!("{}/v2/{}/{}", self.base, self.repo, path);
        let mut retries = crate::retry::Retries::new(&self.s.fetch);
        let mut authed = false;
        loop {
            crate::fetch::stop_if_tripped(&self.s.events)?;
            let mut req = self.s.client.get(&url).header(ACCEPT, accept);
            if let Some(a) = self.auth_header().await {
                req = req.header(AUTHORIZATION, a);
            }
            let sent = tokio::time::timeout(self.s.fetch.read_timeout, req.send()).await;
            let resp = match sent {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    let err = crate::fetch::network_error(&self.s.events, &url, &e);
                    let Some(wait) = retries.next_delay(err.is_transient(), None) else {
                        return Err(err);
                    };
                    tracing::debug!("{err}; retrying");
                    crate::fetch::pause(&self.s.events, wait).await?;
                    continue;
                }
                Err(_) => {
                    return Err(BundleError::Stalled {
                        url,
                        secs: self.s.fetch.read_timeout.as_secs(),
                    });
                }
            };
            self.s.events.breaker().answered();
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                if authed {
                    let cred = self.credential().await?;
                    return Err(auth::refused(&self.base, cred));
                }
                authed = true;
                let challenge = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| self.err("401 without a WWW-Authenticate challenge"))?;
                self.login(&challenge).await?;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::retry::parse_retry_after(v, std::time::SystemTime::now()));
                if let Some(wait) = retries.next_delay(true, retry_after) {
                    crate::fetch::pause(&self.s.events, wait).await?;
                    continue;
                }
            }
            if !status.is_success() {
                return Err(BundleError::Http {
                    url,
                    status: status.as_u16(),
                });
            }
            return Ok(resp);
        }
    }

    /// GETs a manifest (image or index) by tag or digest. When `expect` is given (or the
    /// registry sends `Docker-Content-Digest`), the bytes must hash to it.
    pub async fn manifest(&self, reference: &str, expect: Option<Sha256>) -> Result<RawManifest> {
        let accept = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ");
        let resp = self.get(&format!("manifests/{reference}"), &accept).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(Sha256::parse);
        let ctype = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.err(e.to_string()))?
            .to_vec();
        self.s.events.add_fetched(bytes.len() as u64);
        if crate::fetch::looks_like_html(&bytes) {
            return Err(BundleError::NotBinary {
                url: format!("{}/v2/{}/manifests/{reference}", self.base, self.repo),
            });
        }
        let digest = Sha256::of(&bytes);
        let pinned = expect.or_else(|| Sha256::parse(reference));
        for want in pinned.iter().chain(header_digest.iter()) {
            if *want != digest {
                return Err(BundleError::DigestMismatch {
                    what: format!("manifest {}:{reference}", self.repo),
                    expected: format!("sha256:{want}"),
                    actual: format!("sha256:{digest}"),
                });
            }
        }
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .filter(|m| !m.is_empty())
            .unwrap_or(ctype);
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// The URL of a blob.
    pub fn blob_url(&self, digest: &str) -> String {
        format!("{}/v2/{}/blobs/{digest}", self.base, self.repo)
    }
}
