//! `ezctl new <c>`: a cluster folder (`clusters/<c>/hosts`, `config.yml`) from the example
//! templates, at the versions of the bundle (or a `--versions` file) and following what the
//! bundle was made for (its network, the parts left out).
//!
//! Invariant: the two files are validated before the folder exists, and written atomically;
//! an existing folder is never touched.

use crate::ctx::Ctx;
use crate::refusal::Refusal;
use anyhow::Context as _;
use ez_inventory::templates::{self, TemplateError};
use ez_inventory::{VersionTable, load, parse_cluster, write_atomic};
use std::path::{Path, PathBuf};

/// What [`new`] made: the folder, and one note per setting that follows the bundle.
#[derive(Debug, Clone)]
pub struct NewCluster {
    pub dir: PathBuf,
    pub notes: Vec<String>,
}

/// `ezctl new <c> [--versions FILE]`; refused (kubeasz's words) for a bad name or a folder
/// that exists.
pub fn new(ctx: &Ctx, cluster: &str, versions: Option<&Path>) -> anyhow::Result<NewCluster> {
    if let Err(e @ TemplateError::ClusterName(..)) = templates::check_cluster_name(cluster) {
        return Refusal::new(1, e.to_string()).into_result();
    }
    let dir = ctx.cluster_dir(cluster);
    if dir.exists() {
        return Refusal::new(1, already_existed(cluster, &dir)).into_result();
    }
    let table = version_table(&ctx.base, versions)?;
    let mirror = mirror_enabled(Path::new("/etc/docker/daemon.json"));
    let files = templates::render_new(cluster, &table, mirror)?;
    let (hosts, config, notes) = follow_the_bundle(&ctx.base, files.hosts, files.config)?;
    create_cluster_dir(&dir, &hosts, &config)?;
    Ok(NewCluster { dir, notes })
}

/// kubeasz's words for a cluster folder that exists already.
pub fn already_existed(cluster: &str, dir: &Path) -> String {
    format!(
        "cluster:{cluster} already existed, if cluster:{cluster} setup failed, try 'rm -rf {}' first!",
        dir.display()
    )
}

/// The version table `ezctl new` fills config.yml from: the bundle's (`<base>/manifest.json`,
/// written by `ezdown`) if there is one, else kubeasz 3.7.0's; then the `--versions` file.
pub fn version_table(base: &Path, overlay: Option<&Path>) -> anyhow::Result<VersionTable> {
    let mut t = match ez_bundle::manifest::Manifest::load(base) {
        Ok(Some(m)) => m.versions,
        Ok(None) => VersionTable::default(),
        Err(e) => anyhow::bail!("{e}"),
    };
    if let Some(p) = overlay {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        t = t
            .overlay(&text)
            .with_context(|| format!("{}", p.display()))?;
    }
    Ok(t)
}

/// The new cluster's files made to match the bundle, as its versions do: CLUSTER_NETWORK of
/// `ezdown --network` (when not calico), and the parts of `ezdown --without` turned off in
/// config.yml; one note each. No bundle manifest: unchanged.
pub fn follow_the_bundle(
    base: &Path,
    hosts: String,
    config: String,
) -> anyhow::Result<(String, String, Vec<String>)> {
    let manifest = ez_bundle::manifest::Manifest::load(base).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (config, mut notes) = crate::aio::config(config, manifest.as_ref(), &[])?;
    let mut hosts = hosts;
    if let Some(m) = &manifest {
        let net = m.selection.network.as_str();
        let calico = "CLUSTER_NETWORK=\"calico\"";
        if net != templates::AIO_CLUSTER_NETWORK && hosts.contains(calico) {
            hosts = hosts.replacen(calico, &format!("CLUSTER_NETWORK=\"{net}\""), 1);
            notes.push(format!(
                "the bundle was made for network {net}: CLUSTER_NETWORK=\"{net}\" in hosts"
            ));
        }
    }
    Ok((hosts, config, notes))
}

/// kubeasz sets ENABLE_MIRROR_REGISTRY from whether the deploy host's docker uses mirrors.
pub fn mirror_enabled(daemon_json: &Path) -> bool {
    std::fs::read_to_string(daemon_json).is_ok_and(|t| t.contains("registry-mirrors"))
}

/// Validates the two files, then creates `dir` and writes them atomically. Nothing is left
/// behind on failure.
pub fn create_cluster_dir(dir: &Path, hosts: &str, config: &str) -> anyhow::Result<()> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hp = load::hosts_path(dir);
    let cp = load::config_path(dir);
    if let Err(d) = parse_cluster(&name, dir, &hp, hosts, &cp, config) {
        anyhow::bail!("the generated files do not validate (a bug):\n{d}");
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // create_dir (not _all) fails if another process created the folder meanwhile.
    std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let written =
        write_atomic(&hp, hosts.as_bytes()).and_then(|()| write_atomic(&cp, config.as_bytes()));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(dir);
        return Err(e).with_context(|| format!("cannot write into {}", dir.display()));
    }
    Ok(())
}
