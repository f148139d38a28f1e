//! Images without docker: a registry client and the image tar writer.

pub mod archive;
pub mod auth;
pub mod client;
pub mod creds;
pub mod extract;
pub mod pull;
pub mod reference;

pub use pull::pull_image;
pub use reference::ImageRef;
