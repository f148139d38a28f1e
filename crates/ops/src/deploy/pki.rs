//! The cluster's certificates and kubeconfigs (kubeasz role `deploy`), made before a playbook.

use anyhow::anyhow;
use ez_inventory::Cluster;
use ez_pki::{CertOutcome, EnsureReport, Expiry, NodeSpec, Pki, PkiSpec, RenewPolicy};

/// The PKI inputs of a cluster, from its model.
pub fn pki_spec(cluster: &Cluster) -> anyhow::Result<PkiSpec> {
    let cfg = &cluster.config;
    let mut spec = PkiSpec::new(&cluster.dir, &cfg.cluster_name);
    spec.ca_expiry = Expiry::parse("CA_EXPIRY", &cfg.ca_expiry).map_err(|e| anyhow!("{e}"))?;
    spec.cert_expiry =
        Expiry::parse("CERT_EXPIRY", &cfg.cert_expiry).map_err(|e| anyhow!("{e}"))?;
    spec.context_name = cluster.context_name();
    spec.etcd_ips = cluster.etcd().iter().map(|h| h.addr).collect();
    spec.master_ips = cluster.kube_master().iter().map(|h| h.addr).collect();
    spec.ex_lb_vip = cluster
        .group("ex_lb")
        .first()
        .and_then(|h| h.vars.get("EX_APISERVER_VIP"))
        .and_then(|v| v.parse().ok());
    spec.kubernetes_svc_ip = cluster.derived.kubernetes_svc_ip;
    spec.master_cert_hosts = cfg.master_cert_hosts.clone();
    spec.cluster_dns_domain = cluster
        .var("CLUSTER_DNS_DOMAIN")
        .unwrap_or("cluster.local")
        .to_string();
    spec.nodes = cluster
        .k8s_hosts()
        .iter()
        .map(|h| NodeSpec {
            name: h.node_name.clone(),
            ip: h.addr,
        })
        .collect();
    Ok(spec)
}

/// Creates what is missing and keeps what exists (`change_cert` reissues drifted certificates).
pub fn ensure(cluster: &Cluster, change_cert: bool) -> anyhow::Result<EnsureReport> {
    let spec = pki_spec(cluster)?;
    let policy = if change_cert {
        RenewPolicy::ReissueChanged
    } else {
        RenewPolicy::KeepExisting
    };
    Pki::ensure(&spec, policy).map_err(|e| anyhow!("certificates of cluster {}: {e}", cluster.name))
}

/// One line per certificate that was created, reissued or needs reissuing.
pub fn print_report(report: &EnsureReport) {
    for c in &report.certs {
        match &c.outcome {
            CertOutcome::Created => eprintln!("pki: created {}", c.cert_path.display()),
            CertOutcome::Reissued(_) => eprintln!("pki: reissued {}", c.cert_path.display()),
            CertOutcome::NeedsReissue(drift) => eprintln!(
                "pki: {} no longer matches the cluster ({}); run with `-t change_cert` to reissue it",
                c.cert_path.display(),
                drift
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            _ => {}
        }
    }
}
