//! Playbooks as data and the parallel install engine.
//!
//! `playbooks/` holds kubeasz's structure as YAML (plays over host groups → roles → tasks)
//! with tera templates; [`load::Library`] reads and checks it, [`engine::run_playbook`] runs
//! it over an inventory through [`remote::Remote`] connections, recording state for resume.

pub mod apply;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod event;
pub mod facts;
pub mod kernel;
pub mod load;
pub mod localsum;
pub mod model;
pub mod prefetch;
pub mod remote;
pub mod render;
pub mod select;
pub mod state;
pub mod text;
pub mod vars;
pub mod wait;

pub use engine::{RunOptions, run_playbook};
pub use error::PlayError;
pub use event::{Event, Summary, TaskStatus};
pub use load::Library;
pub use remote::{CmdResult, Remote, RemoteError, RemoteErrorKind, Source};
pub use vars::{Inventory, Vars};
