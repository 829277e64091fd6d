//! A user-written app, outside the worker crate: counts packets per flow
//! (by the RSS hash the NIC wrote into the descriptor) and drops them. It
//! runs one worker through the library API, the way `--debug-worker` does:
//!
//! ```sh
//! ixy-sim --lab demo &
//! cargo run --release -p ixy-worker --example flow_counter -- sim:demo/0 5
//! ```
//!
//! (device, seconds). Send traffic to port 0 from the tester port 2 while
//! it runs; it prints the busiest flows at the end.

use driver::{InitConfig, OpenOptions, Owned, Packet, RssConfig, RssKey};
use ixy_worker::statsfile::StatsFile;
use ixy_worker::{App, Outputs, WorkerSpec};
use std::time::Duration;

/// Flow table size: a power of two, allocated once.
pub const SLOTS: usize = 4096;

/// Counts packets per RSS hash: no allocation or system call per packet.
pub struct FlowCounter {
    /// Packets per table slot (RSS hash modulo the size).
    pub counts: Vec<u64>,
    /// The hash last seen in each slot.
    pub hashes: Vec<u32>,
}

impl Default for FlowCounter {
    fn default() -> Self {
        FlowCounter {
            counts: vec![0; SLOTS],
            hashes: vec![0; SLOTS],
        }
    }
}

impl FlowCounter {
    /// The `n` busiest (hash, packets) pairs.
    pub fn top(&self, n: usize) -> Vec<(u32, u64)> {
        let mut v: Vec<(u32, u64)> = self
            .hashes
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
            .filter(|&(_, c)| c > 0)
            .collect();
        v.sort_by_key(|&(_, c)| std::cmp::Reverse(c));
        v.truncate(n);
        v
    }
}

impl App for FlowCounter {
    fn name(&self) -> &'static str {
        "flow-counter"
    }

    fn ports(&self) -> usize {
        1
    }

    fn process<'a>(
        &mut self,
        _port: usize,
        packets: &mut Vec<Packet<'a>>,
        _out: &mut Outputs<'a, '_>,
    ) {
        for p in packets.iter() {
            let slot = p.rss_hash() as usize & (SLOTS - 1);
            self.counts[slot] += 1;
            self.hashes[slot] = p.rss_hash();
        }
        packets.clear();
    }
}

/// Takes `device` (claimed, reset, dead owners' memory reclaimed), runs
/// one worker with a `FlowCounter` for `seconds`.
pub fn run(device: &str, seconds: f64, run_dir: &std::path::Path) -> driver::Result<FlowCounter> {
    let init = InitConfig {
        rss: Some(RssConfig::new(1, RssKey::Default)?),
        ..InitConfig::default()
    };
    let devs = Owned::take(
        &[device.to_string()],
        &OpenOptions::default(),
        &init,
        "flow_counter",
    )?;
    std::fs::create_dir_all(run_dir)
        .map_err(|e| driver::Error::io(device, "creating the run dir", e))?;
    let file = StatsFile::create(run_dir, 0, 0, 0)
        .map_err(|e| driver::Error::io(device, "creating the stats file", e))?;
    let stopper = StatsFile::open(&ixy_worker::statsfile::path(run_dir, 0))
        .map_err(|e| driver::Error::io(device, "opening the stats file", e))?;
    let timer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stopper.request_stop(true);
    });
    let mut app = FlowCounter::default();
    let mut spec = WorkerSpec::new(0, run_dir.to_path_buf());
    spec.idle = ixy_worker::Idle::Yield;
    spec.rx_ring = 2048;
    ixy_worker::run(&spec, &devs, &mut app)?;
    let _ = timer.join();
    println!(
        "{} packets in {} flows",
        file.counters().rx_packets,
        app.counts.iter().filter(|&&c| c > 0).count()
    );
    Ok(app)
}

#[allow(dead_code)] // also compiled as a module of the worker's tests
fn main() {
    env_logger::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(device), seconds) = (
        args.first(),
        args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0),
    ) else {
        eprintln!(
            "flow_counter: usage: flow_counter DEVICE [SECONDS], e.g. flow_counter sim:demo/0 5"
        );
        std::process::exit(2);
    };
    let dir = std::env::temp_dir().join("ixy-flow-counter");
    match run(device, seconds, &dir) {
        Ok(app) => {
            for (hash, n) in app.top(10) {
                println!("flow {hash:#010x}: {n} packets");
            }
        }
        Err(e) => {
            eprintln!("flow_counter: {e}");
            std::process::exit(if e.is_user_error() { 2 } else { 1 });
        }
    }
}
