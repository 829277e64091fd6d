//! Fuzz target: receive descriptor write-backs as a device leaves them (driver/src/desc.rs).
//! The checks are `driver::fuzz::rx_writeback`, which `cargo test` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| driver::fuzz::rx_writeback(data));
