//! ez-conformance: the CNCF conformance run, its results, the submission and the bot's rules.
//!
//! Modules: [`version`] (Kubernetes versions), [`lists`] (embedded required-test lists).

pub mod e2e_manifest;
pub mod e2elog;
pub mod images;
pub mod junit;
pub mod lists;
mod lists_fast;
pub mod product;
pub mod report;
pub mod run;
pub mod source;
pub mod submission;
pub mod verify;
pub mod version;
