//! ez-executor: see Cargo.toml description.
