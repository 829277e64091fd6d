//! Fuzz target: a control-socket command line (sim/src/control.rs).
//! The checks are `sim::fuzz::control_line`, which `cargo test` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::control_line(data));
