//! The committed fuzz corpus of the driver's targets (`fuzz/corpus`),
//! replayed through the same checks the fuzz targets run (`make fuzz`,
//! nightly), here on stable Rust.

use ixy_driver::fuzz::{corpus_dir, replay};

#[test]
fn rx_writeback_corpus() {
    replay(&corpus_dir("rx_writeback"), ixy_driver::fuzz::rx_writeback);
}
