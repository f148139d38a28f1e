//! The few Kubernetes operations a run needs. Invariant: implementations never retry on their
//! own; retries (re-list after a lost watch, log re-attach) are the machine's decisions.

use crate::version::KubeVersion;
use futures::stream::BoxStream;
use std::future::Future;

#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub String);

/// State of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerInfo {
    pub image: String,
    pub waiting_reason: Option<String>,
    pub waiting_message: Option<String>,
    pub running: bool,
    pub exit_code: Option<i32>,
}

/// What the machine reads of the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodInfo {
    pub phase: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub resource_version: String,
    pub suite: ContainerInfo,
    pub sidecar: ContainerInfo,
}

/// What the preflight reads of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub ready: bool,
    /// Not cordoned and without a NoSchedule/NoExecute taint: the suite's pods may land here.
    pub schedulable: bool,
    /// Why not, in the node's words: `cordoned`, the keys of those taints
    /// (`node.kubernetes.io/disk-pressure`).
    pub unschedulable_because: Vec<String>,
    /// The images the kubelet reports (`status.images[].names`; capped by the kubelet's
    /// `nodeStatusMaxImages`, 50 by default).
    pub images: Vec<String>,
}

/// One watch item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchItem {
    Pod(Box<PodInfo>),
    Deleted,
    /// The resource version is too old (HTTP 410): re-list.
    Expired,
}

/// Everything the machine needs from the cluster.
pub trait ClusterApi: Send + Sync {
    fn server_version(&self) -> impl Future<Output = Result<KubeVersion, ApiError>> + Send;
    fn nodes(&self) -> impl Future<Output = Result<Vec<NodeInfo>, ApiError>> + Send;
    fn namespace_exists(&self, ns: &str) -> impl Future<Output = Result<bool, ApiError>> + Send;
    /// Creates the run's objects (see [`super::objects`]).
    fn create_run(
        &self,
        objs: &super::objects::RunObjects,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Deletes them; objects already gone are not an error.
    fn delete_run(
        &self,
        cfg: &super::RunConfig,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn get_pod(
        &self,
        ns: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<PodInfo>, ApiError>> + Send;
    /// Watches one pod from `resource_version`; the stream may end at any time (lost watch).
    fn watch_pod(
        &self,
        ns: &str,
        name: &str,
        resource_version: &str,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<WatchItem, ApiError>>, ApiError>> + Send;
    /// A container's log from its start, in chunks as they arrive (lines may span chunks, see
    /// [`super::lines`]); `follow` keeps the stream open while it runs.
    fn logs(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        follow: bool,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<Vec<u8>, ApiError>>, ApiError>> + Send;
}
