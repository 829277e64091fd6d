//! The simulator's own throughput: 64-byte frames (60 bytes + FCS) from
//! tester port 2 to DUT port 0 over one cable with the line rate lifted,
//! delivered by DMA into a DUT Rx ring. One thread feeds the Tx ring and
//! recycles the Rx ring; the model runs on its own thread.
//!
//! Run with `cargo bench -p sim` (or `make bench`). Prints Mpps.

use driver::regs;
use sim::harness::{self, udp_frame, Dma, RxRing, TxRing};
use sim::{Bar, Lab, LabConfig};
use std::time::{Duration, Instant};

fn main() {
    let seconds: u64 = std::env::var("IXY_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut cfg = LabConfig::new(&format!("bench-{}", std::process::id()));
    cfg.line_rate = false;
    let lab = Lab::start(cfg).expect("lab starts");
    let dut = Bar::open(&lab.bar_path(0)).expect("DUT BAR");
    let tester = Bar::open(&lab.bar_path(2)).expect("tester BAR");
    let wait = Duration::from_secs(10);
    harness::init_port(&dut, true, wait).expect("DUT init");
    harness::init_port(&tester, true, wait).expect("tester init");
    let dma = |name: &str, iova: u64, len: usize| {
        Dma::new(&lab.iommu_path(), &lab.dir().join(name), iova, len).expect("DMA region")
    };
    let size = 2048;
    let mut rx = RxRing::new(
        &dut,
        0,
        dma("rx", 1 << 32, size as usize * (16 + 2048)),
        size,
        2048,
        true,
    )
    .expect("Rx ring");
    let mut tx = TxRing::new(
        &tester,
        0,
        dma("tx", 2 << 32, size as usize * (16 + 2048)),
        size,
        2048,
    )
    .expect("Tx ring");
    let frame = udp_frame(
        sim::lab::mac_of(0),
        [10, 0, 0, 1],
        [10, 1, 0, 1],
        1,
        2,
        60,
        0,
    );

    let mut run = |duration: Duration| -> (u64, f64) {
        let start = Instant::now();
        let mut received = 0u64;
        while start.elapsed() < duration {
            let mut queued = false;
            while tx.push(&frame, 0) {
                queued = true;
            }
            if queued {
                tx.flush(&tester);
            }
            received += rx.recycle(&dut) as u64;
        }
        (received, start.elapsed().as_secs_f64())
    };
    run(Duration::from_millis(500));
    dut.read(regs::qprdc(0));
    dut.read(regs::mpc(0));
    let (frames, secs) = run(Duration::from_secs(seconds));
    let dropped = dut.read(regs::qprdc(0));
    let missed = dut.read(regs::mpc(0));
    println!(
        "sim throughput, 64 B frames, one cable, line rate lifted: {:.2} Mpps delivered into the DUT ring \
         ({frames} frames in {secs:.2} s; {dropped} dropped for want of descriptors, {missed} missed)",
        frames as f64 / secs / 1e6
    );
    println!(
        "10 GbE line rate at 64 B for comparison: {:.2} Mpps",
        sim::wire::line_rate_pps(60) / 1e6
    );
    drop((rx, tx));
    lab.stop();
}
