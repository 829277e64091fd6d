//! The worker runtime (DESIGN.md 7): name, pin, allocate after pinning,
//! attach queue i on every port, then the busy-poll loop
//! `rx_batch -> App::process -> tx_batch` until the supervisor asks to stop.

use crate::app::{App, Outputs};
use crate::statsfile::{Counters, State, StatsFile};
use driver::{Device, Error, ErrorKind, Mempool, Packet, Result, RxQueue, TxQueue};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a worker does when a poll returns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Poll again at once (lowest latency, one full core).
    Spin,
    /// `sched_yield` between empty polls (shares a core politely).
    Yield,
    /// Sleep with back-off from 1 us up to 1 ms while idle.
    Sleep,
}

impl std::str::FromStr for Idle {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "spin" => Ok(Idle::Spin),
            "yield" => Ok(Idle::Yield),
            "sleep" => Ok(Idle::Sleep),
            _ => Err(format!("idle strategy {s:?}: use spin, yield or sleep")),
        }
    }
}

/// Everything a worker needs to know besides its devices and its app.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Worker index i: it owns queue i.
    pub index: u32,
    /// Core to pin to (`None`: not pinned).
    pub core: Option<usize>,
    /// Packets per `rx_batch`.
    pub batch: usize,
    /// Behaviour on empty polls.
    pub idle: Idle,
    /// Descriptors per Rx ring.
    pub rx_ring: u32,
    /// Descriptors per Tx ring.
    pub tx_ring: u32,
    /// Where `worker-I.stats` lives.
    pub run_dir: PathBuf,
}

impl WorkerSpec {
    /// A worker with the defaults of DESIGN.md 7 (batch 32).
    pub fn new(index: u32, run_dir: PathBuf) -> Self {
        WorkerSpec {
            index,
            core: None,
            batch: 32,
            idle: Idle::Spin,
            rx_ring: 1024,
            tx_ring: 512,
            run_dir,
        }
    }

    /// The tag of this worker's DMA files (the supervisor finds them by it).
    pub fn dma_tag(&self) -> String {
        dma_tag(self.index)
    }
}

/// The tag in the names of worker `index`'s DMA files.
pub fn dma_tag(index: u32) -> String {
    format!("w{index}")
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Runs worker `spec.index` on `devices` (one queue pair each) until its
/// stats file says stop. Called in the forked child, or in the foreground
/// for `--debug-worker`.
pub fn run(spec: &WorkerSpec, devices: &[Device], app: &mut dyn App) -> Result<()> {
    let i = spec.index;
    let name = format!("ixy-worker-{i}");
    if let Ok(cname) = std::ffi::CString::new(name.clone()) {
        // Only a name for ps/top: failure is harmless.
        let _ = nix::sys::prctl::set_name(&cname);
    }
    if let Some(core) = spec.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            return Err(
                Error::new(ErrorKind::Io, &name, format!("cannot pin to core {core}"))
                    .hint("check --cores against the machine's CPUs"),
            );
        }
    }
    if devices.len() != app.ports() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            &name,
            format!(
                "app {} needs {} device(s), got {}",
                app.name(),
                app.ports(),
                devices.len()
            ),
        ));
    }
    let file = StatsFile::open(&crate::statsfile::path(&spec.run_dir, i))
        .map_err(|e| Error::io(&name, "opening the worker statistics file", e))?;
    file.set_process(
        std::process::id(),
        unix_ns(),
        driver::tsc::hz(Duration::from_millis(10)),
    );
    // Record every DMA region, so the supervisor can reclaim them if we die.
    driver::memory::set_manifest(&crate::statsfile::dma_manifest(&spec.run_dir, i));
    // Allocate after pinning: first touch lands on this core's NUMA node.
    let ports = devices.len() as u32;
    let pool_size =
        (ports * (spec.rx_ring + spec.tx_ring) + 4 * spec.batch as u32 * ports).next_power_of_two();
    let pool = Mempool::new(
        devices[0].dma(),
        &spec.dma_tag(),
        pool_size,
        driver::mempool::DEFAULT_BUF_SIZE,
    )?;
    let mut rx = Vec::with_capacity(devices.len());
    let mut tx = Vec::with_capacity(devices.len());
    for dev in devices {
        rx.push(RxQueue::attach(dev, i, &pool, spec.rx_ring, true)?);
        tx.push(TxQueue::attach(dev, i, spec.tx_ring)?);
    }
    log::info!(
        "{name}: pid {}, core {:?}, queue {i} on {} port(s), app {}",
        std::process::id(),
        spec.core,
        ports,
        app.name()
    );
    file.set_state(State::Running);
    poll_loop(spec, &file, &mut rx, &mut tx, app);
    // Detach before the pool goes: disable, confirm, then free (DESIGN.md 4).
    for q in rx {
        q.detach()?;
    }
    for q in tx {
        q.detach()?;
    }
    file.set_state(State::Stopped);
    log::info!("{name}: stopped");
    Ok(())
}

/// The busy loop. No allocation, lock, system call or atomic
/// read-modify-write while packets flow; counters are published with
/// plain stores once per iteration.
fn poll_loop<'a>(
    spec: &WorkerSpec,
    file: &StatsFile,
    rx: &mut [RxQueue<'a>],
    tx: &mut [TxQueue<'a>],
    app: &mut dyn App,
) {
    let mut c: Counters = file.counters();
    let mut inbox: Vec<Packet<'a>> = Vec::with_capacity(spec.batch);
    let mut outboxes: Vec<Vec<Packet<'a>>> = (0..tx.len())
        .map(|_| Vec::with_capacity(spec.batch * rx.len()))
        .collect();
    let mut idle_for = Duration::ZERO;
    let mut last = driver::tsc::now();
    while !file.stop_requested() {
        let mut received = 0;
        for (port, q) in rx.iter_mut().enumerate() {
            let n = q.rx_batch(&mut inbox, spec.batch);
            if n == 0 {
                continue;
            }
            received += n;
            c.rx_batches += 1;
            c.rx_packets += n as u64;
            c.rx_bytes += inbox.iter().map(|p| p.len() as u64).sum::<u64>();
            app.process(port, &mut inbox, &mut Outputs::new(&mut outboxes));
            inbox.clear();
        }
        for (q, out) in tx.iter_mut().zip(outboxes.iter_mut()) {
            if out.is_empty() {
                continue;
            }
            let bytes: u64 = out.iter().map(|p| p.len() as u64).sum();
            let queued = out.len();
            q.tx_batch(out);
            let unsent: u64 = out.iter().map(|p| p.len() as u64).sum();
            c.tx_packets += (queued - out.len()) as u64;
            c.tx_bytes += bytes - unsent;
            c.tx_drops += out.len() as u64;
            out.clear();
        }
        let now = driver::tsc::now();
        let cycles = now.wrapping_sub(last);
        last = now;
        if received > 0 {
            c.busy_cycles += cycles;
            idle_for = Duration::ZERO;
        } else {
            c.idle_cycles += cycles;
            c.empty_polls += 1;
            idle(spec.idle, &mut idle_for);
        }
        file.publish(&c);
    }
}

fn idle(strategy: Idle, idle_for: &mut Duration) {
    match strategy {
        Idle::Spin => std::hint::spin_loop(),
        Idle::Yield => std::thread::yield_now(),
        Idle::Sleep => {
            *idle_for = (*idle_for * 2).clamp(Duration::from_micros(1), Duration::from_millis(1));
            std::thread::sleep(*idle_for);
        }
    }
}
