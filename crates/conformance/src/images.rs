//! The images a conformance run needs, and their remapping to a local registry with a
//! `KUBE_TEST_REPO_LIST` file.
//!
//! Sources, in the output as well: the conformance image `registry.k8s.io/conformance:vX.Y.Z`
//! (exact), the results sidecar (Hydrophone's default busybox), and the e2e test images: the
//! user's full list (`e2e.test --list-images` output) when given, else the embedded floor of
//! images seen in real runs (`data/e2e-images/observed.tsv`, see its README).
//!
//! Invariant: [`ImageSet::complete`] is true only when the e2e list came from the user's file.

use crate::version::KubeVersion;
use std::collections::BTreeMap;

const OBSERVED: &str = include_str!("../data/e2e-images/observed.tsv");

/// Hydrophone's default image for the sidecar that keeps the results readable.
pub const SIDECAR_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1";

/// `KUBE_TEST_REPO_LIST` keys and the registry each stands for by default, newest names first;
/// older releases used the `k8s.gcr.io`/`gcr.io` names (same keys).
pub const REPO_KEYS: &[(&str, &[&str])] = &[
    (
        "promoterE2eRegistry",
        &[
            "registry.k8s.io/e2e-test-images",
            "k8s.gcr.io/e2e-test-images",
        ],
    ),
    ("e2eRegistry", &["gcr.io/kubernetes-e2e-test-images"]),
    (
        "sigStorageRegistry",
        &["registry.k8s.io/sig-storage", "k8s.gcr.io/sig-storage"],
    ),
    (
        "buildImageRegistry",
        &["registry.k8s.io/build-image", "k8s.gcr.io/build-image"],
    ),
    (
        "cloudProviderGcpRegistry",
        &["registry.k8s.io/cloud-provider-gcp"],
    ),
    ("privateRegistry", &["gcr.io/k8s-authenticated-test"]),
    (
        "gcAuthenticatedRegistry",
        &["gcr.io/authenticated-image-pulling"],
    ),
    (
        "invalidRegistry",
        &["invalid.registry.k8s.io/invalid", "invalid.com/invalid"],
    ),
    ("microsoftRegistry", &["mcr.microsoft.com"]),
    ("dockerLibraryRegistry", &["docker.io/library"]),
    ("gcEtcdRegistry", &["registry.k8s.io", "k8s.gcr.io"]),
    ("gcRegistry", &["registry.k8s.io", "k8s.gcr.io"]),
];

#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error(
        "the conformance image needs a patch version (registry.k8s.io/conformance:vX.Y.Z); got {0}"
    )]
    NoPatch(KubeVersion),
    #[error("{path}: not a KUBE_TEST_REPO_LIST file: {message}")]
    BadRepoList { path: String, message: String },
}

/// One image and where it is known from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Image {
    pub image: String,
    pub role: &'static str,
    pub source: String,
    /// The name in the local registry, when a repo list was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remapped: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSet {
    pub version: String,
    pub images: Vec<Image>,
    pub complete: bool,
    pub notes: Vec<String>,
}

/// Releases with observed e2e images.
pub fn observed_releases() -> Vec<String> {
    let mut v: Vec<String> = OBSERVED
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect();
    v.dedup();
    v
}

/// The image set of `version`. `full_list` is the text of `e2e.test --list-images` (one image a
/// line), when the user has it.
pub fn image_set(
    version: KubeVersion,
    full_list: Option<(&str, &str)>,
) -> Result<ImageSet, ImagesError> {
    if version.patch.is_none() {
        return Err(ImagesError::NoPatch(version));
    }
    let rel = version.release_string();
    let mut images = vec![
        Image {
            image: format!("registry.k8s.io/conformance:{version}"),
            role: "conformance",
            source: "the conformance image of the server's exact version".into(),
            remapped: None,
        },
        Image {
            image: SIDECAR_IMAGE.into(),
            role: "sidecar",
            source: "keeps the results emptyDir readable after the suite ends".into(),
            remapped: None,
        },
    ];
    let mut notes = Vec::new();
    let complete = if let Some((text, origin)) = full_list {
        for l in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            images.push(Image {
                image: l.to_string(),
                role: "e2e",
                source: origin.to_string(),
                remapped: None,
            });
        }
        true
    } else {
        let mut found = false;
        for l in OBSERVED.lines().filter(|l| !l.starts_with('#')) {
            let mut f = l.split('\t');
            if let (Some(r), Some(img), Some(src)) = (f.next(), f.next(), f.next())
                && r == rel
            {
                found = true;
                images.push(Image {
                    image: img.to_string(),
                    role: "e2e",
                    source: format!("observed: {src}"),
                    remapped: None,
                });
            }
        }
        notes.push(if found {
            format!(
                "the e2e images listed for {rel} are those seen in a real run: a floor, not the full list"
            )
        } else {
            format!(
                "no e2e image list embedded for {rel} (embedded: {})",
                observed_releases().join(", ")
            )
        });
        notes.push(format!(
            "the full list: `docker run --rm registry.k8s.io/conformance:{version} e2e.test --list-images > list.txt`, then --list-file list.txt"
        ));
        false
    };
    Ok(ImageSet {
        version: version.to_string(),
        images,
        complete,
        notes,
    })
}

/// A parsed `KUBE_TEST_REPO_LIST`: key → registry.
pub fn parse_repo_list(text: &str, origin: &str) -> Result<BTreeMap<String, String>, ImagesError> {
    let bad = |message: String| ImagesError::BadRepoList {
        path: origin.to_string(),
        message,
    };
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?;
    let m = v
        .as_mapping()
        .ok_or_else(|| bad("expected a mapping of registry keys".into()))?;
    let mut out = BTreeMap::new();
    for (k, val) in m {
        let (Some(k), Some(val)) = (k.as_str(), val.as_str()) else {
            return Err(bad("keys and values must be strings".into()));
        };
        if !REPO_KEYS.iter().any(|(key, _)| *key == k) {
            return Err(bad(format!("unknown key {k}")));
        }
        out.insert(k.to_string(), val.trim_end_matches('/').to_string());
    }
    Ok(out)
}

/// A repo list sending every key to `registry/<path of its default>` (e.g. `easzlab.io.local:5000`).
pub fn repo_list_for(registry: &str) -> BTreeMap<String, String> {
    let reg = registry.trim_end_matches('/');
    REPO_KEYS
        .iter()
        .map(|(k, defaults)| {
            let d = defaults[0];
            let path = d.split_once('/').map(|(_, p)| p).unwrap_or("");
            let to = if path.is_empty() {
                reg.to_string()
            } else {
                format!("{reg}/{path}")
            };
            (k.to_string(), to)
        })
        .collect()
}

/// YAML text of a repo list.
pub fn repo_list_yaml(list: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    for (k, v) in list {
        s.push_str(&format!("{k}: {v}\n"));
    }
    s
}

/// The name `image` gets under `list`: its registry prefix (longest default match) replaced.
/// Images from no known registry are returned unchanged (`None`).
pub fn remap(image: &str, list: &BTreeMap<String, String>) -> Option<String> {
    let mut best: Option<(&str, &str)> = None;
    for (key, defaults) in REPO_KEYS {
        let Some(to) = list.get(*key) else { continue };
        for d in *defaults {
            let matches = image
                .strip_prefix(d)
                .is_some_and(|rest| rest.starts_with('/'));
            if matches && best.is_none_or(|(b, _)| d.len() > b.len()) {
                best = Some((d, to.as_str()));
            }
        }
    }
    best.map(|(d, to)| format!("{to}{}", &image[d.len()..]))
}

/// Fills [`Image::remapped`] for every image.
pub fn apply(set: &mut ImageSet, list: &BTreeMap<String, String>) {
    for i in &mut set.images {
        i.remapped = remap(&i.image, list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn set_has_conformance_image_sidecar_and_observed_floor() {
        let s = image_set(v("v1.26.6"), None).unwrap();
        assert_eq!(s.images[0].image, "registry.k8s.io/conformance:v1.26.6");
        assert!(
            s.images
                .iter()
                .any(|i| i.image == "registry.k8s.io/e2e-test-images/agnhost:2.43")
        );
        assert!(!s.complete);
        assert!(s.notes.iter().any(|n| n.contains("--list-images")));
        let none = image_set(v("v1.35.1"), None).unwrap();
        assert_eq!(none.images.len(), 2);
        assert!(none.notes[0].contains("no e2e image list"));
        assert!(matches!(
            image_set(v("v1.26"), None),
            Err(ImagesError::NoPatch(_))
        ));
        let full = image_set(v("v1.35.1"), Some(("a/b:1\n\nc/d:2\n", "list.txt"))).unwrap();
        assert_eq!((full.images.len(), full.complete), (4, true));
    }

    #[test]
    fn remapping_uses_the_longest_default_prefix() {
        let l = repo_list_for("easzlab.io.local:5000");
        assert_eq!(
            remap("registry.k8s.io/e2e-test-images/agnhost:2.53", &l).unwrap(),
            "easzlab.io.local:5000/e2e-test-images/agnhost:2.53"
        );
        assert_eq!(
            remap("registry.k8s.io/pause:3.10", &l).unwrap(),
            "easzlab.io.local:5000/pause:3.10"
        );
        assert_eq!(
            remap("docker.io/library/httpd:2.4", &l).unwrap(),
            "easzlab.io.local:5000/library/httpd:2.4"
        );
        assert!(remap("quay.io/x/y:1", &l).is_none());
        let yaml = repo_list_yaml(&l);
        let back = parse_repo_list(&yaml, "x").unwrap();
        assert_eq!(back, l);
        assert!(parse_repo_list("bogusKey: a\n", "f").is_err());
        assert!(parse_repo_list("- a\n", "f").is_err());
    }
}
