pub mod cluster;
/// An image tar in the bundle made by ezdown's own OCI client from a loopback registry.
pub mod ezdown_image;
