//! An image tar made the way users get theirs: by ezdown's own OCI client (`ez_bundle`),
//! pulled from a real registry (Debian's `docker-registry` on 127.0.0.1, acting as the
//! docker.io mirror) into the bundle's `down/`. The image itself is busybox, built offline
//! with umoci and pushed with skopeo.

#![allow(dead_code)]

use super::cluster::{busybox_layout_script, run_script, unavailable};
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
            return unavailable(format!(
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
        return unavailable(format!("docker-registry did not listen on {addr}"));
    }
    // Built beside the registry's files (the script starts from an empty directory).
    let script = busybox_layout_script(&work.join("image"), "--config.cmd /bin/sh")
        + &format!(
            "skopeo copy --quiet --dest-tls-verify=false oci:layout:latest docker://{addr}/library/busybox:1.36\n"
        );
    if let Err(why) = run_script(&script) {
        return unavailable(format!(
            "test image: umoci/skopeo/busybox-static failed: {why}"
        ));
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
        selection: Default::default(),
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
