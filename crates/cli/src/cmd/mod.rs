//! One module per command group.

pub mod cluster;
pub mod conformance;
pub mod exec;
pub mod ops;
pub mod registry;
pub mod setup;
pub mod setup_display;
