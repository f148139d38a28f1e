//! `ezctl upgrade <c>` (kubeasz 93.upgrade.yml), as phases: the Kubernetes binaries of the
//! bundle (`<base>/bin`) rolled out one host at a time, masters first, each host's services
//! restarted and healthy before the next one.
//!
//! Invariant: refused, with nothing changed, when the first master already runs the
//! bundle's kube-apiserver version (kubeasz's `UPDATE ABORT`).

use crate::ctx::Ctx;
use crate::deploy;
use crate::deploy::bundle_check;
use crate::phase::Manager;
use crate::refusal::Refusal;
use crate::session::{self, Session, Step, first_failure, var};
use anyhow::Context;
use ez_bundle::manifest::Manifest;
use ez_inventory::{BundleLayout, Cluster};
use ez_play::state::ClusterLock;
use std::path::Path;
use std::time::Duration;

/// `kube-apiserver --version` of the bundle on the deploy host.
fn bundle_version(base: &std::path::Path) -> anyhow::Result<String> {
    let bin = BundleLayout::new(base).bin_file("kube-apiserver");
    let out = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || v.is_empty() {
        anyhow::bail!("{} --version failed", bin.display());
    }
    Ok(v)
}

/// `vX.Y.Z` of a Kubernetes program's version line (`Kubernetes v1.36.3`, `Client Version:
/// v1.36.3`).
fn release_of(version_output: &str) -> Option<&str> {
    version_output
        .split_whitespace()
        .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The release a bundle binary (`bin/kubelet`) says it is.
fn binary_release(base: &Path, path: &str) -> anyhow::Result<String> {
    let bin = base.join(path);
    let args: &[&str] = if path.ends_with("/kubectl") {
        &["version", "--client"]
    } else {
        &["--version"]
    };
    let out = std::process::Command::new(&bin)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match release_of(&text) {
        Some(v) if out.status.success() => Ok(v.to_string()),
        _ => anyhow::bail!(
            "{} {} did not say its version: {}",
            bin.display(),
            args.join(" "),
            text.trim()
        ),
    }
}

/// Refuses when a replaced Kubernetes binary is of another release than the bundle's
/// kube-apiserver (`new_version`): a half-replaced `bin/` would roll out a mix.
fn same_release(base: &Path, replaced: &[String], new_version: &str) -> anyhow::Result<()> {
    let want = release_of(new_version).unwrap_or(new_version);
    let mut other = Vec::new();
    for p in replaced {
        let v = binary_release(base, p)?;
        if v != want {
            other.push(format!("{p} is {v}"));
        }
    }
    if other.is_empty() {
        return Ok(());
    }
    Refusal::new(
        1,
        format!(
            "the Kubernetes binaries in {} are of different releases: kube-apiserver is {want}, {}",
            BundleLayout::new(base).bin().display(),
            other.join(", ")
        ),
    )
    .hint(format!(
        "put every binary of the {want} release there (or `./ezdown -D -k {want} --base {}`), then run this command again",
        base.display()
    ))
    .into_result()
}

/// Records the Kubernetes binaries put into `bin/` by hand in the manifest (hashed now, at
/// the release they say), so that later commands find a bundle matching its manifest.
fn record_replaced(base: &Path, replaced: &[String], new_version: &str) -> anyhow::Result<()> {
    let Some(mut m) = Manifest::load(base)? else {
        return Ok(());
    };
    let release = release_of(new_version).unwrap_or(new_version).to_string();
    for p in replaced {
        m.adopt(
            base,
            p,
            &release,
            "placed in bin/ by hand, recorded by `ezctl upgrade`",
        )?;
    }
    // the bundle is now of that release when all its Kubernetes binaries are
    let by_path = m.by_path();
    let all_new = ez_bundle::catalog::KUBERNETES_BINARIES.iter().all(|n| {
        by_path
            .get(format!("bin/{n}").as_str())
            .is_none_or(|e| e.version == release)
    });
    if all_new {
        m.versions.kubernetes = release;
    }
    m.write(base)?;
    Ok(())
}

/// What an upgrade did: the release now running, and the bundle files it recorded in the
/// manifest (Kubernetes binaries put in `bin/` by hand; empty after `ezdown -D -k`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgraded {
    pub version: String,
    pub recorded: Vec<String>,
}

/// `upgrade <c>`: `confirm` is the CLI's abort window, `starting(from, to)` is told the
/// versions once the rollout is about to begin.
pub async fn upgrade(
    ctx: &Ctx,
    name: &str,
    confirm: impl AsyncFnOnce(&Cluster) -> anyhow::Result<()>,
    starting: impl FnOnce(&str, &str),
) -> anyhow::Result<Upgraded> {
    let dir = ctx.cluster_dir(name);
    let mut m = Manager::new(format!("upgrade {name}"), ctx.reporter.clone());

    let cluster = m
        .run("load the cluster", async {
            deploy::load_cluster(&dir, name)
        })
        .await?;
    // the new control plane (04) and node binaries (05) come from the bundle; Kubernetes
    // binaries that differ from the manifest were put there by hand (kubeasz's way)
    let replaced = m
        .run("check the bundle for steps 04 and 05", async {
            let (changed, replaced) =
                bundle_check::check_integrity_for_upgrade(&ctx.base, &ctx.skip_preflight);
            let stems = ["04".to_string(), "05".to_string()];
            let findings: Vec<_> =
                bundle_check::check_binaries(&ctx.base, &stems, &ctx.skip_preflight)
                    .into_iter()
                    .chain(changed)
                    .collect();
            match bundle_check::print_refusals(&findings) {
                true => Refusal::already_said(1).into_result(),
                false => Ok(replaced),
            }
        })
        .await?;
    let new_version = m
        .run("the bundle's version", async { bundle_version(&ctx.base) })
        .await?;
    if !replaced.is_empty() {
        m.run("the replaced binaries are all of that version", async {
            same_release(&ctx.base, &replaced, &new_version)
        })
        .await?;
    }
    m.run("confirm", confirm(&cluster)).await?;
    let _lock = m
        .run("lock the cluster", async {
            ClusterLock::acquire(&dir, name, &format!("ezctl upgrade {name}"))
        })
        .await?;
    if !replaced.is_empty() {
        m.run(
            &format!("record {} in the manifest", replaced.join(", ")),
            async { record_replaced(&ctx.base, &replaced, &new_version) },
        )
        .await?;
    }
    let hosts: Vec<String> = cluster.k8s_hosts().iter().map(|h| h.name.clone()).collect();
    let session = m
        .run(
            "connect to every master and node",
            session::open_or_refuse(ctx, &cluster, &hosts, false, None),
        )
        .await?;
    let rollout = async {
        let running = m
            .run("compare with the version the first master runs", async {
                running_differs(ctx, &cluster, &session, &new_version).await
            })
            .await?;
        starting(&running, &new_version);
        for h in masters_first(&cluster, &hosts) {
            m.run(&format!("upgrade {h} (93.upgrade)"), async {
                let step = Step::new("93.upgrade", &["upgrade_k8s"], std::slice::from_ref(&h));
                match first_failure(&[session.run(&step.fresh()).await?]) {
                    Some((host, msg)) => Refusal::new(1, msg)
                        .hint(format!(
                            "the upgrade stopped at {host} (hosts before it are upgraded, the others not yet); fix the cause and run `ezctl upgrade {name}` again"
                        ))
                        .into_result(),
                    None => Ok(()),
                }
            })
            .await?;
        }
        anyhow::Ok(())
    };
    let done = rollout.await;
    session.close().await;
    done.map(|()| Upgraded {
        version: new_version,
        recorded: replaced,
    })
}

/// The version the first master runs, refused when it is the bundle's already.
async fn running_differs(
    ctx: &Ctx,
    cluster: &Cluster,
    session: &Session,
    new_version: &str,
) -> anyhow::Result<String> {
    let first = cluster.first_master().name.clone();
    let bin = var(cluster, "bin_dir", "/opt/kube/bin");
    let running = match session.remotes.get(&first) {
        Some(r) => r
            .run(
                &format!("{bin}/kube-apiserver --version"),
                Duration::from_secs(30),
            )
            .await
            .map(|o| o.stdout.trim().to_string())
            .unwrap_or_default(),
        None => String::new(),
    };
    if running == new_version {
        let why = format!(
            "running version is the same as the update version, UPDATE ABORT. ({first} runs `{running}`, the bundle in {} has the same; put the new binaries there first)",
            BundleLayout::new(&ctx.base).bin().display()
        );
        return Refusal::new(1, why).into_result();
    }
    Ok(running)
}

/// The masters, then the other hosts, each once.
fn masters_first(cluster: &Cluster, hosts: &[String]) -> Vec<String> {
    let mut order: Vec<String> = cluster
        .kube_master()
        .iter()
        .map(|h| h.name.clone())
        .collect();
    for h in hosts {
        if !order.contains(h) {
            order.push(h.clone());
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use ez_bundle::manifest::{FileEntry, Kind};
    use ez_inventory::VersionTable;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_release_is_read_from_either_version_line() {
        assert_eq!(release_of("Kubernetes v1.36.3\n"), Some("v1.36.3"));
        assert_eq!(
            release_of("Client Version: v1.36.2\nKustomize Version: v5.7.1"),
            Some("v1.36.2")
        );
        assert_eq!(release_of("version unknown"), None);
    }

    /// A bundle whose `bin/<name>` are scripts printing `Kubernetes <release>` (kubectl: the
    /// client line), each listed in the manifest at v1.36.2.
    fn bundle(bins: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(d.path().join("bin")).expect("bin");
        let mut m = Manifest::new("amd64", VersionTable::default());
        m.versions.kubernetes = "v1.36.2".into();
        for (name, release) in bins {
            let p = d.path().join("bin").join(name);
            let line = match *name {
                "kubectl" => format!("Client Version: {release}"),
                _ => format!("Kubernetes {release}"),
            };
            std::fs::write(&p, format!("#!/bin/sh\necho '{line}'\n")).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            m.files.push(FileEntry {
                path: format!("bin/{name}"),
                size: 1,
                sha256: ez_bundle::checksum::Sha256::of(b"").hex(),
                kind: Kind::Binary,
                artifact: name.to_string(),
                version: "v1.36.2".into(),
                source: "https://dl.k8s.io/x".into(),
                from: None,
            });
        }
        m.write(d.path()).expect("manifest");
        d
    }

    #[test]
    fn binaries_put_in_by_hand_are_checked_and_recorded_at_their_release() {
        let d = bundle(&[("kube-apiserver", "v1.36.3"), ("kubectl", "v1.36.3")]);
        let replaced = vec!["bin/kube-apiserver".to_string(), "bin/kubectl".to_string()];
        same_release(d.path(), &replaced, "Kubernetes v1.36.3").expect("same release");
        record_replaced(d.path(), &replaced, "Kubernetes v1.36.3").expect("recorded");
        let m = Manifest::load(d.path()).expect("load").expect("manifest");
        for e in &m.files {
            let len = std::fs::metadata(d.path().join(&e.path))
                .expect("meta")
                .len();
            assert_eq!((e.size, e.version.as_str()), (len, "v1.36.3"), "{e:?}");
            assert!(e.source.contains("by hand"), "{e:?}");
        }
        // every Kubernetes binary the manifest lists is v1.36.3 now
        assert_eq!(m.versions.kubernetes, "v1.36.3");
        assert!(bundle_check::check_integrity(d.path(), &[]).is_none());
    }

    #[test]
    fn a_mix_of_releases_is_refused_and_a_partial_replacement_keeps_the_bundle_release() {
        let d = bundle(&[("kube-apiserver", "v1.36.3"), ("kubelet", "v1.36.1")]);
        let both = vec!["bin/kube-apiserver".to_string(), "bin/kubelet".to_string()];
        let e = same_release(d.path(), &both, "Kubernetes v1.36.3").expect_err("a mix");
        let r = e.downcast_ref::<Refusal>().expect("a refusal").to_string();
        assert!(r.contains("bin/kubelet is v1.36.1"), "{r}");
        // only the apiserver replaced: recorded, the bundle's release left as it was
        let one = vec!["bin/kube-apiserver".to_string()];
        record_replaced(d.path(), &one, "Kubernetes v1.36.3").expect("recorded");
        let m = Manifest::load(d.path()).expect("load").expect("manifest");
        assert_eq!(m.versions.kubernetes, "v1.36.2");
    }
}
