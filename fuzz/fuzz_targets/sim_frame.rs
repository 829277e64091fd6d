//! Fuzz target: the model's frame parser (sim/src/frame.rs).
//! The checks are `sim::fuzz::frame`, which `cargo test` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::frame(data));
