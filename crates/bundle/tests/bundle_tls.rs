//! An intranet file mirror over HTTPS with a certificate from a private CA (the usual Nexus /
//! Artifactory / nginx mirror of an air-gapped site): refused, with what to do, until the CA is
//! trusted with `--ca-cert` (`FetchConfig::ca_certs`). The server is OpenSSL's own
//! `s_server -WWW` on 127.0.0.1, the certificates are made with the openssl CLI.

mod support;

use ez_bundle::bundle::{Request, download};
use ez_bundle::catalog::{self, Arch};
use ez_bundle::checksum::ChecksumTable;
use ez_inventory::VersionTable;
use std::process::{Command, Stdio};
use support::*;

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn runc_only() -> Request {
    let v = VersionTable::default();
    Request {
        artifacts: catalog::binaries(&v, Arch::Amd64)
            .unwrap()
            .into_iter()
            .filter(|a| a.id == "runc")
            .collect(),
        versions: v,
        arch: Arch::Amd64,
        images: vec![],
        extra_files: vec![],
        table: ChecksumTable::default(),
        selection: Default::default(),
    }
}

#[tokio::test]
async fn a_mirror_signed_by_a_private_ca_needs_ca_cert() {
    if !require(&["openssl"]) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let mirror = w.join("mirror");
    for (p, b) in upstream_tree(true) {
        let f = mirror.join(&p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, b).unwrap();
    }
    sh(&format!(
        "set -e; cd {w}; \
         openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
           -out ca.pem -days 2 -subj /CN=ezdown-test-ca 2>/dev/null; \
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key \
           -out srv.csr -subj /CN=127.0.0.1 2>/dev/null; \
         printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext; \
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
           -days 2 -extfile ext 2>/dev/null",
        w = w.display()
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _srv = Server(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(w.join("srv.pem"))
            .arg("-key")
            .arg(w.join("srv.key"))
            .current_dir(&mirror)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{port}");

    // not trusted: refused, and the message says what to do
    let (_d, base) = tmp_base();
    let (ev, log) = recorder();
    let mut s = session(&base, &[], ev);
    s.sources.binary_mirrors = vec![url.clone()];
    let r = download(&s, &runc_only()).await.unwrap();
    let msg = first_failure(&r);
    assert!(msg.contains("--ca-cert"), "{msg}");
    // an untrusted certificate is not retried: no retry can change it
    let retries = log
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "retry")
        .count();
    assert_eq!(retries, 0, "{:?}", log.lock().unwrap());
    assert!(!base.join("bin/containerd-bin/runc").exists());

    // trusted with --ca-cert: fetched and verified
    let (ev, _) = recorder();
    let mut s = session(&base, &[], ev);
    s.sources.binary_mirrors = vec![url];
    s.fetch.ca_certs = vec![w.join("ca.pem")];
    s.client = ez_bundle::fetch::client(&s.fetch).unwrap();
    let r = download(&s, &runc_only()).await.unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(base.join("bin/containerd-bin/runc").is_file());

    // a file that holds no certificate is refused up front
    let mut bad = s.fetch.clone();
    bad.ca_certs = vec![w.join("ext")];
    let e = ez_bundle::fetch::client(&bad).unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
}
