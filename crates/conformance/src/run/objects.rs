//! The objects of a run, as k8s-openapi values.
//!
//! Invariants: the suite container gets `E2E_FOCUS=\[Conformance\]` (or the focus of a
//! non-certified check run, [`RunConfig::focus`]), an empty `E2E_SKIP` and no `E2E_PARALLEL` (a parallel run skips `[Serial]` specs and is never valid for certification);
//! both containers mount the same emptyDir at `/tmp/results`.

use super::{BEGIN_MARK, END_MARK, RunConfig, SIDECAR_CONTAINER, SUITE_CONTAINER};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, Namespace, Pod,
    PodSpec, ServiceAccount, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

pub const RESULTS_DIR: &str = "/tmp/results";
pub const REPO_LIST_CM: &str = "repo-list-config";
pub const REPO_LIST_DIR: &str = "/tmp/repo-list";

#[derive(Debug, Clone)]
pub struct RunObjects {
    pub namespace: Namespace,
    pub service_account: ServiceAccount,
    pub cluster_role: ClusterRole,
    pub binding: ClusterRoleBinding,
    pub repo_list: Option<ConfigMap>,
    pub pod: Pod,
}

fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
    let mut labels = BTreeMap::new();
    labels.insert(
        "app.kubernetes.io/managed-by".to_string(),
        "ezctl-conformance".to_string(),
    );
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: ns.map(str::to_string),
        labels: Some(labels),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

/// The sidecar's script: wait for go-runner's `done`, print the tarball it names, stay alive.
pub fn sidecar_script() -> String {
    format!(
        "until [ -s {RESULTS_DIR}/done ]; do sleep 5; done; \
         echo {BEGIN_MARK}; base64 \"$(cat {RESULTS_DIR}/done)\"; echo {END_MARK}; \
         exec sleep 2147483647"
    )
}

/// The focus of a certified run: every `[Conformance]` spec.
pub const CERTIFIED_FOCUS: &str = "\\[Conformance\\]";

/// Builds every object of a run for `image`.
pub fn build(cfg: &RunConfig, image: &str) -> RunObjects {
    let ns = cfg.namespace.as_str();
    let mut suite_env = vec![
        env("E2E_FOCUS", cfg.focus.as_deref().unwrap_or(CERTIFIED_FOCUS)),
        env("E2E_SKIP", ""),
        // Ginkgo's verbose reporter: a line per spec as it starts and ends. Its default
        // (succinct) reporter prints one `•` per spec on a line that ends only at the next
        // failure, and the container runtime passes a log line on only once it ends, so a
        // passing run would show no progress for hours (seen on the real cluster).
        env("E2E_EXTRA_GINKGO_ARGS", "-v"),
        env("E2E_PROVIDER", "skeleton"),
        env("E2E_VERBOSITY", "4"),
        env("E2E_USE_GO_RUNNER", "true"),
        env("RESULTS_DIR", RESULTS_DIR),
    ];
    let mut suite_mounts = vec![VolumeMount {
        name: "results".into(),
        mount_path: RESULTS_DIR.into(),
        ..Default::default()
    }];
    let mut volumes = vec![Volume {
        name: "results".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }];
    let repo_list = cfg.repo_list.as_ref().map(|text| {
        suite_env.push(env(
            "KUBE_TEST_REPO_LIST",
            &format!("{REPO_LIST_DIR}/repo-list.yaml"),
        ));
        suite_mounts.push(VolumeMount {
            name: "repo-list".into(),
            mount_path: REPO_LIST_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(Volume {
            name: "repo-list".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: REPO_LIST_CM.into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        let mut data = BTreeMap::new();
        data.insert("repo-list.yaml".to_string(), text.clone());
        ConfigMap {
            metadata: meta(REPO_LIST_CM, Some(ns)),
            data: Some(data),
            ..Default::default()
        }
    });
    let pod = Pod {
        metadata: meta(&cfg.pod, Some(ns)),
        spec: Some(PodSpec {
            service_account_name: Some(cfg.service_account.clone()),
            restart_policy: Some("Never".into()),
            tolerations: Some(vec![Toleration {
                operator: Some("Exists".into()),
                ..Default::default()
            }]),
            containers: vec![
                Container {
                    name: SUITE_CONTAINER.into(),
                    image: Some(image.to_string()),
                    image_pull_policy: Some("IfNotPresent".into()),
                    env: Some(suite_env),
                    volume_mounts: Some(suite_mounts),
                    ..Default::default()
                },
                Container {
                    name: SIDECAR_CONTAINER.into(),
                    image: Some(cfg.sidecar_image.clone()),
                    image_pull_policy: Some("IfNotPresent".into()),
                    command: Some(vec!["sh".into(), "-c".into(), sidecar_script()]),
                    volume_mounts: Some(vec![VolumeMount {
                        name: "results".into(),
                        mount_path: RESULTS_DIR.into(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
            ],
            volumes: Some(volumes),
            ..Default::default()
        }),
        ..Default::default()
    };
    RunObjects {
        namespace: Namespace {
            metadata: meta(ns, None),
            ..Default::default()
        },
        service_account: ServiceAccount {
            metadata: meta(&cfg.service_account, Some(ns)),
            ..Default::default()
        },
        cluster_role: ClusterRole {
            metadata: meta(&cfg.cluster_role, None),
            rules: Some(vec![
                PolicyRule {
                    api_groups: Some(vec!["*".into()]),
                    resources: Some(vec!["*".into()]),
                    verbs: vec!["*".into()],
                    ..Default::default()
                },
                PolicyRule {
                    non_resource_urls: Some(vec![
                        "/metrics".into(),
                        "/logs".into(),
                        "/logs/*".into(),
                    ]),
                    verbs: vec!["get".into()],
                    ..Default::default()
                },
            ]),
            ..Default::default()
        },
        binding: ClusterRoleBinding {
            metadata: meta(&cfg.cluster_role, None),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: cfg.cluster_role.clone(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: cfg.service_account.clone(),
                namespace: Some(ns.to_string()),
                ..Default::default()
            }]),
        },
        repo_list,
        pod,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_env_is_certifiable_and_volume_is_shared() {
        let o = build(&RunConfig::default(), "registry.k8s.io/conformance:v1.33.4");
        let spec = o.pod.spec.unwrap();
        let suite = &spec.containers[0];
        let env: BTreeMap<_, _> = suite
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(env["E2E_FOCUS"], "\\[Conformance\\]");
        assert_eq!(env["E2E_SKIP"], "");
        assert_eq!(env["E2E_EXTRA_GINKGO_ARGS"], "-v");
        assert!(!env.contains_key("E2E_PARALLEL"));
        let m0 = &suite.volume_mounts.as_ref().unwrap()[0];
        let m1 = &spec.containers[1].volume_mounts.as_ref().unwrap()[0];
        assert_eq!(
            (m0.name.as_str(), m0.mount_path.as_str()),
            (m1.name.as_str(), m1.mount_path.as_str())
        );
        assert!(o.repo_list.is_none());
        let with = build(
            &RunConfig {
                repo_list: Some("gcRegistry: r:5000\n".into()),
                ..Default::default()
            },
            "img",
        );
        assert!(with.repo_list.is_some());
    }
}
