//! Fuzz both files at once (hosts, NUL, config.yml) through the model and validation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ez_inventory::fuzzing::both(data));
