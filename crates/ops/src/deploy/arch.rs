//! Each host's architecture picks its bundle (`ezdown -D --arch amd64,arm64`): the host var
//! `bundle_arch_dir` is empty for the bundle's own architecture and `arch/<arch>/` for another
//! one the bundle holds; the roles copy from `{{ base_dir }}/{{ bundle_arch_dir }}bin/…` and
//! `…down/…`.
//!
//! Invariant: a single-architecture bundle costs nothing (no host is asked) and sets no host
//! var (the cluster-wide empty default applies).

use ez_bundle::arches;
use ez_bundle::catalog::Arch;
use ez_bundle::manifest::Manifest;
use ez_play::{Inventory, Remote};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The folder (relative to the base) of the bundle for a host whose `uname -m` is `uname`.
pub fn dir_for(own: Arch, others: &[Arch], uname: &str) -> Result<String, String> {
    let want = Arch::parse(uname.trim()).map_err(|e| e.to_string())?;
    if want == own {
        return Ok(String::new());
    }
    if others.contains(&want) {
        return Ok(format!("{}/{}/", arches::DIR, want.as_str()));
    }
    let mut have: Vec<&str> = vec![own.as_str()];
    have.extend(others.iter().map(|a| a.as_str()));
    Err(format!(
        "the host is {} but the bundle holds only {}: run `./ezdown -D --arch {},{}` (every architecture of the cluster, the bundle's own first)",
        want.as_str(),
        have.join(", "),
        have.join(","),
        want.as_str()
    ))
}

/// `bundle_arch_dir` of each host, asking the hosts only when the bundle holds several
/// architectures. An error names every host whose architecture the bundle lacks.
pub async fn arch_dirs(
    base: &Path,
    remotes: &BTreeMap<String, Arc<dyn Remote>>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let others = arches::extra(base);
    if others.is_empty() {
        return Ok(BTreeMap::new());
    }
    let own = match Manifest::load(base) {
        Ok(Some(m)) => Arch::parse(&m.arch)?,
        _ => Arch::host(),
    };
    let asked = futures::future::join_all(remotes.iter().map(|(name, r)| async move {
        let out = r.run("uname -m", Duration::from_secs(20)).await;
        (name.clone(), out)
    }))
    .await;
    let mut dirs = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, out) in asked {
        let uname = match out {
            Ok(o) if o.ok() => o.stdout,
            Ok(o) => {
                problems.push(format!("{name}: `uname -m` failed: {}", o.stderr.trim()));
                continue;
            }
            Err(e) => {
                problems.push(format!("{name}: `uname -m`: {e}"));
                continue;
            }
        };
        match dir_for(own, &others, &uname) {
            Ok(d) => {
                dirs.insert(name, d);
            }
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if !problems.is_empty() {
        anyhow::bail!(
            "the bundle has no binaries for some hosts' architecture; nothing was changed:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(dirs)
}

/// Sets each host's `bundle_arch_dir` in the engine's inventory.
///
/// Returns the hosts of another architecture than the deploy host's (a non-empty folder):
/// they cannot run its relay agent.
pub fn apply(inv: &mut Inventory, dirs: BTreeMap<String, String>) -> Vec<String> {
    let mut foreign = Vec::new();
    for (host, dir) in dirs {
        if !dir.is_empty() {
            foreign.push(host.clone());
        }
        inv.host_vars
            .entry(host)
            .or_default()
            .insert("bundle_arch_dir".into(), serde_json::Value::String(dir));
    }
    foreign
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_gets_its_architectures_bundle() {
        let others = [Arch::Arm64];
        assert_eq!(dir_for(Arch::Amd64, &others, "x86_64\n").unwrap(), "");
        assert_eq!(
            dir_for(Arch::Amd64, &others, "aarch64").unwrap(),
            "arch/arm64/"
        );
        let e = dir_for(Arch::Amd64, &[], "aarch64").unwrap_err();
        assert!(e.contains("holds only amd64"), "{e}");
        assert!(e.contains("./ezdown -D --arch amd64,arm64"), "{e}");
        assert!(dir_for(Arch::Amd64, &others, "riscv64").is_err());
    }

    #[test]
    fn host_vars_are_set_for_the_engine() {
        let mut inv = Inventory::default();
        apply(
            &mut inv,
            [("n1".to_string(), "arch/arm64/".to_string())].into(),
        );
        let ctx = inv.context_for("n1").into_json();
        assert_eq!(ctx["bundle_arch_dir"], "arch/arm64/");
    }
}
