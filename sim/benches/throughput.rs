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
        .unwrap_or(5)
        .max(1);
    let mut cfg = LabConfig::new(&format!("bench-{}", std::process::id()));
    cfg.line_rate = false;
    // The model on core 1, this feeding thread on core 0: no migrations.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores >= 2 {
        cfg.core = Some(1);
        sim::lab::pin_to_core(0).expect("pin the bench thread");
    }
    let lab = Lab::start(cfg).expect("lab starts");
    let dut = Bar::open(&lab.bar_path(0)).expect("DUT BAR");
    let tester = Bar::open(&lab.bar_path(2)).expect("tester BAR");
    let wait = Duration::from_secs(10);
    harness::init_port(&dut, true, wait).expect("DUT init");
    harness::init_port(&tester, true, wait).expect("tester init");
    let dma = |name: &str, len: usize| {
        Dma::new(&lab.iommu_path(), &lab.dir().join(name), len).expect("DMA region")
    };
    let size = 2048;
    let mut rx = RxRing::new(
        &dut,
        0,
        dma("rx", size as usize * (16 + 2048)),
        size,
        2048,
        true,
    )
    .expect("Rx ring");
    let mut tx = TxRing::new(
        &tester,
        0,
        dma("tx", size as usize * (16 + 2048)),
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
        let mut spins = 0u32;
        while !spins.is_multiple_of(256) || start.elapsed() < duration {
            spins = spins.wrapping_add(1);
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
    let mut rates: Vec<f64> = (0..seconds)
        .map(|round| {
            let (frames, secs) = run(Duration::from_secs(1));
            let mpps = frames as f64 / secs / 1e6;
            println!("  round {round}: {mpps:.2} Mpps ({frames} frames in {secs:.3} s)");
            mpps
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    let dropped = dut.read(regs::qprdc(0));
    let missed = dut.read(regs::mpc(0));
    println!(
        "sim throughput, 64 B frames, one cable, line rate lifted, into a DUT Rx ring: \
         median {:.2} Mpps, best {:.2} Mpps over {seconds} rounds of 1 s \
         ({dropped} dropped for want of descriptors, {missed} missed)",
        rates[rates.len() / 2],
        rates[rates.len() - 1]
    );
    println!(
        "10 GbE line rate at 64 B for comparison: {:.2} Mpps",
        sim::wire::line_rate_pps(60) / 1e6
    );
    drop((rx, tx));
    lab.stop();
}
