//! What the registry serves: the images of a bundle's image tars, indexed once at start.
//!
//! Invariants:
//! - nothing is copied: a blob is served from its place inside its tar (offset, size);
//! - a manifest is served byte for byte as the tar holds it, and only when those bytes hash to
//!   the digest its `index.json` gives (a manifest that does not is skipped and reported);
//! - one `repository:tag` that several tars carry for different architectures (a bundle made
//!   with `ezdown -D --arch amd64,arm64`) is served as an OCI image index of them, so each node
//!   pulls its own architecture.

use crate::error::{RegistryError, Result};
use crate::names::Repo;
use ez_bundle::oci::reference::ImageRef;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Metadata larger than this is not a manifest, an index or a config.
const META_MAX: u64 = 4 << 20;
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// kubeasz's name for the deploy host's registry, in every node's /etc/hosts.
pub const KUBEASZ_HOST: &str = "easzlab.io.local";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Where a blob's bytes are: inside `tar`, `size` bytes from `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobAt {
    pub tar: PathBuf,
    pub offset: u64,
    pub size: u64,
}

/// A manifest (or index) as served: its bytes, media type and digest (`sha256:<hex>`).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

/// A tar that was not indexed, and why (the others are still served).
#[derive(Debug, Clone)]
pub struct Skipped {
    pub tar: PathBuf,
    pub why: String,
}

/// The bundle's images, ready to be served.
#[derive(Debug, Default)]
pub struct Store {
    blobs: HashMap<String, BlobAt>,
    manifests: HashMap<String, Manifest>,
    /// repository → tag → manifest digest.
    tags: BTreeMap<Repo, BTreeMap<String, String>>,
    /// The tars read, and the ones skipped with their reason.
    pub tars: usize,
    pub skipped: Vec<Skipped>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Store {
    /// Indexes every `*.tar` of `dirs` (in name order, dirs in the given order). A tar that is
    /// not an image tar is skipped and recorded; a directory that cannot be read is an error.
    pub fn scan(dirs: &[PathBuf]) -> Result<Store> {
        let mut store = Store::default();
        // repository:tag → manifest digests (one per architecture)
        let mut found: BTreeMap<(Repo, String), BTreeSet<String>> = BTreeMap::new();
        for dir in dirs {
            let rd = std::fs::read_dir(dir).map_err(|e| RegistryError::io("read", dir, e))?;
            let mut tars: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "tar") && p.is_file())
                .collect();
            tars.sort();
            for tar in tars {
                match store.add_tar(&tar) {
                    Ok(images) => {
                        store.tars += 1;
                        for (image, digest) in images {
                            let key = (Repo::of(&image), image.tag);
                            found.entry(key).or_default().insert(digest);
                        }
                    }
                    Err(why) => store.skipped.push(Skipped { tar, why }),
                }
            }
        }
        for ((repo, tag), digests) in found {
            let digest = if digests.len() == 1 {
                digests.into_iter().next().unwrap_or_default()
            } else {
                store.index_of(&digests)
            };
            store.tags.entry(repo).or_default().insert(tag, digest);
        }
        Ok(store)
    }

    /// Reads one tar: records its blobs, loads the manifests its `index.json` names, and
    /// returns the images it carries as (name, manifest digest).
    fn add_tar(&mut self, tar: &Path) -> std::result::Result<Vec<(ImageRef, String)>, String> {
        let f = std::fs::File::open(tar).map_err(|e| format!("cannot open: {e}"))?;
        let mut archive = tar::Archive::new(std::io::BufReader::new(f));
        let mut index: Option<Value> = None;
        let mut repo_tags: Option<Value> = None;
        let mut blobs = HashMap::new();
        for entry in archive.entries_with_seek().map_err(|e| e.to_string())? {
            let mut e = entry.map_err(|e| format!("not a tar: {e}"))?;
            let path = e
                .path()
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .into_owned();
            let path = path.trim_start_matches("./").to_string();
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                let at = BlobAt {
                    tar: tar.to_path_buf(),
                    offset: e.raw_file_position(),
                    size: e.size(),
                };
                blobs.insert(format!("sha256:{hex}"), at);
            } else if path == "index.json" || path == "manifest.json" {
                let mut s = String::new();
                e.read_to_string(&mut s)
                    .map_err(|e| format!("{path}: {e}"))?;
                let v: Value = serde_json::from_str(&s).map_err(|e| format!("{path}: {e}"))?;
                if path == "index.json" {
                    index = Some(v);
                } else {
                    repo_tags = Some(v);
                }
            }
        }
        let index = index.ok_or("no index.json (not an OCI image tar as ezdown writes)")?;
        let fallback = repo_tags
            .as_ref()
            .and_then(|v| v[0]["RepoTags"][0].as_str())
            .map(str::to_string);
        let mut images = Vec::new();
        let descriptors = index["manifests"].as_array().cloned().unwrap_or_default();
        for d in &descriptors {
            let Some(digest) = d["digest"].as_str() else {
                continue;
            };
            let annotations = &d["annotations"];
            let named = annotations["io.containerd.image.name"]
                .as_str()
                .map(str::to_string)
                .or_else(|| fallback.clone());
            // a name pinned by digest only has no tag to be served under
            let Some(name) = named.as_deref().and_then(|n| ImageRef::parse(n).ok()) else {
                continue;
            };
            if name.digest.is_some() {
                continue;
            }
            self.load_manifest(&blobs, digest, d["mediaType"].as_str())?;
            images.push((name, digest.to_string()));
        }
        if images.is_empty() {
            return Err("index.json names no image with a name (io.containerd.image.name)".into());
        }
        self.blobs.extend(blobs);
        Ok(images)
    }

    /// Loads the manifest `digest` (and, for an index, its children that the tar holds).
    fn load_manifest(
        &mut self,
        blobs: &HashMap<String, BlobAt>,
        digest: &str,
        media_type: Option<&str>,
    ) -> std::result::Result<(), String> {
        let at = blobs
            .get(digest)
            .ok_or(format!("index.json names {digest}, not in the tar"))?;
        let bytes = read_small(at).map_err(|e| format!("{digest}: {e}"))?;
        if digest_of(&bytes) != digest {
            return Err(format!("manifest {digest} does not match its digest"));
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{digest}: {e}"))?;
        let media_type = v["mediaType"]
            .as_str()
            .or(media_type)
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_string();
        if media_type == OCI_INDEX || media_type == DOCKER_LIST {
            for child in v["manifests"].as_array().cloned().unwrap_or_default() {
                if let Some(c) = child["digest"].as_str().filter(|c| blobs.contains_key(*c)) {
                    self.load_manifest(blobs, c, child["mediaType"].as_str())?;
                }
            }
        }
        self.manifests.insert(
            digest.to_string(),
            Manifest {
                media_type,
                digest: digest.to_string(),
                bytes,
            },
        );
        Ok(())
    }

    /// An OCI index of `digests` (image manifests of one name for several architectures),
    /// stored and returned by digest. The platform of each comes from its config.
    fn index_of(&mut self, digests: &BTreeSet<String>) -> String {
        let mut entries = Vec::new();
        for d in digests {
            let Some(m) = self.manifests.get(d) else {
                continue;
            };
            let platform = serde_json::from_slice::<Value>(&m.bytes)
                .ok()
                .and_then(|v| v["config"]["digest"].as_str().map(str::to_string))
                .and_then(|c| self.blobs.get(&c).cloned())
                .and_then(|at| read_small(&at).ok())
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .map(|c| {
                    let mut p = json!({"os": c["os"], "architecture": c["architecture"]});
                    if let Some(v) = c["variant"].as_str() {
                        p["variant"] = json!(v);
                    }
                    p
                })
                .unwrap_or(json!({"os": "linux", "architecture": "unknown"}));
            entries.push(json!({
                "mediaType": m.media_type,
                "digest": m.digest,
                "size": m.bytes.len(),
                "platform": platform,
            }));
        }
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": entries,
        }))
        .unwrap_or_default();
        let digest = digest_of(&bytes);
        self.manifests.insert(
            digest.clone(),
            Manifest {
                media_type: OCI_INDEX.to_string(),
                digest: digest.clone(),
                bytes,
            },
        );
        digest
    }

    /// The repository a request names:
    /// - with `ns` (containerd asking a mirror for `<path>?ns=<registry>`): that registry's
    ///   image of that path, or nothing (kubeasz's `easzlab.io.local` aside);
    /// - its full name as the bundle has it (`registry.k8s.io/pause`, `calico/node` being
    ///   docker.io's);
    /// - else the one image whose path (`pause`) or kubeasz name (`easzlab/pause`, as
    ///   `easzlab.io.local:5000/easzlab/pause`) it is; `None` when none or several fit.
    pub fn repo(&self, name: &str, ns: Option<&str>) -> Option<&Repo> {
        let exact = |full: &str| {
            Repo::from_full(full).and_then(|r| self.tags.get_key_value(&r).map(|(r, _)| r))
        };
        match ns {
            // a mirror request for another registry's image never gets a look-alike
            // (a mirror with a path, override_path, asks by the full name and still says ns)
            Some(ns) if !ns.starts_with(KUBEASZ_HOST) => {
                return exact(&format!("{ns}/{name}"))
                    .or_else(|| exact(name).filter(|r| r.registry == ns));
            }
            _ => {}
        }
        if let Some(r) = exact(name) {
            return Some(r);
        }
        let mut it = self
            .tags
            .keys()
            .filter(|r| r.path == name || r.easzlab_alias() == name);
        match (it.next(), it.next()) {
            (Some(r), None) => Some(r),
            _ => None,
        }
    }

    /// The manifest `reference` (a tag or a digest) of repository `repo`.
    pub fn manifest(&self, repo: &Repo, reference: &str) -> Option<&Manifest> {
        let tags = self.tags.get(repo)?;
        let digest = if reference.starts_with("sha256:") {
            let reachable = tags.values().any(|d| self.reaches(d, reference));
            reachable.then_some(reference)?
        } else {
            tags.get(reference)?.as_str()
        };
        self.manifests.get(digest)
    }

    /// Whether `top` is `digest` or an index listing it.
    fn reaches(&self, top: &str, digest: &str) -> bool {
        top == digest
            || self.manifests.get(top).is_some_and(|m| {
                serde_json::from_slice::<Value>(&m.bytes).is_ok_and(|v| {
                    v["manifests"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|c| c["digest"] == digest))
                })
            })
    }

    /// Where blob `digest` is.
    pub fn blob(&self, digest: &str) -> Option<&BlobAt> {
        self.blobs.get(digest)
    }

    /// Every repository served (full names), sorted.
    pub fn repositories(&self) -> Vec<String> {
        self.tags.keys().map(Repo::full).collect()
    }

    /// The tags of `repo`, sorted.
    pub fn tags(&self, repo: &Repo) -> Vec<String> {
        self.tags
            .get(repo)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every image as `registry/path:tag`, sorted.
    pub fn images(&self) -> Vec<String> {
        self.tags
            .iter()
            .flat_map(|(r, t)| t.keys().map(move |tag| format!("{}:{tag}", r.full())))
            .collect()
    }
}

/// The bytes of a small blob (a manifest or a config).
fn read_small(at: &BlobAt) -> std::io::Result<Vec<u8>> {
    if at.size > META_MAX {
        return Err(std::io::Error::other("too large for a manifest or config"));
    }
    let mut f = std::fs::File::open(&at.tar)?;
    f.seek(SeekFrom::Start(at.offset))?;
    let mut buf = vec![0; at.size as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
