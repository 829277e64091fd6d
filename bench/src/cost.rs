//! The single-threaded cost harness: driver and worker code timed alone.
//!
//! One process runs a simulated lab whose model works *inline*
//! ([`sim::Lab::run_inline`]): the model moves frames only between the
//! timed regions, in this thread, so a timed region holds nothing but the
//! driver and worker code a real worker runs. Tester ports 2 and 3 send
//! 64-byte frames (60 bytes and the FCS) to DUT ports 0 and 1; the DUT
//! side is timed:
//!
//! - `rx`: `RxQueue::rx_batch` on port 0, the packets then dropped (their
//!   buffers go back to the pool);
//! - `tx`: `Mempool::alloc_bulk` and `TxQueue::tx_batch` on port 1 (with the
//!   cleaning of completed descriptors that `tx_batch` does);
//! - `fwd`: one iteration of the worker's busy loop ([`Poller::iterate`])
//!   with the `forward` app (as the supervisor runs it: `apps::BuiltIn`),
//!   both directions fed: a batch arrives on each
//!   port and leaves on the other;
//! - `idle`: the same iteration with nothing arriving (one empty poll).
//!
//! Every timed region is a function of its own (`timed_rx`, `timed_tx`,
//! `timed_fwd`), so callgrind can count its instructions alone
//! (`--toggle-collect`).

use driver::{Device, InitConfig, Mempool, OpenOptions, Packet, RxQueue, TxQueue};
use sim::{Lab, LabConfig};
use std::time::Duration;
use worker::apps::{BuiltIn, Forward};
use worker::statsfile::StatsFile;
use worker::{Idle, Poller};

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Receive and drop.
    Rx,
    /// Allocate and send.
    Tx,
    /// The worker's forward iteration, both directions.
    Fwd,
    /// The worker's iteration with nothing arriving.
    Idle,
}

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 4] = [Mode::Rx, Mode::Tx, Mode::Fwd, Mode::Idle];

    /// Name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Rx => "rx",
            Mode::Tx => "tx",
            Mode::Fwd => "fwd",
            Mode::Idle => "idle",
        }
    }

    /// The mode called `s`.
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == s)
    }

    /// The function callgrind is told to count (`--toggle-collect`).
    pub fn timed_fn(self) -> &'static str {
        match self {
            Mode::Rx => "*timed_rx*",
            Mode::Tx => "*timed_tx*",
            Mode::Fwd => "*timed_fwd*",
            Mode::Idle => "*timed_idle*",
        }
    }
}

/// What [`measure`] measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// One sample per run.
    pub runs: Vec<Sample>,
    /// Packets (for `idle`: iterations) through the timed regions in all,
    /// the warm-up included: what an instruction count covers.
    pub timed_packets: u64,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Packets through the timed regions (for `idle`: iterations).
    pub packets: u64,
    /// TSC cycles inside the timed regions, less the cost of reading the
    /// TSC itself.
    pub cycles: u64,
}

const RX_RING: u32 = 1024;
const TX_RING: u32 = 1024;
const FRAME: usize = 60;
/// Empty polls per timed region in `idle` mode.
const IDLE_POLLS: usize = 64;

/// The lab and the devices of one harness.
pub struct Harness {
    lab: Lab,
    devs: Vec<Device>,
}

impl Harness {
    /// Starts a lab (line rate lifted, no cable delay), opens and inits
    /// its four ports, and takes the model inline.
    pub fn new() -> Result<Harness, String> {
        let name = format!("bench-cost-{}", std::process::id());
        let mut cfg = LabConfig::new(&name);
        cfg.root = std::path::PathBuf::from(driver::simdev::DEFAULT_DIR);
        cfg.line_rate = false;
        cfg.cable_delay = Duration::ZERO;
        let lab = Lab::start(cfg).map_err(|e| e.to_string())?;
        let init = InitConfig {
            promisc: true,
            ..InitConfig::default()
        };
        let mut devs = Vec::new();
        for port in 0..4 {
            let dev = Device::open(&format!("sim:{name}/{port}"), &OpenOptions::default())
                .map_err(|e| e.to_string())?;
            dev.init(&init).map_err(|e| e.to_string())?;
            devs.push(dev);
        }
        Ok(Harness { lab, devs })
    }
}

/// Prefills every buffer of `pool` with a UDP frame to `dst`, so that
/// packets later allocated from it carry a valid frame.
fn prefill(pool: &Mempool, dst: [u8; 6]) {
    let frame = sim::harness::udp_frame(dst, [10, 0, 0, 1], [10, 1, 0, 1], 1000, 2000, FRAME, 0);
    let mut all = Vec::new();
    pool.alloc_bulk(&mut all, pool.capacity() as usize, FRAME);
    for p in &mut all {
        p.data_mut().copy_from_slice(&frame);
    }
}

/// Sends `n` frames from the tester's `tx` (allocated from `pool`).
fn send<'a>(pool: &'a Mempool, tx: &mut TxQueue<'a>, out: &mut Vec<Packet<'a>>, n: usize) {
    pool.alloc_bulk(out, n, FRAME);
    tx.tx_batch(out);
    out.clear();
}

#[inline(never)]
fn timed_rx<'a>(q: &mut RxQueue<'a>, inbox: &mut Vec<Packet<'a>>, batch: usize) -> usize {
    let n = q.rx_batch(inbox, batch);
    inbox.clear();
    n
}

#[inline(never)]
fn timed_tx<'a>(
    pool: &'a Mempool,
    q: &mut TxQueue<'a>,
    out: &mut Vec<Packet<'a>>,
    batch: usize,
) -> usize {
    pool.alloc_bulk(out, batch, FRAME);
    let n = q.tx_batch(out);
    out.clear();
    n
}

#[inline(never)]
fn timed_fwd(p: &mut Poller<'_, '_, BuiltIn>) -> usize {
    p.iterate()
}

/// Empty polls as the worker's loop makes them (`run` checks the stop
/// request, then iterates): `n` of them in one call, so that the count
/// is the loop's, not a function call's.
#[inline(never)]
fn timed_idle(p: &mut Poller<'_, '_, BuiltIn>, file: &StatsFile, n: usize) -> usize {
    let mut k = 0;
    while !file.stop_requested() && k < n {
        p.iterate();
        k += 1;
    }
    k
}

/// The cost of reading the TSC around an empty region: the least of many
/// (a median can catch a noisy moment and then subtract more than the
/// reads cost, leaving a small region at zero).
fn tsc_overhead() -> u64 {
    (0..1001)
        .map(|_| {
            let t0 = driver::tsc::now_ordered();
            let t1 = driver::tsc::now_ordered();
            t1.wrapping_sub(t0)
        })
        .min()
        .unwrap_or(0)
}

/// Runs `mode` at `batch` for `runs` runs of about `packets` packets each
/// (after a warm-up); one [`Sample`] per run.
pub fn measure(mode: Mode, batch: usize, runs: usize, packets: u64) -> Result<Measured, String> {
    let mut h = Harness::new()?;
    let err = |e: driver::Error| e.to_string();
    let (d0, d1, t2, t3) = (&h.devs[0], &h.devs[1], &h.devs[2], &h.devs[3]);
    let pool = Mempool::new(d0.dma(), "bench-dut", 4096, 2048).map_err(err)?;
    prefill(&pool, d1.mac());
    let tpool = Mempool::new(t2.dma(), "bench-tester", 4096, 2048).map_err(err)?;
    prefill(&tpool, d0.mac());
    let mut tx2 = TxQueue::attach(t2, 0, TX_RING).map_err(err)?;
    let mut tx3 = TxQueue::attach(t3, 0, TX_RING).map_err(err)?;
    let mut rx0 = RxQueue::attach(d0, 0, &pool, RX_RING, true).map_err(err)?;
    let rx1 = RxQueue::attach(d1, 0, &pool, RX_RING, true).map_err(err)?;
    let tx0 = TxQueue::attach(d0, 0, TX_RING).map_err(err)?;
    let mut tx1 = TxQueue::attach(d1, 0, TX_RING).map_err(err)?;
    let dir = std::env::temp_dir().join(format!("ixy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = StatsFile::create(&dir, 0, 0, 0).map_err(|e| e.to_string())?;
    file.set_process(
        std::process::id(),
        0,
        driver::tsc::hz(Duration::from_millis(10)),
    );
    h.lab.run_inline().map_err(|e| e.to_string())?;
    let overhead = tsc_overhead();
    let lab = &mut h.lab;
    let mut out = Vec::with_capacity(batch);
    let mut inbox = Vec::with_capacity(batch);
    let per_round = match mode {
        Mode::Fwd => 2 * batch as u64,
        Mode::Idle => IDLE_POLLS as u64,
        _ => batch as u64,
    };
    let rounds = packets.div_ceil(per_round).max(1);
    let warmup = (rounds / 10).max(20);
    let mut samples = Vec::with_capacity(runs);
    let mut sample = Sample {
        packets: 0,
        cycles: 0,
    };
    let mut timed_packets = 0;
    let mut time = |sample: &mut Sample, f: &mut dyn FnMut() -> usize| {
        let t0 = driver::tsc::now_ordered();
        let n = f();
        let t1 = driver::tsc::now_ordered();
        sample.cycles += t1.wrapping_sub(t0).saturating_sub(overhead);
        sample.packets += n as u64;
        timed_packets += n as u64;
    };
    match mode {
        Mode::Rx => {
            for r in 0..warmup + runs as u64 * rounds {
                send(&tpool, &mut tx2, &mut out, batch);
                lab.settle(1000);
                time(&mut sample, &mut || timed_rx(&mut rx0, &mut inbox, batch));
                finish_round(r, warmup, rounds, &mut sample, &mut samples);
            }
        }
        Mode::Tx => {
            for r in 0..warmup + runs as u64 * rounds {
                time(&mut sample, &mut || {
                    timed_tx(&pool, &mut tx1, &mut out, batch)
                });
                lab.settle(1000);
                finish_round(r, warmup, rounds, &mut sample, &mut samples);
            }
        }
        Mode::Fwd | Mode::Idle => {
            // The built-in app as the supervisor runs it.
            let mut app = BuiltIn::Forward(Forward);
            let mut poller = Poller::new(
                vec![rx0, rx1],
                vec![tx0, tx1],
                &mut app,
                &file,
                batch,
                Idle::Spin,
            );
            // Publishing costs about 250 instructions once a millisecond
            // (nothing per packet at any real rate); under valgrind a
            // millisecond passes in every iteration, so it is left out.
            poller.set_publish_interval(u64::MAX);
            for r in 0..warmup + runs as u64 * rounds {
                if mode == Mode::Fwd {
                    send(&tpool, &mut tx2, &mut out, batch);
                    send(&tpool, &mut tx3, &mut out, batch);
                    lab.settle(1000);
                }
                time(&mut sample, &mut || {
                    if mode == Mode::Idle {
                        timed_idle(&mut poller, &file, IDLE_POLLS)
                    } else {
                        timed_fwd(&mut poller)
                    }
                });
                if mode == Mode::Fwd {
                    lab.settle(1000);
                }
                finish_round(r, warmup, rounds, &mut sample, &mut samples);
            }
            // The queues detach when the poller drops: the model needs
            // its thread back to confirm the disables.
            lab.resume().map_err(|e| e.to_string())?;
            drop(poller);
        }
    }
    lab.resume().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Measured {
        runs: samples,
        timed_packets,
    })
}

/// Closes a run every `rounds` rounds after the warm-up (whose figures
/// are thrown away).
fn finish_round(r: u64, warmup: u64, rounds: u64, sample: &mut Sample, out: &mut Vec<Sample>) {
    if r + 1 == warmup || (r + 1 > warmup && (r + 1 - warmup).is_multiple_of(rounds)) {
        if r + 1 > warmup {
            out.push(*sample);
        }
        *sample = Sample {
            packets: 0,
            cycles: 0,
        };
    }
}
