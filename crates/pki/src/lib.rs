//! ez-pki: kubeasz's PKI made with rcgen on the deploy host.
//!
//! The set of certificates, their subjects, SANs, profiles, file names and
//! the kubeconfigs follow kubeasz (cfssl) exactly; see `docs/en/pki.md`.
//!
//! - [`PkiSpec`]: plain inputs (filled from the cluster model by the caller).
//! - [`Pki::ensure`]: generate once, keep what fits, report or reissue drift
//!   ([`RenewPolicy`]), back up and renew everything for kca-renew.
//! - [`Pki::add_user`] / [`Pki::remove_user`] / [`Pki::list_users`]: kcfg-adm.
//! - [`CertInfo`] / [`verify_chain`]: read certificates back and check who signed them.

pub mod catalog;
pub mod ensure;
pub mod error;
pub mod fsio;
pub mod issue;
pub mod kcfg_files;
pub mod kubeconfig;
pub mod prune;
pub mod reader;
pub mod report;
pub mod spec;
pub mod users;

pub use catalog::{CertSpec, Profile, San};
pub use ensure::{LoadedCa, Pki, cert_path, key_path};
pub use error::PkiError;
pub use kubeconfig::{Kubeconfig, KubeconfigNames};
pub use reader::{CertInfo, verify_chain};
pub use report::{
    CertOutcome, CertReport, Drift, EnsureReport, KubeconfigOutcome, KubeconfigReport, RenewPolicy,
};
pub use spec::{Expiry, HarborSpec, KeyAlgorithm, NodeSpec, PkiSpec};
pub use users::{UserInfo, UserReport, user_name};
