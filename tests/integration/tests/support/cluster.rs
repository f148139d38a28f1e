//! Building a kubeasz base directory for tests: a bundle of real Debian binaries (etcd,
//! containerd, runc, CNI plugins) in kubeasz's layout, and a cluster folder whose hosts are
//! test-bed hosts.

#![allow(dead_code)]

use ez_testbed::{Host, Testbed};
use std::path::{Path, PathBuf};

/// Real binaries from Debian packages, by bundle path → machine path.
const BUNDLE_FILES: &[(&str, &str)] = &[
    ("bin/etcd", "/usr/bin/etcd"),
    ("bin/etcdctl", "/usr/bin/etcdctl"),
    ("bin/containerd-bin/containerd", "/usr/bin/containerd"),
    (
        "bin/containerd-bin/containerd-shim-runc-v2",
        "/usr/bin/containerd-shim-runc-v2",
    ),
    ("bin/containerd-bin/ctr", "/usr/bin/ctr"),
    ("bin/containerd-bin/runc", "/usr/sbin/runc"),
];

const CNI_PLUGINS: &[&str] = &["bridge", "host-local", "loopback", "portmap"];

/// A test bundle under `base`. Panics in CI when a Debian package is missing (`.ci/run`
/// installs them); elsewhere returns None with a loud message.
pub fn make_bundle(base: &Path) -> Option<()> {
    let mut missing = Vec::new();
    for (to, from) in BUNDLE_FILES {
        let dest = base.join(to);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if std::fs::copy(from, &dest).is_err() {
            missing.push(*from);
        }
    }
    std::fs::create_dir_all(base.join("bin/cni-bin")).unwrap();
    for p in CNI_PLUGINS {
        if std::fs::copy(
            Path::new("/usr/lib/cni").join(p),
            base.join("bin/cni-bin").join(p),
        )
        .is_err()
        {
            missing.push("containernetworking-plugins");
        }
    }
    std::fs::create_dir_all(base.join("down")).unwrap();
    if missing.is_empty() {
        return Some(());
    }
    let why = format!(
        "test bundle: missing {missing:?} (apt-get install etcd-server etcd-client containerd runc containernetworking-plugins)"
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Writes `clusters/<name>/{hosts,config.yml,known_hosts}` with `etcd` and `masters` and
/// `nodes` as test-bed hosts, connecting as root with the bed's key.
pub fn make_cluster(
    base: &Path,
    name: &str,
    etcd: &[&Host],
    masters: &[&Host],
    nodes: &[&Host],
) -> PathBuf {
    let tb = Testbed::new();
    let dir = base.join("clusters").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let line = |h: &&Host| h.ip.to_string();
    let hosts = format!(
        "[etcd]\n{}\n\n[kube_master]\n{}\n\n[kube_node]\n{}\n\n[harbor]\n\n[ex_lb]\n\n[chrony]\n\n[all:vars]\n\
SECURE_PORT=\"6443\"\nCONTAINER_RUNTIME=\"containerd\"\nCLUSTER_NETWORK=\"calico\"\nPROXY_MODE=\"iptables\"\n\
SERVICE_CIDR=\"10.68.0.0/16\"\nCLUSTER_CIDR=\"172.20.0.0/16\"\nNODE_PORT_RANGE=\"30000-32767\"\nCLUSTER_DNS_DOMAIN=\"cluster.local\"\n\
bin_dir=\"/opt/kube/bin\"\nbase_dir=\"{}\"\ncluster_dir=\"{{{{ base_dir }}}}/clusters/{name}\"\nca_dir=\"/etc/kubernetes/ssl\"\nk8s_nodename=''\n\
ansible_ssh_private_key_file=\"{}\"\n",
        etcd.iter().map(line).collect::<Vec<_>>().join("\n"),
        masters.iter().map(line).collect::<Vec<_>>().join("\n"),
        nodes.iter().map(line).collect::<Vec<_>>().join("\n"),
        base.display(),
        tb.client_key().display(),
    );
    std::fs::write(dir.join("hosts"), hosts).unwrap();
    let new =
        ez_inventory::templates::render_new(name, &ez_inventory::VersionTable::default(), false)
            .unwrap();
    std::fs::write(dir.join("config.yml"), new.config).unwrap();
    std::fs::copy(tb.known_hosts(), dir.join("known_hosts")).unwrap();
    dir
}

/// A context as `ezctl --base <base> --yes` would build it.
pub fn ctx(base: &Path) -> ez_cli::ctx::Ctx {
    ez_cli::ctx::Ctx {
        base: base.to_path_buf(),
        forks: 30,
        accept_new_host_keys: false,
        json: false,
        yes: true,
        // The test bed's machine has cgroup v1 and no loadable kernel modules; the real
        // checks are unit-tested and exercised by tests/integration/tests/preflight.rs.
        // The test bed's machine also keeps CAP_SYS_RESOURCE out of reach (oom-score): the
        // kubelet double never asks for a negative oom_score_adj; tests/real/run meets the
        // check for real and sets CONTAINERD_RESTRICT_OOM_SCORE_ADJ as it says.
        skip_preflight: vec!["cgroup-v2".into(), "modules".into(), "oom-score".into()],
        // Hermetic: the machine's own ~/.ssh/config never applies to the test bed.
        ssh_config: None,
        // Hermetic: the machine's ~/.kube/config and ~/.bashrc are left alone.
        home: None,
        // Sessions print as ezctl's would (plain lines: the tests' output is no terminal).
        reporter: ez_ops::report::Reporter::new(std::sync::Arc::new(
            ez_cli::cmd::setup_display::Display::new(false),
        )),
    }
}

/// Shell lines that build `work/layout:latest`: an OCI image holding busybox-static with the
/// applets `sh echo cat hostname sleep true`, configured with `config` (extra `umoci config`
/// arguments such as the command).
pub fn busybox_layout_script(work: &Path, config: &str) -> String {
    format!(
        r#"set -e
rm -rf {w}; mkdir -p {w}; cd {w}
umoci init --layout layout
umoci new --image layout:latest
umoci unpack --rootless --image layout:latest bundle
mkdir -p bundle/rootfs/bin
cp /bin/busybox bundle/rootfs/bin/busybox
for a in sh echo cat hostname sleep true; do ln -s busybox bundle/rootfs/bin/$a; done
umoci repack --image layout:latest bundle
umoci config --image layout:latest {config} --config.env PATH=/bin --os linux --architecture amd64
"#,
        w = work.display(),
    )
}

/// Runs a bash script; its stderr when it fails.
pub fn run_script(script: &str) -> Result<(), String> {
    match std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A test prerequisite that cannot be had: a panic in CI (`.ci/run` installs it), elsewhere a
/// loud SKIPPED and None.
pub fn unavailable<T>(why: String) -> Option<T> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Small real images under the names of the bundle's default set (crates/bundle
/// `default_images`: calico cni/node/kube-controllers, coredns, k8s-dns-node-cache,
/// metrics-server, pause), saved as ezdown lays them out (`down/<last>_<tag>.tar`,
/// docker-archive named `calico/cni:v3.32.1`, …). Each is the same busybox-static image whose
/// command prints one line and exits. Returns the names, or None (skip loudly; panic in CI).
pub fn make_bundle_images(base: &Path) -> Option<Vec<String>> {
    let images = ez_bundle::images::default_images(&ez_inventory::VersionTable::default());
    let work = base.join("image-build");
    let mut script = busybox_layout_script(
        &work,
        "--config.cmd /bin/sh --config.cmd -c --config.cmd 'echo started from a bundle image on $(hostname)'",
    );
    for i in &images {
        let (repo, tag) = i.rsplit_once(':').unwrap();
        let last = repo.rsplit('/').next().unwrap();
        script.push_str(&format!(
            "skopeo copy --quiet oci:layout:latest docker-archive:{down}/{last}_{tag}.tar:{i}\n",
            down = base.join("down").display(),
        ));
    }
    match run_script(&script) {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&work);
            Some(images)
        }
        Err(why) => unavailable(format!(
            "bundle images: umoci/skopeo/busybox-static failed: {why}"
        )),
    }
}

/// Copies the named playbooks and roles of the repository into `base/playbooks`.
pub fn copy_playbooks(base: &Path, playbooks: &[&str], roles: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../playbooks");
    let dst = base.join("playbooks");
    std::fs::create_dir_all(dst.join("roles")).unwrap();
    for p in playbooks {
        std::fs::copy(src.join(p), dst.join(p)).unwrap();
    }
    for r in roles {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(src.join("roles").join(r))
            .arg(dst.join("roles"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    dst
}

/// Fresh test-bed hosts with a test bundle and a cluster on them.
pub struct Fixture {
    pub hosts: Vec<Host>,
    pub tmp: tempfile::TempDir,
    pub ctx: ez_cli::ctx::Ctx,
}

impl Fixture {
    pub fn base(&self) -> &Path {
        self.tmp.path()
    }
}

/// Hosts `indices` brought up fresh (their overlays dropped first), a bundle, cluster `name`
/// with the first `etcd_n` hosts in etcd, the first host as master and the others as nodes,
/// and only `playbooks`/`roles` visible to ezctl (EZ_PLAYBOOKS: one such test per binary).
/// None when the test bed or the Debian packages are missing outside CI.
pub fn fixture(
    indices: &[u32],
    name: &str,
    etcd_n: usize,
    playbooks: &[&str],
    roles: &[&str],
) -> Option<Fixture> {
    let _ = Testbed::new().down(indices);
    let hosts = Testbed::require(indices, ez_testbed::Mode::Systemd)?;
    let tmp = tempfile::tempdir().unwrap();
    make_bundle(tmp.path())?;
    let all: Vec<&Host> = hosts.iter().collect();
    make_cluster(tmp.path(), name, &all[..etcd_n], &all[..1], &all[1..]);
    let pb = copy_playbooks(tmp.path(), playbooks, roles);
    // SAFETY of the env change: each test binary using a fixture has a single test.
    unsafe { std::env::set_var("EZ_PLAYBOOKS", &pb) };
    let ctx = ctx(tmp.path());
    Some(Fixture { hosts, tmp, ctx })
}
