//! kubeasz cluster model: the `hosts` inventory, `config.yml`, validation, derived values and the
//! version table shared with `ezdown`.

pub mod versions;

pub use versions::VersionTable;
