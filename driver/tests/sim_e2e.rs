//! The driver end to end on a simulated lab: DUT port 0 and tester port 2
//! (cable 0-2), DUT port 1 and tester port 3 (cable 1-3), all driven
//! through this crate exactly as on hardware.
//!
//! Run twice by `make test`: with hugepages, and with `IXY_HUGEPAGES=off`
//! (the `/dev/shm` fallback).

use ixy_driver::regs;
use ixy_driver::{
    Device, InitConfig, Mempool, OpenOptions, Packet, RssConfig, RssKey, RxQueue, TxQueue,
};
use sim::{Lab, LabConfig, SimCounter};
use std::time::{Duration, Instant};

/// The registers of a simulated 82599.
fn regs(d: &Device) -> &ixy_driver::Registers {
    d.regs().expect("a simulated 82599 has registers")
}

const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    lab: Lab,
    name: String,
}

fn lab(test: &str, tweak: impl FnOnce(&mut LabConfig)) -> Setup {
    let name = format!("drv-{test}-{}", std::process::id());
    let mut cfg = LabConfig::new(&name);
    cfg.root = std::path::PathBuf::from(ixy_driver::simdev::DEFAULT_DIR);
    cfg.line_rate = false;
    tweak(&mut cfg);
    Setup {
        lab: Lab::start(cfg).expect("lab starts"),
        name,
    }
}

impl Setup {
    fn open(&self, port: u32, cfg: &InitConfig) -> Device {
        let dev = Device::open(
            &format!("sim:{}/{port}", self.name),
            &OpenOptions::default(),
        )
        .expect("open");
        dev.init(cfg).expect("init");
        dev
    }

    fn iommu_faults(&self) -> u64 {
        (0..4)
            .map(|p| {
                sim::Bar::open(&self.lab.bar_path(p))
                    .expect("bar")
                    .sim_counter(SimCounter::IommuFaults)
            })
            .sum()
    }
}

fn frame(dst: [u8; 6], flow: u32, len: usize) -> Vec<u8> {
    sim::harness::udp_frame(
        dst,
        [10, 0, (flow >> 8) as u8, flow as u8],
        [10, 1, 0, 1],
        1000,
        2000,
        len,
        u64::from(flow),
    )
}

/// What a receive queue got: (bytes, RSS hash, RSS type) per frame.
type Received = Vec<(Vec<u8>, u32, u8)>;

/// Sends `frames` on `tx` (copied into packets of `pool`) while receiving
/// on `queues`, until every frame was sent and `expect` arrived (or WAIT).
/// Lossless only while the Tx ring is smaller than the Rx rings: then
/// every frame in flight fits the receiver even if this thread is slow.
fn transfer<'a, 'b>(
    tx: &mut TxQueue<'a>,
    pool: &'a Mempool,
    frames: &[Vec<u8>],
    queues: &mut [RxQueue<'b>],
    expect: usize,
) -> Vec<Received> {
    let mut got: Vec<Received> = queues.iter().map(|_| Vec::new()).collect();
    let (mut out, mut inbox) = (Vec::with_capacity(64), Vec::with_capacity(64));
    let mut next = 0;
    let start = Instant::now();
    while (next < frames.len()
        || !out.is_empty()
        || got.iter().map(Vec::len).sum::<usize>() < expect)
        && start.elapsed() < WAIT
    {
        while out.len() < 32 && next < frames.len() {
            tx.clean();
            let Some(mut p) = pool.alloc() else { break };
            p.set_len(frames[next].len());
            p.data_mut().copy_from_slice(&frames[next]);
            out.push(p);
            next += 1;
        }
        tx.tx_batch(&mut out);
        for (q, rx) in queues.iter_mut().enumerate() {
            rx.rx_batch(&mut inbox, 64);
            got[q].extend(
                inbox
                    .drain(..)
                    .map(|p: Packet| (p.data().to_vec(), p.rss_hash(), p.rss_type())),
            );
        }
    }
    assert!(
        next == frames.len() && out.is_empty(),
        "sent {next} of {} frames",
        frames.len()
    );
    got
}

#[test]
fn init_brings_the_link_up_and_reads_the_mac() {
    let s = lab("init", |_| {});
    let dut = s.open(0, &InitConfig::default());
    assert_eq!(
        dut.link(),
        ixy_driver::LinkStatus {
            up: true,
            speed_mbps: 10_000
        }
    );
    assert_eq!(dut.mac(), sim::lab::mac_of(0));
    // A bad --device is refused with a clear message.
    let err = Device::open("sim:nosuchlab/0", &OpenOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("does not exist") && err.is_user_error(),
        "{err}"
    );
    let err = Device::open("sim:bad", &OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("sim:LAB/PORT"), "{err}");
}

#[test]
fn rss_spreads_1024_flows_over_four_queues_as_toeplitz_predicts() {
    let s = lab("rss", |_| {});
    let rss = RssConfig::new(4, RssKey::Default).unwrap();
    let dut = s.open(
        0,
        &InitConfig {
            rss: Some(rss.clone()),
            ..InitConfig::default()
        },
    );
    let tester = s.open(
        2,
        &InitConfig {
            promisc: true,
            ..InitConfig::default()
        },
    );
    let pool = Mempool::new(dut.dma(), "t-rss", 4 * 2048 + 256, 2048).unwrap();
    let mut queues: Vec<RxQueue> = (0..4)
        .map(|q| RxQueue::attach(&dut, q, &pool, 2048, true).unwrap())
        .collect();
    let tpool = Mempool::new(tester.dma(), "t-rss-tx", 1024, 2048).unwrap();
    let mut tx = TxQueue::attach(&tester, 0, 512).unwrap();
    let frames: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| frame(dut.mac(), i % 1024, 64))
        .collect();
    let mut predicted = [0usize; 4];
    for i in 0..10_000u32 {
        let flow = i % 1024;
        let q = rss.queue_for_ipv4_udp(
            [10, 0, (flow >> 8) as u8, flow as u8].into(),
            [10, 1, 0, 1].into(),
            1000,
            2000,
        );
        predicted[usize::from(q)] += 1;
    }
    let got = transfer(&mut tx, &tpool, &frames, &mut queues, 10_000);
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(
        counts,
        predicted.to_vec(),
        "per-queue counts equal the Toeplitz prediction"
    );
    for (q, frames) in got.iter().enumerate() {
        for (data, hash, rss_type) in frames {
            let src = [data[26], data[27], data[28], data[29]];
            let want = rss.hash_ipv4(src.into(), [10, 1, 0, 1].into(), Some((1000, 2000)));
            assert_eq!(*hash, want, "descriptor hash equals the software hash");
            assert_eq!(u32::from(*rss_type), regs::RXDADV_RSSTYPE_IPV4_UDP);
            assert_eq!(usize::from(rss.queue_for_hash(*hash)), q);
        }
    }
    assert_eq!(s.iommu_faults(), 0);
}

#[test]
fn forwarding_between_ports_keeps_every_byte() {
    let s = lab("fwd", |_| {});
    let promisc = InitConfig {
        promisc: true,
        ..InitConfig::default()
    };
    let (dut0, dut1, t2, t3) = (
        s.open(0, &promisc),
        s.open(1, &promisc),
        s.open(2, &promisc),
        s.open(3, &promisc),
    );
    // One worker's pool feeds the DUT's Rx queue; what it forwards is freed
    // back into it by the Tx queue of the other port.
    let pool = Mempool::new(dut0.dma(), "t-fwd", 1024, 2048).unwrap();
    let mut rx0 = RxQueue::attach(&dut0, 0, &pool, 512, true).unwrap();
    let mut tx1 = TxQueue::attach(&dut1, 0, 128).unwrap();
    let tpool = Mempool::new(t2.dma(), "t-fwd-gen", 512, 2048).unwrap();
    let mut gen = TxQueue::attach(&t2, 0, 64).unwrap();
    let rpool = Mempool::new(t3.dma(), "t-fwd-sink", 1024, 2048).unwrap();
    let mut sink = [RxQueue::attach(&t3, 0, &rpool, 512, true).unwrap()];
    let frames: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| frame([0xFF; 6], i % 64, 60 + (i as usize * 7) % 1400))
        .collect();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let (mut out, mut inbox, mut fwd) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = 0;
    let start = Instant::now();
    while got.len() < frames.len() && start.elapsed() < WAIT {
        while out.len() < 32 && next < frames.len() {
            gen.clean();
            let Some(mut p) = tpool.alloc() else { break };
            p.set_len(frames[next].len());
            p.data_mut().copy_from_slice(&frames[next]);
            out.push(p);
            next += 1;
        }
        gen.tx_batch(&mut out);
        // The DUT: receive on port 0, touch one byte, send on port 1.
        rx0.rx_batch(&mut fwd, 32);
        for p in fwd.iter_mut() {
            let b = p.data()[6];
            p.data_mut()[6] = b;
        }
        while !fwd.is_empty() {
            tx1.tx_batch(&mut fwd);
        }
        sink[0].rx_batch(&mut inbox, 64);
        got.extend(inbox.drain(..).map(|p: Packet| p.data().to_vec()));
    }
    assert_eq!(
        got.len(),
        frames.len(),
        "every frame came out of the other port"
    );
    assert!(got == frames, "bytes unchanged and in order");
    tx1.detach().unwrap();
    rx0.detach().unwrap();
    assert_eq!(
        pool.free_count(),
        1024,
        "every forwarded buffer went back to its pool"
    );
    assert_eq!(s.iommu_faults(), 0);
}

#[test]
fn drop_en_isolates_a_queue_that_is_never_served() {
    let s = lab("dropen", |_| {});
    let rss = RssConfig::new(2, RssKey::Default).unwrap();
    let dut = s.open(
        0,
        &InitConfig {
            rss: Some(rss.clone()),
            ..InitConfig::default()
        },
    );
    let tester = s.open(
        2,
        &InitConfig {
            promisc: true,
            ..InitConfig::default()
        },
    );
    let pool = Mempool::new(dut.dma(), "t-dropen", 1024, 2048).unwrap();
    let mut served = [RxQueue::attach(&dut, 0, &pool, 256, true).unwrap()];
    let _stuck = RxQueue::attach(&dut, 1, &pool, 64, true).unwrap();
    let tpool = Mempool::new(tester.dma(), "t-dropen-tx", 512, 2048).unwrap();
    let mut tx = TxQueue::attach(&tester, 0, 64).unwrap();
    let frames: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| frame(dut.mac(), i % 1024, 200))
        .collect();
    let to_q0: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| {
            rss.queue_for_ipv4_udp(
                [f[26], f[27], f[28], f[29]].into(),
                [10, 1, 0, 1].into(),
                1000,
                2000,
            ) == 0
        })
        .collect();
    let got = transfer(&mut tx, &tpool, &frames, &mut served, to_q0.len());
    assert_eq!(
        got[0].len(),
        to_q0.len(),
        "queue 0 loses nothing while queue 1 is stuck"
    );
    assert!(
        got[0].iter().map(|g| &g.0).eq(to_q0.iter().copied()),
        "in order"
    );
    let mut stats = ixy_driver::stats::PortStats::default();
    let start = Instant::now();
    while stats.queues[1].rx_dropped < (frames.len() - to_q0.len() - 63) as u64
        && start.elapsed() < WAIT
    {
        stats.update(regs(&dut));
    }
    assert_eq!(
        stats.queues[1].rx_dropped,
        (frames.len() - to_q0.len() - 63) as u64,
        "queue 1 drops what its 63 descriptors cannot hold"
    );
    assert_eq!(stats.rx_missed, 0, "the shared packet buffer never filled");
    assert_eq!(
        stats.rx_no_buffer, stats.queues[1].rx_dropped,
        "'no buffer' is what the queues dropped (QPRDC), the 82599's count"
    );
}

#[test]
fn detach_and_reattach_loses_nothing_and_faults_nothing() {
    let s = lab("reattach", |_| {});
    let dut = s.open(0, &InitConfig::default());
    let tester = s.open(
        2,
        &InitConfig {
            promisc: true,
            ..InitConfig::default()
        },
    );
    let tpool = Mempool::new(tester.dma(), "t-re-tx", 512, 2048).unwrap();
    let mut tx = TxQueue::attach(&tester, 0, 64).unwrap();
    for round in 0..5u32 {
        // A fresh pool and ring each round: the old memory is freed only
        // after the queue read back disabled.
        let pool = Mempool::new(dut.dma(), &format!("t-re-{round}"), 512, 2048).unwrap();
        let mut rx = [RxQueue::attach(&dut, 0, &pool, 256, true).unwrap()];
        let frames: Vec<Vec<u8>> = (0..300u32)
            .map(|i| frame(dut.mac(), round * 1000 + i, 100))
            .collect();
        let got = transfer(&mut tx, &tpool, &frames, &mut rx, 300);
        assert_eq!(got[0].len(), 300, "round {round}");
        let [rx] = rx;
        rx.detach().unwrap();
        assert_eq!(pool.free_count(), 512, "every buffer back after detach");
        assert!(
            RxQueue::attach(&dut, 200, &pool, 256, true).is_err(),
            "queue numbers are checked"
        );
    }
    assert_eq!(s.iommu_faults(), 0);
}

#[test]
fn statistics_registers_agree_with_what_was_sent() {
    let s = lab("stats", |_| {});
    let dut = s.open(0, &InitConfig::default());
    let tester = s.open(
        2,
        &InitConfig {
            promisc: true,
            ..InitConfig::default()
        },
    );
    let pool = Mempool::new(dut.dma(), "t-st", 1024, 2048).unwrap();
    let mut rx = [RxQueue::attach(&dut, 0, &pool, 512, true).unwrap()];
    let tpool = Mempool::new(tester.dma(), "t-st-tx", 512, 2048).unwrap();
    let mut tx = TxQueue::attach(&tester, 0, 256).unwrap();
    let frames: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| frame(dut.mac(), i, 60 + (i as usize % 500)))
        .collect();
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let got = transfer(&mut tx, &tpool, &frames, &mut rx, 1000);
    assert_eq!(got[0].len(), 1000);
    let (mut d, mut t) = (
        ixy_driver::stats::PortStats::default(),
        ixy_driver::stats::PortStats::default(),
    );
    // Counters may lag the descriptors by a pass of the model: once the
    // lab is quiet, every frame is counted and no more will be.
    s.lab.quiesce(WAIT).expect("the lab goes quiet");
    d.update(regs(&dut));
    t.update(regs(&tester));
    assert_eq!(
        (t.tx_packets, t.tx_bytes),
        (1000, bytes + 4000),
        "GPTC/GOTC (octets with FCS)"
    );
    assert_eq!(
        (d.rx_packets, d.rx_bytes),
        (1000, bytes + 4000),
        "GPRC/GORC"
    );
    assert_eq!(
        (d.queues[0].rx_packets, d.queues[0].rx_bytes),
        (1000, bytes),
        "QPRC/QBRC"
    );
    assert_eq!(
        (t.queues[0].tx_packets, t.queues[0].tx_bytes),
        (1000, bytes),
        "QPTC/QBTC"
    );
    assert_eq!(rx[0].counters().packets, 1000);
    assert_eq!(tx.counters().bytes, bytes);
    assert_eq!(
        (d.rx_missed, d.rx_crc_errors, d.queues[0].rx_dropped),
        (0, 0, 0)
    );
}

#[test]
fn ptp_timestamps_differ_by_the_simulated_cable_delay() {
    let delay = Duration::from_micros(20);
    let s = lab("ptp", |c| c.cable_delay = delay);
    let cfg = InitConfig {
        promisc: true,
        timestamps: true,
        ..InitConfig::default()
    };
    let (a, b) = (s.open(0, &cfg), s.open(2, &cfg));
    let pa = Mempool::new(a.dma(), "t-ptp-a", 256, 2048).unwrap();
    let pb = Mempool::new(b.dma(), "t-ptp-b", 256, 2048).unwrap();
    let (mut rxa, mut txa) = (
        RxQueue::attach(&a, 0, &pa, 64, true).unwrap(),
        TxQueue::attach(&a, 0, 64).unwrap(),
    );
    let (mut rxb, mut txb) = (
        RxQueue::attach(&b, 0, &pb, 64, true).unwrap(),
        TxQueue::attach(&b, 0, 64).unwrap(),
    );
    // One probe each way: the clocks of the two ports started at different
    // moments, and the sum of both differences cancels that offset.
    let there = one_way(&b, &mut txb, &pb, &a, &mut rxa, 1);
    let back = one_way(&a, &mut txa, &pa, &b, &mut rxb, 2);
    let want = 2 * delay.as_nanos() as i64;
    assert!(
        (there + back - want).abs() <= 14,
        "{there} + {back} ns vs 2 x {delay:?}"
    );
    assert!(ixy_driver::timestamp::now(regs(&a)) > 0, "the clock runs");
}

/// Sends a PTP probe from one port to the other; returns rx - tx timestamp in ns.
fn one_way<'a>(
    from: &Device,
    tx: &mut TxQueue<'a>,
    pool: &'a Mempool,
    to: &Device,
    rx: &mut RxQueue<'_>,
    seq: u16,
) -> i64 {
    let mut p = pool.alloc().unwrap();
    let probe = sim::harness::ptp_frame([0xFF; 6], seq, 90);
    p.set_len(probe.len());
    p.data_mut().copy_from_slice(&probe);
    p.request_timestamp(true);
    tx.tx_batch(&mut vec![p]);
    let mut inbox = Vec::new();
    let start = Instant::now();
    while inbox.is_empty() && start.elapsed() < WAIT {
        rx.rx_batch(&mut inbox, 1);
    }
    assert!(inbox[0].timestamped(), "the Rx descriptor says timestamped");
    let rx_ns = ixy_driver::timestamp::rx(regs(to)).expect("Rx timestamp latched");
    let mut tx_ns = None;
    while tx_ns.is_none() && start.elapsed() < WAIT {
        tx_ns = ixy_driver::timestamp::tx(regs(from));
    }
    rx_ns as i64 - tx_ns.expect("Tx timestamp latched") as i64
}

#[test]
fn frames_larger_than_a_buffer_are_dropped_whole_and_counted() {
    let s = lab("multi", |_| {});
    let dut = s.open(0, &InitConfig::default());
    regs(&dut).write(
        regs::HLREG0,
        regs(&dut).read(regs::HLREG0) | regs::HLREG0_JUMBOEN,
    );
    regs(&dut).write(regs::MAXFRS, 9018 << regs::MAXFRS_MFS_SHIFT);
    let tester = s.open(
        2,
        &InitConfig {
            promisc: true,
            ..InitConfig::default()
        },
    );
    // 1 KiB buffers: a 1500-byte frame spans two descriptors.
    let pool = Mempool::new(dut.dma(), "t-multi", 256, 1024).unwrap();
    let mut rx = [RxQueue::attach(&dut, 0, &pool, 64, true).unwrap()];
    let tpool = Mempool::new(tester.dma(), "t-multi-tx", 256, 4096).unwrap();
    let mut tx = TxQueue::attach(&tester, 0, 64).unwrap();
    let frames = vec![
        frame(dut.mac(), 1, 100),
        frame(dut.mac(), 2, 1500),
        frame(dut.mac(), 3, 3000),
        frame(dut.mac(), 4, 200),
    ];
    let got = transfer(&mut tx, &tpool, &frames, &mut rx, 2);
    let lens: Vec<usize> = got[0].iter().map(|g| g.0.len()).collect();
    assert_eq!(
        lens,
        vec![100, 200],
        "the small frames arrive, the large ones do not"
    );
    assert_eq!(rx[0].counters().multi_descriptor_drops, 2);
    assert_eq!(rx[0].counters().packets, 2);
}

#[test]
fn tx_returns_every_buffer_to_its_own_pool() {
    // A Tx queue frees completed buffers to one pool in one step while all
    // in flight are from the pool it first saw, and one by one otherwise:
    // mixed batches must still return each buffer to its own pool.
    let s = lab("txpools", |_| {});
    let t = s.open(
        2,
        &InitConfig {
            promisc: true,
            ..InitConfig::default()
        },
    );
    let a = Mempool::new(t.dma(), "t-pool-a", 256, 2048).unwrap();
    let b = Mempool::new(t.dma(), "t-pool-b", 256, 2048).unwrap();
    let mut tx = TxQueue::attach(&t, 0, 128).unwrap();
    let frame = frame(s_mac(), 1, 60);
    for round in 0..40usize {
        // Rounds of pool a only, then mixed ones: the home pool is a.
        let mut batch: Vec<Packet> = (0..16)
            .map(|k| {
                let pool = if round >= 10 && (round + k) % 3 == 0 {
                    &b
                } else {
                    &a
                };
                let mut p = pool.alloc().expect("the ring holds fewer than a pool");
                p.set_len(frame.len());
                p.data_mut().copy_from_slice(&frame);
                p
            })
            .collect();
        let start = Instant::now();
        while !batch.is_empty() && start.elapsed() < WAIT {
            tx.tx_batch(&mut batch);
        }
        assert!(batch.is_empty(), "the ring drains");
    }
    let start = Instant::now();
    while tx.clean() != 127 && start.elapsed() < WAIT {
        std::thread::yield_now();
    }
    assert_eq!(tx.clean(), 127, "every descriptor completed");
    assert_eq!((a.free_count(), b.free_count()), (256, 256));
    drop(tx);
    assert_eq!(s.iommu_faults(), 0);
}

/// The MAC of DUT port 0 (the tester's frames are addressed to it).
fn s_mac() -> [u8; 6] {
    sim::lab::mac_of(0)
}

#[test]
fn missed_frames_are_not_counted_as_received() {
    // The 82599 counts frames missed for a full packet buffer (MPC) in GPRC
    // too; PortStats subtracts them as Linux does, so received + missed is
    // what was sent.
    let s = lab("missed", |_| {});
    let rss = RssConfig::new(2, RssKey::Default).unwrap();
    let dut = s.open(
        0,
        &InitConfig {
            rss: Some(rss),
            ..InitConfig::default()
        },
    );
    let tester = s.open(
        2,
        &InitConfig {
            promisc: true,
            ..InitConfig::default()
        },
    );
    // A 32 KiB packet buffer and a queue that is never served, without
    // DROP_EN: it blocks the buffer, which then misses frames.
    regs(&dut).write(regs::rxpbsize(0), 32 << regs::RXPBSIZE_SHIFT);
    let pool = Mempool::new(dut.dma(), "t-missed", 1024, 2048).unwrap();
    let _q0 = RxQueue::attach(&dut, 0, &pool, 64, false).unwrap();
    let _q1 = RxQueue::attach(&dut, 1, &pool, 64, false).unwrap();
    let tpool = Mempool::new(tester.dma(), "t-missed-tx", 512, 2048).unwrap();
    let mut tx = TxQueue::attach(&tester, 0, 256).unwrap();
    let frames: Vec<Vec<u8>> = (0..600u32).map(|i| frame(dut.mac(), i, 512)).collect();
    let mut next = 0;
    let start = Instant::now();
    while next < frames.len() && start.elapsed() < WAIT {
        tx.clean();
        let Some(mut p) = tpool.alloc() else { continue };
        p.set_len(frames[next].len());
        p.data_mut().copy_from_slice(&frames[next]);
        let mut batch = vec![p];
        while !batch.is_empty() && start.elapsed() < WAIT {
            tx.tx_batch(&mut batch);
        }
        next += 1;
    }
    assert_eq!(next, frames.len(), "every frame sent");
    let mut stats = ixy_driver::stats::PortStats::default();
    let start = Instant::now();
    while stats.rx_packets + stats.rx_missed < 600 && start.elapsed() < WAIT {
        stats.update(regs(&dut));
        std::thread::yield_now();
    }
    assert!(stats.rx_missed > 0, "the full buffer missed frames");
    assert_eq!(
        stats.rx_packets + stats.rx_missed,
        600,
        "received {} + missed {}",
        stats.rx_packets,
        stats.rx_missed
    );
}

#[test]
fn systim_is_read_fresh_and_systiml_latches_systimh() {
    // A read of SYSTIM is computed from the clock's anchor at the moment of
    // the read (sim/README 3.3), not a value from the model's last pass;
    // and reading SYSTIML latches SYSTIMH (82599 datasheet 8.2.3.26.6).
    let s = lab("systim", |_| {});
    let dut = s.open(
        0,
        &InitConfig {
            timestamps: true,
            ..InitConfig::default()
        },
    );
    let r = regs(&dut);
    let host = ixy_driver::tsc::monotonic_ns;
    let start = Instant::now();
    let ticking = || {
        let a = ixy_driver::timestamp::now(r);
        std::thread::yield_now();
        ixy_driver::timestamp::now(r) > a
    };
    while !ticking() && start.elapsed() < WAIT {}
    assert!(ticking(), "the 1588 clock runs");
    // The sleeps below are the behaviour under test: SYSTIM follows the
    // host clock while nobody reads it.
    let pause = Duration::from_millis(3);
    for _ in 0..5 {
        let h0 = host();
        let a = ixy_driver::timestamp::now(r);
        let h1 = host();
        std::thread::sleep(pause);
        let h2 = host();
        let b = ixy_driver::timestamp::now(r);
        let h3 = host();
        // SYSTIM moved by as much as the host clock, within the reads'
        // own brackets and 1 µs.
        let moved = b - a;
        assert!(
            moved + 1_000 >= h2 - h1 && moved <= h3 - h0 + 1_000,
            "SYSTIM moved {moved} ns while the host moved {}..{} ns",
            h2 - h1,
            h3 - h0
        );
    }
    // SYSTIML now, SYSTIMH 3 ms later: the pair is the time of the SYSTIML
    // read (SYSTIMH changes every 2 µs in 2^-21 ns units). SYSTIM's offset
    // from the host clock comes from a bracketed read first.
    let h0 = host();
    let a = ixy_driver::timestamp::now(r);
    let h1 = host();
    let h2 = host();
    let lo = r.read(regs::SYSTIML);
    let h3 = host();
    std::thread::sleep(pause);
    let hi = r.read(regs::SYSTIMH);
    let pair = ixy_driver::timestamp::to_ns(lo, hi);
    let (earliest, latest) = (h2 + a - h1, h3 + a - h0);
    assert!(
        pair + 1_000 >= earliest && pair <= latest + 1_000,
        "SYSTIML then SYSTIMH 3 ms later give {pair} ns; the SYSTIML read was at {earliest}..{latest}"
    );
}

/// A DUT (port 0) with an Rx queue on a pool of `Mempool` buffers and a
/// tester (port 2) to send from, for the write-back fault tests
/// (`ixy-sim ctl corrupt`, sim/README.md 5.15).
struct BadWriteBack {
    s: Setup,
    dut: Device,
    tester: Device,
}

impl BadWriteBack {
    fn new(kind: &str) -> Self {
        let s = lab(&format!("wb-{kind}"), |_| {});
        let dut = s.open(0, &InitConfig::default());
        let tester = s.open(
            2,
            &InitConfig {
                promisc: true,
                ..InitConfig::default()
            },
        );
        BadWriteBack { s, dut, tester }
    }

    /// Frames 1..=n to the DUT, 60 bytes each.
    fn frames(&self, flows: std::ops::Range<u32>) -> Vec<Vec<u8>> {
        flows.map(|f| frame(self.dut.mac(), f, 60)).collect()
    }
}

/// `corrupt 0 KIND 2`, then 7 frames: the first two are written back with
/// nonsense and must be dropped and counted, never handed out; the other
/// five arrive intact, no queue reset, no IOMMU fault, and every buffer is
/// back in its pool at the end.
fn nonsense_is_dropped_and_counted(kind: &str) {
    let t = BadWriteBack::new(kind);
    let pool = Mempool::new(t.dut.dma(), &format!("t-wb-{kind}"), 256, 2048).unwrap();
    let mut rx = [RxQueue::attach(&t.dut, 0, &pool, 64, true).unwrap()];
    let free = pool.free_count();
    let tpool = Mempool::new(t.tester.dma(), &format!("t-wb-{kind}-tx"), 256, 2048).unwrap();
    let mut tx = TxQueue::attach(&t.tester, 0, 64).unwrap();
    t.s.lab.control(&format!("corrupt 0 {kind} 2")).unwrap();
    let frames = t.frames(1..8);
    let got = transfer(&mut tx, &tpool, &frames, &mut rx, 5);
    let data: Vec<&Vec<u8>> = got[0].iter().map(|g| &g.0).collect();
    assert_eq!(
        data,
        frames[2..].iter().collect::<Vec<_>>(),
        "{kind}: the frames after the fault arrive intact, the faulty ones not at all"
    );
    let c = rx[0].counters();
    assert_eq!(
        (
            c.bad_descriptors,
            c.packets,
            c.resets,
            c.multi_descriptor_drops
        ),
        (2, 5, 0, 0),
        "{kind}: {c:?}"
    );
    assert_eq!(pool.free_count(), free, "{kind}: no buffer lost or doubled");
    assert_eq!(t.s.iommu_faults(), 0);
    let [rx] = rx;
    rx.detach().unwrap();
    assert_eq!(pool.free_count(), pool.capacity() as usize);
}

#[test]
fn a_write_back_length_past_the_buffer_is_dropped_and_counted() {
    nonsense_is_dropped_and_counted("len");
}

#[test]
fn a_write_back_without_eop_is_dropped_and_counted() {
    nonsense_is_dropped_and_counted("no-eop");
}

#[test]
fn dd_on_a_descriptor_never_given_resets_the_queue() {
    let t = BadWriteBack::new("stray");
    let pool = Mempool::new(t.dut.dma(), "t-wb-stray", 256, 2048).unwrap();
    let mut rx = [RxQueue::attach(&t.dut, 0, &pool, 64, true).unwrap()];
    let free = pool.free_count();
    let tpool = Mempool::new(t.tester.dma(), "t-wb-stray-tx", 256, 2048).unwrap();
    let mut tx = TxQueue::attach(&t.tester, 0, 64).unwrap();
    t.s.lab.control("corrupt 0 stray-dd 1").unwrap();
    // One frame, written back on descriptor 0, and a stray write-back on
    // descriptor 63 (RDT), which the driver kept. Received only once the
    // model is done with both (RDH moves after the write-backs).
    let first = t.frames(1..2);
    let mut p = tpool.alloc().unwrap();
    p.set_len(first[0].len());
    p.data_mut().copy_from_slice(&first[0]);
    tx.tx_batch(&mut vec![p]);
    let start = Instant::now();
    while regs(&t.dut).read(regs::rdh(0)) != 1 && start.elapsed() < WAIT {
        std::thread::yield_now();
    }
    assert_eq!(
        regs(&t.dut).read(regs::rdh(0)),
        1,
        "the frame was delivered"
    );
    let mut inbox = Vec::new();
    assert_eq!(rx[0].rx_batch(&mut inbox, 32), 1);
    assert_eq!(
        inbox[0].data(),
        &first[0][..],
        "the frame before it is good"
    );
    drop(inbox);
    let c = rx[0].counters();
    assert_eq!((c.resets, c.packets), (1, 1), "{c:?}");
    assert_eq!(pool.free_count(), free, "the reset kept every buffer");
    // The queue works again: every frame sent after the reset arrives.
    let frames = t.frames(2..40);
    let got = transfer(&mut tx, &tpool, &frames, &mut rx, frames.len());
    let data: Vec<&Vec<u8>> = got[0].iter().map(|g| &g.0).collect();
    assert_eq!(data, frames.iter().collect::<Vec<_>>());
    let c = rx[0].counters();
    assert_eq!((c.resets, c.bad_descriptors), (1, 0), "{c:?}");
    assert_eq!(pool.free_count(), free);
    assert_eq!(t.s.iommu_faults(), 0);
    let [rx] = rx;
    rx.detach().unwrap();
    assert_eq!(pool.free_count(), pool.capacity() as usize);
}
