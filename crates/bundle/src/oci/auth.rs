//! Answering a registry's `401`: Docker Hub's bearer-token flow (`WWW-Authenticate: Bearer
//! realm=…,service=…,scope=…`, then the realm, anonymously or with the user's login; an
//! identity token is exchanged with an OAuth2 refresh-token POST) and HTTP Basic (a private
//! registry or mirror with htpasswd). The messages say what to run when a login is missing or
//! refused.

use super::creds::{Credential, Found, registry_host};
use crate::error::{BundleError, Result};
use crate::session::Session;
use base64::Engine;

/// Returns the `Authorization` value answering `challenge` for `repo` on `registry`.
pub async fn authorize(
    s: &Session,
    registry: &str,
    repo: &str,
    challenge: &str,
    cred: Option<&Found>,
) -> Result<String> {
    let scheme = challenge.split_whitespace().next().unwrap_or("");
    if scheme.eq_ignore_ascii_case("basic") {
        return match cred.map(|f| &f.credential) {
            Some(Credential::Basic { username, password }) => Ok(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Some(Credential::IdentityToken(_)) => Err(err(
                registry,
                format!(
                    "asks for a user name and password, but {} holds an identity token for it",
                    cred.map(|f| f.from.as_str()).unwrap_or("the auth file")
                ),
            )),
            None => Err(needs_login(registry)),
        };
    }
    let c = parse_challenge(challenge).ok_or_else(|| {
        err(
            registry,
            format!("unsupported authentication '{challenge}' (Bearer and Basic are supported)"),
        )
    })?;
    let scope = c.scope.unwrap_or_else(|| format!("repository:{repo}:pull"));
    let req = match cred.map(|f| &f.credential) {
        Some(Credential::IdentityToken(t)) => {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", t.as_str()),
                ("client_id", "ezdown"),
                ("scope", scope.as_str()),
            ];
            if let Some(svc) = &c.service {
                form.push(("service", svc.as_str()));
            }
            s.client.post(&c.realm).form(&form)
        }
        other => {
            let mut req = s.client.get(&c.realm).query(&[("scope", scope.as_str())]);
            if let Some(svc) = &c.service {
                req = req.query(&[("service", svc.as_str())]);
            }
            if let Some(Credential::Basic { username, password }) = other {
                req = req.basic_auth(username, Some(password));
            }
            req
        }
    };
    let realm = c.realm.clone();
    let resp = tokio::time::timeout(s.fetch.read_timeout, req.send())
        .await
        .map_err(|_| BundleError::Stalled {
            url: realm.clone(),
            secs: s.fetch.read_timeout.as_secs(),
        })?
        .map_err(|e| crate::fetch::network_error(&s.events, &realm, &e))?;
    s.events.breaker().answered();
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(refused(registry, cred));
    }
    if !status.is_success() {
        return Err(err(
            registry,
            format!("token endpoint {realm} answered HTTP {}", status.as_u16()),
        ));
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
    s.events.add_fetched(body.len() as u64);
    let t: Tok = serde_json::from_slice(&body)
        .map_err(|e| err(registry, format!("bad token response: {e}")))?;
    let token = t
        .token
        .or(t.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| err(registry, "token response without a token"))?;
    Ok(format!("Bearer {token}"))
}

fn err(registry: &str, msg: impl Into<String>) -> BundleError {
    BundleError::Registry {
        registry: registry.to_string(),
        msg: msg.into(),
    }
}

fn login_hint(registry: &str) -> String {
    let host = registry_host(registry);
    format!(
        "run `docker login {host}` (or podman/skopeo login), or pass --registry-auth FILE \
         with an auth file holding its credentials, then rerun"
    )
}

/// The registry wants a login and none was found.
pub fn needs_login(registry: &str) -> BundleError {
    err(registry, format!("needs a login: {}", login_hint(registry)))
}

/// The registry refused what was sent (the login found, or no login at all).
pub fn refused(registry: &str, cred: Option<&Found>) -> BundleError {
    match cred {
        Some(f) => err(
            registry,
            format!(
                "refused the credentials from {}: {}",
                f.from,
                login_hint(registry)
            ),
        ),
        None => needs_login(registry),
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
