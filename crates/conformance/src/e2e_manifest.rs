//! The embedded `e2e.test --list-images` lists, one per Kubernetes tag
//! (`data/e2e-images/manifest.tsv`, where each tag was read: `manifest-sources.tsv`; both
//! written by `data/e2e-images/gen_manifest.py` from kubernetes' `test/utils/image/manifest.go`
//! and `test/e2e/testing-manifests/storage-csi` at that tag, see the README there).
//!
//! Invariants (checked by the tests below): every tag has a source line and at least one image;
//! tags are exact `v1.NN.P` versions; an image appears once per tag.

use crate::version::KubeVersion;

const MANIFEST: &str = include_str!("../data/e2e-images/manifest.tsv");
const SOURCES: &str = include_str!("../data/e2e-images/manifest-sources.tsv");

/// One image of a tag's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestImage {
    pub image: &'static str,
    /// The `KUBE_TEST_REPO_LIST` key that moves this image (`None`: no key can, upstream
    /// included: the image's registry is none of the list's defaults).
    pub key: Option<&'static str>,
}

/// Where a tag's list was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub tag: &'static str,
    /// The repository whose `vendor/k8s.io/kubernetes` holds the tag's module.
    pub repo: &'static str,
    pub commit: &'static str,
}

fn rows(text: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
}

/// Every embedded tag, oldest first.
pub fn tags() -> Vec<KubeVersion> {
    let mut v: Vec<KubeVersion> = rows(SOURCES)
        .filter_map(|f| f.first().and_then(|t| t.parse().ok()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The releases (`v1.NN`) with at least one embedded tag.
pub fn releases() -> Vec<String> {
    let mut v: Vec<String> = tags().into_iter().map(|t| t.release_string()).collect();
    v.dedup();
    v
}

/// Where `tag` (`v1.NN.P`) was read, if it is embedded.
pub fn source(tag: &str) -> Option<Source> {
    rows(SOURCES).find_map(|f| match *f.as_slice() {
        [t, repo, commit, ..] if t == tag => Some(Source {
            tag: t,
            repo,
            commit,
        }),
        _ => None,
    })
}

/// The list of `tag`, in file order (sorted by image); empty when the tag is not embedded.
pub fn images(tag: &str) -> Vec<ManifestImage> {
    rows(MANIFEST)
        .filter_map(|f| match *f.as_slice() {
            [t, image, key] if t == tag => Some(ManifestImage {
                image,
                key: (key != "-").then_some(key),
            }),
            _ => None,
        })
        .collect()
}

/// The embedded tag to use for `version`: itself when embedded (`exact`), else the newest
/// embedded patch of its release not above it, else the oldest one above it. `None` when the
/// release has no embedded tag or `version` has no patch.
pub fn tag_for(version: KubeVersion) -> Option<(KubeVersion, bool)> {
    let patch = version.patch?;
    let same: Vec<KubeVersion> = tags()
        .into_iter()
        .filter(|t| t.release() == version.release())
        .collect();
    if same.contains(&version) {
        return Some((version, true));
    }
    let below = same
        .iter()
        .rev()
        .find(|t| t.patch.is_some_and(|p| p < patch));
    below.or_else(|| same.first()).map(|t| (*t, false))
}

/// Images whose tag differs between the embedded patches of `release` (`v1.NN`): the names
/// (`registry/repo` without the tag) that are not in every patch's list with the same tag.
pub fn varying_names(release: &str) -> Vec<String> {
    let lists: Vec<Vec<ManifestImage>> = tags()
        .into_iter()
        .filter(|t| t.release_string() == release)
        .map(|t| images(&t.to_string()))
        .collect();
    let mut names: Vec<String> = Vec::new();
    for l in &lists {
        for i in l {
            if !lists.iter().all(|o| o.iter().any(|x| x.image == i.image)) {
                let name = i.image.rsplit_once(':').map_or(i.image, |(n, _)| n);
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubeVersion {
        s.parse().unwrap()
    }

    #[test]
    fn every_tag_has_a_source_and_unique_images() {
        let tags = tags();
        assert!(tags.len() >= 40, "{} tags", tags.len());
        for t in &tags {
            let tag = t.to_string();
            assert!(t.patch.is_some(), "{tag}");
            let s = source(&tag).unwrap_or_else(|| panic!("{tag}: no source"));
            assert_eq!(s.commit.len(), 40, "{tag}");
            assert!(s.repo.contains('/'), "{tag}");
            let l = images(&tag);
            assert!(l.len() >= 30, "{tag}: {} images", l.len());
            let mut names: Vec<&str> = l.iter().map(|i| i.image).collect();
            names.dedup();
            assert_eq!(names.len(), l.len(), "{tag}: duplicate image");
        }
        // every manifest row belongs to a tag with a source
        for f in rows(MANIFEST) {
            assert_eq!(f.len(), 3, "{f:?}");
            assert!(source(f[0]).is_some(), "{f:?}");
        }
        for r in ["v1.30", "v1.31", "v1.32", "v1.33", "v1.34", "v1.35"] {
            assert!(releases().contains(&r.to_string()), "{r}");
        }
    }

    #[test]
    fn tag_choice_prefers_exact_then_nearest_lower_patch() {
        assert_eq!(tag_for(v("v1.30.10")), Some((v("v1.30.10"), true)));
        // v1.30.0, .2, .3, .10 are embedded: .5 takes .3, nothing below .0 exists
        assert_eq!(tag_for(v("v1.30.5")), Some((v("v1.30.3"), false)));
        assert_eq!(tag_for(v("v1.30.99")), Some((v("v1.30.10"), false)));
        assert_eq!(tag_for(v("v1.20.2")), None);
        assert_eq!(tag_for(v("v1.30")), None);
        let first_133 = tags().into_iter().find(|t| t.minor == 33).unwrap();
        assert_eq!(tag_for(v("v1.33.0")), Some((first_133, false)));
    }

    #[test]
    fn patch_releases_change_only_a_few_names() {
        let n = varying_names("v1.30");
        assert!(
            n.contains(&"registry.k8s.io/build-image/distroless-iptables".to_string()),
            "{n:?}"
        );
        assert!(
            !n.iter()
                .any(|x| x.ends_with("/agnhost") || x.ends_with("/pause")),
            "{n:?}"
        );
    }
}
