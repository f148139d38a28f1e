//! ez-play: see Cargo.toml description.
