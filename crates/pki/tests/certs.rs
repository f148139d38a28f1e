//! The generated set, read back with x509-parser: subjects, SANs, usages,
//! expiry, signatures, file modes, kubeconfigs, and an openssl cross-check.

mod common;

use std::path::Path;
use std::process::Command;

use common::{ip, mode, openssl_available, spec};
use ez_pki::{
    CertInfo, CertOutcome, KeyAlgorithm, Kubeconfig, KubeconfigOutcome, Pki, RenewPolicy, San,
    verify_chain,
};
use time::{Duration, OffsetDateTime};

fn dns(s: &str) -> San {
    San::Dns(s.to_string())
}

/// (file stem, CN, O, SANs) of every certificate of the fixture, per §4.
fn expected() -> Vec<(&'static str, &'static str, &'static str, Vec<San>)> {
    let lo = San::Ip(ip("127.0.0.1"));
    vec![
        ("admin", "admin", "system:masters", vec![]),
        (
            "kube-controller-manager",
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            vec![],
        ),
        (
            "kube-scheduler",
            "system:kube-scheduler",
            "system:kube-scheduler",
            vec![],
        ),
        ("kube-proxy", "system:kube-proxy", "k8s", vec![]),
        (
            "etcd",
            "etcd",
            "k8s",
            vec![
                San::Ip(ip("192.168.1.1")),
                San::Ip(ip("192.168.1.2")),
                San::Ip(ip("192.168.1.3")),
                lo.clone(),
            ],
        ),
        (
            "kubernetes",
            "kubernetes",
            "k8s",
            vec![
                lo.clone(),
                San::Ip(ip("192.168.1.250")),
                San::Ip(ip("192.168.1.1")),
                San::Ip(ip("192.168.1.2")),
                San::Ip(ip("10.68.0.1")),
                San::Ip(ip("10.1.1.1")),
                dns("k8s.easzlab.io"),
                dns("kubernetes"),
                dns("kubernetes.default"),
                dns("kubernetes.default.svc"),
                dns("kubernetes.default.svc.cluster"),
                dns("kubernetes.default.svc.cluster.local"),
            ],
        ),
        ("aggregator-proxy", "aggregator", "k8s", vec![]),
        (
            "k8s-192-168-1-1-kubelet",
            "system:node:k8s-192-168-1-1",
            "system:nodes",
            vec![
                lo.clone(),
                San::Ip(ip("192.168.1.1")),
                dns("k8s-192-168-1-1"),
            ],
        ),
        (
            "k8s-192-168-1-2-kubelet",
            "system:node:k8s-192-168-1-2",
            "system:nodes",
            vec![
                lo.clone(),
                San::Ip(ip("192.168.1.2")),
                dns("k8s-192-168-1-2"),
            ],
        ),
        (
            "worker-a-kubelet",
            "system:node:worker-a",
            "system:nodes",
            vec![lo.clone(), San::Ip(ip("192.168.1.4")), dns("worker-a")],
        ),
        ("calico", "calico", "k8s", vec![]),
        ("etcd-client", "etcd-client", "k8s", vec![]),
        (
            "harbor",
            "harbor",
            "k8s",
            vec![
                lo,
                San::Ip(ip("192.168.1.8")),
                dns("harbor.easzlab.io.local"),
            ],
        ),
    ]
}

fn check_full_set(alg: KeyAlgorithm) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), alg);
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let report = Pki::ensure_at(&spec, RenewPolicy::KeepExisting, now).unwrap();
    assert!(report.backup.is_none());
    assert!(
        report
            .certs
            .iter()
            .all(|c| c.outcome == CertOutcome::Created),
        "{report:#?}"
    );
    let ssl = spec.ssl_dir();

    // CA: kubernetes-ca / k8s, CA:TRUE, cert sign, CA_EXPIRY.
    let ca = CertInfo::load(&ssl.join("ca.pem")).unwrap();
    assert_eq!(
        ca.subject,
        "C=CN, ST=HangZhou, L=XS, O=k8s, OU=System, CN=kubernetes-ca"
    );
    assert_eq!(ca.issuer, ca.subject);
    assert!(ca.is_ca && ca.key_cert_sign);
    // as cfssl (kubeasz): certificate sign and CRL sign, no digital signature
    assert!(!ca.digital_signature);
    assert!(!ca.server_auth && !ca.client_auth);
    assert_eq!((ca.not_after - now).whole_hours(), 876_000);
    assert_eq!((now - ca.not_before).whole_minutes(), 5);

    let want = expected();
    assert_eq!(report.certs.len(), want.len() + 1);
    for (name, cn, org, sans) in want {
        let path = ssl.join(format!("{name}.pem"));
        let info = CertInfo::load(&path).unwrap();
        assert_eq!(info.common_name.as_deref(), Some(cn), "{name}");
        assert_eq!(info.organizations, [org], "{name}");
        assert_eq!(
            info.subject,
            format!("C=CN, ST=HangZhou, L=XS, O={org}, OU=System, CN={cn}"),
            "{name}"
        );
        assert_eq!(info.sans, sans, "{name}");
        assert_eq!(
            info.issuer_common_name.as_deref(),
            Some("kubernetes-ca"),
            "{name}"
        );
        // Profile `kubernetes`: signing, key encipherment, server auth, client auth.
        assert!(!info.is_ca, "{name}");
        assert!(
            info.digital_signature && info.key_encipherment && !info.key_cert_sign,
            "{name}"
        );
        assert!(info.server_auth && info.client_auth, "{name}");
        assert_eq!((info.not_after - now).whole_hours(), 438_000, "{name}");
        info.verify_signed_by(&ca).unwrap();
        verify_chain(&ssl.join("ca.pem"), &path).unwrap();
        let key = ssl.join(format!("{name}-key.pem"));
        assert_eq!(mode(&key), 0o600, "{name}");
        assert_eq!(mode(&path), 0o644, "{name}");
        let key_pem = std::fs::read_to_string(&key).unwrap();
        assert!(info.matches_key_pem(&key, &key_pem).unwrap(), "{name}");
        assert!(
            report.cert(name).is_some(),
            "{name} missing from the report"
        );
    }
    assert_eq!(mode(&ssl.join("ca-key.pem")), 0o600);

    // Kubeconfigs: names, servers, embedded files.
    assert!(
        report
            .kubeconfigs
            .iter()
            .all(|k| k.outcome == KubeconfigOutcome::Written)
    );
    let ca_pem = std::fs::read_to_string(ssl.join("ca.pem")).unwrap();
    let cases = [
        (
            "kubectl.kubeconfig",
            "k1",
            "admin",
            "context-k1",
            "https://192.168.1.1:6443",
            "admin",
        ),
        (
            "k8s-192-168-1-2-kubectl.kubeconfig",
            "k1",
            "admin",
            "context-k1",
            "https://192.168.1.2:6443",
            "admin",
        ),
        (
            "kube-controller-manager.kubeconfig",
            "kubernetes",
            "system:kube-controller-manager",
            "default",
            "https://127.0.0.1:6443",
            "kube-controller-manager",
        ),
        (
            "kube-scheduler.kubeconfig",
            "kubernetes",
            "system:kube-scheduler",
            "default",
            "https://127.0.0.1:6443",
            "kube-scheduler",
        ),
        (
            "kube-proxy.kubeconfig",
            "kubernetes",
            "kube-proxy",
            "default",
            "https://127.0.0.1:6443",
            "kube-proxy",
        ),
        (
            "worker-a-kubelet.kubeconfig",
            "kubernetes",
            "system:node:worker-a",
            "default",
            "https://127.0.0.1:6443",
            "worker-a-kubelet",
        ),
    ];
    for (file, cluster, user, context, server, cert) in cases {
        let path = spec.cluster_dir.join(file);
        assert_eq!(mode(&path), 0o600, "{file}");
        let kc = Kubeconfig::load(&path).unwrap();
        assert_eq!(kc.clusters[0].name, cluster, "{file}");
        assert_eq!(kc.users[0].name, user, "{file}");
        assert_eq!(kc.current_context, context, "{file}");
        assert_eq!(kc.server(), Some(server), "{file}");
        let (emb_ca, emb_cert, emb_key) = kc.embedded_pems().unwrap();
        assert_eq!(emb_ca, ca_pem, "{file}");
        assert_eq!(
            emb_cert,
            std::fs::read_to_string(ssl.join(format!("{cert}.pem"))).unwrap(),
            "{file}"
        );
        assert_eq!(
            emb_key,
            std::fs::read_to_string(ssl.join(format!("{cert}-key.pem"))).unwrap(),
            "{file}"
        );
    }
    assert_eq!(report.kubeconfigs.len(), 1 + 2 + 3 + 3);

    if openssl_available() {
        openssl_checks(&ssl, alg);
    }
}

fn openssl_checks(ssl: &Path, alg: KeyAlgorithm) {
    for name in ["kubernetes", "etcd", "admin", "worker-a-kubelet", "harbor"] {
        let out = Command::new("openssl")
            .args(["verify", "-CAfile", "ca.pem", &format!("{name}.pem")])
            .current_dir(ssl)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl verify {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", "kubernetes.pem"])
        .current_dir(ssl)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(
        text.contains("DNS:kubernetes.default.svc.cluster.local"),
        "{text}"
    );
    let expect_alg = match alg {
        KeyAlgorithm::Rsa2048 => "Public-Key: (2048 bit)",
        KeyAlgorithm::EcdsaP256 => "Public-Key: (256 bit)",
    };
    assert!(text.contains(expect_alg), "{text}");
    // Key and certificate belong together according to openssl too.
    let pubkey = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(ssl)
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(
        pubkey(&["x509", "-noout", "-pubkey", "-in", "kubernetes.pem"]),
        pubkey(&["pkey", "-pubout", "-in", "kubernetes-key.pem"])
    );
}

#[test]
fn rsa_default_set_matches_kubeasz() {
    check_full_set(KeyAlgorithm::Rsa2048);
}

#[test]
fn ecdsa_option_makes_the_same_set() {
    check_full_set(KeyAlgorithm::EcdsaP256);
}

#[test]
fn a_cert_from_another_ca_fails_verification() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let spec_a = spec(a.path(), KeyAlgorithm::EcdsaP256);
    let spec_b = spec(b.path(), KeyAlgorithm::EcdsaP256);
    Pki::ensure(&spec_a, RenewPolicy::KeepExisting).unwrap();
    Pki::ensure(&spec_b, RenewPolicy::KeepExisting).unwrap();
    let ca_a = spec_a.ssl_dir().join("ca.pem");
    let leaf_b = spec_b.ssl_dir().join("kubernetes.pem");
    let err = verify_chain(&ca_a, &leaf_b).unwrap_err().to_string();
    assert!(err.contains("signature does not verify"), "{err}");
    // A leaf is not a CA.
    let leaf_a = spec_a.ssl_dir().join("kubernetes.pem");
    assert!(verify_chain(&leaf_a, &leaf_a).is_err());
    verify_chain(&ca_a, &leaf_a).unwrap();
    if openssl_available() {
        let out = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&ca_a)
            .arg(&leaf_b)
            .output()
            .unwrap();
        assert!(!out.status.success(), "openssl agrees it does not verify");
    }
}

#[test]
fn user_certs_are_client_only_with_custom_expiry() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), KeyAlgorithm::EcdsaP256);
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    // No CA yet: a clear error.
    let err = Pki::add_user(
        &spec,
        "user-1",
        ez_pki::Expiry::parse("-e", "4800h").unwrap(),
        now,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ca.pem does not exist"), "{err}");

    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let name = ez_pki::user_name("user", now);
    let expiry = ez_pki::Expiry::parse("-e", "4800h").unwrap();
    let report = Pki::add_user(&spec, &name, expiry, now).unwrap();
    assert_eq!(report.cert.outcome, CertOutcome::Created);
    assert_eq!(report.kubeconfig.outcome, KubeconfigOutcome::Written);
    let users = spec.ssl_dir().join("users");
    let info = CertInfo::load(&users.join(format!("{name}.pem"))).unwrap();
    assert_eq!(info.common_name.as_deref(), Some(name.as_str()));
    assert_eq!(info.organizations, ["k8s"]);
    assert!(info.client_auth && !info.server_auth);
    assert!(info.sans.is_empty());
    assert_eq!(info.not_after - now, Duration::hours(4800));
    assert_eq!(mode(&users.join(format!("{name}-key.pem"))), 0o600);
    verify_chain(
        &spec.ssl_dir().join("ca.pem"),
        &users.join(format!("{name}.pem")),
    )
    .unwrap();
    let kc = Kubeconfig::load(&users.join(format!("{name}.kubeconfig"))).unwrap();
    assert_eq!(kc.users[0].name, name);
    assert_eq!(kc.clusters[0].name, "k1");
    assert_eq!(kc.current_context, "context-k1");
    assert_eq!(kc.server(), Some("https://192.168.1.1:6443"));

    // Adding again keeps it; listing shows it; removing deletes its three files.
    let again = Pki::add_user(&spec, &name, expiry, now).unwrap();
    assert_eq!(again.cert.outcome, CertOutcome::Kept);
    assert_eq!(again.kubeconfig.outcome, KubeconfigOutcome::Unchanged);
    let listed = Pki::list_users(&spec).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, name);
    assert_eq!(listed[0].not_after, info.not_after);
    assert_eq!(Pki::remove_user(&spec, &name).unwrap().len(), 3);
    assert!(Pki::list_users(&spec).unwrap().is_empty());
    assert!(Pki::add_user(&spec, "../x", expiry, now).is_err());
}

#[test]
fn ipv6_hosts_and_custom_dns_domain() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = ez_pki::PkiSpec::new(tmp.path().join("c6"), "c6");
    spec.key_algorithm = KeyAlgorithm::EcdsaP256;
    spec.master_ips = vec![ip("fd00::11")];
    spec.etcd_ips = vec![ip("fd00::11")];
    spec.kubernetes_svc_ip = ip("fd00:68::1");
    spec.cluster_dns_domain = "corp.internal".into();
    spec.nodes = vec![ez_pki::NodeSpec {
        name: "n6".into(),
        ip: ip("fd00::11"),
    }];
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let ssl = spec.ssl_dir();
    let api = CertInfo::load(&ssl.join("kubernetes.pem")).unwrap();
    for host in [
        "fd00::11",
        "fd00:68::1",
        "127.0.0.1",
        "kubernetes.default.svc.corp.internal",
    ] {
        assert!(api.covers(host), "{host} not in {:?}", api.sans);
    }
    assert!(api.covers("kubernetes.default.svc.cluster.local"));
    assert!(!api.covers("fd00::12"));
    let kubelet = CertInfo::load(&ssl.join("n6-kubelet.pem")).unwrap();
    assert!(kubelet.covers("n6") && kubelet.covers("fd00::11"));
    let kc = Kubeconfig::load(&spec.cluster_dir.join("kubectl.kubeconfig")).unwrap();
    assert_eq!(kc.server(), Some("https://[fd00::11]:6443"));
    if openssl_available() {
        let out = Command::new("openssl")
            .args([
                "x509",
                "-noout",
                "-ext",
                "subjectAltName",
                "-in",
                "kubernetes.pem",
            ])
            .current_dir(&ssl)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("IP Address:FD00:0:0:0:0:0:0:11"), "{text}");
    }
}
