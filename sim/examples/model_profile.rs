//! The model's cost per frame, for profiling: one cable (tester port 2 to
//! DUT port 0), line rate lifted, the model run inline in this thread so
//! that `valgrind --tool=callgrind --toggle-collect='*Lab::step*'` counts
//! the model's instructions alone. Prints the frames moved and the time
//! the model spent on them (the feeding is not timed): the frames per
//! second one model thread could move if feeding cost nothing.
//!
//! `cargo run --release -p ixy-sim --example model_profile -- [FRAMES] [LEN] [RING]`

use ixy_sim::harness::{self, udp_frame, Dma, RxRing, TxRing};
use ixy_sim::{Bar, Lab, LabConfig};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let frames: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let len: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let size: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2048);
    let mut cfg = LabConfig::new(&format!("profile-{}", std::process::id()));
    cfg.line_rate = false;
    let mut lab = Lab::start(cfg).expect("lab starts");
    let dut = Bar::open(&lab.bar_path(0)).expect("DUT BAR");
    let tester = Bar::open(&lab.bar_path(2)).expect("tester BAR");
    let wait = Duration::from_secs(10);
    harness::init_port(&dut, true, wait).expect("DUT init");
    harness::init_port(&tester, true, wait).expect("tester init");
    let bytes = size as usize * (16 + 2048);
    let dma = |name: &str| Dma::new(&lab.iommu_path(), &lab.dir().join(name), bytes).expect("DMA");
    let mut rx = RxRing::new(&dut, 0, dma("rx0"), size, 2048, true).expect("Rx ring");
    let mut tx = TxRing::new(&tester, 0, dma("tx2"), size, 2048).expect("Tx ring");
    lab.run_inline().expect("inline");
    let frame = udp_frame(
        ixy_sim::lab::mac_of(0),
        [10, 0, 0, 1],
        [10, 1, 0, 1],
        1,
        2,
        len,
        0,
    );
    assert!(tx.prefill(&frame), "frame fits a buffer");
    let mut received = 0u64;
    let mut busy = std::time::Duration::ZERO;
    while received < frames {
        let mut queued = false;
        for _ in 0..size.min(256) {
            if !tx.push_again(frame.len()) {
                break;
            }
            queued = true;
        }
        if queued {
            tx.flush(&tester);
        }
        let start = std::time::Instant::now();
        lab.step();
        busy += start.elapsed();
        received += rx.recycle(&dut) as u64;
    }
    let ns = busy.as_nanos() as f64 / received as f64;
    println!(
        "{received} frames of {} B: the model took {ns:.1} ns per frame ({:.2} Mpps)",
        len + 4,
        1e3 / ns
    );
    drop((rx, tx));
    lab.stop();
}
