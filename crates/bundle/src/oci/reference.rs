//! Image references (`[registry/]repo[:tag][@sha256:…]`), normalised the way docker does:
//! no registry → `docker.io`, a single name → `library/<name>`, no tag → `latest`.

use crate::error::{BundleError, Result};

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `docker.io` or `host[:port]`.
    pub registry: String,
    /// Repository path, e.g. `calico/cni`, `library/busybox`.
    pub repo: String,
    pub tag: String,
    /// `sha256:<hex>` when pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef> {
        let bad = || BundleError::BadReference(s.to_string());
        let s = s.trim();
        if s.is_empty() || s.contains(char::is_whitespace) || s.contains("://") {
            return Err(bad());
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if crate::checksum::Sha256::parse(d).is_none() || !d.starts_with("sha256:") {
                    return Err(bad());
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (registry, rest) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let (repo, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            // A digest without a tag is named after the digest, not "latest".
            _ => match digest.as_deref().and_then(|d| d.get(7..19)) {
                Some(short) => (rest.clone(), format!("sha256-{short}")),
                None => (rest.clone(), "latest".to_string()),
            },
        };
        let repo = if registry == "docker.io" && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        let ok_repo = !repo.is_empty()
            && repo.split('/').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        let ok_tag = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok_repo || !ok_tag {
            return Err(bad());
        }
        Ok(ImageRef {
            registry,
            repo,
            tag,
            digest,
        })
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn reference(&self) -> &str {
        self.digest.as_deref().unwrap_or(&self.tag)
    }

    /// `docker.io/calico/cni:v3.32.1` (the name containerd stores).
    pub fn full_name(&self) -> String {
        format!("{}/{}:{}", self.registry, self.repo, self.tag)
    }

    /// The name `docker load` tags: docker.io images in their short form
    /// (`calico/cni:v3.32.1`, `busybox:1`), others in full.
    pub fn docker_name(&self) -> String {
        if self.registry == "docker.io" {
            let repo = self.repo.strip_prefix("library/").unwrap_or(&self.repo);
            format!("{repo}:{}", self.tag)
        } else {
            self.full_name()
        }
    }

    /// kubeasz's tar name: `<last path component>_<tag>.tar`, e.g. `cni_v3.32.1.tar`.
    pub fn tar_name(&self) -> String {
        let last = self.repo.rsplit('/').next().unwrap_or(&self.repo);
        format!("{last}_{}.tar", self.tag)
    }

    /// A tar name unique to this image: `<registry>_<repo, / as _>_<tag>.tar`, e.g.
    /// `registry.k8s.io_pause_3.10.2.tar` (see [`bundle_tar_names`]).
    pub fn long_tar_name(&self) -> String {
        format!(
            "{}_{}_{}.tar",
            self.registry,
            self.repo.replace('/', "_"),
            self.tag
        )
    }

    /// True for docker.io images (the only ones registry mirrors serve).
    pub fn is_docker_hub(&self) -> bool {
        self.registry == "docker.io"
    }
}

/// The file name of each image in `down/`, in order: kubeasz's short name ([`ImageRef::tar_name`])
/// unless another image of the set has the same one (`easzlab/pause:3.10.2` and the e2e suite's
/// `registry.k8s.io/pause:3.10.2` are both `pause_3.10.2.tar`); then the first docker.io image
/// keeps the short name (kubeasz's own images are docker.io ones) and the others get
/// [`ImageRef::long_tar_name`].
///
/// Invariant: distinct images get distinct names; the same image listed twice gets one name.
pub fn bundle_tar_names(images: &[ImageRef]) -> Vec<String> {
    use std::collections::BTreeMap;
    let mut by_short: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in images {
        let ids = by_short.entry(i.tar_name()).or_default();
        if !ids.contains(&i.full_name()) {
            ids.push(i.full_name());
        }
    }
    // the image that keeps a contested short name
    let keeper = |short: &str| -> Option<String> {
        let ids = by_short.get(short)?;
        if ids.len() == 1 {
            return ids.first().cloned();
        }
        images
            .iter()
            .find(|i| i.tar_name() == short && i.is_docker_hub())
            .map(|i| i.full_name())
    };
    images
        .iter()
        .map(|i| {
            let short = i.tar_name();
            if keeper(&short).as_deref() == Some(i.full_name().as_str()) {
                short
            } else {
                i.long_tar_name()
            }
        })
        .collect()
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full_name())?;
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The API base URL for a registry host: docker.io → `https://registry-1.docker.io`;
/// `http://…` kept as given; loopback hosts (`localhost`, `127.*`, `[::1]`) → plain http, as a
/// test or on-host registry; everything else https.
pub fn api_base(registry: &str) -> String {
    if registry == "docker.io" {
        return "https://registry-1.docker.io".into();
    }
    if registry.starts_with("http://") || registry.starts_with("https://") {
        return registry.trim_end_matches('/').to_string();
    }
    let host = registry
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(registry);
    if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
        format!("http://{registry}")
    } else {
        format!("https://{registry}")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn images_with_the_same_short_tar_name_get_distinct_files() {
        let refs: Vec<ImageRef> = [
            "registry.k8s.io/pause:3.10.2",
            "easzlab/pause:3.10.2",
            "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
            "easzlab/pause:3.10.2",
        ]
        .iter()
        .map(|i| ImageRef::parse(i).unwrap())
        .collect();
        assert_eq!(
            bundle_tar_names(&refs),
            [
                "registry.k8s.io_pause_3.10.2.tar",
                "pause_3.10.2.tar",
                "busybox_1.36.1-1.tar",
                "pause_3.10.2.tar",
            ]
        );
    }

    use super::*;

    #[test]
    fn docker_hub_normalisation() {
        let r = ImageRef::parse("calico/cni:v3.32.1").unwrap();
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repo, "calico/cni");
        assert_eq!(r.full_name(), "docker.io/calico/cni:v3.32.1");
        assert_eq!(r.docker_name(), "calico/cni:v3.32.1");
        assert_eq!(r.tar_name(), "cni_v3.32.1.tar");
        let b = ImageRef::parse("busybox").unwrap();
        assert_eq!(
            (b.repo.as_str(), b.tag.as_str()),
            ("library/busybox", "latest")
        );
        assert_eq!(b.docker_name(), "busybox:latest");
    }

    #[test]
    fn other_registries_and_digests() {
        let r = ImageRef::parse("registry.k8s.io/conformance:v1.36.3").unwrap();
        assert_eq!(r.registry, "registry.k8s.io");
        assert_eq!(r.docker_name(), "registry.k8s.io/conformance:v1.36.3");
        let r = ImageRef::parse("127.0.0.1:5000/test/busybox:1").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(api_base(&r.registry), "http://127.0.0.1:5000");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("quay.io/x/y@{d}")).unwrap();
        assert_eq!(r.reference(), d);
        assert_eq!(r.tar_name(), "y_sha256-aaaaaaaaaaaa.tar");
        let r = ImageRef::parse(&format!("quay.io/x/y:v1@{d}")).unwrap();
        assert_eq!((r.tag.as_str(), r.reference()), ("v1", d.as_str()));
        assert_eq!(api_base("docker.io"), "https://registry-1.docker.io");
        assert_eq!(api_base("docker.1ms.run"), "https://docker.1ms.run");
    }

    #[test]
    fn bad_references() {
        for s in [
            "",
            "UPPER/case",
            "a b",
            "x@sha256:zz",
            "http://x/y",
            "a/:t",
            "a:",
        ] {
            assert!(ImageRef::parse(s).is_err(), "{s}");
        }
    }
}
