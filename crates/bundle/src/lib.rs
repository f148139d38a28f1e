//! ez-bundle: see Cargo.toml description.
