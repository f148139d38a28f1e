//! kubeasz's local registry without docker: a read-only OCI registry serving the images of a
//! bundle's image tars (`down/*.tar`, and `arch/<arch>/down/*.tar`) in place.
//!
//! kubeasz runs `registry:2` on the deploy host and every node resolves `easzlab.io.local` to
//! it (`certs.d/easzlab.io.local:5000/hosts.toml`). Here `ezctl registry` serves the same port
//! from the bundle itself: nothing is pushed or copied, and the images answer to
//! - their own names (`/v2/registry.k8s.io/pause/…`): a mirror with a path, containerd's
//!   `override_path`, as `REGISTRY_MIRRORS` writes for `http://host:5000/v2/registry.k8s.io`;
//! - their path with containerd's `ns` parameter (`/v2/pause/…?ns=registry.k8s.io`): a plain
//!   mirror, `http://host:5000`;
//! - kubeasz's names (`easzlab.io.local:5000/easzlab/pause:3.10.2`).
//!
//! Pull only: every write (push, delete) is refused with 405.

pub mod error;
pub mod names;
pub mod route;
pub mod running;
pub mod serve;
pub mod store;

pub use error::{RegistryError, Result};
pub use running::{Running, image_dirs};
pub use serve::{Access, serve};
pub use store::Store;
