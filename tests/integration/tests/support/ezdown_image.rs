//! An image tar made the way users get theirs: by ezdown's own OCI client (`ez_bundle`),
//! pulled from a real registry (Debian's `docker-registry` on 127.0.0.1, acting as the
//! docker.io mirror) into the bundle's `down/`. The image itself is busybox, built offline
//! with umoci and pushed with skopeo.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The docker.io name the tar carries (and containerd shows after the import).
pub const IMAGE: &str = "docker.io/library/busybox:1.36";

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fail_or_skip(why: String) -> Option<String> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// Writes `base/down/busybox_1.36.tar` with ezdown's client; returns [`IMAGE`]. In CI a
/// missing tool panics; elsewhere it returns None with a loud message.
pub async fn make(base: &Path) -> Option<String> {
    let work = base.join("image-build");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    std::fs::create_dir_all(&work).unwrap();
    let cfg = work.join("registry.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            work.join("data").display()
        ),
    )
    .unwrap();
    let child = match Command::new("docker-registry")
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => Registry(c),
        Err(e) => {
            return fail_or_skip(format!(
                "docker-registry: {e} (apt-get install docker-registry)"
            ));
        }
    };
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        return fail_or_skip(format!("docker-registry did not listen on {addr}"));
    }
    let script = format!(
        r#"set -e
cd {w}
umoci init --layout layout
umoci new --image layout:latest
umoci unpack --rootless --image layout:latest bundle
mkdir -p bundle/rootfs/bin
cp /bin/busybox bundle/rootfs/bin/busybox
for a in sh echo cat hostname sleep true; do ln -s busybox bundle/rootfs/bin/$a; done
umoci repack --image layout:latest bundle
umoci config --image layout:latest --config.cmd /bin/sh --config.env PATH=/bin --os linux --architecture amd64
skopeo copy --quiet --dest-tls-verify=false oci:layout:latest docker://{addr}/library/busybox:1.36
"#,
        w = work.display()
    );
    let out = Command::new("bash").arg("-c").arg(&script).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return fail_or_skip(format!(
                "test image: umoci/skopeo/busybox-static failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        Err(e) => return fail_or_skip(format!("test image: bash: {e}")),
    }
    // ezdown's client, with the loopback registry as the docker.io mirror.
    let sources = ez_bundle::mirrors::Sources {
        binary_mirrors: vec![],
        registry_mirrors: vec![addr.clone()],
        mirror_only: true,
    };
    let session = ez_bundle::session::Session::new(
        base,
        ez_bundle::fetch::FetchConfig::default(),
        sources,
        ez_bundle::events::Events::silent(),
        2,
    )
    .unwrap();
    let req = ez_bundle::bundle::Request {
        versions: ez_inventory::VersionTable::default(),
        arch: ez_bundle::catalog::Arch::Amd64,
        artifacts: vec![],
        images: vec!["busybox:1.36".into()],
        extra_files: vec![],
        table: ez_bundle::checksum::ChecksumTable::default(),
    };
    let report = ez_bundle::bundle::download(&session, &req).await.unwrap();
    assert!(
        report.failures.is_empty(),
        "ezdown's client could not fetch the test image: {:?}",
        report.failures
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        base.join("down/busybox_1.36.tar").is_file(),
        "ezdown did not write down/busybox_1.36.tar"
    );
    Some(IMAGE.to_string())
}
