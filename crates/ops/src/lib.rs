//! The cluster operations of kubeasz-rs as a library: the context a command runs in, loading
//! a cluster, preflight and host facts, SSH connections (with relay), the session that runs
//! playbooks on some hosts, and the commands built on them as phases.
//!
//! Invariant: nothing here parses a command line; what a person sees is the caller's
//! [`report::Report`] and the typed results and [`refusal::Refusal`]s returned.

pub mod adhoc;
pub mod aio;
pub mod backup;
pub mod certs;
pub mod ctx;
pub mod deploy;
pub mod e2e_list;
pub mod etcd;
pub mod home;
pub mod hosts_file;
pub mod inventory_change;
pub mod keys;
pub mod lifecycle;
pub mod masters;
pub mod new_cluster;
pub mod nodes;
pub mod phase;
pub mod pipeline;
pub mod refusal;
pub mod render;
pub mod report;
pub mod session;
pub mod setup;
pub mod upgrade;

#[cfg(test)]
mod test_support;
