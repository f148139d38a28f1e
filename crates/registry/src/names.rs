//! Repository names as the registry serves them: a registry host and a path
//! (`registry.k8s.io` + `e2e-test-images/agnhost`), parsed by ezdown's own image references
//! (`ez_bundle::oci::reference`), so `busybox` is `docker.io/library/busybox` here as there.

use ez_bundle::oci::reference::ImageRef;

/// A repository: where an image comes from upstream (`registry`) and its path there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Repo {
    pub registry: String,
    pub path: String,
}

impl Repo {
    /// The repository of an image reference (its tag or digest left aside).
    pub fn of(image: &ImageRef) -> Repo {
        Repo {
            registry: image.registry.clone(),
            path: image.repo.clone(),
        }
    }

    /// `registry.k8s.io/pause` → (`registry.k8s.io`, `pause`); a name without a registry host
    /// is docker.io's. `None` for what is not a repository name.
    pub fn from_full(name: &str) -> Option<Repo> {
        ImageRef::parse(name).ok().map(|r| Repo::of(&r))
    }

    /// `registry/path`.
    pub fn full(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The name kubeasz's local registry gives the image: `easzlab/<last part of the path>`
    /// (`docker.io/calico/node` → `easzlab/node`, pulled as `easzlab.io.local:5000/easzlab/node`).
    pub fn easzlab_alias(&self) -> String {
        let last = self.path.rsplit('/').next().unwrap_or(&self.path);
        format!("easzlab/{last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(s: &str) -> (String, String) {
        let r = Repo::from_full(s).unwrap();
        (r.registry, r.path)
    }

    #[test]
    fn names_split_at_the_registry_host() {
        assert_eq!(
            repo("registry.k8s.io/e2e-test-images/agnhost"),
            ("registry.k8s.io".into(), "e2e-test-images/agnhost".into())
        );
        assert_eq!(
            repo("easzlab.io.local:5000/easzlab/pause"),
            ("easzlab.io.local:5000".into(), "easzlab/pause".into())
        );
        assert_eq!(
            repo("calico/node"),
            ("docker.io".into(), "calico/node".into())
        );
        assert_eq!(
            repo("busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
        assert!(Repo::from_full("a b").is_none());
    }

    #[test]
    fn the_easzlab_alias_is_the_last_part() {
        assert_eq!(repo_alias("docker.io/calico/node"), "easzlab/node");
        assert_eq!(repo_alias("registry.k8s.io/pause"), "easzlab/pause");
    }

    fn repo_alias(s: &str) -> String {
        Repo::from_full(s).unwrap().easzlab_alias()
    }
}
