//! ez-pki: see Cargo.toml description.
