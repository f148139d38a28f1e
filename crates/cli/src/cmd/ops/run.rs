//! The session that runs playbooks on a cluster's hosts lives in `ez_ops::session`; the
//! day-2 commands here use it through this name.

pub use ez_ops::session::*;
