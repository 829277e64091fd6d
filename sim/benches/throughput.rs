//! The simulator's own throughput: frames from tester port 2 to DUT port 0
//! over one cable with the line rate lifted, delivered by DMA into a DUT
//! Rx ring. One thread feeds the Tx ring and recycles the Rx ring; the
//! model runs on its own thread.
//!
//! The feeder writes each frame into every Tx buffer once and then only
//! queues descriptors, as a packet generator resends its buffers.
//!
//! Four rows: 64-byte and 1514-byte frames (60 and 1514 bytes + FCS),
//! each with a *light* feeder (it refills and recycles, then leaves the
//! rings alone for 20 µs, as a driver polling lazily does) and a
//! *flat-out* feeder (it polls the descriptors and registers the model
//! writes without pause, as a busy worker does). Silicon runs the same in
//! both; the gap between the rows is what a polling driver costs the model.
//!
//! Then the same cable with pacing on, fed flat out: the rate must reach
//! 10 GbE line rate and never pass it (14.88 Mpps at 64 B, 812,744 fps at
//! 1518 B). Then that lab idle, rings enabled: the model's share of a core.
//! Last, two model threads on two cables, on machines with 4 cores.
//!
//! Run with `cargo bench -p ixy-sim` (or `make bench`). `IXY_BENCH_SECONDS`
//! sets the rounds of 1 s per row (default 3); `IXY_BENCH_SIZES` the
//! frame sizes with FCS, 64 to 1518 (default `64,1518`). Prints Mpps.

use driver::regs;
use ixy_sim::harness::{self, udp_frame, Dma, RxRing, TxRing};
use ixy_sim::{Bar, Lab, LabConfig};
use std::time::{Duration, Instant};

/// How long the light feeder leaves the rings alone between visits.
const LIGHT_PAUSE: Duration = Duration::from_micros(20);

/// The two ends of the cable and their rings.
struct Rig {
    dut: Bar,
    tester: Bar,
    rx: RxRing,
    tx: TxRing,
}

impl Rig {
    /// Feeds `frame` for `duration`; returns frames received and seconds.
    fn run(&mut self, frame: &[u8], light: bool, duration: Duration) -> (u64, f64) {
        let start = Instant::now();
        let mut received = 0u64;
        let mut spins = 0u32;
        while !spins.is_multiple_of(256) || start.elapsed() < duration {
            spins = spins.wrapping_add(1);
            let mut queued = false;
            while self.tx.push_again(frame.len()) {
                queued = true;
            }
            if queued {
                self.tx.flush(&self.tester);
            }
            received += self.rx.recycle(&self.dut) as u64;
            if light {
                // Pause without touching any line the model writes.
                let until = Instant::now() + LIGHT_PAUSE;
                while Instant::now() < until {
                    std::hint::spin_loop();
                }
                spins = 0;
            }
        }
        (received, start.elapsed().as_secs_f64())
    }

    /// One row: warm-up, then `rounds` rounds of 1 s; prints each round
    /// and the summary line (prefixed by `label`); returns the median and
    /// the best round's Mpps.
    fn row(&mut self, len: usize, light: bool, rounds: u64, label: &str) -> (f64, f64) {
        let frame = udp_frame(
            ixy_sim::lab::mac_of(0),
            [10, 0, 0, 1],
            [10, 1, 0, 1],
            1,
            2,
            len,
            0,
        );
        // Every buffer holds the frame: the feeder writes descriptors
        // only, as a packet generator does.
        assert!(self.tx.prefill(&frame), "frame fits a buffer");
        self.run(&frame, light, Duration::from_millis(300));
        // Both counters clear on read: start the row from zero.
        self.dut.read(regs::qprdc(0));
        self.dut.read(regs::mpc(0));
        let feeder = if light { "light" } else { "flat-out" };
        let mut rates: Vec<f64> = (0..rounds)
            .map(|round| {
                let (frames, secs) = self.run(&frame, light, Duration::from_secs(1));
                let mpps = frames as f64 / secs / 1e6;
                println!(
                    "  {} B, {feeder} feeder, round {round}: {mpps:.2} Mpps",
                    len + 4
                );
                mpps
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        let dropped = self.dut.read(regs::qprdc(0));
        let missed = self.dut.read(regs::mpc(0));
        let line = ixy_sim::wire::line_rate_pps(len) / 1e6;
        let median = rates[rates.len() / 2];
        println!(
            "sim throughput per model thread, {label}{} B frames, {feeder} feeder: median {median:.2} Mpps, \
             best {:.2} Mpps over {rounds} rounds of 1 s ({:.1} % of 10 GbE line rate {line:.3} Mpps; \
             {dropped} dropped for want of descriptors, {missed} missed)",
            len + 4,
            rates[rates.len() - 1],
            100.0 * median / line,
        );
        (median, rates[rates.len() - 1])
    }
}

/// Where a lab's files are (a `Lab` itself stays on the thread that
/// started it).
struct Where {
    dir: std::path::PathBuf,
    iommu: std::path::PathBuf,
}

impl Where {
    fn of(lab: &Lab) -> Self {
        Where {
            dir: lab.dir().to_path_buf(),
            iommu: lab.iommu_path(),
        }
    }
}

/// Sets up tester port `from` to send into DUT port `to`: both ports
/// initialised, a 2048-descriptor ring on queue 0 of each.
fn rig(lab: &Where, to: usize, from: usize) -> Rig {
    init(lab, &[to, from]);
    rings(lab, to, from)
}

/// Initialises `ports` (promiscuous) and waits for their links.
fn init(lab: &Where, ports: &[usize]) {
    for &p in ports {
        let bar = Bar::open(&driver::simfmt::bar_path(&lab.dir, p)).expect("BAR");
        harness::init_port(&bar, true, Duration::from_secs(10)).expect("port init");
    }
}

/// A 2048-descriptor Rx ring on queue 0 of port `to` and a Tx ring on
/// queue 0 of port `from` (the same port for a cable fed both ways).
fn rings(lab: &Where, to: usize, from: usize) -> Rig {
    let dut = Bar::open(&driver::simfmt::bar_path(&lab.dir, to)).expect("DUT BAR");
    let tester = Bar::open(&driver::simfmt::bar_path(&lab.dir, from)).expect("tester BAR");
    let dma = |name: String, len: usize| {
        Dma::new(&lab.iommu, &lab.dir.join(name), len).expect("DMA region")
    };
    let size = 2048;
    let bytes = size as usize * (16 + 2048);
    let rx =
        RxRing::new(&dut, 0, dma(format!("rx{to}"), bytes), size, 2048, true).expect("Rx ring");
    let tx = TxRing::new(&tester, 0, dma(format!("tx{from}"), bytes), size, 2048).expect("Tx ring");
    Rig {
        dut,
        tester,
        rx,
        tx,
    }
}

fn main() {
    let rounds: u64 = std::env::var("IXY_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut cfg = LabConfig::new(&format!("bench-{}", std::process::id()));
    cfg.line_rate = false;
    // The model on core 1, this feeding thread on core 0: no migrations.
    let model_core = (cores >= 2).then_some(1);
    cfg.core = model_core;
    if cores >= 2 {
        ixy_sim::lab::pin_to_core(0).expect("pin the bench thread");
    } else {
        println!("one core only: the feeder and the model share it (oversubscribed)");
    }
    let lab = Lab::start(cfg).expect("lab starts");
    let mut rig = rig(&Where::of(&lab), 0, 2);
    // IXY_BENCH_SIZES: the frame sizes to run, with FCS ("64,1518").
    let sizes: Vec<usize> = std::env::var("IXY_BENCH_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .filter_map(|n| n.trim().parse::<usize>().ok())
                .filter(|&n| (64..=1518).contains(&n))
                .map(|n| n - 4)
                .collect()
        })
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![60, 1514]);
    for &len in &sizes {
        for light in [true, false] {
            rig.row(len, light, rounds, "");
        }
    }
    drop(rig);
    lab.stop();
    paced(&sizes, rounds, model_core);
    two_threads(cores, rounds);
}

/// With pacing on (the default of a lab): the same cable fed flat out
/// must never run above 10 GbE line rate (the best round is printed), and
/// must reach it. Then the lab left idle with its rings still enabled:
/// the model's share of a core (this thread sleeps meanwhile).
fn paced(sizes: &[usize], rounds: u64, model_core: Option<usize>) {
    let mut cfg = LabConfig::new(&format!("bench-paced-{}", std::process::id()));
    cfg.core = model_core;
    let lab = Lab::start(cfg).expect("lab starts");
    let mut rig = rig(&Where::of(&lab), 0, 2);
    for &len in sizes {
        let (median, best) = rig.row(len, false, rounds, "paced at 10 Gbit/s, ");
        let line = ixy_sim::wire::line_rate_pps(len) / 1e6;
        // A round's edges may catch a burst that belongs to the next or
        // last round: 0.5 % of slack.
        let verdict = if best > line * 1.005 {
            "ABOVE line rate: pacing is broken"
        } else if median < line * 0.99 {
            "never above line rate, but short of it (the model is slower than the wire)"
        } else {
            "at line rate, never above it"
        };
        println!(
            "sim pacing, {} B frames: {verdict} (median {:.2} %, best round {:.2} % of line rate)",
            len + 4,
            100.0 * median / line,
            100.0 * best / line
        );
    }
    // Let the model's idle back-off settle (it sleeps after 1 ms idle).
    std::thread::sleep(Duration::from_millis(200));
    let window = Duration::from_secs(2);
    let before = cpu_seconds();
    std::thread::sleep(window);
    let used = before.zip(cpu_seconds()).map(|(a, b)| b - a);
    match used {
        Some(used) => println!(
            "sim idle: the model thread used {:.1} % of a core over {} s without traffic \
             (4 ports, rings enabled on 0 and 2; resolution 0.5 %)",
            100.0 * used / window.as_secs_f64(),
            window.as_secs()
        ),
        None => println!("sim idle: /proc/self/stat unreadable, not measured"),
    }
    drop(rig);
    lab.stop();
}

/// CPU time (user + system) this process has used, from
/// `/proc/self/stat` (fields 14 and 15, in clock ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // `rest` starts at field 3, so fields 14 and 15 are at 11 and 12.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// `--threads 2`, each model thread fed flat out with 64-byte frames by
/// its own thread: first cables 0-2 and 1-3, a cable per thread, one
/// direction each; then one cable fed both ways, its two ports on two
/// threads (`sim/README.md` 5.1). Model threads on cores 2 and 3, feeders
/// on 0 and 1: needs 4 cores; says so and stops on fewer.
fn two_threads(cores: usize, rounds: u64) {
    if cores < 4 {
        println!(
            "sim throughput, 2 model threads: needs 4 cores (2 models, 2 feeders); \
             this machine has {cores}, skipped"
        );
        return;
    }
    let mut cfg = LabConfig::new(&format!("bench2-{}", std::process::id()));
    (cfg.line_rate, cfg.threads, cfg.core) = (false, 2, Some(2));
    let total = fed_in_pairs(cfg.clone(), [(0, 2), (1, 3)], rounds);
    println!(
        "sim throughput, 2 model threads, a cable each, 64 B frames, flat-out feeders: \
         {total:.2} Mpps in all (line rate on both: 29.76)"
    );
    cfg.name = format!("bench2b-{}", std::process::id());
    (cfg.ports, cfg.cables) = (2, vec![(0, 1)]);
    let total = fed_in_pairs(cfg, [(0, 0), (1, 1)], rounds);
    println!(
        "sim throughput, 2 model threads, one cable both ways, 64 B frames, flat-out feeders: \
         {total:.2} Mpps in all (line rate both ways: 29.76)"
    );
}

/// Starts the lab of `cfg`, and feeds it from two threads (cores 0 and
/// 1), thread k with Rx port and Tx port `pairs[k]`; returns the sum of
/// their medians.
fn fed_in_pairs(cfg: LabConfig, pairs: [(usize, usize); 2], rounds: u64) -> f64 {
    let lab = Lab::start(cfg).expect("lab starts");
    let place = Where::of(&lab);
    let ports: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    init(&place, &ports);
    let total = std::thread::scope(|s| {
        let lab = &place;
        let feeders: Vec<_> = pairs
            .into_iter()
            .enumerate()
            .map(|(k, (to, from))| {
                s.spawn(move || {
                    ixy_sim::lab::pin_to_core(k).expect("pin a feeder");
                    let mut rig = rings(lab, to, from);
                    let label = format!("Rx port {to}, Tx port {from}, feeder {k}, ");
                    rig.row(60, false, rounds, &label).0
                })
            })
            .collect();
        feeders.into_iter().map(|f| f.join().expect("feeder")).sum()
    });
    lab.stop();
    total
}
