//! `ezctl start-aio`: an all-in-one cluster `default` on this host (or on `--ip`), as phases:
//! the bundle checked, the deploy key, the cluster folder from hosts.allinone (iptables forced;
//! calico unless `--network flannel`, whose images the bundle must hold), then `setup default
//! all`.
//!
//! The choices against the bundle: what the bundle was made without (`ezdown --without
//! nodelocaldns`, `metrics-server`) is turned off in config.yml unless `-e` says otherwise;
//! `-e KEY=VALUE` sets config.yml keys (replacing the example's line where the key is there,
//! e.g. `ENABLE_LOCAL_DNS_CACHE=false`).
//!
//! Invariant: a missing or changed bundle, or an existing cluster folder, is refused before
//! any key, folder or host is touched.

use crate::ctx::Ctx;
use crate::deploy::bundle_check;
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::{keys, new_cluster, setup};
use anyhow::{Context, bail};
use ez_bundle::manifest::{Kind, Manifest};
use ez_bundle::oci::ImageRef;
use ez_bundle::selection::{Network, Part};
use ez_inventory::templates::{self, AioWishes, set_config_value};
use ez_play::Summary;
use std::net::IpAddr;
use std::path::PathBuf;

/// `start-aio`'s options (the CLI's flags).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The host to install on (`None`: this host's address on the default route).
    pub ip: Option<IpAddr>,
    /// Private key to log in with (`None`: ~/.ssh/id_rsa, created when missing).
    pub ssh_key: Option<PathBuf>,
    /// `-e KEY=VALUE` config.yml values.
    pub extra: Vec<String>,
    /// The pod network (`None`: calico, as kubeasz forces).
    pub network: Option<String>,
}

/// What start-aio tells as it goes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The host chosen (kubeasz: `get local host ipadd`).
    Ip(IpAddr),
    /// A setting made to follow the bundle or `-e`.
    Note(String),
    /// The cluster folder was written.
    Created(PathBuf),
}

/// The cluster start-aio makes.
pub const CLUSTER: &str = "default";

/// `start-aio`: see the module. `notice` is told what happens as it happens, `confirm` is
/// the abort window of `setup default all`; returns setup's summaries.
pub async fn start_aio(
    ctx: &Ctx,
    o: &Options,
    notice: impl Fn(Notice),
    confirm: impl AsyncFnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Summary>> {
    let name = CLUSTER;
    let mut m = Manager::new("start-aio", ctx.reporter.clone());
    let ip = m
        .run("the host", async {
            match o.ip {
                Some(ip) => Ok(ip),
                None => default_route_ip(),
            }
        })
        .await?;
    notice(Notice::Ip(ip));
    m.run("check the bundle for steps 02 to 05", async {
        let stems = ["02", "03", "04", "05"];
        match bundle_check::refuse_inputs(&ctx.base, &stems, &ctx.skip_preflight) {
            true => Refusal::already_said(1).into_result(),
            false => Ok(()),
        }
    })
    .await?;
    let key = o.ssh_key.clone().unwrap_or_else(keys::default_key);
    m.run("the deploy key", async {
        keys::ensure_key(&key)?;
        if is_local(ip) {
            keys::authorize_locally(&key)?;
        }
        anyhow::Ok(())
    })
    .await?;
    let dir = ctx.cluster_dir(name);
    m.run("the cluster folder is new", async {
        if dir.exists() {
            return Refusal::new(1, new_cluster::already_existed(name, &dir))
                .hint(format!(
                    "(or continue the existing one with `ezctl setup {name} all`)"
                ))
                .into_result();
        }
        Ok(())
    })
    .await?;
    m.run("write hosts and config.yml", async {
        let table = new_cluster::version_table(&ctx.base, None)?;
        let manifest = Manifest::load(&ctx.base).map_err(|e| anyhow::anyhow!("{e}"))?;
        let network = o
            .network
            .clone()
            .unwrap_or_else(|| templates::AIO_CLUSTER_NETWORK.to_string());
        check_network(&network, manifest.as_ref())?;
        let new = templates::render_new(name, &table, false)?;
        let wishes = AioWishes {
            cluster_network: Some(network),
            proxy_mode: None,
        };
        let (mut hosts, mut notes) = templates::render_allinone(name, ip, &wishes)?;
        let (config, more) = config(new.config, manifest.as_ref(), &o.extra)?;
        notes.extend(more);
        for n in notes {
            notice(Notice::Note(n));
        }
        if o.ssh_key.is_some() || key != keys::default_key() {
            hosts.push_str(&format!(
                "ansible_ssh_private_key_file=\"{}\"\n",
                key.display()
            ));
        }
        new_cluster::create_cluster_dir(&dir, &hosts, &config)
    })
    .await?;
    notice(Notice::Created(dir.clone()));
    // As kubeasz's keyscan: the host key of the target is recorded on first contact.
    let ctx = Ctx {
        accept_new_host_keys: true,
        ..ctx.clone()
    };
    let req = setup::Request::all(ctx.forks);
    setup::setup(&ctx, name, req, confirm).await
}

/// This host's IPv4 address on the interface of the default route (kubeasz's HOST_IP logic).
pub fn default_route_ip() -> anyhow::Result<IpAddr> {
    let out = std::process::Command::new("ip")
        .args(["-4", "route", "show", "default"])
        .output()
        .context("running `ip route`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let dev = text
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .map(str::to_string);
    let Some(dev) = dev else {
        bail!("this host has no default route; pass the address with --ip")
    };
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &dev])
        .output()
        .context("running `ip addr`")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .and_then(|a| a.parse().ok())
        .with_context(|| format!("no IPv4 address on {dev}; pass the address with --ip"))
}

/// Whether `ip` is an address of this host.
fn is_local(ip: IpAddr) -> bool {
    std::process::Command::new("ip")
        .args(["-o", "addr"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .any(|w| w.split('/').next() == Some(&ip.to_string()))
        })
        .unwrap_or(false)
}

/// Refuses a network plugin whose images the bundle does not hold (the nodes would wait for
/// pods that never start). No manifest (not an ezdown bundle): nothing to check.
pub fn check_network(network: &str, manifest: Option<&Manifest>) -> anyhow::Result<()> {
    let Some(m) = manifest else {
        return Ok(());
    };
    let n = Network::parse(network)?;
    let listed: Vec<&str> = m
        .files
        .iter()
        .filter(|f| f.kind == Kind::Image)
        .map(|f| f.artifact.as_str())
        .collect();
    let missing: Vec<String> = n
        .images(&m.versions)?
        .into_iter()
        .map(|i| ImageRef::parse(&i).map(|r| r.full_name()).unwrap_or(i))
        .filter(|i| !listed.contains(&i.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let made = m.selection.network.as_str();
    let hint = if made != network {
        format!("run `ezctl start-aio --network {made}` (the bundle's), or ")
    } else {
        String::new()
    };
    bail!(
        "the bundle ({}) lacks the images of network {network}: {}; {hint}make the bundle with `ezdown -D --network {network}`",
        m.selection.describe(),
        missing.join(", ")
    )
}

/// config.yml for the all-in-one: the parts the bundle was made without turned off (one note
/// each), then every `-e KEY=VALUE`.
pub fn config(
    mut config: String,
    manifest: Option<&Manifest>,
    extra: &[String],
) -> anyhow::Result<(String, Vec<String>)> {
    let mut given = Vec::new();
    for kv in extra {
        let Some((k, v)) = kv.split_once('=') else {
            bail!("-e {kv}: expected KEY=VALUE")
        };
        let k = k.trim();
        if k.is_empty() || k.contains([':', ' ', '#']) {
            bail!("-e {kv}: `{k}` is not a config.yml key")
        }
        given.push((k.to_string(), v.to_string()));
    }
    let mut notes = Vec::new();
    if let Some(m) = manifest {
        for (part, key, off) in [
            (Part::Nodelocaldns, "ENABLE_LOCAL_DNS_CACHE", "false"),
            (Part::MetricsServer, "metricsserver_install", "\"no\""),
        ] {
            if m.selection.has(part) || given.iter().any(|(k, _)| k == key) {
                continue;
            }
            config = set_config_value(&config, key, off);
            notes.push(format!(
                "the bundle was made without {}: {key}: {off} (give -e {key}=… to change it)",
                part.as_str()
            ));
        }
    }
    for (k, v) in &given {
        config = set_config_value(&config, k, v);
    }
    Ok((config, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ez_bundle::manifest::FileEntry;
    use ez_bundle::selection::Selection;
    use ez_inventory::VersionTable;

    fn manifest(sel: Selection) -> Manifest {
        let images = ez_bundle::images::images_for(&VersionTable::default(), &sel).expect("images");
        crate::test_support::image_manifest(&images, sel)
    }

    #[test]
    fn the_network_must_be_in_the_bundle() {
        let flannel = manifest(Selection::parse(Some("flannel"), &[]).expect("sel"));
        assert!(check_network("flannel", Some(&flannel)).is_ok());
        let e = check_network("calico", Some(&flannel))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("lacks the images of network calico: docker.io/calico/cni:v3.32.1")
                && e.contains("ezctl start-aio --network flannel"),
            "{e}"
        );
        let calico = manifest(Selection::default());
        assert!(check_network("calico", Some(&calico)).is_ok());
        let e = check_network("flannel", Some(&calico))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ezdown -D --network flannel")
                && e.contains("--network calico` (the bundle's)"),
            "{e}"
        );
        // -X flannel added to a calico bundle: flannel's images are there
        let mut both = calico.clone();
        both.files.extend(flannel.files.iter().map(|f| FileEntry {
            path: format!("{}-f", f.path),
            ..f.clone()
        }));
        assert!(check_network("flannel", Some(&both)).is_ok());
        assert!(check_network("calico", None).is_ok());
    }

    #[test]
    fn parts_left_out_are_turned_off_unless_e_says_otherwise() {
        let cfg = ez_inventory::templates::render_new("default", &VersionTable::default(), false)
            .expect("render")
            .config;
        let m = manifest(
            Selection::parse(
                Some("flannel"),
                &["nodelocaldns".into(), "metrics-server".into()],
            )
            .expect("sel"),
        );
        let (c, notes) = config(
            cfg.clone(),
            Some(&m),
            &["KUBELET_FAIL_CGROUP_V1=false".into()],
        )
        .expect("config");
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(c.contains("\nENABLE_LOCAL_DNS_CACHE: false\n"));
        assert!(c.contains("\nmetricsserver_install: \"no\"\n"));
        // config.yml has the key (default true): -e replaces it in place
        assert!(c.contains("\nKUBELET_FAIL_CGROUP_V1: false\n"));
        assert_eq!(c.matches("KUBELET_FAIL_CGROUP_V1:").count(), 1);
        assert_eq!(c.matches("ENABLE_LOCAL_DNS_CACHE:").count(), 1);
        // -e wins, and no note for it
        let (c, notes) = config(
            cfg.clone(),
            Some(&m),
            &["ENABLE_LOCAL_DNS_CACHE=true".into()],
        )
        .expect("config");
        assert_eq!(notes.len(), 1);
        assert!(c.contains("\nENABLE_LOCAL_DNS_CACHE: true\n"));
        // the config loads
        let dir = std::path::Path::new("/etc/kubeasz/clusters/default");
        let (hosts, _) = ez_inventory::templates::render_allinone(
            "default",
            "10.0.0.5".parse().expect("ip"),
            &Default::default(),
        )
        .expect("hosts");
        let (c, _) = config(
            cfg.clone(),
            Some(&m),
            &["ENABLE_LOCAL_DNS_CACHE=false".into()],
        )
        .expect("config");
        let cl = ez_inventory::load::parse_cluster(
            "default",
            dir,
            &dir.join("hosts"),
            &hosts,
            &dir.join("config.yml"),
            &c,
        )
        .unwrap_or_else(|d| panic!("{:?}", d.0));
        assert!(!cl.config.enable_local_dns_cache);
        assert_eq!(cl.config.metricsserver_install, "no");
        // a full bundle changes nothing; a bad -e is refused
        let (same, none) =
            config(cfg.clone(), Some(&manifest(Selection::default())), &[]).expect("config");
        assert!(none.is_empty() && same == cfg);
        assert!(config(cfg.clone(), None, &["NOEQUALS".into()]).is_err());
        assert!(config(cfg, None, &["A B=1".into()]).is_err());
    }
}
