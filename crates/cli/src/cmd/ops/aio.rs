//! `start-aio`'s choices against the bundle: the network plugin (`--network`, calico unless
//! told otherwise, as kubeasz) must have its images in the bundle, and what the bundle was made
//! without (`ezdown --without nodelocaldns`, `metrics-server`) is turned off in config.yml
//! unless `-e` says otherwise. `-e KEY=VALUE` sets config.yml keys (replacing the example's
//! line where the key is there, e.g. `ENABLE_LOCAL_DNS_CACHE=false`).

use anyhow::bail;
use ez_bundle::manifest::{Kind, Manifest};
use ez_bundle::oci::ImageRef;
use ez_bundle::selection::{Network, Part};
use ez_inventory::templates::set_config_value;

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
    use ez_bundle::checksum::Sha256;
    use ez_bundle::manifest::FileEntry;
    use ez_bundle::selection::Selection;
    use ez_inventory::VersionTable;

    fn manifest(sel: Selection) -> Manifest {
        let v = VersionTable::default();
        let mut m = Manifest::new("amd64", v.clone());
        for (n, i) in ez_bundle::images::images_for(&v, &sel)
            .expect("images")
            .iter()
            .enumerate()
        {
            m.files.push(FileEntry {
                path: format!("down/{n}.tar"),
                size: 0,
                sha256: Sha256::of(b"").hex(),
                kind: Kind::Image,
                artifact: ImageRef::parse(i).expect("ref").full_name(),
                version: "v".into(),
                source: "x".into(),
                from: None,
            });
        }
        m.selection = sel;
        m
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
