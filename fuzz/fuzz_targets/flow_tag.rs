//! Fuzz target: ixy-pktgen's flow and sequence tag and its verifier (tools/src/flows.rs).
//! The checks are `tools::fuzz::flow_tag`, which `cargo test` also runs on the corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tools::fuzz::flow_tag(data));
