//! A minimal OCI distribution client: anonymous pulls with bearer-token auth (the
//! `WWW-Authenticate: Bearer realm=…,service=…,scope=…` flow Docker Hub's `auth.docker.io`
//! uses), manifests and indexes, blobs verified while streaming.

use crate::checksum::Sha256;
use crate::error::{BundleError, Result};
use crate::retry::backoff;
use crate::session::Session;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use tokio::sync::Mutex;

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
    token: Mutex<Option<String>>,
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
            token: Mutex::new(None),
        }
    }

    fn err(&self, msg: impl Into<String>) -> BundleError {
        BundleError::Registry {
            registry: self.base.clone(),
            msg: msg.into(),
        }
    }

    /// The current `Authorization` value, if a token was obtained.
    pub async fn auth_header(&self) -> Option<String> {
        self.token
            .lock()
            .await
            .as_ref()
            .map(|t| format!("Bearer {t}"))
    }

    /// GETs `path` (under `/v2/<repo>/`), authenticating once on a 401 and retrying transient
    /// failures with backoff.
    async fn get(&self, path: &str, accept: &str) -> Result<reqwest::Response> {
        let url = format!("{}/v2/{}/{}", self.base, self.repo, path);
        let mut attempt = 0;
        let mut authed = false;
        loop {
            let mut req = self.s.client.get(&url).header(ACCEPT, accept);
            if let Some(a) = self.auth_header().await {
                req = req.header(AUTHORIZATION, a);
            }
            let sent = tokio::time::timeout(self.s.fetch.read_timeout, req.send()).await;
            let resp = match sent {
                Ok(Ok(r)) => r,
                Ok(Err(e)) if attempt < self.s.fetch.retries => {
                    tracing::debug!("{url}: {e}; retrying");
                    attempt += 1;
                    tokio::time::sleep(backoff(
                        attempt,
                        self.s.fetch.backoff_base,
                        self.s.fetch.backoff_max,
                    ))
                    .await;
                    continue;
                }
                Ok(Err(e)) => {
                    return Err(BundleError::Transfer {
                        url,
                        msg: e.to_string(),
                    });
                }
                Err(_) => {
                    return Err(BundleError::Stalled {
                        url,
                        secs: self.s.fetch.read_timeout.as_secs(),
                    });
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !authed {
                authed = true;
                let challenge = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
                    .ok_or_else(|| self.err("401 without a WWW-Authenticate challenge"))?;
                self.authenticate(&challenge).await?;
                continue;
            }
            if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
                && attempt < self.s.fetch.retries
            {
                let wait = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| crate::retry::parse_retry_after(v, std::time::SystemTime::now()))
                    .map(|d| d.min(self.s.fetch.retry_after_max))
                    .unwrap_or_else(|| {
                        backoff(attempt, self.s.fetch.backoff_base, self.s.fetch.backoff_max)
                    });
                attempt += 1;
                tokio::time::sleep(wait).await;
                continue;
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

    /// Follows a `Bearer` challenge: GET realm?service=…&scope=… and keeps the token.
    async fn authenticate(&self, challenge: &str) -> Result<()> {
        let c = parse_challenge(challenge).ok_or_else(|| {
            self.err(format!("unsupported authentication '{challenge}' (only anonymous bearer tokens are supported)"))
        })?;
        let realm = c.realm;
        let scope = c
            .scope
            .unwrap_or_else(|| format!("repository:{}:pull", self.repo));
        let mut req = self
            .s
            .client
            .get(&realm)
            .query(&[("scope", scope.as_str())]);
        if let Some(svc) = &c.service {
            req = req.query(&[("service", svc.as_str())]);
        }
        let resp = tokio::time::timeout(self.s.fetch.read_timeout, req.send())
            .await
            .map_err(|_| BundleError::Stalled {
                url: realm.clone(),
                secs: self.s.fetch.read_timeout.as_secs(),
            })?
            .map_err(|e| BundleError::Transfer {
                url: realm.clone(),
                msg: e.to_string(),
            })?;
        if !resp.status().is_success() {
            return Err(self.err(format!(
                "token endpoint {realm} answered HTTP {}",
                resp.status().as_u16()
            )));
        }
        #[derive(serde::Deserialize)]
        struct Tok {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = resp.bytes().await.map_err(|e| BundleError::Transfer {
            url: realm.clone(),
            msg: e.to_string(),
        })?;
        self.s.events.add_fetched(body.len() as u64);
        let t: Tok = serde_json::from_slice(&body)
            .map_err(|e| self.err(format!("bad token response: {e}")))?;
        let token = t
            .token
            .or(t.access_token)
            .ok_or_else(|| self.err("token response without a token"))?;
        *self.token.lock().await = Some(token);
        Ok(())
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

/// A parsed `Bearer` challenge.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
    pub scope: Option<String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"` (quoted values may contain commas).
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = std::collections::HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                val.push(*c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), val);
    }
    Some(Challenge {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:calico/cni:pull""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.docker.io/token");
        assert_eq!(c.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(c.scope.as_deref(), Some("repository:calico/cni:pull"));
    }

    #[test]
    fn scope_with_commas_and_no_service() {
        let c = parse_challenge(
            r#"bearer realm="http://127.0.0.1:1/t",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push"));
        assert_eq!(c.service, None);
        assert!(parse_challenge(r#"Basic realm="x""#).is_none());
        assert!(parse_challenge(r#"Bearer service="x""#).is_none());
    }
}
