//! [`ClusterApi`] over kube-rs. Invariant: no retries here (see [`super::api`]).

use super::RunConfig;
use super::api::{ApiError, ClusterApi, ContainerInfo, NodeInfo, PodInfo, WatchItem};
use super::objects::RunObjects;
use super::{SIDECAR_CONTAINER, SUITE_CONTAINER};
use crate::version::KubeVersion;
use futures::stream::BoxStream;
use futures::{AsyncReadExt, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams, WatchEvent, WatchParams};

/// The kube-rs client of a run.
#[derive(Clone)]
pub struct KubeApi {
    pub client: Client,
}

/// The client's error as one line saying what to do for the common cases.
fn e(err: kube::Error) -> ApiError {
    const WHO: &str = "use the cluster's admin kubeconfig (clusters/<cluster>/kubectl.kubeconfig) or pass --kubeconfig";
    match &err {
        kube::Error::Api(s) if s.code == 401 => ApiError(format!(
            "the API server does not accept these credentials (HTTP 401: {}); {WHO}",
            s.message
        )),
        kube::Error::Api(s) if s.code == 403 => ApiError(format!(
            "forbidden (HTTP 403: {}): a conformance run needs cluster-admin rights (it creates \
             a namespace, a ClusterRole and its binding); {WHO}",
            s.message
        )),
        kube::Error::HyperError(_) | kube::Error::Service(_) => ApiError(format!(
            "cannot reach the API server ({err}); check that it runs and that the kubeconfig's \
             server address is reachable from here"
        )),
        _ => ApiError(err.to_string()),
    }
}

fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

fn container(pod: &Pod, name: &str) -> ContainerInfo {
    let image = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == name))
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let st = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == name))
        .and_then(|c| c.state.clone());
    let waiting = st.as_ref().and_then(|s| s.waiting.clone());
    ContainerInfo {
        image,
        waiting_reason: waiting.as_ref().and_then(|w| w.reason.clone()),
        waiting_message: waiting.and_then(|w| w.message),
        running: st.as_ref().is_some_and(|s| s.running.is_some()),
        exit_code: st.and_then(|s| s.terminated).map(|t| t.exit_code),
    }
}

/// The machine's view of a pod.
pub fn pod_info(pod: &Pod) -> PodInfo {
    let status = pod.status.as_ref();
    PodInfo {
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        reason: status.and_then(|s| s.reason.clone()),
        message: status.and_then(|s| s.message.clone()),
        resource_version: pod.metadata.resource_version.clone().unwrap_or_default(),
        suite: container(pod, SUITE_CONTAINER),
        sidecar: container(pod, SIDECAR_CONTAINER),
    }
}

/// The preflight's view of a node.
pub fn node_info(n: &Node) -> NodeInfo {
    let spec = n.spec.as_ref();
    let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let taints: Vec<String> = spec
        .and_then(|s| s.taints.as_ref())
        .map(|ts| {
            ts.iter()
                .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect()
        })
        .unwrap_or_default();
    let tainted = !taints.is_empty();
    let unschedulable_because: Vec<String> = cordoned
        .then(|| "cordoned".to_string())
        .into_iter()
        .chain(taints)
        .collect();
    let status = n.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let images = status
        .and_then(|s| s.images.as_ref())
        .map(|is| {
            is.iter()
                .flat_map(|i| i.names.clone().unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    NodeInfo {
        name: n.metadata.name.clone().unwrap_or_default(),
        ready,
        schedulable: !cordoned && !tainted,
        unschedulable_because,
        images,
    }
}

impl ClusterApi for KubeApi {
    async fn nodes(&self) -> Result<Vec<NodeInfo>, ApiError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let list = api.list(&ListParams::default()).await.map_err(e)?;
        Ok(list.items.iter().map(node_info).collect())
    }

    async fn server_version(&self) -> Result<KubeVersion, ApiError> {
        let info = self.client.apiserver_version().await.map_err(e)?;
        info.git_version.parse().map_err(|_| {
            ApiError(format!(
                "server version {} does not parse",
                info.git_version
            ))
        })
    }

    async fn namespace_exists(&self, ns: &str) -> Result<bool, ApiError> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api.get(ns).await {
            Ok(_) => Ok(true),
            Err(err) if is_not_found(&err) => Ok(false),
            Err(err) => Err(e(err)),
        }
    }

    async fn create_run(&self, o: &RunObjects) -> Result<(), ApiError> {
        let pp = PostParams::default();
        let c = self.client.clone();
        let ns = o.namespace.metadata.name.clone().unwrap_or_default();
        Api::<Namespace>::all(c.clone())
            .create(&pp, &o.namespace)
            .await
            .map_err(e)?;
        Api::<ServiceAccount>::namespaced(c.clone(), &ns)
            .create(&pp, &o.service_account)
            .await
            .map_err(e)?;
        Api::<ClusterRole>::all(c.clone())
            .create(&pp, &o.cluster_role)
            .await
            .map_err(e)?;
        Api::<ClusterRoleBinding>::all(c.clone())
            .create(&pp, &o.binding)
            .await
            .map_err(e)?;
        if let Some(cm) = &o.repo_list {
            Api::<ConfigMap>::namespaced(c.clone(), &ns)
                .create(&pp, cm)
                .await
                .map_err(e)?;
        }
        Api::<Pod>::namespaced(c, &ns)
            .create(&pp, &o.pod)
            .await
            .map_err(e)?;
        Ok(())
    }

    async fn delete_run(&self, cfg: &RunConfig) -> Result<(), ApiError> {
        let dp = DeleteParams::background();
        let c = self.client.clone();
        let ignore = |r: Result<(), kube::Error>| match r {
            Err(err) if !is_not_found(&err) => Err(e(err)),
            _ => Ok(()),
        };
        ignore(
            Api::<ClusterRoleBinding>::all(c.clone())
                .delete(&cfg.cluster_role, &dp)
                .await
                .map(|_| ()),
        )?;
        ignore(
            Api::<ClusterRole>::all(c.clone())
                .delete(&cfg.cluster_role, &dp)
                .await
                .map(|_| ()),
        )?;
        ignore(
            Api::<Namespace>::all(c)
                .delete(&cfg.namespace, &dp)
                .await
                .map(|_| ()),
        )
    }

    async fn get_pod(&self, ns: &str, name: &str) -> Result<Option<PodInfo>, ApiError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        match api.get(name).await {
            Ok(p) => Ok(Some(pod_info(&p))),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(e(err)),
        }
    }

    async fn watch_pod(
        &self,
        ns: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<BoxStream<'static, Result<WatchItem, ApiError>>, ApiError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let wp = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(290);
        let s = api.watch(&wp, resource_version).await.map_err(e)?;
        Ok(s.filter_map(|ev| async move {
            match ev {
                Ok(WatchEvent::Added(p) | WatchEvent::Modified(p)) => {
                    Some(Ok(WatchItem::Pod(Box::new(pod_info(&p)))))
                }
                Ok(WatchEvent::Deleted(_)) => Some(Ok(WatchItem::Deleted)),
                Ok(WatchEvent::Bookmark(_)) => None,
                Ok(WatchEvent::Error(s)) if s.code == 410 => Some(Ok(WatchItem::Expired)),
                Ok(WatchEvent::Error(s)) => Some(Err(ApiError(s.message.clone()))),
                Err(err) => Some(Err(e(err))),
            }
        })
        .boxed())
    }

    async fn logs(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<Vec<u8>, ApiError>>, ApiError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let lp = LogParams {
            container: Some(container.to_string()),
            follow,
            ..Default::default()
        };
        let r = api.log_stream(pod, &lp).await.map_err(e)?;
        // Chunks as they come (not lines: Ginkgo's progress line stays open for hours); the
        // stream ends after the first read error.
        let chunks = futures::stream::unfold(Some(Box::pin(r)), |reader| async move {
            let mut reader = reader?;
            let mut buf = vec![0u8; 16 * 1024];
            match reader.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(buf), Some(reader)))
                }
                Err(err) => Some((Err(ApiError(err.to_string())), None)),
            }
        });
        Ok(chunks.boxed())
    }
}

/// A client from `kubeconfig` when that file exists, else from the environment
/// (`KUBECONFIG`, `~/.kube/config`, in-cluster).
pub async fn client_from(kubeconfig: Option<&std::path::Path>) -> Result<KubeApi, ApiError> {
    let config = match kubeconfig.filter(|p| p.is_file()) {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .map_err(|err| ApiError(format!("{}: {err}", p.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|err| ApiError(format!("{}: {err}", p.display())))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|err| ApiError(err.to_string()))?,
    };
    Ok(KubeApi {
        client: Client::try_from(config).map_err(e)?,
    })
}
