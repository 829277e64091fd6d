//! The model's cost per frame, for profiling: one cable (tester port 2 to
//! DUT port 0), line rate lifted, the model run inline in this thread so
//! that `valgrind --tool=callgrind --toggle-collect='*Lab::step*'` counts
//! the model's instructions alone. Prints the frames moved and the time
//! the model spent on them (the feeding is not timed): the frames per
//! second one model thread could move if feeding cost nothing.
//!
//! With QUEUES above 1, RSS spreads 64 UDP flows over that many Rx queues
//! of the DUT, each with its own ring, as with one worker per queue.
//!
//! `cargo run --release -p ixy-sim --example model_profile -- [FRAMES] [LEN] [RING] [QUEUES]`

use ixy_sim::harness::{self, udp_frame, Dma, RxRing, TxRing};
use ixy_sim::{Bar, Lab, LabConfig};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let frames: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let len: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let size: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(2048);
    let queues: u32 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .clamp(1, 16);
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
    let mut rx: Vec<RxRing> = (0..queues)
        .map(|q| RxRing::new(&dut, q, dma(&format!("rx{q}")), size, 2048, true).expect("Rx ring"))
        .collect();
    if queues > 1 {
        // A fixed key; any key spreads the 64 flows.
        let key: [u8; 40] = std::array::from_fn(|i| [0x6d, 0x5a, 0x56, 0xda][i % 4] ^ i as u8);
        harness::program_rss(&dut, &key, queues);
    }
    let mut tx = TxRing::new(&tester, 0, dma("tx2"), size, 2048).expect("Tx ring");
    lab.run_inline().expect("inline");
    let flows: Vec<Vec<u8>> = (0..64u8)
        .map(|i| {
            let src = [10, 0, 0, i];
            udp_frame(ixy_sim::lab::mac_of(0), src, [10, 1, 0, 1], 1, 2, len, 0)
        })
        .collect();
    let frame = &flows[0];
    assert!(tx.prefill_flows(&flows), "frames fit a buffer");
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
        received += rx.iter_mut().map(|r| r.recycle(&dut) as u64).sum::<u64>();
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
