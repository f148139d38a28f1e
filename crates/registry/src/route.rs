//! The read side of the OCI distribution API, parsed from a request path: the only routes a
//! registry client needs to pull.

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check every client starts with.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags { name: String },
    /// `/v2/<name>/manifests/<tag or digest>`.
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: String, digest: String },
    /// Anything else under or outside `/v2/`.
    Unknown,
}

impl Route {
    /// Parses `path` (without the query). Names may hold slashes; the last `/manifests/`,
    /// `/blobs/` or `/tags/list` ends them.
    pub fn parse(path: &str) -> Route {
        let Some(rest) = path.strip_prefix("/v2/") else {
            return if path == "/v2" {
                Route::Base
            } else {
                Route::Unknown
            };
        };
        if rest.is_empty() {
            return Route::Base;
        }
        if rest == "_catalog" {
            return Route::Catalog;
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return named(name, |name| Route::Tags { name });
        }
        if let Some((name, reference)) = rest.rsplit_once("/manifests/")
            && valid_reference(reference)
        {
            return named(name, |name| Route::Manifest {
                name,
                reference: reference.to_string(),
            });
        }
        if let Some((name, digest)) = rest.rsplit_once("/blobs/")
            && valid_digest(digest)
        {
            return named(name, |name| Route::Blob {
                name,
                digest: digest.to_string(),
            });
        }
        Route::Unknown
    }
}

/// containerd's `ns` query parameter: the registry a mirror request is for.
pub fn ns_of(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("ns="))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn named(name: &str, make: impl FnOnce(String) -> Route) -> Route {
    let ok = !name.is_empty()
        && name.split('/').all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
        });
    if ok {
        make(name.to_string())
    } else {
        Route::Unknown
    }
}

fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn valid_reference(r: &str) -> bool {
    valid_digest(r)
        || (!r.is_empty()
            && r.len() <= 128
            && r.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_pull_routes() {
        assert_eq!(Route::parse("/v2/"), Route::Base);
        assert_eq!(Route::parse("/v2"), Route::Base);
        assert_eq!(Route::parse("/v2/_catalog"), Route::Catalog);
        assert_eq!(
            Route::parse("/v2/registry.k8s.io/e2e-test-images/kitten/manifests/1.1"),
            Route::Manifest {
                name: "registry.k8s.io/e2e-test-images/kitten".into(),
                reference: "1.1".into()
            }
        );
        assert_eq!(
            Route::parse(&format!("/v2/calico/node/manifests/{D}")),
            Route::Manifest {
                name: "calico/node".into(),
                reference: D.into()
            }
        );
        assert_eq!(
            Route::parse(&format!("/v2/easzlab/pause/blobs/{D}")),
            Route::Blob {
                name: "easzlab/pause".into(),
                digest: D.into()
            }
        );
        assert_eq!(
            Route::parse("/v2/calico/node/tags/list"),
            Route::Tags {
                name: "calico/node".into()
            }
        );
    }

    #[test]
    fn anything_else_is_unknown() {
        for p in [
            "/",
            "/v1/x",
            "/v2/x/blobs/sha256:short",
            "/v2/x/blobs/uploads/",
            "/v2//manifests/1",
            "/v2/../etc/manifests/1",
            "/v2/x/manifests/",
            "/v2/a b/manifests/1",
        ] {
            assert_eq!(Route::parse(p), Route::Unknown, "{p}");
        }
    }

    #[test]
    fn ns_is_the_mirrored_registry() {
        assert_eq!(
            ns_of(Some("ns=registry.k8s.io")).as_deref(),
            Some("registry.k8s.io")
        );
        assert_eq!(
            ns_of(Some("a=1&ns=docker.io")).as_deref(),
            Some("docker.io")
        );
        assert_eq!(ns_of(Some("ns=")), None);
        assert_eq!(ns_of(None), None);
    }
}
