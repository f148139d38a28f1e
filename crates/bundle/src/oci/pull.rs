//! Pulling one image into `down/<name>_<tag>.tar`.
//!
//! Invariants: every blob is verified (digest and size) before it enters the blob cache
//! `.ezdown/blobs/<hex>`, so a cache file's existence means it is good; the tar is assembled
//! in `.ezdown/partial/` and renamed into `down/` only when complete.

use crate::binaries::move_into_place;
use crate::catalog::Arch;
use crate::checksum::Sha256;
use crate::error::{BundleError, Result};
use crate::events::Event;
use crate::fetch::{Target, download, remove};
use crate::manifest::{FileEntry, Kind, WORK_DIR};
use crate::oci::archive::{self, ImageTar};
use crate::oci::client::{DOCKER_LIST, OCI_INDEX, RawManifest, Repo};
use crate::oci::reference::{ImageRef, api_base};
use crate::session::Session;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct ImageManifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

/// Registries on the public Internet: with `--mirror-only` they are never asked directly.
const PUBLIC_REGISTRIES: &[&str] = &[
    "docker.io",
    "registry.k8s.io",
    "k8s.gcr.io",
    "gcr.io",
    "quay.io",
    "ghcr.io",
    "mcr.microsoft.com",
    "public.ecr.aws",
    "ecr-public.aws.com",
];

/// One place to pull an image from: the registry API base and the repository there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base: String,
    pub repo: String,
}

/// `[http(s)://]host[:port][/path prefix]` of a mirror, for `repo`: a registry mirror or a
/// proxy-cache project (`harbor.lan/k8s-proxy` serves `registry.k8s.io/pause` as
/// `k8s-proxy/pause`).
pub fn mirror_endpoint(mirror: &str, repo: &str) -> Endpoint {
    let m = mirror.trim().trim_end_matches('/');
    let (scheme, rest) = match m.split_once("://") {
        Some((sch, r)) => (Some(sch), r),
        None => (None, m),
    };
    let (host, prefix) = match rest.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let base = match scheme {
        Some(sch) => api_base(&format!("{sch}://{host}")),
        None => api_base(host),
    };
    Endpoint {
        base,
        repo: match prefix {
            Some(p) => format!("{p}/{repo}"),
            None => repo.to_string(),
        },
    }
}

/// Splits a `--registry-mirror` value: `REGISTRY=MIRROR`, or a plain `MIRROR` (for docker.io,
/// kubeasz's meaning of `-m`). `None` for an empty side.
pub fn parse_mirror(spec: &str) -> Option<(String, String)> {
    let (reg, m) = match spec.split_once('=') {
        Some((r, m)) => (r.trim(), m.trim()),
        None => ("docker.io", spec.trim()),
    };
    let reg = match reg {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        r => r,
    };
    (!reg.is_empty() && !m.is_empty()).then(|| (reg.to_string(), m.to_string()))
}

/// Registry endpoints to try for an image, in order: the mirrors configured for its registry
/// (whoever configures one usually cannot reach the registry, and each unreachable endpoint
/// costs the whole retry budget), then the registry itself — unless `mirror_only`, where a
/// public registry is never asked (an intranet registry named in the reference still is).
pub fn endpoints(s: &Session, image: &ImageRef) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = s
        .sources
        .registry_mirrors
        .iter()
        .filter_map(|m| parse_mirror(m))
        .filter(|(reg, _)| *reg == image.registry)
        .map(|(_, m)| mirror_endpoint(&m, &image.repo))
        .collect();
    let public = PUBLIC_REGISTRIES.contains(&image.registry.as_str());
    if !s.sources.mirror_only || !public {
        out.push(Endpoint {
            base: api_base(&image.registry),
            repo: image.repo.clone(),
        });
    }
    out
}

/// Pulls `image` for linux/`arch` into `down/<tar>`, trying each endpoint in turn.
/// Skips the pull when an earlier manifest lists the tar and it still verifies.
pub async fn pull_image(
    s: &Session,
    image: &ImageRef,
    tar: &str,
    arch: Arch,
    previous: &BTreeMap<String, FileEntry>,
) -> Result<FileEntry> {
    let rel = format!("down/{tar}");
    let id = image.full_name();
    if let Some(e) = previous.get(&rel)
        && e.artifact == id
        && let Ok((sha, size)) = Sha256::of_file(&s.base.join(&rel)).await
        && sha.hex() == e.sha256
        && size == e.size
    {
        s.events.emit(Event::Skipped { id, path: rel });
        return Ok(e.clone());
    }
    let mut tried = Vec::new();
    let mut cause = String::new();
    let eps = endpoints(s, image);
    if eps.is_empty() {
        return Err(BundleError::Other(format!(
            "{id}: no registry to pull from (--mirror-only and no mirror for {}: add --registry-mirror {}=<your mirror>)",
            image.registry, image.registry
        )));
    }
    for ep in eps {
        let base = ep.base.clone();
        match pull_from(s, image, arch, &ep, &rel).await {
            Ok(e) => return Ok(e),
            Err(
                e @ (BundleError::DiskFull(_)
                | BundleError::Io { .. }
                | BundleError::NoPlatform { .. }
                | BundleError::Systemic(_)),
            ) => {
                return Err(e);
            }
            Err(e) => {
                s.events.emit(Event::SourceFailed {
                    id: id.clone(),
                    url: base.clone(),
                    error: e.to_string(),
                });
                tried.push(format!("{base} ({e})"));
                cause = e.cause();
            }
        }
    }
    Err(BundleError::AllSourcesFailed {
        what: id,
        tried: tried.join("; "),
        cause,
    })
}

async fn pull_from(
    s: &Session,
    image: &ImageRef,
    arch: Arch,
    ep: &Endpoint,
    rel: &str,
) -> Result<FileEntry> {
    let base = ep.base.as_str();
    let repo = Repo::new(s, ep.base.clone(), ep.repo.clone());
    let top = repo.manifest(image.reference(), None).await?;
    let manifest = resolve_platform(&repo, image, arch, top).await?;
    let m: ImageManifest =
        serde_json::from_slice(&manifest.bytes).map_err(|e| BundleError::Registry {
            registry: base.to_string(),
            msg: format!("bad image manifest: {e}"),
        })?;
    let blob_dir = s.base.join(WORK_DIR).join("blobs");
    let mut layers = Vec::new();
    let config = fetch_blob(s, &repo, &image.full_name(), &m.config).await?;
    for l in &m.layers {
        layers.push(fetch_blob(s, &repo, &image.full_name(), l).await?);
    }
    let part = s.part_path(rel.trim_start_matches("down/"));
    let (img, bytes, mt, bd, p) = (
        image.clone(),
        manifest.bytes.clone(),
        manifest.media_type.clone(),
        blob_dir,
        part.clone(),
    );
    tokio::task::spawn_blocking(move || {
        archive::write(
            &ImageTar {
                image: &img,
                manifest: &bytes,
                manifest_media_type: &mt,
                config,
                layers: &layers,
            },
            &bd,
            &p,
        )
    })
    .await
    .map_err(|e| BundleError::Other(format!("tar task failed: {e}")))??;
    let (sha, size) = Sha256::of_file(&part).await?;
    move_into_place(&part, &s.base.join(rel), false).await?;
    let source = format!("{base}/{}@sha256:{}", ep.repo, manifest.digest.hex());
    s.events.emit(Event::Done {
        id: image.full_name(),
        path: rel.to_string(),
        sha256: sha.hex(),
        size,
        source: source.clone(),
    });
    Ok(FileEntry {
        path: rel.to_string(),
        size,
        sha256: sha.hex(),
        kind: Kind::Image,
        artifact: image.full_name(),
        version: image.tag.clone(),
        source,
        from: None,
    })
}

/// Index / manifest list → the manifest for linux/`arch` (digest-verified).
async fn resolve_platform(
    repo: &Repo<'_>,
    image: &ImageRef,
    arch: Arch,
    top: RawManifest,
) -> Result<RawManifest> {
    if top.media_type != OCI_INDEX && top.media_type != DOCKER_LIST {
        return Ok(top);
    }
    let idx: Index = serde_json::from_slice(&top.bytes).map_err(|e| BundleError::Registry {
        registry: repo.base.clone(),
        msg: format!("bad index: {e}"),
    })?;
    let want = arch.as_str();
    let pick = idx.manifests.iter().find(|d| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == "linux"
                && p.architecture == want
                && (want != "arm64" || p.variant.as_deref().is_none_or(|v| v == "v8"))
        })
    });
    let Some(d) = pick else {
        let available: Vec<String> = idx
            .manifests
            .iter()
            .filter_map(|d| {
                d.platform
                    .as_ref()
                    .map(|p| format!("{}/{}", p.os, p.architecture))
            })
            .collect();
        return Err(BundleError::NoPlatform {
            image: image.full_name(),
            arch: want.to_string(),
            available: available.join(", "),
        });
    };
    let digest = Sha256::parse(&d.digest).ok_or_else(|| BundleError::Registry {
        registry: repo.base.clone(),
        msg: format!("bad digest {}", d.digest),
    })?;
    let m = repo.manifest(&d.digest, Some(digest)).await?;
    if m.bytes.len() as u64 != d.size {
        return Err(BundleError::DigestMismatch {
            what: format!("size of manifest {}", d.digest),
            expected: d.size.to_string(),
            actual: m.bytes.len().to_string(),
        });
    }
    let media_type = if d.media_type.is_empty() {
        m.media_type
    } else {
        d.media_type.clone()
    };
    Ok(RawManifest { media_type, ..m })
}

/// Downloads a blob into the cache unless it is there; verifies digest and size.
async fn fetch_blob(s: &Session, repo: &Repo<'_>, id: &str, d: &Descriptor) -> Result<Sha256> {
    let digest = Sha256::parse(&d.digest).ok_or_else(|| BundleError::Registry {
        registry: repo.base.clone(),
        msg: format!("bad digest {}", d.digest),
    })?;
    let dest = s.base.join(WORK_DIR).join("blobs").join(digest.hex());
    let lock = s.lock_for(&digest.hex());
    let _guard = lock.lock().await;
    if tokio::fs::metadata(&dest)
        .await
        .is_ok_and(|m| m.len() == d.size)
    {
        return Ok(digest);
    }
    let part = s.part_path(&format!("blob-{}", digest.hex()));
    let url = repo.blob_url(&d.digest);
    for round in 0..2 {
        let auth = repo.auth_header().await;
        let target = Target {
            id,
            url: &url,
            part: &part,
            binary: true,
            auth: auth.as_deref(),
        };
        let got = download(&s.client, &s.fetch, &s.events, target).await?;
        if got.sha256 == digest && got.size == d.size {
            move_into_place(&part, &dest, false).await?;
            return Ok(digest);
        }
        remove(&part).await?;
        if round == 1 {
            return Err(BundleError::DigestMismatch {
                what: format!("blob {} of {id} from {url}", d.digest),
                expected: format!("{} ({} bytes)", d.digest, d.size),
                actual: format!("sha256:{} ({} bytes)", got.sha256.hex(), got.size),
            });
        }
    }
    unreachable!("the loop returns on its second round")
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;
    use crate::events::Events;
    use crate::fetch::FetchConfig;
    use crate::mirrors::Sources;

    fn session(mirrors: &[&str], mirror_only: bool) -> Session {
        let sources = Sources {
            binary_mirrors: vec![],
            registry_mirrors: mirrors.iter().map(|m| m.to_string()).collect(),
            mirror_only,
        };
        let base = std::env::temp_dir();
        Session::new(&base, FetchConfig::default(), sources, Events::silent(), 1).unwrap()
    }

    fn eps(s: &Session, image: &str) -> Vec<(String, String)> {
        endpoints(s, &ImageRef::parse(image).unwrap())
            .into_iter()
            .map(|e| (e.base, e.repo))
            .collect()
    }

    fn ep(base: &str, repo: &str) -> (String, String) {
        (base.to_string(), repo.to_string())
    }

    #[test]
    fn mirrors_per_registry_with_path_prefixes() {
        let s = session(
            &[
                "hub.lan:5000",
                "registry.k8s.io=harbor.lan/k8s-proxy",
                "registry.k8s.io=http://127.0.0.1:5001",
                "quay.io=https://quay-cache.lan/",
            ],
            false,
        );
        assert_eq!(
            eps(&s, "registry.k8s.io/conformance:v1.36.3"),
            [
                ep("https://harbor.lan", "k8s-proxy/conformance"),
                ep("http://127.0.0.1:5001", "conformance"),
                ep("https://registry.k8s.io", "conformance"),
            ]
        );
        assert_eq!(
            eps(&s, "calico/cni:v3.32.1"),
            [
                ep("https://hub.lan:5000", "calico/cni"),
                ep("https://registry-1.docker.io", "calico/cni"),
            ]
        );
        assert_eq!(
            eps(&s, "quay.io/prometheus/prometheus:v3"),
            [
                ep("https://quay-cache.lan", "prometheus/prometheus"),
                ep("https://quay.io", "prometheus/prometheus"),
            ]
        );
    }

    #[test]
    fn mirror_only_never_asks_a_public_registry() {
        let s = session(&["registry.k8s.io=harbor.lan/k8s"], true);
        assert_eq!(
            eps(&s, "registry.k8s.io/pause:3.10"),
            [ep("https://harbor.lan", "k8s/pause")]
        );
        assert!(eps(&s, "quay.io/x/y:1").is_empty());
        assert!(eps(&s, "busybox:1").is_empty());
        // an intranet registry named in the reference is not "upstream"
        assert_eq!(
            eps(&s, "harbor.lan/apps/web:1"),
            [ep("https://harbor.lan", "apps/web")]
        );
        assert_eq!(parse_mirror("=x"), None);
        assert_eq!(parse_mirror("index.docker.io=m").unwrap().0, "docker.io");
    }
}
