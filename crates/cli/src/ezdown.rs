//! `ezdown`: the offline bundle (binaries, images) — argument parsing and progress display.
//! All the work is in `ez_bundle`; this module maps flags to a request, shows events, and
//! turns outcomes into one clear message and an exit code (0 ok, 1 failed, 130 interrupted).

mod arches;
mod carry;
mod conformance;
mod progress;

use crate::refusal::Refusal;
use clap::Parser;
use ez_bundle::bundle::{self, Request};
use ez_bundle::catalog::{self, Arch};
use ez_bundle::checksum::ChecksumTable;
use ez_bundle::fetch::FetchConfig;
use ez_bundle::images;
use ez_bundle::manifest::Manifest;
use ez_bundle::mirrors::Sources;
use ez_bundle::selection::Selection;
use ez_bundle::session::Session;
use ez_inventory::VersionTable;
use std::path::PathBuf;
use std::time::Duration;

/// kubeasz `ezdown`, without docker.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "ezdown",
    version,
    about = "kubeasz-rs offline bundle downloader (kubeasz `ezdown`, docker-free)",
    after_help = "Examples:\n  ezdown -D                          # binaries + default images into /etc/kubeasz\n  ezdown -D -X cilium -m cn          # plus cilium images; docker.io images may come via CN mirrors\n  ezdown -D --binary-mirror http://mirror.lan/files --mirror-only   # air-gapped intranet mirror\n  ezdown --verify                    # re-check every file against manifest.json\n  ezdown --export bundle.tar.zst     # one file to carry; on the offline host: ezdown --import bundle.tar.zst"
)]
pub struct EzdownCli {
    /// Shell extras: completion scripts, man pages (the download flags are ignored with them).
    #[command(subcommand)]
    pub command: Option<crate::shell::ShellCommand>,
    /// Download everything for the version table into the bundle.
    #[arg(short = 'D')]
    pub download: bool,
    /// Kubernetes version (kubeasz's K8S_BIN_VER), e.g. v1.36.3.
    #[arg(short = 'k', value_name = "VER")]
    pub k8s_version: Option<String>,
    /// A YAML/JSON file of component versions replacing some of the version table (partial is
    /// fine, e.g. `containerd: 2.3.4`), applied after -k; the same format as `ezctl new
    /// --versions`. Recorded in manifest.json, so `ezctl new` writes them into config.yml.
    #[arg(long, value_name = "FILE")]
    pub versions: Option<PathBuf>,
    /// The network plugin the bundle is for: calico (default: calicoctl + calico images, as
    /// kubeasz), flannel, cilium, kube-router or kube-ovn (that plugin's images, no calico).
    /// Recorded in manifest.json. With --verify: check the bundle was made for it.
    #[arg(long, value_name = "PLUGIN")]
    pub network: Option<String>,
    /// Leave an optional part out of the bundle (repeatable): nodelocaldns (the
    /// k8s-dns-node-cache image), helm, metrics-server. Recorded in manifest.json. With
    /// --verify: parts the bundle may lack.
    #[arg(long, value_name = "PART")]
    pub without: Vec<String>,
    /// Mirror mode: `standard` (upstream only, default), `cn` (registry mirrors usable from
    /// mainland China for docker.io images), or a registry host to use for docker.io images.
    #[arg(short = 'm', value_name = "MIRROR", default_value = "standard")]
    pub mirror: String,
    /// Extra image set (repeatable), e.g. cilium, flannel, conformance; an unknown name lists
    /// the valid ones. Without -D (as kubeasz's `ezdown -X <set>`): only that set, added to the
    /// bundle already there.
    #[arg(short = 'X', value_name = "SET")]
    pub extra: Vec<String>,
    /// kubeasz ran itself in a container; kubeasz-rs needs none. Prints what to run instead.
    #[arg(short = 'S')]
    pub start_container: bool,
    /// OS packages for offline installs (not supported; prints what to do instead).
    #[arg(short = 'P', value_name = "OS")]
    pub sys_pkg: Option<String>,
    /// Bundle directory.
    #[arg(long, env = "EZ_BASE", default_value = "/etc/kubeasz")]
    pub base: PathBuf,
    /// Target architecture: amd64 or arm64 (default: this machine's), or several,
    /// comma-separated (`amd64,arm64`): the first is the bundle's own (`bin/`, `down/`), each
    /// other a bundle of its own under `<base>/arch/<arch>/`; setup gives each host its own.
    #[arg(long)]
    pub arch: Option<String>,
    /// Transfers in flight at once.
    #[arg(short = 'j', long = "jobs", default_value_t = 4)]
    pub jobs: usize,
    /// One JSON object per line on stdout instead of progress output.
    #[arg(long)]
    pub json: bool,
    /// Re-check every file of the bundle against manifest.json (missing, changed, extra).
    #[arg(long)]
    pub verify: bool,
    /// Write the bundle as one archive (.tar.zst, .tar.gz or .tar).
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Import an archive made by --export into --base, verifying it first.
    #[arg(long, value_name = "FILE")]
    pub import: Option<PathBuf>,
    /// A file mirror with the upstream layout (URL/<host>/<path>); tried before upstream. Repeatable.
    #[arg(long, value_name = "URL")]
    pub binary_mirror: Vec<String>,
    /// A registry mirror: `MIRROR` for docker.io images (kubeasz's -m), or `REGISTRY=MIRROR`
    /// for any registry, e.g. registry.k8s.io=harbor.lan/k8s-proxy (a proxy-cache project).
    /// MIRROR is [http://]host[:port][/path]. Tried before the registry itself. Repeatable.
    #[arg(long, value_name = "[REGISTRY=]MIRROR")]
    pub registry_mirror: Vec<String>,
    /// Never contact upstream hosts: only the mirrors (air-gapped sites).
    #[arg(long)]
    pub mirror_only: bool,
    /// Trust this CA (PEM file) too, for an intranet mirror signed by a private CA (the system
    /// trust store and the built-in roots are always trusted). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Registry logins: an auth file as `docker login` / `podman login` write it. Repeatable;
    /// replaces the default search ($REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json, $XDG_RUNTIME_DIR/containers/auth.json).
    #[arg(long, value_name = "FILE")]
    pub registry_auth: Vec<PathBuf>,
    /// Add a local file to the bundle, e.g. bin/nginx=/path/to/nginx (kube-lb). Repeatable.
    #[arg(long, value_name = "DEST=SRC")]
    pub extra_file: Vec<String>,
    /// An additional checksum table (sha256sum lines keyed by URL without scheme).
    #[arg(long, value_name = "FILE")]
    pub checksums: Option<PathBuf>,
    /// An additional image to save (repeatable).
    #[arg(long, value_name = "IMAGE")]
    pub image: Vec<String>,
    /// e2e test images for `-X conformance`, one reference per line (default: the embedded
    /// list of the Kubernetes version, see `ezctl conformance images`).
    #[arg(long, value_name = "FILE")]
    pub e2e_images: Option<PathBuf>,
    /// Binaries only: no images.
    #[arg(long)]
    pub no_images: bool,
    /// Print every upstream URL (files and checksum files) the bundle needs, one per line;
    /// `wget -x -i` over this list builds a --binary-mirror tree.
    #[arg(long)]
    pub list_urls: bool,
    /// Seconds without data before a connection is cut.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// Retries per source on timeouts, 5xx and 429.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
}

/// Runs a parsed `ezdown` command line; returns the process exit code (a refusal printed
/// once, as `ezdown: <message>`).
pub async fn run(cli: EzdownCli) -> anyhow::Result<u8> {
    crate::refusal::finish_as("ezdown:", run_refusing(cli).await)
}

async fn run_refusing(cli: EzdownCli) -> anyhow::Result<u8> {
    if let Some(c) = cli.command {
        let home = crate::home::home_from_env();
        return crate::shell::run(crate::shell::Tool::Ezdown, c, home.as_deref());
    }
    if cli.start_container {
        println!(
            "ezdown -S: kubeasz-rs needs no container. kubeasz started `easzlab/kubeasz` and ran `dk ezctl ...` inside it;\n\
             here ezctl runs directly on this host: use `ezctl start-aio` or `ezctl new <cluster>` / `ezctl setup <cluster> all`."
        );
        return Ok(0);
    }
    if let Some(os) = &cli.sys_pkg {
        return Refusal::new(
            1,
            format!(
                "-P {os}: OS packages are not bundled by kubeasz-rs (kubeasz copied them out of a docker image).\n\
             What to do: keep INSTALL_SOURCE: online with a reachable distro mirror, or point the nodes at a local\n\
             mirror of your distribution's repository (e.g. apt-mirror / reposync) before `ezctl setup`."
            ),
        )
        .into_result();
    }
    // kubeasz: `ezdown -X <set>` alone fetches just that set into the existing bundle.
    let extra_only = !cli.download && !cli.extra.is_empty();
    let actions = [
        cli.download || extra_only,
        cli.verify,
        cli.export.is_some(),
        cli.import.is_some(),
        cli.list_urls,
    ];
    match actions.iter().filter(|a| **a).count() {
        0 => {
            return Refusal::new(1, "no action given: use -D, -X <set>, --verify, --export, --import, --list-urls or -S (see ezdown --help)").into_result();
        }
        1 => {}
        _ => {
            return Refusal::new(
                1,
                "give one action at a time (-D, --verify, --export, --import, --list-urls)",
            )
            .into_result();
        }
    }
    if cli.verify {
        // the base and every other architecture's bundle in it
        return carry::do_verify(&cli).await;
    }
    let list = match cli.arch.as_deref().map(ez_bundle::arches::parse_list) {
        None => vec![Arch::host()],
        Some(Ok(l)) => l,
        Some(Err(e)) => {
            return Refusal::new(1, format!("--arch: {e}")).into_result();
        }
    };
    if list.len() > 1 {
        if cli.export.is_some() || cli.import.is_some() {
            return Refusal::new(1, "--export/--import carry the whole base, every architecture in it: leave --arch out").into_result();
        }
        return arches::run_each(&cli, &list).await;
    }
    run_one(cli).await
}

/// One action for one architecture (`cli.arch` names at most one here).
async fn run_one(cli: EzdownCli) -> anyhow::Result<u8> {
    if let Some(out) = &cli.export {
        return carry::do_export(&cli, out.clone()).await;
    }
    if let Some(file) = &cli.import {
        return carry::do_import(&cli, file.clone()).await;
    }
    let req = match build_request(&cli) {
        Ok(r) => r,
        Err(e) => {
            return Refusal::new(1, e.to_string()).into_result();
        }
    };
    if cli.list_urls {
        for a in &req.artifacts {
            println!("{}", a.url);
            if let catalog::ChecksumSource::File(u) = &a.checksum {
                println!("{u}");
            }
        }
        return Ok(0);
    }
    do_download(&cli, req).await
}

/// The version table to download for: kubeasz 3.7.0's (or, for `-X` alone, the bundle's),
/// then `-k`, then the `--versions` file.
fn version_table(cli: &EzdownCli, previous: Option<&Manifest>) -> Result<VersionTable, String> {
    let mut versions = previous.map(|m| m.versions.clone()).unwrap_or_default();
    let mut k8s = None;
    if let Some(k) = &cli.k8s_version {
        catalog::check_version(k.trim()).map_err(|e| e.to_string())?;
        versions = versions.with_kubernetes(k);
        k8s = Some(versions.kubernetes.clone());
    }
    if let Some(f) = &cli.versions {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("--versions {}: cannot read it: {e}", f.display()))?;
        versions = versions
            .overlay(&text)
            .map_err(|e| format!("--versions {}: {e}", f.display()))?;
        if let Some(k) = k8s
            && k != versions.kubernetes
        {
            return Err(format!(
                "-k {k} and --versions {} (kubernetes: {}) disagree; give the version once",
                f.display(),
                versions.kubernetes
            ));
        }
        catalog::check_version(&versions.kubernetes).map_err(|e| e.to_string())?;
    }
    Ok(versions)
}

/// `--network` and `--without` (for `-X` alone: the bundle's, which they cannot change).
fn selection(cli: &EzdownCli, previous: Option<&Manifest>) -> Result<Selection, String> {
    if !cli.download && !cli.extra.is_empty() {
        if cli.network.is_some() || !cli.without.is_empty() {
            return Err(
                "--network and --without describe a whole bundle: give them with -D (-X <set> alone adds images to the bundle already there)"
                    .into(),
            );
        }
        return Ok(previous.map(|m| m.selection.clone()).unwrap_or_default());
    }
    Selection::parse(cli.network.as_deref(), &cli.without).map_err(|e| e.to_string())
}

fn build_request(cli: &EzdownCli) -> Result<Request, String> {
    // `-X` without `-D`: only the extra sets (and --image), added to the existing bundle,
    // whose versions and selection the manifest keeps.
    let extra_only = !cli.download && !cli.extra.is_empty();
    let previous = if extra_only {
        Manifest::load(&cli.base).map_err(|e| e.to_string())?
    } else {
        None
    };
    let versions = version_table(cli, previous.as_ref())?;
    let selection = selection(cli, previous.as_ref())?;
    let arch = match &cli.arch {
        Some(a) => Arch::parse(a).map_err(|e| e.to_string())?,
        None => Arch::host(),
    };
    let everything = cli.download || cli.list_urls;
    let mut artifacts = if everything {
        catalog::binaries_for(&versions, arch, &selection).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let mut imgs = Vec::new();
    if everything && !cli.no_images {
        imgs.extend(images::images_for(&versions, &selection).map_err(|e| e.to_string())?);
    }
    for set in &cli.extra {
        if set == "conformance" {
            let (e2e, _) = match &cli.e2e_images {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .map_err(|e| format!("--e2e-images {}: {e}", f.display()))?;
                    conformance::e2e_images(
                        &versions.kubernetes,
                        Some((&text, &f.display().to_string())),
                    )
                }
                None => conformance::e2e_images(&versions.kubernetes, None),
            };
            imgs.extend(images::conformance_images(&versions.kubernetes, &e2e));
        } else if set == "sonobuoy" {
            // For `ezctl conformance run --runner sonobuoy` on an offline deploy host; apart
            // from `conformance`, whose native runner needs no binary (a Sonobuoy release that
            // cannot be fetched must not keep the suite's images out of the bundle).
            artifacts.push(catalog::sonobuoy(arch));
        } else {
            imgs.extend(images::extra_set(set, &versions).map_err(|e| e.to_string())?);
        }
    }
    imgs.extend(cli.image.iter().cloned());
    if let Some(bad) = cli
        .registry_mirror
        .iter()
        .find(|m| ez_bundle::oci::pull::parse_mirror(m).is_none())
    {
        return Err(format!(
            "--registry-mirror '{bad}': expected MIRROR (for docker.io) or REGISTRY=MIRROR, e.g. registry.k8s.io=harbor.lan/k8s-proxy"
        ));
    }
    for i in &imgs {
        ez_bundle::oci::ImageRef::parse(i).map_err(|e| e.to_string())?;
    }
    let mut table = ChecksumTable::builtin().map_err(|e| e.to_string())?;
    if let Some(f) = &cli.checksums {
        table.merge(ChecksumTable::load(f).map_err(|e| e.to_string())?);
    }
    let mut extra_files = Vec::new();
    for spec in &cli.extra_file {
        let (dest, src) = spec.split_once('=').ok_or_else(|| {
            format!("--extra-file '{spec}': expected DEST=SRC, e.g. bin/nginx=/usr/sbin/nginx")
        })?;
        extra_files.push((dest.to_string(), PathBuf::from(src)));
    }
    Ok(Request {
        versions,
        arch,
        artifacts,
        images: imgs,
        extra_files,
        table,
        selection,
    })
}

async fn do_download(cli: &EzdownCli, req: Request) -> anyhow::Result<u8> {
    let mode = progress::Mode::pick(cli.json);
    let total = (req.artifacts.len() + req.images.len() + req.extra_files.len()) as u64;
    let events = progress::sink(mode, total);
    let sources = Sources {
        binary_mirrors: cli.binary_mirror.clone(),
        registry_mirrors: cli.registry_mirror.clone(),
        mirror_only: cli.mirror_only,
    }
    .with_mirror_mode(&cli.mirror);
    let fetch = FetchConfig {
        retries: cli.retries,
        read_timeout: Duration::from_secs(cli.timeout.max(1)),
        ca_certs: cli.ca_cert.clone(),
        ..FetchConfig::default()
    };
    let mut session = Session::new(&cli.base, fetch, sources, events, cli.jobs)?;
    if let Some(missing) = cli.registry_auth.iter().find(|f| !f.is_file()) {
        return Refusal::new(2, format!("--registry-auth {}: no such file (it is written by `docker login` as ~/.docker/config.json)", missing.display())).into_result();
    }
    if !cli.registry_auth.is_empty() {
        session.registry_auth = cli.registry_auth.clone();
    }
    let mut req = req;
    let second = conformance::list_from_saved_image(cli, &req);
    let mut code = download_once(cli, &session, &req, second.is_none()).await?;
    if code == 0
        && let Some(version) = second
    {
        // The version has no embedded list: ask the conformance image just saved.
        let tar = crate::cmd::conformance::e2e_list::bundled_image(&cli.base, &version);
        let text = match crate::cmd::conformance::e2e_list::list_from_image(&tar) {
            Ok(t) => t,
            Err(e) => {
                return Refusal::new(1, format!("-X conformance: {e:#}\nezdown: the e2e test images are not in the bundle; give their list with --e2e-images FILE (`e2e.test --list-images` output) and run the same command again")).into_result();
            }
        };
        let (more, _) =
            conformance::e2e_images(&version, Some((&text, "the conformance image's e2e.test")));
        let before = req.images.len();
        for i in more {
            if !req.images.contains(&i) {
                req.images.push(i);
            }
        }
        eprintln!(
            "ezdown: -X conformance: {} e2e test images listed by the e2e.test of {}; fetching them",
            req.images.len() - before,
            tar.display()
        );
        code = download_once(cli, &session, &req, true).await?;
    }
    Ok(code)
}

/// One download pass over `req`: 0 when complete (said when `last`), 1 with each failure
/// printed, 130 on Ctrl-C.
async fn download_once(
    cli: &EzdownCli,
    session: &Session,
    req: &Request,
    last: bool,
) -> anyhow::Result<u8> {
    let work = bundle::download(session, req);
    let report = tokio::select! {
        r = work => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("ezdown: interrupted; partial downloads are kept under {}/.ezdown and the next `ezdown -D` resumes them", cli.base.display());
            return Ok(130);
        }
    };
    match report {
        Ok(r) if r.failures.is_empty() => {
            if last && !cli.json {
                eprintln!(
                    "ezdown: bundle complete in {} ({} files); next: `ezctl new <cluster>`",
                    cli.base.display(),
                    r.manifest.files.len()
                );
            }
            Ok(0)
        }
        Ok(r) => {
            if let Some(t) = session.events.breaker().tripped() {
                return Refusal::new(1, t.message().to_string()).into_result();
            }
            eprint!("{}", failure_summary(&r.failures));
            eprintln!(
                "ezdown: what is done is kept; fix the cause (or add --binary-mirror / -m) and run the same command again"
            );
            Ok(1)
        }
        Err(e) => {
            eprintln!("ezdown: {e}");
            Ok(1)
        }
    }
}

/// The failed items grouped by root cause, largest group first: per cause its items and one
/// item's whole error as an example (`--json` carries every item's whole error).
fn failure_summary(failures: &[(String, ez_bundle::BundleError)]) -> String {
    let mut groups: Vec<(String, Vec<&str>, String)> = Vec::new();
    for (name, e) in failures {
        let cause = e.cause();
        match groups.iter_mut().find(|(c, _, _)| *c == cause) {
            Some((_, names, _)) => names.push(name),
            None => groups.push((cause, vec![name], e.to_string())),
        }
    }
    groups.sort_by_key(|(_, names, _)| std::cmp::Reverse(names.len()));
    let mut out = format!(
        "ezdown: {} item(s) failed, {} cause(s):\n",
        failures.len(),
        groups.len()
    );
    for (cause, names, first) in &groups {
        out.push_str(&format!(
            "  {cause}: {} item(s): {}\n    e.g. {}: {first}\n",
            names.len(),
            names.join(", "),
            names[0]
        ));
    }
    out
}

#[cfg(test)]
mod tests;
