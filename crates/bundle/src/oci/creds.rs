//! Registry credentials from the files `docker login`, `podman login` and `skopeo login` write,
//! so that ezdown can pull from a mirror or private registry that needs a login, and from
//! Docker Hub with a user's own (higher) rate limit. No credential is ever written or printed.
//!
//! Files, first entry found wins: `--registry-auth FILE` (else `$REGISTRY_AUTH_FILE`),
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`),
//! `$XDG_RUNTIME_DIR/containers/auth.json`. In each: `credHelpers[host]`, then `credsStore`
//! (through `docker-credential-<name> get`), then `auths[host]` with `auth` (base64
//! `user:password`), `username` + `password`, or `identitytoken`.

use crate::error::{BundleError, Result};
use base64::Engine;
use std::path::{Path, PathBuf};

/// What a registry login left behind.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`docker login` to a registry that issues them).
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    // Never print a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

/// A credential and the file it came from (named in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub credential: Credential,
    pub from: String,
}

/// The files searched when no `--registry-auth` is given, in order.
pub fn default_auth_files() -> Vec<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let mut out = Vec::new();
    if let Some(f) = env("REGISTRY_AUTH_FILE") {
        out.push(PathBuf::from(f));
    }
    match (env("DOCKER_CONFIG"), env("HOME")) {
        (Some(d), _) => out.push(PathBuf::from(d).join("config.json")),
        (None, Some(h)) => out.push(PathBuf::from(h).join(".docker/config.json")),
        _ => {}
    }
    if let Some(r) = env("XDG_RUNTIME_DIR") {
        out.push(PathBuf::from(r).join("containers/auth.json"));
    }
    out
}

/// Names under which Docker Hub's credentials are stored.
const DOCKER_HUB: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];
/// The key `docker login` uses for Docker Hub (also what credential helpers expect).
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// `host[:port]` of an auth-file key or a registry base URL: scheme and path dropped,
/// Docker Hub's aliases folded into `docker.io`.
pub fn registry_host(key: &str) -> String {
    let k = key.trim();
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    if DOCKER_HUB.contains(&host.as_str()) {
        "docker.io".into()
    } else {
        host
    }
}

/// Runs a credential helper for `server`; `Ok(None)` when it has nothing for it.
pub type HelperRunner<'a> = dyn Fn(&str, &str) -> Result<Option<Credential>> + 'a;

/// Looks `registry` (a base URL or host) up in `files`.
pub fn lookup(files: &[PathBuf], registry: &str) -> Result<Option<Found>> {
    lookup_with(files, registry, &run_helper)
}

/// [`lookup`] with the helper runner given (tests).
pub fn lookup_with(
    files: &[PathBuf],
    registry: &str,
    helper: &HelperRunner<'_>,
) -> Result<Option<Found>> {
    let host = registry_host(registry);
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BundleError::io("read", f, e)),
        };
        if let Some(c) = from_file(f, &text, &host, helper)? {
            return Ok(Some(Found {
                credential: c,
                from: f.display().to_string(),
            }));
        }
    }
    Ok(None)
}

fn bad(f: &Path, msg: impl std::fmt::Display) -> BundleError {
    BundleError::Other(format!(
        "{}: {msg} (expected the JSON `docker login` writes: {{\"auths\": {{\"host\": {{\"auth\": \"…\"}}}}}})",
        f.display()
    ))
}

fn from_file(
    f: &Path,
    text: &str,
    host: &str,
    helper: &HelperRunner<'_>,
) -> Result<Option<Credential>> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(f, e))?;
    let server = if host == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    };
    let helper_for_host = v
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| h.iter().find(|(k, _)| registry_host(k) == host))
        .and_then(|(_, n)| n.as_str());
    if let Some(name) = helper_for_host {
        return helper(name, &server);
    }
    if let Some(store) = v.get("credsStore").and_then(|s| s.as_str())
        && let Some(c) = helper(store, &server)?
    {
        return Ok(Some(c));
    }
    let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    // An exact key first (`host`), then any spelling of the same host.
    let entry = auths
        .get(host)
        .or_else(|| {
            auths
                .iter()
                .find(|(k, _)| registry_host(k) == host)
                .map(|(_, e)| e)
        })
        .and_then(|e| e.as_object());
    let Some(e) = entry else {
        return Ok(None);
    };
    let s = |k: &str| e.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty());
    if let Some(t) = s("identitytoken") {
        return Ok(Some(Credential::IdentityToken(t.to_string())));
    }
    if let Some(a) = s("auth") {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .map_err(|e| bad(f, format!("auths.{host}.auth is not base64: {e}")))?;
        let text =
            String::from_utf8(raw).map_err(|_| bad(f, format!("auths.{host}.auth is not text")))?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| bad(f, format!("auths.{host}.auth is not user:password")))?;
        return Ok(Some(Credential::Basic {
            username: u.to_string(),
            password: p.to_string(),
        }));
    }
    match (s("username"), s("password")) {
        (Some(u), Some(p)) => Ok(Some(Credential::Basic {
            username: u.to_string(),
            password: p.to_string(),
        })),
        _ => Ok(None),
    }
}

/// `docker-credential-<name> get` with `server` on stdin (the docker credential-helper
/// protocol). Exit 1 with "credentials not found" means none; a missing helper is an error
/// naming it.
pub fn run_helper(name: &str, server: &str) -> Result<Option<Credential>> {
    run_helper_program(&format!("docker-credential-{name}"), server)
}

/// [`run_helper`] with the program given by path or name.
pub fn run_helper_program(program: &str, server: &str) -> Result<Option<Credential>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let failed = |msg: String| {
        BundleError::Other(format!(
            "credential helper {program} for {server}: {msg} (install it, or remove it from the \
             auth file's credHelpers/credsStore)"
        ))
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(e.to_string()))?;
    let said = format!(
        "{} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        if said.to_ascii_lowercase().contains("not found") {
            return Ok(None);
        }
        return Err(failed(format!(
            "exited with {}: {}",
            out.status,
            said.trim()
        )));
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let r: Reply =
        serde_json::from_slice(&out.stdout).map_err(|e| failed(format!("bad answer: {e}")))?;
    Ok(Some(if r.username == "<token>" {
        Credential::IdentityToken(r.secret)
    } else {
        Credential::Basic {
            username: r.username,
            password: r.secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn basic(u: &str, p: &str) -> Credential {
        Credential::Basic {
            username: u.into(),
            password: p.into(),
        }
    }

    fn no_helper(_: &str, _: &str) -> Result<Option<Credential>> {
        panic!("no helper expected")
    }

    #[test]
    fn hosts_are_normalised_and_docker_hub_aliases_fold() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host("https://registry-1.docker.io"), "docker.io");
        assert_eq!(
            registry_host("Harbor.Example.com:8443/proj"),
            "harbor.example.com:8443"
        );
        assert_eq!(registry_host("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn auth_username_password_and_identity_token_entries() {
        let d = tempfile::tempdir().unwrap();
        // base64("alice:s3:cret") — a password may contain ':'
        let f = write(
            d.path(),
            "config.json",
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "YWxpY2U6czM6Y3JldA=="},
                "harbor.example.com:8443": {"username": "bob", "password": "pw"},
                "ecr.example.com": {"auth": "", "identitytoken": "refresh-me"}
            }}"#,
        );
        let files = [f.clone()];
        let hub = lookup_with(&files, "https://registry-1.docker.io", &no_helper)
            .unwrap()
            .unwrap();
        assert_eq!(hub.credential, basic("alice", "s3:cret"));
        assert_eq!(hub.from, f.display().to_string());
        assert_eq!(
            lookup_with(&files, "https://harbor.example.com:8443", &no_helper)
                .unwrap()
                .unwrap()
                .credential,
            basic("bob", "pw")
        );
        assert_eq!(
            lookup_with(&files, "ecr.example.com", &no_helper)
                .unwrap()
                .unwrap()
                .credential,
            Credential::IdentityToken("refresh-me".into())
        );
        assert_eq!(
            lookup_with(&files, "http://127.0.0.1:5000", &no_helper).unwrap(),
            None
        );
        // secrets never reach Debug output
        assert!(!format!("{hub:?}").contains("s3:cret"));
    }

    #[test]
    fn first_file_with_an_entry_wins_and_missing_files_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let a = write(
            d.path(),
            "a.json",
            r#"{"auths": {"other.io": {"auth": "eDp5"}}}"#,
        );
        let b = write(
            d.path(),
            "b.json",
            r#"{"auths": {"reg.io": {"username": "u", "password": "p"}}}"#,
        );
        let files = [d.path().join("absent.json"), a, b.clone()];
        let got = lookup_with(&files, "reg.io", &no_helper).unwrap().unwrap();
        assert_eq!(
            (got.credential, got.from),
            (basic("u", "p"), b.display().to_string())
        );
    }

    #[test]
    fn helpers_come_before_auths_and_get_docker_hubs_server_key() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "config.json",
            r#"{"credsStore": "desktop", "credHelpers": {"reg.io": "special"},
                "auths": {"reg.io": {"auth": "eDp5"}, "plain.io": {"auth": "eDp5"}}}"#,
        );
        let calls = std::cell::RefCell::new(Vec::new());
        let helper = |name: &str, server: &str| -> Result<Option<Credential>> {
            calls.borrow_mut().push(format!("{name} {server}"));
            Ok(match name {
                "special" => Some(basic("h", "s")),
                _ => None,
            })
        };
        let files = [f];
        assert_eq!(
            lookup_with(&files, "reg.io", &helper)
                .unwrap()
                .unwrap()
                .credential,
            basic("h", "s")
        );
        // the store has nothing for plain.io: auths answers
        assert_eq!(
            lookup_with(&files, "plain.io", &helper)
                .unwrap()
                .unwrap()
                .credential,
            basic("x", "y")
        );
        assert_eq!(lookup_with(&files, "docker.io", &helper).unwrap(), None);
        assert_eq!(
            calls.into_inner(),
            [
                "special reg.io",
                "desktop plain.io",
                "desktop https://index.docker.io/v1/"
            ]
        );
    }

    #[test]
    fn broken_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let f = write(
            d.path(),
            "config.json",
            r#"{"auths": {"reg.io": {"auth": "%%%"}}}"#,
        );
        let e = lookup_with(std::slice::from_ref(&f), "reg.io", &no_helper).unwrap_err();
        assert!(e.to_string().contains(&f.display().to_string()), "{e}");
        let g = write(d.path(), "bad.json", "{not json");
        let e = lookup_with(&[g], "reg.io", &no_helper).unwrap_err();
        assert!(e.to_string().contains("docker login"), "{e}");
    }

    #[test]
    fn a_real_helper_program_is_run_with_the_protocol() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let prog = d.path().join("docker-credential-fake");
        std::fs::write(
            &prog,
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\n\
             case \"$server\" in\n  reg.io) echo '{\"ServerURL\":\"reg.io\",\"Username\":\"u\",\"Secret\":\"p\"}';;\n  \
             tok.io) echo '{\"ServerURL\":\"tok.io\",\"Username\":\"<token>\",\"Secret\":\"t\"}';;\n  \
             *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = prog.to_str().unwrap();
        assert_eq!(
            run_helper_program(p, "reg.io").unwrap(),
            Some(basic("u", "p"))
        );
        assert_eq!(
            run_helper_program(p, "tok.io").unwrap(),
            Some(Credential::IdentityToken("t".into()))
        );
        assert_eq!(run_helper_program(p, "none.io").unwrap(), None);
        let e = run_helper("no-such-helper-here", "reg.io").unwrap_err();
        assert!(
            e.to_string()
                .contains("docker-credential-no-such-helper-here"),
            "{e}"
        );
    }
}
