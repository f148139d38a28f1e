//! ez-conformance: see Cargo.toml description.
