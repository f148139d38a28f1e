//! The images a conformance run needs, and their remapping to a local registry with a
//! `KUBE_TEST_REPO_LIST` file.
//!
//! Sources, in the output as well: the conformance image `registry.k8s.io/conformance:vX.Y.Z`
//! (exact), the results sidecar (Hydrophone's default busybox), and the e2e test images, from
//! the first of: the user's full list (`e2e.test --list-images` output); the embedded list of
//! the version's tag ([`crate::e2e_manifest`], what `--list-images` prints at that tag), or of
//! the nearest embedded patch of its release; the embedded floor of images seen in real runs
//! (`data/e2e-images/observed.tsv`, see its README).
//!
//! Invariant: [`ImageSet::complete`] is true only when the e2e list came from the user's file
//! or is the embedded list of the exact tag.

use crate::e2e_manifest::{self, ManifestImage};
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

/// Keys whose images no mirror can hold: a pull meant to fail, images behind credentials, and
/// Windows-only images. `--list-images` prints them; they get the role `e2e-no-mirror`.
pub const NO_MIRROR_KEYS: &[(&str, &str)] = &[
    (
        "invalidRegistry",
        "a test expects this pull to fail (invalid registry)",
    ),
    (
        "privateRegistry",
        "needs the registry's credentials (private-registry test)",
    ),
    (
        "gcAuthenticatedRegistry",
        "needs the registry's credentials (authenticated pull test)",
    ),
    ("microsoftRegistry", "a Windows image (Windows nodes only)"),
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
    /// The `KUBE_TEST_REPO_LIST` key the run uses for this image, when known (embedded lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo_key: Option<&'static str>,
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

/// Releases with observed e2e images (the floor used for releases without an embedded list).
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
/// line) and where it came from, when the user has it.
pub fn image_set(
    version: KubeVersion,
    full_list: Option<(&str, &str)>,
) -> Result<ImageSet, ImagesError> {
    if version.patch.is_none() {
        return Err(ImagesError::NoPatch(version));
    }
    let mut images = vec![
        image(
            format!("registry.k8s.io/conformance:{version}"),
            "conformance",
            "the conformance image of the server's exact version".into(),
        ),
        image(
            SIDECAR_IMAGE.into(),
            "sidecar",
            "keeps the results emptyDir readable after the suite ends".into(),
        ),
    ];
    let mut notes = Vec::new();
    let complete = if let Some((text, origin)) = full_list {
        for l in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            // As with the embedded lists: an image no mirror can hold is listed as such.
            let key = key_by_prefix(l);
            let no_mirror = key.and_then(|k| NO_MIRROR_KEYS.iter().find(|(nk, _)| *nk == k));
            let (role, source) = match no_mirror {
                Some((_, why)) => ("e2e-no-mirror", format!("{origin}: {why}")),
                None => ("e2e", origin.to_string()),
            };
            let mut i = image(l.to_string(), role, source);
            i.repo_key = key;
            images.push(i);
        }
        true
    } else if let Some((tag, exact)) = e2e_manifest::tag_for(version) {
        embedded(version, tag, exact, &mut images, &mut notes)
    } else {
        observed(version, &mut images, &mut notes);
        false
    };
    Ok(ImageSet {
        version: version.to_string(),
        images,
        complete,
        notes,
    })
}

fn image(image: String, role: &'static str, source: String) -> Image {
    Image {
        image,
        role,
        source,
        repo_key: None,
        remapped: None,
    }
}

fn list_images_hint(version: KubeVersion) -> String {
    format!(
        "the full list: `docker run --rm registry.k8s.io/conformance:{version} e2e.test --list-images > list.txt`, then --list-file list.txt"
    )
}

/// Adds the embedded list of `tag`; returns whether it is complete (`exact`).
fn embedded(
    version: KubeVersion,
    tag: KubeVersion,
    exact: bool,
    images: &mut Vec<Image>,
    notes: &mut Vec<String>,
) -> bool {
    let tag_s = tag.to_string();
    let from = match e2e_manifest::source(&tag_s) {
        Some(s) => format!("{}@{}", s.repo, &s.commit[..12.min(s.commit.len())]),
        None => "?".into(),
    };
    let list: Vec<ManifestImage> = e2e_manifest::images(&tag_s);
    let mut fixed = Vec::new();
    for m in &list {
        let no_mirror = m
            .key
            .and_then(|k| NO_MIRROR_KEYS.iter().find(|(nk, _)| *nk == k));
        let (role, source) = match no_mirror {
            Some((_, why)) => ("e2e-no-mirror", format!("{tag_s} --list-images: {why}")),
            None => ("e2e", format!("{tag_s} --list-images")),
        };
        let mut i = image(m.image.to_string(), role, source);
        i.repo_key = m.key;
        images.push(i);
        if m.key.is_none() {
            fixed.push(m.image);
        }
    }
    notes.push(format!(
        "e2e images: what `e2e.test --list-images` prints at {tag_s} (test/utils/image/manifest.go and the storage-csi manifests of that tag, read from its module vendored in {from}); role e2e-no-mirror: listed, but no mirror can hold them"
    ));
    if !fixed.is_empty() {
        notes.push(format!(
            "no KUBE_TEST_REPO_LIST key moves {} (upstream neither): a run with a local registry still pulls it from there",
            fixed.join(", ")
        ));
    }
    if !exact {
        let varying = e2e_manifest::varying_names(&version.release_string());
        notes.push(format!(
            "no list embedded for {version}: the list of {tag_s}, the nearest embedded patch of {}, is used; between its embedded patches these change tag: {}",
            version.release_string(),
            if varying.is_empty() {
                "none".to_string()
            } else {
                varying.join(", ")
            }
        ));
        notes.push(list_images_hint(version));
    }
    exact
}

/// Adds the observed floor of `version`'s release.
fn observed(version: KubeVersion, images: &mut Vec<Image>, notes: &mut Vec<String>) {
    let rel = version.release_string();
    let mut found = false;
    for l in OBSERVED.lines().filter(|l| !l.starts_with('#')) {
        let mut f = l.split('\t');
        if let (Some(r), Some(img), Some(src)) = (f.next(), f.next(), f.next())
            && r == rel
        {
            found = true;
            images.push(image(img.to_string(), "e2e", format!("observed: {src}")));
        }
    }
    notes.push(if found {
        format!(
            "the e2e images listed for {rel} are those seen in a real run: a floor, not the full list"
        )
    } else {
        let full = e2e_manifest::releases();
        let floors: Vec<String> = observed_releases()
            .into_iter()
            .filter(|r| !full.contains(r))
            .collect();
        format!(
            "no e2e image list embedded for {rel} (full lists: {}; observed floors: {})",
            full.join(", "),
            floors.join(", ")
        )
    });
    notes.push(list_images_hint(version));
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

/// The `KUBE_TEST_REPO_LIST` key whose default registry prefixes `image` (longest match).
pub fn key_by_prefix(image: &str) -> Option<&'static str> {
    let mut best: Option<(&str, &'static str)> = None;
    for (key, defaults) in REPO_KEYS {
        for d in *defaults {
            let matches = image
                .strip_prefix(d)
                .is_some_and(|rest| rest.starts_with('/'));
            if matches && best.is_none_or(|(b, _)| d.len() > b.len()) {
                best = Some((d, key));
            }
        }
    }
    best.map(|(_, k)| k)
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

/// The name `image` gets when the run moves it by `key` (as the e2e framework does for an
/// image of a known key): the key's default prefix replaced by the list's value. `None` when
/// the list lacks the key or no default of the key prefixes the image.
pub fn remap_by_key(image: &str, key: &str, list: &BTreeMap<String, String>) -> Option<String> {
    let to = list.get(key)?;
    let (_, defaults) = REPO_KEYS.iter().find(|(k, _)| *k == key)?;
    let d = defaults
        .iter()
        .filter(|d| image.strip_prefix(**d).is_some_and(|r| r.starts_with('/')))
        .max_by_key(|d| d.len())?;
    Some(format!("{to}{}", &image[d.len()..]))
}

/// Fills [`Image::remapped`] for every image: by its key when known, else by prefix.
pub fn apply(set: &mut ImageSet, list: &BTreeMap<String, String>) {
    for i in &mut set.images {
        i.remapped = match i.repo_key {
            Some(k) => remap_by_key(&i.image, k, list),
            None => remap(&i.image, list),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn a_list_file_is_classified_like_the_embedded_lists() {
        let text = "registry.k8s.io/e2e-test-images/agnhost:2.61\n\
                    invalid.registry.k8s.io/invalid/alpine:3.1\n\
                    gcr.io/k8s-authenticated-test/agnhost:2.6\n\
                    docker.io/library/nginx:1.27\n";
        let v: KubeVersion = "v1.36.3".parse().unwrap();
        let set = image_set(v, Some((text, "list.txt"))).unwrap();
        let role = |name: &str| set.images.iter().find(|i| i.image == name).map(|i| i.role);
        assert_eq!(
            role("registry.k8s.io/e2e-test-images/agnhost:2.61"),
            Some("e2e")
        );
        assert_eq!(
            role("invalid.registry.k8s.io/invalid/alpine:3.1"),
            Some("e2e-no-mirror")
        );
        assert_eq!(
            role("gcr.io/k8s-authenticated-test/agnhost:2.6"),
            Some("e2e-no-mirror")
        );
        assert_eq!(
            key_by_prefix("registry.k8s.io/e2e-test-images/agnhost:2.61"),
            Some("promoterE2eRegistry")
        );
        assert_eq!(key_by_prefix("example.com/x:1"), None);
        assert!(set.complete);
    }

    #[test]
    fn set_has_conformance_image_sidecar_and_the_best_e2e_list() {
        // an embedded tag: its full list, complete
        let s = image_set(v("v1.33.4"), None).unwrap();
        assert_eq!(s.images[0].image, "registry.k8s.io/conformance:v1.33.4");
        assert_eq!(s.images[1].role, "sidecar");
        assert!(s.complete);
        let e2e: Vec<&Image> = s.images.iter().filter(|i| i.role == "e2e").collect();
        assert_eq!(e2e.len() + 2 + no_mirror(&s).len(), s.images.len());
        assert!(e2e.iter().all(|i| i.source == "v1.33.4 --list-images"));
        assert!(s.notes[0].contains("at v1.33.4") && s.notes[0].contains("vendored in"));
        assert!(no_mirror(&s).contains(&"invalid.registry.k8s.io/invalid/alpine:3.1"));
        assert!(!s.notes.iter().any(|n| n.contains("--list-file")));
        // another patch of an embedded release: the nearest patch's list, not complete
        let near = image_set(v("v1.33.5"), None).unwrap();
        assert!(!near.complete);
        assert!(
            near.images
                .iter()
                .any(|i| i.source == "v1.33.4 --list-images")
        );
        assert!(near.notes.iter().any(
            |n| n.contains("no list embedded for v1.33.5") && n.contains("distroless-iptables")
        ));
        assert!(near.notes.iter().any(|n| n.contains("--list-images")));
        // no embedded list: the observed floor
        let floor = image_set(v("v1.20.2"), None).unwrap();
        assert!(
            floor
                .images
                .iter()
                .any(|i| i.image == "k8s.gcr.io/e2e-test-images/agnhost:2.21")
        );
        assert!(!floor.complete);
        // nothing at all
        let none = image_set(v("v1.36.3"), None).unwrap();
        assert_eq!(none.images.len(), 2);
        assert!(none.notes[0].contains("no e2e image list") && none.notes[0].contains("v1.35"));
        assert!(
            none.notes[0].ends_with("observed floors: v1.20)"),
            "{}",
            none.notes[0]
        );
        assert!(matches!(
            image_set(v("v1.26"), None),
            Err(ImagesError::NoPatch(_))
        ));
        // the user's list wins
        let full = image_set(v("v1.33.4"), Some(("a/b:1\n\nc/d:2\n", "list.txt"))).unwrap();
        assert_eq!((full.images.len(), full.complete), (4, true));
    }

    fn no_mirror(s: &ImageSet) -> Vec<&str> {
        s.images
            .iter()
            .filter(|i| i.role == "e2e-no-mirror")
            .map(|i| i.image.as_str())
            .collect()
    }

    /// `k8s.gcr.io/x` → `registry.k8s.io/x` (the names before the registry move).
    fn normalised(image: &str) -> String {
        match image.strip_prefix("k8s.gcr.io/") {
            Some(rest) => format!("registry.k8s.io/{rest}"),
            None => image.to_string(),
        }
    }

    #[test]
    fn observed_images_are_in_every_embedded_list_of_their_release() {
        let mut checked = 0;
        for l in OBSERVED.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = l.split('\t').collect();
            for tag in e2e_manifest::tags()
                .iter()
                .filter(|t| t.release_string() == f[0])
            {
                let list = e2e_manifest::images(&tag.to_string());
                assert!(
                    list.iter().any(|m| m.image == normalised(f[1])),
                    "{} seen in a {} run, not in the list of {tag}",
                    f[1],
                    f[0]
                );
                checked += 1;
            }
        }
        // v1.26 and v1.32 are both observed and embedded
        assert!(checked >= 20, "{checked}");
    }

    #[test]
    fn every_list_has_the_core_images() {
        for tag in e2e_manifest::tags() {
            let list = e2e_manifest::images(&tag.to_string());
            let has = |name: &str| {
                list.iter().any(|m| {
                    let repo = m.image.rsplit_once(':').map_or(m.image, |(r, _)| r);
                    repo.rsplit('/').next() == Some(name)
                })
            };
            for name in ["agnhost", "busybox", "pause", "etcd", "nginx"] {
                assert!(has(name), "{tag}: no {name}");
            }
            // the httpd images left manifest.go in v1.35
            assert_eq!(has("httpd"), tag.minor < 35, "{tag}: httpd");
        }
    }

    #[test]
    fn every_embedded_image_remaps_to_the_local_registry() {
        let l = repo_list_for("easzlab.io.local:5000");
        let mut unmovable = Vec::new();
        for tag in e2e_manifest::tags() {
            for m in e2e_manifest::images(&tag.to_string()) {
                let Some(key) = m.key else {
                    assert!(remap(m.image, &l).is_none(), "{tag}: {}", m.image);
                    unmovable.push(m.image);
                    continue;
                };
                let by_prefix = remap(m.image, &l)
                    .unwrap_or_else(|| panic!("{tag}: {} does not remap", m.image));
                assert!(
                    by_prefix.starts_with("easzlab.io.local:5000/"),
                    "{tag}: {by_prefix}"
                );
                assert_eq!(
                    remap_by_key(m.image, key, &l).as_deref(),
                    Some(by_prefix.as_str()),
                    "{tag}: {} by {key}",
                    m.image
                );
            }
        }
        // with a registry per key, the longest-prefix rule agrees with every recorded key except
        // for the images at the root of registry.k8s.io (gcRegistry and gcEtcdRegistry share it)
        let distinct: BTreeMap<String, String> = REPO_KEYS
            .iter()
            .map(|(k, _)| (k.to_string(), format!("{k}.local")))
            .collect();
        for tag in e2e_manifest::tags() {
            for m in e2e_manifest::images(&tag.to_string()) {
                let Some(key) = m.key else { continue };
                let by_key = remap_by_key(m.image, key, &distinct).unwrap();
                assert!(by_key.starts_with(&format!("{key}.local/")), "{by_key}");
                let root =
                    m.image.matches('/').count() == 1 && m.image.starts_with("registry.k8s.io/");
                if !root {
                    assert_eq!(remap(m.image, &distinct).unwrap(), by_key, "{tag}");
                }
            }
        }
        unmovable.sort();
        unmovable.dedup();
        // the socat proxy of the old csi-mock manifests, on Docker Hub outside docker.io/library
        assert_eq!(unmovable, ["docker.io/alpine/socat:1.7.4.3-r0"]);
        // pause and etcd keep their own keys when the list separates them
        let mut split = l.clone();
        split.insert("gcEtcdRegistry".into(), "etcd.local".into());
        let mut s = image_set(v("v1.35.4"), None).unwrap();
        apply(&mut s, &split);
        let get = |p: &str| {
            s.images
                .iter()
                .find(|i| i.image.starts_with(p))
                .and_then(|i| i.remapped.clone())
                .unwrap()
        };
        assert_eq!(get("registry.k8s.io/etcd:"), "etcd.local/etcd:3.6.6-0");
        assert_eq!(
            get("registry.k8s.io/pause:"),
            "easzlab.io.local:5000/pause:3.10.1"
        );
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
