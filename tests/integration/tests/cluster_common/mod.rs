//! A test bundle for steps 04/05: the Debian binaries of `support::cluster::make_bundle`
//! (etcd, containerd, runc, CNI) plus the Kubernetes server binaries as test doubles
//! (`tests/doubles/kube-doubles`, built here), Debian's nginx with its stream module as
//! kube-lb, and a real kubectl (Google Cloud SDK ships upstream kubectl binaries).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Names the doubles are installed under in the bundle.
pub const DOUBLES: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
];

fn skip(why: String) -> Option<PathBuf> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// The newest upstream kubectl on this machine (not the SDK's dispatcher).
pub fn real_kubectl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EZ_TEST_KUBECTL") {
        return Some(PathBuf::from(p));
    }
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let minor = name.strip_prefix("kubectl.1.")?.parse().ok()?;
            Some((minor, e.path()))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// Builds the doubles with the cargo running this test and returns the binary.
fn build_doubles() -> Option<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let st = Command::new(cargo)
        .args(["build", "-q", "-p", "kube-doubles"])
        .current_dir(&root)
        .status()
        .ok()?;
    if !st.success() {
        panic!("cargo build -p kube-doubles failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Some(target.join("debug/kube-double"))
}

/// `base` gets bin/{kube-apiserver,…,kubectl,nginx,nginx-modules/} on top of the Debian bundle,
/// and `down/` the bundle's images (small real images under the bundle's names).
pub fn make_k8s_bundle(base: &Path) -> Option<()> {
    super::support::cluster::make_bundle(base)?;
    super::support::cluster::make_bundle_images(base)?;
    let bin = base.join("bin");
    let double = build_doubles()?;
    // Without debug info the double is ~15 MB instead of ~60 MB: faster to copy to hosts.
    let stripped = bin.join("kube-double");
    let st = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(&double)
        .arg(&stripped)
        .status();
    if !st.is_ok_and(|s| s.success()) {
        std::fs::copy(&double, &stripped).unwrap();
    }
    for name in DOUBLES {
        std::fs::copy(&stripped, bin.join(name)).unwrap();
    }
    std::fs::remove_file(&stripped).unwrap();
    let Some(kubectl) = real_kubectl() else {
        return skip("no upstream kubectl (expected /usr/lib/google-cloud-sdk/bin/kubectl.1.*, or set EZ_TEST_KUBECTL)".into()).map(|_| ());
    };
    std::fs::copy(&kubectl, bin.join("kubectl")).unwrap();
    let module = Path::new("/usr/lib/nginx/modules/ngx_stream_module.so");
    if std::fs::copy("/usr/sbin/nginx", bin.join("nginx")).is_err() || !module.exists() {
        return skip(
            "nginx with the stream module missing (apt-get install nginx libnginx-mod-stream)"
                .into(),
        )
        .map(|_| ());
    }
    std::fs::create_dir_all(bin.join("nginx-modules")).unwrap();
    std::fs::copy(module, bin.join("nginx-modules/ngx_stream_module.so")).unwrap();
    Some(())
}

/// A context as `ezctl --base <base> --yes` builds it (the same as the setup tests').
pub fn ctx(base: &Path) -> ez_cli::ctx::Ctx {
    crate::support::cluster::ctx(base)
}

/// Runs the real kubectl on this machine with the cluster's admin kubeconfig.
pub fn kubectl(base: &Path, cluster: &str, args: &[&str]) -> (bool, String) {
    let kc = base
        .join("clusters")
        .join(cluster)
        .join("kubectl.kubeconfig");
    let out = Command::new(real_kubectl().expect("kubectl"))
        .arg(format!("--kubeconfig={}", kc.display()))
        .arg("--request-timeout=10s")
        .args(args)
        .env("HOME", base)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The Ready status of a node as the API server reports it.
pub fn ready(base: &Path, cluster: &str, node: &str) -> String {
    kubectl(
        base,
        cluster,
        &[
            "get",
            "node",
            node,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
    )
    .1
}

/// The status of the pod with label `selector` on `node` as `kubectl get pods` shows it (a
/// container's waiting reason, else the phase); empty when there is none.
pub fn pod_status(base: &Path, cluster: &str, selector: &str, node: &str) -> String {
    let (_, out) = kubectl(
        base,
        cluster,
        &[
            "-n",
            "kube-system",
            "get",
            "pods",
            "-l",
            selector,
            "--field-selector",
            &format!("spec.nodeName={node}"),
            "-o",
            "jsonpath={range .items[*]}{.status.containerStatuses[0].state.waiting.reason}{\" \"}{.status.phase}{\"\\n\"}{end}",
        ],
    );
    out.lines()
        .next()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Runs `cmd` on `h` over ssh: (success, stdout then stderr).
pub fn sh_status(h: &ez_testbed::Host, cmd: &str) -> (bool, String) {
    let out = h.ssh(cmd).unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `cmd` on `h` over ssh: stdout then stderr, whatever the exit status.
pub fn sh(h: &ez_testbed::Host, cmd: &str) -> String {
    sh_status(h, cmd).1
}

/// The Kubernetes node name kubeasz gives the host (`k8s-10-250-0-61`).
pub fn node_name(h: &ez_testbed::Host) -> String {
    format!("k8s-{}", h.ip.to_string().replace('.', "-"))
}
