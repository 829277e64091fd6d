//! Fuzz target: the header extraction feeding the Toeplitz hash, against the driver's software Toeplitz (driver/src/rss.rs).
//! The checks are `sim::fuzz::rss_input`, which `cargo test` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim::fuzz::rss_input(data));
