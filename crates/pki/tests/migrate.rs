//! A cluster whose `ssl/` was made by another tool (as cfssl did for kubeasz:
//! PKCS#1 "RSA PRIVATE KEY" files, SHA-1 key identifiers) is adopted: its CA
//! and fitting certificates are kept, and new certificates chain to that CA
//! byte-for-byte (issuer name identical to the CA subject), as openssl confirms.

mod common;

use std::path::Path;
use std::process::Command;

use common::{openssl_available, snapshot, spec};
use ez_pki::{CertInfo, CertOutcome, KeyAlgorithm, Pki, RenewPolicy, verify_chain};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const SUBJ: &str = "/C=CN/ST=HangZhou/L=XS";

/// Makes ca.pem/ca-key.pem and admin.pem/admin-key.pem with openssl, keys in PKCS#1.
fn foreign_ssl(ssl: &Path) {
    std::fs::create_dir_all(ssl).unwrap();
    openssl(
        ssl,
        &["genrsa", "-traditional", "-out", "ca-key.pem", "2048"],
    );
    openssl(
        ssl,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca-key.pem",
            "-days",
            "3650",
            "-subj",
            &format!("{SUBJ}/O=k8s/OU=System/CN=kubernetes-ca"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        ssl,
        &["genrsa", "-traditional", "-out", "admin-key.pem", "2048"],
    );
    openssl(
        ssl,
        &[
            "req",
            "-new",
            "-key",
            "admin-key.pem",
            "-subj",
            &format!("{SUBJ}/O=system:masters/OU=System/CN=admin"),
            "-out",
            "admin.csr",
        ],
    );
    std::fs::write(
        ssl.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    openssl(
        ssl,
        &[
            "x509",
            "-req",
            "-in",
            "admin.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "365",
            "-extfile",
            "ext.cnf",
            "-out",
            "admin.pem",
        ],
    );
    for leftover in ["admin.csr", "ext.cnf", "ca.srl"] {
        let _ = std::fs::remove_file(ssl.join(leftover));
    }
}

#[test]
fn foreign_ca_and_pkcs1_keys_are_adopted() {
    if !openssl_available() {
        eprintln!("SKIPPED: openssl not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), KeyAlgorithm::Rsa2048);
    let ssl = spec.ssl_dir();
    foreign_ssl(&ssl);
    assert!(
        std::fs::read_to_string(ssl.join("ca-key.pem"))
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    let ca_before = std::fs::read(ssl.join("ca.pem")).unwrap();
    let admin_before = std::fs::read(ssl.join("admin.pem")).unwrap();

    let report = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    assert_eq!(report.cert("ca").unwrap().outcome, CertOutcome::Kept);
    assert_eq!(
        report.cert("admin").unwrap().outcome,
        CertOutcome::Kept,
        "{report:#?}"
    );
    assert_eq!(
        report.cert("kubernetes").unwrap().outcome,
        CertOutcome::Created
    );
    assert_eq!(std::fs::read(ssl.join("ca.pem")).unwrap(), ca_before);
    assert_eq!(std::fs::read(ssl.join("admin.pem")).unwrap(), admin_before);

    let ca = CertInfo::load(&ssl.join("ca.pem")).unwrap();
    for name in ["kubernetes", "etcd", "worker-a-kubelet"] {
        let leaf = ssl.join(format!("{name}.pem"));
        verify_chain(&ssl.join("ca.pem"), &leaf).unwrap();
        assert_eq!(CertInfo::load(&leaf).unwrap().issuer, ca.subject);
        openssl(
            &ssl,
            &["verify", "-CAfile", "ca.pem", &format!("{name}.pem")],
        );
    }
    // Stable from then on.
    let before = snapshot(&spec.cluster_dir);
    assert!(
        !Pki::ensure(&spec, RenewPolicy::KeepExisting)
            .unwrap()
            .changed()
    );
    assert_eq!(snapshot(&spec.cluster_dir), before);
}
