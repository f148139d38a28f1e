//! Fuzz the config parser and the whole model/validation pipeline behind it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ez_inventory::fuzzing::config(data));
