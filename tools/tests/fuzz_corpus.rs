//! The committed fuzz corpus of the tools' targets (`fuzz/corpus`),
//! replayed through the same checks the fuzz targets run (`make fuzz`,
//! nightly), here on stable Rust.

use driver::fuzz::{corpus_dir, replay};

#[test]
fn flow_tag_corpus() {
    replay(&corpus_dir("flow_tag"), ixy_tools::fuzz::flow_tag);
}

#[test]
fn ptp_probe_corpus() {
    replay(&corpus_dir("ptp_probe"), ixy_tools::fuzz::ptp_probe);
}
