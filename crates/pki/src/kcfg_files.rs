//! The kubeconfig files of a cluster (reference §4 kubeconfig table) and
//! writing them only when their content changes.

use std::path::{Path, PathBuf};

use crate::catalog::{kubelet_cn, kubelet_name};
use crate::error::PkiError;
use crate::fsio::{self, KUBECONFIG_MODE};
use crate::kubeconfig::{Kubeconfig, KubeconfigNames};
use crate::report::{KubeconfigOutcome, KubeconfigReport};
use crate::spec::{PkiSpec, server_url};

/// Cluster name of the component kubeconfigs (`--cluster-name=kubernetes`).
pub const COMPONENT_CLUSTER: &str = "kubernetes";
/// Context name of the component kubeconfigs.
pub const COMPONENT_CONTEXT: &str = "default";

/// One kubeconfig to write: its file, its names and the certificate it embeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigPlan {
    pub path: PathBuf,
    pub names: KubeconfigNames,
    /// File stem (relative to `ssl/`) of the client certificate.
    pub cert: String,
}

fn component(spec: &PkiSpec, file: &str, user: &str, cert: &str) -> KubeconfigPlan {
    KubeconfigPlan {
        path: spec.cluster_dir.join(file),
        names: KubeconfigNames {
            cluster: COMPONENT_CLUSTER.to_string(),
            user: user.to_string(),
            context: COMPONENT_CONTEXT.to_string(),
            server: spec.local_server(),
        },
        cert: cert.to_string(),
    }
}

/// Every kubeconfig kubeasz keeps in the cluster directory.
pub fn cluster_kubeconfigs(spec: &PkiSpec) -> Result<Vec<KubeconfigPlan>, PkiError> {
    let admin = |server: String| KubeconfigNames {
        cluster: spec.cluster_name.clone(),
        user: "admin".to_string(),
        context: spec.context_name.clone(),
        server,
    };
    let mut plans = vec![KubeconfigPlan {
        path: spec.cluster_dir.join("kubectl.kubeconfig"),
        names: admin(spec.admin_server()?),
        cert: "admin".to_string(),
    }];
    // `<nodename>-kubectl.kubeconfig`: the admin kubeconfig pointed at one master.
    for ip in &spec.master_ips {
        if let Some(node) = spec.nodes.iter().find(|n| n.ip == *ip) {
            plans.push(KubeconfigPlan {
                path: spec
                    .cluster_dir
                    .join(format!("{}-kubectl.kubeconfig", node.name)),
                names: admin(server_url(*ip)),
                cert: "admin".to_string(),
            });
        }
    }
    plans.push(component(
        spec,
        "kube-controller-manager.kubeconfig",
        "system:kube-controller-manager",
        "kube-controller-manager",
    ));
    plans.push(component(
        spec,
        "kube-scheduler.kubeconfig",
        "system:kube-scheduler",
        "kube-scheduler",
    ));
    plans.push(component(
        spec,
        "kube-proxy.kubeconfig",
        "kube-proxy",
        "kube-proxy",
    ));
    for node in &spec.nodes {
        let name = kubelet_name(&node.name);
        plans.push(component(
            spec,
            &format!("{name}.kubeconfig"),
            &kubelet_cn(&node.name),
            &name,
        ));
    }
    Ok(plans)
}

/// Renders `plan` from the files in `ssl` and writes it if its bytes differ.
/// A missing or unreadable certificate/key gives `Skipped`, not an error.
pub fn write_kubeconfig(ssl: &Path, plan: &KubeconfigPlan) -> Result<KubeconfigReport, PkiError> {
    let read = |p: PathBuf| fsio::read_optional(&p).map(|o| o.ok_or(p));
    let ca = read(ssl.join("ca.pem"))?;
    let cert = read(ssl.join(format!("{}.pem", plan.cert)))?;
    let key = read(ssl.join(format!("{}-key.pem", plan.cert)))?;
    let (ca, cert, key) = match (ca, cert, key) {
        (Ok(ca), Ok(cert), Ok(key)) => (ca, cert, key),
        (Err(p), _, _) | (_, Err(p), _) | (_, _, Err(p)) => {
            return Ok(KubeconfigReport {
                path: plan.path.clone(),
                outcome: KubeconfigOutcome::Skipped(format!("{} is missing", p.display())),
            });
        }
    };
    let yaml = Kubeconfig::new(&plan.names, &ca, &cert, &key).to_yaml(&plan.path)?;
    let outcome = if fsio::read_optional(&plan.path)?.as_deref() == Some(yaml.as_str()) {
        KubeconfigOutcome::Unchanged
    } else {
        fsio::write_atomic(&plan.path, yaml.as_bytes(), KUBECONFIG_MODE)?;
        KubeconfigOutcome::Written
    };
    Ok(KubeconfigReport {
        path: plan.path.clone(),
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::NodeSpec;

    #[test]
    fn plans_match_the_kubeasz_table() {
        let mut spec = PkiSpec::new("/c", "cluster1");
        spec.master_ips = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        spec.nodes = vec![
            NodeSpec {
                name: "m1".into(),
                ip: "10.0.0.1".parse().unwrap(),
            },
            NodeSpec {
                name: "w1".into(),
                ip: "10.0.0.5".parse().unwrap(),
            },
        ];
        let plans = cluster_kubeconfigs(&spec).unwrap();
        let files: Vec<String> = plans.iter().map(|p| p.path.display().to_string()).collect();
        assert_eq!(
            files,
            [
                "/c/kubectl.kubeconfig",
                "/c/m1-kubectl.kubeconfig",
                "/c/kube-controller-manager.kubeconfig",
                "/c/kube-scheduler.kubeconfig",
                "/c/kube-proxy.kubeconfig",
                "/c/m1-kubelet.kubeconfig",
                "/c/w1-kubelet.kubeconfig",
            ]
        );
        assert_eq!(plans[0].names.server, "https://10.0.0.1:6443");
        assert_eq!(plans[0].names.context, "context-cluster1");
        assert_eq!(plans[4].names.user, "kube-proxy");
        assert_eq!(plans[4].names.server, "https://127.0.0.1:6443");
        assert_eq!(plans[5].names.user, "system:node:m1");
        assert_eq!(plans[5].cert, "m1-kubelet");
    }

    #[test]
    fn missing_cert_skips() {
        let dir = tempfile::tempdir().unwrap();
        let plan = KubeconfigPlan {
            path: dir.path().join("x.kubeconfig"),
            names: KubeconfigNames {
                cluster: "c".into(),
                user: "u".into(),
                context: "x".into(),
                server: "https://1.2.3.4:6443".into(),
            },
            cert: "admin".into(),
        };
        let report = write_kubeconfig(dir.path(), &plan).unwrap();
        assert!(
            matches!(report.outcome, KubeconfigOutcome::Skipped(ref r) if r.contains("ca.pem"))
        );
        assert!(!plan.path.exists());
    }
}
