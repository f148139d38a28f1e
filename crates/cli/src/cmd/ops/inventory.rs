//! Editing the hosts file text: `ez_ops::hosts_file`.

pub use ez_ops::hosts_file::*;
