//! Generate once, keep, detect drift, reissue on request, renew everything.

mod common;

use common::{ip, snapshot, spec};
use ez_pki::{
    CertInfo, CertOutcome, Drift, KeyAlgorithm, KubeconfigOutcome, NodeSpec, Pki, PkiError,
    RenewPolicy, San, verify_chain,
};
use time::{Duration, OffsetDateTime};

const ALG: KeyAlgorithm = KeyAlgorithm::EcdsaP256;

#[test]
fn second_ensure_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), ALG);
    let first = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    assert!(first.changed());
    let before = snapshot(&spec.cluster_dir);
    let second = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    assert!(!second.changed(), "{second:#?}");
    assert!(second.certs.iter().all(|c| c.outcome == CertOutcome::Kept));
    assert!(
        second
            .kubeconfigs
            .iter()
            .all(|k| k.outcome == KubeconfigOutcome::Unchanged)
    );
    assert_eq!(snapshot(&spec.cluster_dir), before);
    // Even the change_cert policy keeps certificates that still fit.
    let third = Pki::ensure(&spec, RenewPolicy::ReissueChanged).unwrap();
    assert!(!third.changed());
    assert_eq!(snapshot(&spec.cluster_dir), before);
}

#[test]
fn added_master_is_reported_then_reissued_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec(tmp.path(), ALG);
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let ssl = spec.ssl_dir();
    let old_apiserver = std::fs::read(ssl.join("kubernetes.pem")).unwrap();
    let old_admin = std::fs::read(ssl.join("admin.pem")).unwrap();

    // add-master 192.168.1.5 (also a node) and a new MASTER_CERT_HOSTS entry.
    spec.master_ips.push(ip("192.168.1.5"));
    spec.nodes.push(NodeSpec {
        name: "k8s-192-168-1-5".into(),
        ip: ip("192.168.1.5"),
    });
    spec.master_cert_hosts.push("api.example.com".into());
    let report = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let k = report.cert("kubernetes").unwrap();
    let CertOutcome::NeedsReissue(drifts) = &k.outcome else {
        panic!("expected needs-reissue, got {:?}", k.outcome)
    };
    assert_eq!(
        drifts,
        &[Drift::SansChanged {
            missing: vec![
                San::Ip(ip("192.168.1.5")),
                San::Dns("api.example.com".into())
            ],
            unexpected: vec![],
        }]
    );
    assert_eq!(
        report.cert("k8s-192-168-1-5-kubelet").unwrap().outcome,
        CertOutcome::Created
    );
    assert_eq!(report.needs_reissue().count(), 1);
    assert_eq!(
        std::fs::read(ssl.join("kubernetes.pem")).unwrap(),
        old_apiserver,
        "kept untouched"
    );

    // change_cert: only the drifted certificate is replaced.
    let report = Pki::ensure(&spec, RenewPolicy::ReissueChanged).unwrap();
    assert!(matches!(
        report.cert("kubernetes").unwrap().outcome,
        CertOutcome::Reissued(_)
    ));
    assert_eq!(report.cert("admin").unwrap().outcome, CertOutcome::Kept);
    assert_eq!(report.cert("ca").unwrap().outcome, CertOutcome::Kept);
    assert_eq!(std::fs::read(ssl.join("admin.pem")).unwrap(), old_admin);
    let info = CertInfo::load(&ssl.join("kubernetes.pem")).unwrap();
    assert!(info.sans.contains(&San::Ip(ip("192.168.1.5"))));
    assert!(info.sans.contains(&San::Dns("api.example.com".into())));
    verify_chain(&ssl.join("ca.pem"), &ssl.join("kubernetes.pem")).unwrap();
    // And now it is stable again.
    assert!(
        !Pki::ensure(&spec, RenewPolicy::KeepExisting)
            .unwrap()
            .changed()
    );
}

#[test]
fn added_etcd_member_drifts_only_the_etcd_cert() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec(tmp.path(), ALG);
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    spec.etcd_ips.push(ip("192.168.1.9"));
    let report = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let drifted: Vec<&str> = report.needs_reissue().map(|c| c.name.as_str()).collect();
    assert_eq!(drifted, ["etcd"]);
}

#[test]
fn kca_renew_backs_up_and_replaces_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), ALG);
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let ssl = spec.ssl_dir();
    let old_ssl = snapshot(&ssl);
    let old_ca = std::fs::read(ssl.join("ca.pem")).unwrap();
    let old_kubectl = std::fs::read(spec.cluster_dir.join("kubectl.kubeconfig")).unwrap();

    let report = Pki::ensure(&spec, RenewPolicy::RenewAll).unwrap();
    let backup = report.backup.clone().expect("a backup");
    assert!(
        backup
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("ssl-")
    );
    // The backup holds exactly the old files.
    let backed: Vec<Vec<u8>> = snapshot(&backup).into_iter().map(|(_, b)| b).collect();
    let old: Vec<Vec<u8>> = old_ssl.into_iter().map(|(_, b)| b).collect();
    assert_eq!(backed, old);
    assert_eq!(common::mode(&backup.join("ca-key.pem")), 0o600);

    assert!(
        report
            .certs
            .iter()
            .all(|c| c.outcome == CertOutcome::Reissued(vec![Drift::Renewal]))
    );
    assert!(
        report
            .kubeconfigs
            .iter()
            .all(|k| k.outcome == KubeconfigOutcome::Written)
    );
    assert_ne!(std::fs::read(ssl.join("ca.pem")).unwrap(), old_ca);
    assert_ne!(
        std::fs::read(spec.cluster_dir.join("kubectl.kubeconfig")).unwrap(),
        old_kubectl
    );
    for name in ["admin", "kubernetes", "etcd", "worker-a-kubelet", "harbor"] {
        verify_chain(&ssl.join("ca.pem"), &ssl.join(format!("{name}.pem"))).unwrap();
        // …and no longer against the old CA.
        assert!(verify_chain(&backup.join("ca.pem"), &ssl.join(format!("{name}.pem"))).is_err());
    }
    // A second renew in the same second gets its own backup directory.
    let again = Pki::ensure(&spec, RenewPolicy::RenewAll).unwrap();
    assert_ne!(again.backup, Some(backup));
}

#[test]
fn replaced_ca_is_detected_on_leaves() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), ALG);
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let ssl = spec.ssl_dir();
    // Someone deletes the CA pair: a new CA is made, and every leaf is flagged.
    std::fs::remove_file(ssl.join("ca.pem")).unwrap();
    std::fs::remove_file(ssl.join("ca-key.pem")).unwrap();
    let report = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    assert_eq!(report.cert("ca").unwrap().outcome, CertOutcome::Created);
    let CertOutcome::NeedsReissue(drifts) = &report.cert("admin").unwrap().outcome else {
        panic!("admin should need reissue")
    };
    assert!(
        matches!(drifts.as_slice(), [Drift::NotSignedByCa(_)]),
        "{drifts:?}"
    );
    assert_eq!(report.needs_reissue().count(), report.certs.len() - 1);
    // change_cert fixes them all against the new CA.
    Pki::ensure(&spec, RenewPolicy::ReissueChanged).unwrap();
    verify_chain(&ssl.join("ca.pem"), &ssl.join("admin.pem")).unwrap();
    assert!(
        !Pki::ensure(&spec, RenewPolicy::KeepExisting)
            .unwrap()
            .changed()
    );
}

#[test]
fn ca_key_problems_are_errors_not_silent_fixes() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), ALG);
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let ssl = spec.ssl_dir();
    let ca_key = std::fs::read(ssl.join("ca-key.pem")).unwrap();

    // Key of another cert in place of the CA key.
    std::fs::copy(ssl.join("admin-key.pem"), ssl.join("ca-key.pem")).unwrap();
    let err = Pki::ensure(&spec, RenewPolicy::ReissueChanged).unwrap_err();
    assert!(matches!(err, PkiError::CaKeyMismatch { .. }), "{err}");
    assert!(err.to_string().contains("ca-key.pem"));

    std::fs::remove_file(ssl.join("ca-key.pem")).unwrap();
    let err = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap_err();
    assert!(matches!(err, PkiError::CaKeyMissing { .. }), "{err}");
    assert!(err.to_string().contains("kca-renew"));

    std::fs::write(ssl.join("ca-key.pem"), ca_key).unwrap();
    assert!(
        !Pki::ensure(&spec, RenewPolicy::KeepExisting)
            .unwrap()
            .changed()
    );
}

#[test]
fn leaf_key_and_content_problems_are_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = spec(tmp.path(), ALG);
    Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let ssl = spec.ssl_dir();
    std::fs::copy(ssl.join("admin-key.pem"), ssl.join("calico-key.pem")).unwrap();
    std::fs::remove_file(ssl.join("etcd-client-key.pem")).unwrap();
    std::fs::write(ssl.join("aggregator-proxy.pem"), "garbage").unwrap();
    // A cert with the wrong subject: the admin cert copied over kube-proxy's.
    std::fs::copy(ssl.join("admin.pem"), ssl.join("kube-proxy.pem")).unwrap();
    std::fs::copy(ssl.join("admin-key.pem"), ssl.join("kube-proxy-key.pem")).unwrap();

    let report = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap();
    let drift = |name: &str| match &report.cert(name).unwrap().outcome {
        CertOutcome::NeedsReissue(d) => d.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(drift("calico"), [Drift::KeyMismatch]);
    assert_eq!(drift("etcd-client"), [Drift::KeyMissing]);
    assert!(matches!(
        drift("aggregator-proxy").as_slice(),
        [Drift::Unreadable(_)]
    ));
    assert!(matches!(
        drift("kube-proxy").as_slice(),
        [Drift::SubjectChanged { .. }]
    ));
    // The kubeconfig embedding the now-wrong kube-proxy cert follows the files on disk.
    assert_eq!(report.needs_reissue().count(), 4);

    let fixed = Pki::ensure(&spec, RenewPolicy::ReissueChanged).unwrap();
    assert_eq!(
        fixed
            .certs
            .iter()
            .filter(|c| matches!(c.outcome, CertOutcome::Reissued(_)))
            .count(),
        4
    );
    let info = CertInfo::load(&ssl.join("kube-proxy.pem")).unwrap();
    assert_eq!(info.common_name.as_deref(), Some("system:kube-proxy"));
    assert!(
        !Pki::ensure(&spec, RenewPolicy::KeepExisting)
            .unwrap()
            .changed()
    );
}

#[test]
fn expired_certs_are_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec(tmp.path(), ALG);
    spec.cert_expiry = ez_pki::Expiry::parse("CERT_EXPIRY", "24h").unwrap();
    let now = OffsetDateTime::now_utc();
    Pki::ensure_at(&spec, RenewPolicy::KeepExisting, now).unwrap();
    let later = now + Duration::hours(25);
    let report = Pki::ensure_at(&spec, RenewPolicy::KeepExisting, later).unwrap();
    assert_eq!(report.cert("ca").unwrap().outcome, CertOutcome::Kept);
    let CertOutcome::NeedsReissue(d) = &report.cert("admin").unwrap().outcome else {
        panic!("admin should be expired")
    };
    assert!(matches!(d.as_slice(), [Drift::Expired { .. }]), "{d:?}");
    let renewed = Pki::ensure_at(&spec, RenewPolicy::ReissueChanged, later).unwrap();
    assert!(matches!(
        renewed.cert("admin").unwrap().outcome,
        CertOutcome::Reissued(_)
    ));
    let info = CertInfo::load(&spec.ssl_dir().join("admin.pem")).unwrap();
    assert!(info.is_valid_at(later));
}

#[test]
fn bad_spec_is_rejected_before_touching_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = spec(tmp.path(), ALG);
    spec.master_cert_hosts.push("bad name\u{e9}".into());
    let err = Pki::ensure(&spec, RenewPolicy::KeepExisting).unwrap_err();
    assert!(err.to_string().contains("kubernetes"), "{err}");
    assert!(!spec.cluster_dir.exists());
    spec.master_cert_hosts.pop();
    spec.master_ips.clear();
    assert!(matches!(
        Pki::ensure(&spec, RenewPolicy::KeepExisting),
        Err(PkiError::InvalidSpec(_))
    ));
}
