//! The committed fuzz corpus of the model's targets (`fuzz/corpus`),
//! replayed through the same checks the fuzz targets run (`make fuzz`,
//! nightly), here on stable Rust.

use driver::fuzz::{corpus_dir, replay};

#[test]
fn sim_frame_corpus() {
    replay(&corpus_dir("sim_frame"), ixy_sim::fuzz::frame);
}

#[test]
fn control_line_corpus() {
    replay(&corpus_dir("control_line"), ixy_sim::fuzz::control_line);
}

#[test]
fn rss_input_corpus() {
    replay(&corpus_dir("rss_input"), ixy_sim::fuzz::rss_input);
}
