//! Download sources: upstream, file mirrors with the upstream layout, and registry mirrors
//! for docker.io images.
//!
//! A **file mirror** (`--binary-mirror URL`) serves every upstream file at
//! `URL/<upstream host>/<upstream path>`, e.g.
//! `http://mirror.lan/files/dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet`. That is exactly
//! the tree `wget -x -i $(ezdown --list-urls)` creates, so an intranet mirror is one `wget` and
//! a static web server away. Checksum files are looked up on the same source as the file.
//!
//! A **registry mirror** serves docker.io repositories under its own host
//! (`<mirror>/calico/cni:v3.32.1`), the way kubeasz's `-m` fallback rewrites them; written
//! `REGISTRY=MIRROR` it serves that registry's repositories instead, optionally under a path
//! (`registry.k8s.io=harbor.lan/k8s-proxy`: a proxy-cache project). See
//! [`crate::oci::pull::endpoints`] for the order and what `mirror_only` forbids.

/// The mirrors `-m cn` uses for docker.io images: the list kubeasz 3.7.0 writes into
/// `/etc/docker/daemon.json` `registry-mirrors` (reference §1.3). Public, third-party, and
/// **not verified from where this was written**. Every blob is checked against the manifest
/// the mirror serves, so a mirror cannot corrupt an image; but for a pull *by tag* the mirror
/// decides which manifest the tag means — pin `name@sha256:…` to be independent of it. The
/// manifest digest used is recorded in the bundle manifest's `source`. kubeasz's file downloads have no China mirror with the
/// upstream layout (aliyun's docker-ce mirror only carries docker), so `-m cn` changes no file
/// source: use `--binary-mirror` for those.
pub const CN_REGISTRY_MIRRORS: &[&str] = &[
    "docker.1ms.run",
    "hub1.nat.tf",
    "docker.1panel.live",
    "hub.rat.dev",
    "docker.amingg.com",
];

/// Where files and images come from, in order of preference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// File mirrors (base URLs), tried before upstream, in order.
    pub binary_mirrors: Vec<String>,
    /// Registry mirrors: `MIRROR` for docker.io, `REGISTRY=MIRROR` for another registry; MIRROR
    /// is `[http://]host[:port][/path]`. Tried before the registry itself.
    pub registry_mirrors: Vec<String>,
    /// Never contact the upstream hosts: an air-gapped site with an intranet mirror.
    pub mirror_only: bool,
}

impl Sources {
    /// Applies `-m`: `standard` or empty = upstream only; `cn` = [`CN_REGISTRY_MIRRORS`];
    /// anything else = that host as the docker.io registry mirror.
    pub fn with_mirror_mode(mut self, mode: &str) -> Sources {
        match mode.trim() {
            "" | "standard" => {}
            "cn" | "CN" => self
                .registry_mirrors
                .extend(CN_REGISTRY_MIRRORS.iter().map(|s| s.to_string())),
            host => self.registry_mirrors.push(host.to_string()),
        }
        self
    }

    /// With `mirror_only`: the `host:port` of every mirror, all the run may contact (public
    /// registries' images and upstream files come only from them); `None` otherwise.
    pub fn sole_hosts(&self) -> Option<std::collections::BTreeSet<String>> {
        if !self.mirror_only {
            return None;
        }
        let registry_bases = self
            .registry_mirrors
            .iter()
            .filter_map(|m| crate::oci::pull::parse_mirror(m))
            .map(|(_, m)| crate::oci::pull::mirror_endpoint(&m, "x").base);
        let hosts = self
            .binary_mirrors
            .iter()
            .cloned()
            .chain(registry_bases)
            .filter_map(|u| reqwest::Url::parse(&u).ok())
            .map(|u| crate::cause::host_port(&u))
            .collect();
        Some(hosts)
    }

    /// Candidate URLs for an upstream URL: each file mirror, then upstream (unless
    /// `mirror_only`).
    pub fn candidates(&self, upstream: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .binary_mirrors
            .iter()
            .map(|m| mirror_url(m, upstream))
            .collect();
        if !self.mirror_only {
            out.push(upstream.to_string());
        }
        out
    }
}

/// `https://dl.k8s.io/release/x` on mirror `http://m/files/` → `http://m/files/dl.k8s.io/release/x`.
pub fn mirror_url(mirror: &str, upstream: &str) -> String {
    let rest = upstream
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(upstream);
    format!("{}/{}", mirror.trim_end_matches('/'), rest)
}

/// Maps a candidate URL back to the same source's URL for another upstream file (the
/// checksum file beside it).
pub fn same_source(candidate: &str, upstream: &str, other_upstream: &str) -> String {
    if candidate == upstream {
        return other_upstream.to_string();
    }
    let rest = upstream
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(upstream);
    match candidate.strip_suffix(rest) {
        Some(mirror) => mirror_url(mirror, other_upstream),
        None => other_upstream.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_layout_keeps_host_and_path() {
        let s = Sources {
            binary_mirrors: vec!["http://127.0.0.1:8080/files/".into()],
            ..Default::default()
        };
        let c = s.candidates("https://dl.k8s.io/release/v1/bin/linux/amd64/kubelet");
        assert_eq!(
            c,
            vec![
                "http://127.0.0.1:8080/files/dl.k8s.io/release/v1/bin/linux/amd64/kubelet",
                "https://dl.k8s.io/release/v1/bin/linux/amd64/kubelet"
            ]
        );
        let only = Sources {
            mirror_only: true,
            ..s
        };
        assert_eq!(only.candidates("https://a/b").len(), 1);
    }

    #[test]
    fn checksum_comes_from_the_same_source() {
        let up = "https://get.helm.sh/helm.tgz";
        let sum = "https://get.helm.sh/helm.tgz.sha256sum";
        assert_eq!(same_source(up, up, sum), sum);
        assert_eq!(
            same_source("http://m/get.helm.sh/helm.tgz", up, sum),
            "http://m/get.helm.sh/helm.tgz.sha256sum"
        );
    }

    #[test]
    fn mirror_modes() {
        assert!(
            Sources::default()
                .with_mirror_mode("standard")
                .registry_mirrors
                .is_empty()
        );
        assert!(
            Sources::default()
                .with_mirror_mode("")
                .registry_mirrors
                .is_empty()
        );
        assert_eq!(
            Sources::default()
                .with_mirror_mode("cn")
                .registry_mirrors
                .len(),
            5
        );
        assert_eq!(
            Sources::default()
                .with_mirror_mode("hub.example:5000")
                .registry_mirrors,
            vec!["hub.example:5000"]
        );
    }
}
