//! Fuzz target: ixy-latency's PTP probe parser (tools/src/latency.rs).
//! The checks are `tools::fuzz::ptp_probe`, which `cargo test` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tools::fuzz::ptp_probe(data));
