//! ez-bundle: kubeasz's offline bundle (`ezdown`), without docker.
//!
//! - [`catalog`]: which upstream files a version table needs, and where they land;
//! - [`fetch`] / [`binaries`]: resumable, retried, verified transfers;
//! - [`oci`]: a registry client that writes `docker load` + `ctr import` compatible tars;
//! - [`manifest`] / [`verify`] / [`transport`]: the manifest, re-verification, export/import;
//! - [`bundle`]: one `ezdown -D` run, bounded in parallelism;
//! - [`selection`]: the network plugin and the optional parts a bundle is made with.

pub mod arches;
pub mod binaries;
pub mod bundle;
pub mod catalog;
pub mod cause;
pub mod checksum;
pub mod error;
pub mod events;
pub mod fetch;
pub mod manifest;
pub mod mirrors;
pub mod retry;
pub mod selection;
pub mod session;

pub use error::{BundleError, Result};
pub mod images;
pub mod oci;
pub mod transport;
pub mod verify;
