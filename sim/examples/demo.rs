//! A tour of the simulated 82599, driven register by register: a lab with
//! DUT port 0 cabled to tester port 2, RSS over four queues on the DUT,
//! 1024 UDP flows at line rate, the queues' shares against the Toeplitz
//! prediction, the port counters, and a round-trip latency histogram from
//! IEEE 1588 hardware timestamps of PTP probes that the DUT reflects.
//!
//! `make demo` runs it until the supervisor and the tools take over
//! (issues 4 and 5). Run: `cargo run --release -p ixy-sim --example demo`.

use driver::regs;
use ixy_sim::harness::{self, ptp_frame, udp_frame, Dma, RxRing, TxRing};
use ixy_sim::rss::{self, RssState};
use ixy_sim::{Bar, Lab, LabConfig, SimCounter};
use std::time::{Duration, Instant};

const QUEUES: u32 = 4;
const FLOWS: u32 = 1024;
const FRAME: usize = 508; // 512 bytes on the wire with the FCS
const KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

fn main() {
    if let Err(e) = run() {
        eprintln!("demo: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = LabConfig::new(&format!("demo-{}", std::process::id()));
    println!("== ixy-mp simulator demo ==");
    println!(
        "lab {}: 4 simulated 82599 ports, cables 0-2 and 1-3, 10 Gbit/s each",
        cfg.dir().display()
    );
    let lab = Lab::start(cfg)?;
    let dut = Bar::open(&lab.bar_path(0))?;
    let tester = Bar::open(&lab.bar_path(2))?;
    let wait = Duration::from_secs(10);
    harness::init_port(&dut, false, wait)?;
    harness::init_port(&tester, true, wait)?;
    println!("ports 0 and 2: reset, EEPROM and DMA handshakes done, link up at 10 Gbit/s");

    // RSS on the DUT (82599 datasheet 7.1.2.8): key, RETA j -> j % 4, IPv4/UDP.
    for i in 0..10u32 {
        let k = &KEY[4 * i as usize..4 * i as usize + 4];
        dut.write(regs::rssrk(i), u32::from_le_bytes([k[0], k[1], k[2], k[3]]));
    }
    for i in 0..32u32 {
        let e = |j: u32| (4 * i + j) % QUEUES;
        dut.write(regs::reta(i), e(0) | e(1) << 8 | e(2) << 16 | e(3) << 24);
    }
    dut.write(
        regs::MRQC,
        regs::MRQC_RSSEN | regs::MRQC_RSS_FIELD_IPV4 | regs::MRQC_RSS_FIELD_IPV4_UDP,
    );
    // Queue i counts in statistics set i (RQSMR, 8.2.3.23.71).
    dut.write(regs::rqsmr(0), 0x0302_0100);

    let mut dma = |name: &str, len: usize| -> std::io::Result<Dma> {
        Dma::new(&lab.iommu_path(), &lab.dir().join(name), len)
    };
    let ring = 1024u32;
    let mut rx: Vec<RxRing> = (0..QUEUES)
        .map(|q| {
            RxRing::new(
                &dut,
                q,
                dma(&format!("rx{q}"), ring as usize * (16 + 2048))?,
                ring,
                2048,
                true,
            )
        })
        .collect::<Result<_, _>>()?;
    let mut tx = TxRing::new(
        &tester,
        0,
        dma("tx", ring as usize * (16 + 2048))?,
        ring,
        2048,
    )?;

    // Traffic: 1024 flows (source IP varies), round robin, paced by the cable.
    let frames: Vec<Vec<u8>> = (0..FLOWS)
        .map(|i| {
            udp_frame(
                ixy_sim::lab::mac_of(0),
                [10, 0, (i >> 8) as u8, i as u8],
                [10, 1, 0, 1],
                1234,
                5678,
                FRAME,
                0,
            )
        })
        .collect();
    let cfg = RssState {
        mrqc: dut.read(regs::MRQC),
        key: KEY,
        reta: std::array::from_fn(|j| (j as u32 % QUEUES) as u8),
    };
    let predicted: Vec<u32> = frames
        .iter()
        .map(|f| rss::classify(&cfg, &ixy_sim::frame::parse(f)).queue)
        .collect();
    let seconds = 2.0;
    println!(
        "\nsending {FLOWS} UDP flows of {} B frames for {seconds} s, RSS over {QUEUES} queues ...",
        FRAME + 4
    );
    let start = Instant::now();
    let (mut sent, mut got) = (0u64, vec![0u64; QUEUES as usize]);
    let mut expected = vec![0u64; QUEUES as usize];
    while start.elapsed().as_secs_f64() < seconds {
        let mut queued = false;
        while tx.push(&frames[(sent % u64::from(FLOWS)) as usize], 0) {
            expected[predicted[(sent % u64::from(FLOWS)) as usize] as usize] += 1;
            sent += 1;
            queued = true;
        }
        if queued {
            tx.flush(&tester);
        }
        for (q, r) in rx.iter_mut().enumerate() {
            got[q] += r.recycle(&dut) as u64;
        }
    }
    // Let the last frames arrive; drops (none expected) are counted.
    let (mut dropped, mut missed) = (0u64, 0u64);
    harness::wait_for(wait, || {
        for (q, r) in rx.iter_mut().enumerate() {
            got[q] += r.recycle(&dut) as u64;
        }
        dropped += (0..QUEUES)
            .map(|q| u64::from(dut.read(regs::qprdc(q))))
            .sum::<u64>();
        missed += u64::from(dut.read(regs::mpc(0)));
        tx.idle() && got.iter().sum::<u64>() + dropped + missed >= sent
    });
    let elapsed = start.elapsed().as_secs_f64();
    let total: u64 = got.iter().sum();
    println!("queue  received  Toeplitz predicted  share");
    for q in 0..QUEUES as usize {
        println!(
            "{q:>5}  {:>8}  {:>18}  {:>4.1}%",
            got[q],
            expected[q],
            100.0 * got[q] as f64 / total.max(1) as f64
        );
    }
    println!(
        "sent {sent}, received {total} ({:.2} Mpps, {:.2} Gbit/s of frames); line rate is {:.2} Mpps",
        total as f64 / elapsed / 1e6,
        total as f64 * (FRAME + 4) as f64 * 8.0 / elapsed / 1e9,
        ixy_sim::wire::line_rate_pps(FRAME) / 1e6
    );
    println!(
        "tester GPTC {}  DUT GPRC {}  DUT missed (MPC) {missed}  no-descriptor drops (QPRDC) {dropped}  IOMMU faults {}",
        tester.read(regs::GPTC),
        dut.read(regs::GPRC),
        dut.sim_counter(SimCounter::IommuFaults) + tester.sim_counter(SimCounter::IommuFaults)
    );

    latency(&dut, &tester, &mut rx[0], &mut tx, &mut dma)?;
    drop((rx, tx));
    lab.stop();
    println!(
        "\nlab stopped and removed. Next: the driver, the supervisor and the tools (see README)."
    );
    Ok(())
}

/// PTP probes from the tester, reflected by the DUT, timestamped by the
/// tester's 1588 unit on the way out and back: the round trip on one clock.
fn latency(
    dut: &Bar,
    tester: &Bar,
    dut_rx: &mut RxRing,
    tester_tx: &mut TxRing,
    dma: &mut impl FnMut(&str, usize) -> std::io::Result<Dma>,
) -> Result<(), Box<dyn std::error::Error>> {
    dut.write(regs::MRQC, 0); // probes to queue 0
    let mut dut_tx = TxRing::new(dut, 0, dma("dut-tx", 64 * (16 + 2048))?, 64, 2048)?;
    let mut tester_rx = RxRing::new(
        tester,
        0,
        dma("tester-rx", 64 * (16 + 2048))?,
        64,
        2048,
        true,
    )?;
    tester.write(regs::TIMINCA, (1 << regs::TIMINCA_IP_SHIFT) | 1); // one tick per 6.4 ns
    tester.write(regs::TSYNCTXCTL, regs::TSYNCTXCTL_ENABLED);
    tester.write(
        regs::TSYNCRXCTL,
        regs::TSYNCRXCTL_ENABLED | regs::TSYNCRXCTL_TYPE_L2_L4_V2,
    );
    let probes = 2000;
    let mut samples = Vec::with_capacity(probes);
    let wait = Duration::from_secs(2);
    for seq in 0..probes as u16 {
        let probe = ptp_frame(ixy_sim::lab::mac_of(0), seq, 90);
        tester_tx.send(tester, &probe, regs::ADVTXD_MAC_TSTAMP);
        let mut reflected = false;
        spin_until(wait, || {
            if let Some((_, mut data)) = dut_rx.poll(dut) {
                data[..6].copy_from_slice(&ixy_sim::lab::mac_of(2));
                reflected = dut_tx.send(dut, &data, 0);
            }
            reflected
        });
        if !spin_until(wait, || {
            tester_rx
                .poll(tester)
                .is_some_and(|(d, _)| d.status & regs::RXD_STAT_TS != 0)
        }) {
            continue;
        }
        let tx_ts =
            u64::from(tester.read(regs::TXSTMPL)) | u64::from(tester.read(regs::TXSTMPH)) << 32;
        let rx_ts =
            u64::from(tester.read(regs::RXSTMPL)) | u64::from(tester.read(regs::RXSTMPH)) << 32;
        samples.push(rx_ts.saturating_sub(tx_ts) * 64 / 10); // ticks of 6.4 ns -> ns
    }
    samples.sort_unstable();
    println!(
        "\nround-trip latency of {} PTP probes (1588 timestamps, tester -> DUT reflect -> tester):",
        samples.len()
    );
    if samples.is_empty() {
        return Err("no probe came back".into());
    }
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "min {} ns  p50 {} ns  p90 {} ns  p99 {} ns  p99.9 {} ns  max {} ns",
        samples[0],
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        samples[samples.len() - 1]
    );
    // A log2 histogram as a bar chart that fits 80 columns.
    let mut buckets = std::collections::BTreeMap::new();
    for &s in &samples {
        *buckets
            .entry(64 - s.max(1).leading_zeros())
            .or_insert(0usize) += 1;
    }
    let most = buckets.values().copied().max().unwrap_or(1);
    for (bits, count) in buckets {
        let lo = 1u64 << (bits - 1);
        let bar = "#".repeat((count * 50).div_ceil(most));
        println!("{:>9} ns .. {:>9} ns {:>6} {bar}", lo, lo * 2, count);
    }
    Ok(())
}

/// Busy-polls `cond` (as a worker does) until it holds or `timeout` passes.
fn spin_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}
