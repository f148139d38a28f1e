//! Removing the files of a host that left the cluster (del-node / del-master).
//! `ensure` never deletes anything; this is the only place that does, and only
//! the files that belong to the named node.

use std::path::PathBuf;

use crate::catalog::kubelet_name;
use crate::ensure::{Pki, cert_path, key_path};
use crate::error::PkiError;
use crate::spec::{PkiSpec, check_file_name};

impl Pki {
    /// Deletes `<node>-kubelet.pem`, `<node>-kubelet-key.pem`,
    /// `<node>-kubelet.kubeconfig` and `<node>-kubectl.kubeconfig`;
    /// returns the paths that existed and were removed.
    pub fn remove_node(spec: &PkiSpec, node_name: &str) -> Result<Vec<PathBuf>, PkiError> {
        check_file_name("K8S_NODENAME", node_name)?;
        let ssl = spec.ssl_dir();
        let name = kubelet_name(node_name);
        let candidates = [
            cert_path(&ssl, &name),
            key_path(&ssl, &name),
            spec.cluster_dir.join(format!("{name}.kubeconfig")),
            spec.cluster_dir
                .join(format!("{node_name}-kubectl.kubeconfig")),
        ];
        let mut removed = Vec::new();
        for path in candidates {
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(PkiError::Write { path, source }),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_that_nodes_files() {
        let dir = tempfile::tempdir().unwrap();
        let spec = PkiSpec::new(dir.path(), "c");
        let ssl = spec.ssl_dir();
        std::fs::create_dir_all(&ssl).unwrap();
        for f in [
            "w1-kubelet.pem",
            "w1-kubelet-key.pem",
            "w10-kubelet.pem",
            "ca.pem",
        ] {
            std::fs::write(ssl.join(f), "x").unwrap();
        }
        std::fs::write(dir.path().join("w1-kubelet.kubeconfig"), "x").unwrap();
        let removed = Pki::remove_node(&spec, "w1").unwrap();
        assert_eq!(removed.len(), 3);
        assert!(ssl.join("w10-kubelet.pem").exists());
        assert!(ssl.join("ca.pem").exists());
        assert!(Pki::remove_node(&spec, "w1").unwrap().is_empty());
        assert!(Pki::remove_node(&spec, "../x").is_err());
    }
}
