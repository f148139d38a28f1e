//! kubeasz cluster model: the `hosts` inventory, `config.yml`, validation, derived values and the
//! version table shared with `ezdown`.
//!
//! Entry points: [`load_cluster`] (a `clusters/<c>` folder → [`Cluster`] or every
//! [`Diagnostic`]), [`Cluster::template_context`] / [`Cluster::host_context`] for templates,
//! [`Host::vars`] for the executor, and [`templates`] for `ezctl new` / `start-aio`.

pub mod config;
mod context;
pub mod diag;
#[doc(hidden)]
pub mod fuzzing;
pub mod ini;
pub mod jinja;
pub mod layout;
pub mod load;
pub mod model;
pub mod net;
pub mod templates;
pub mod validate;
pub mod versions;

pub use config::Config;
pub use diag::{Diagnostic, Diagnostics, Severity, Span};
pub use ini::Inventory;
pub use layout::BundleLayout;
pub use load::{check_cluster, load_cluster, parse_cluster, write_atomic, write_atomic_mode};
pub use model::{Cluster, Derived, Host};
pub use versions::{VersionError, VersionTable};
