//! The worker runtime (docs/DESIGN.md 7): name, pin, allocate after pinning,
//! attach queue i on every port, then the busy-poll loop
//! `rx_batch -> App::process -> tx_batch` until the supervisor asks to stop.

use crate::app::{App, Outputs, WorkerInfo};
use crate::statsfile::{Counters, State, StatsFile};
use driver::{Device, Error, ErrorKind, Mempool, Packet, Result, RxQueue, TxQueue};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// How many workers the run has (for [`WorkerInfo`]).
    pub workers: u32,
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
    /// A worker with the defaults of docs/DESIGN.md 7 (batch 32).
    pub fn new(index: u32, run_dir: PathBuf) -> Self {
        WorkerSpec {
            index,
            workers: 1,
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
/// for `--debug-worker`. `make` makes the worker's app once the worker is
/// pinned (so its state is allocated on the worker's core). An app that
/// does not fit (wrong number of ports, bad counter names) is an
/// [`ErrorKind::InvalidInput`] error; the supervisor does not restart a
/// worker that exits with [`EXIT_BAD_APP`] for it.
pub fn run<A: App, F: FnOnce(&WorkerInfo) -> A>(
    spec: &WorkerSpec,
    devices: &[Device],
    make: F,
) -> Result<()> {
    run_with(spec, devices, |w| Ok(make(w)))
}

/// [`run`] with an app maker that may fail (`AppFactory::make`): its
/// `Err` is an [`ErrorKind::InvalidInput`] error naming the worker, before
/// anything is allocated.
pub fn run_with<A: App, F: FnOnce(&WorkerInfo) -> std::result::Result<A, String>>(
    spec: &WorkerSpec,
    devices: &[Device],
    make: F,
) -> Result<()> {
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
    let mut app = make(&WorkerInfo {
        index: i,
        workers: spec.workers,
        core: spec.core,
        run_dir: spec.run_dir.clone(),
    })
    .map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            &name,
            format!("its app cannot run: {e}"),
        )
    })?;
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
    file.set_app_counters(app.counter_names()).map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            &name,
            format!("app {}: {e}", app.name()),
        )
        .hint("fix the names the app's counter_names() returns")
    })?;
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
    let mut poller = Poller::new(rx, tx, &mut app, &file, spec.batch, spec.idle);
    poller.watch(devices);
    busy_loop(&mut poller, &file);
    poller.publish();
    let lost = poller.take_lost();
    // Detach before the pool goes: disable, confirm, then free (docs/DESIGN.md 4).
    // A lost device does no DMA any more: its queues fail fast.
    let detached = poller.detach();
    if let Some(e) = lost {
        return Err(e);
    }
    detached?;
    file.set_state(State::Stopped);
    log::info!("{name}: stopped");
    Ok(())
}

/// Exit status of a worker process whose device is lost (its registers
/// read all ones, or the simulator lab is gone): the supervisor does not
/// restart it, and exits with this status itself (docs/DESIGN.md 7).
pub const EXIT_DEVICE_LOST: i32 = 3;

/// Exit status of a worker process whose app cannot run (the wrong number
/// of ports, bad counter names): a restart would fail the same way, so
/// the supervisor stops the run and exits with this status, a user error.
pub const EXIT_BAD_APP: i32 = 2;

/// How often the counters are published while the worker runs: every
/// `1/PUBLISH_DIVISOR` s of TSC time, often enough for any reader
/// (ixy-stats samples once a second), rare enough to cost nothing per
/// packet.
const PUBLISH_DIVISOR: u64 = 1000;
/// Empty polls between two reads of the clock while spinning.
const SPINS_PER_CLOCK: u64 = 256;
/// How often a worker checks that its devices are still there
/// ([`Device::check_present`]): every `1/PRESENCE_DIVISOR` s of TSC time,
/// at a publication, never per packet; a lost device is noticed well
/// within a second.
const PRESENCE_DIVISOR: u64 = 10;

/// One worker's machinery between its queues and its app: the queues, the
/// batches that carry packets from `rx_batch` through `App::process` to
/// `tx_batch`, and the counters it publishes in its stats file.
/// [`Poller::iterate`] is one iteration of the busy loop: the worker calls
/// it until it is asked to stop, benchmarks call it in their timed region.
pub struct Poller<'a, 'p, A: App + ?Sized> {
    rx: Vec<RxQueue<'a>>,
    tx: Vec<TxQueue<'a>>,
    app: &'p mut A,
    file: &'p StatsFile,
    batch: usize,
    idle: Idle,
    inbox: Vec<Packet<'a>>,
    outboxes: Vec<Vec<Packet<'a>>>,
    /// Counters the poller keeps; packets and bytes come from the queues.
    own: Counters,
    /// What the file held when this process started (a restarted worker
    /// continues from its predecessor's counts).
    base: Counters,
    /// The app's counters: what the file held at the start (as `base`),
    /// and room for the app to write its own values at a publication.
    app_base: Vec<u64>,
    app_values: Vec<u64>,
    /// TSC when the poller started.
    started: u64,
    /// TSC of the last publication, and the interval between them.
    published: u64,
    publish_every: u64,
    idle_for: Duration,
    /// The devices checked for presence ([`Poller::watch`]), the TSC of
    /// the last check and the interval between checks.
    watched: &'a [Device],
    checked: u64,
    check_every: u64,
    /// The first device found lost; the loop ends when it is set.
    lost: Option<Error>,
}

impl<'a, 'p, A: App + ?Sized> Poller<'a, 'p, A> {
    /// A poller over one Rx and one Tx queue per port (`rx[p]` and `tx[p]`
    /// belong to port `p`), publishing to `file` and continuing from the
    /// counters it holds.
    pub fn new(
        rx: Vec<RxQueue<'a>>,
        tx: Vec<TxQueue<'a>>,
        app: &'p mut A,
        file: &'p StatsFile,
        batch: usize,
        idle: Idle,
    ) -> Self {
        // Every batch vector holds what all ports can receive in one
        // iteration: apps may hand a batch over whole (Outputs::send_all
        // swaps vectors), so each must fit any role without growing.
        let room = batch * rx.len();
        let outboxes = (0..tx.len()).map(|_| Vec::with_capacity(room)).collect();
        let now = driver::tsc::now();
        let names = app.counter_names();
        let held = file.app_counters();
        let app_base = if held
            .iter()
            .map(|(n, _)| n.as_str())
            .eq(names.iter().copied())
        {
            held.iter().map(|&(_, v)| v).collect()
        } else {
            vec![0; names.len()]
        };
        let app_values = vec![0; names.len()];
        Poller {
            inbox: Vec::with_capacity(room),
            outboxes,
            rx,
            tx,
            app,
            file,
            batch,
            idle,
            own: Counters::default(),
            base: file.counters(),
            app_base,
            app_values,
            started: now,
            published: now,
            publish_every: (file.tsc_hz() / PUBLISH_DIVISOR).max(1),
            idle_for: Duration::ZERO,
            watched: &[],
            checked: now,
            check_every: (file.tsc_hz() / PRESENCE_DIVISOR).max(1),
            lost: None,
        }
    }

    /// Checks `devices` for presence every 100 ms at a publication (a
    /// register read each, and a system call on the simulator); the busy
    /// loop ends when one is lost ([`Poller::lost`]).
    pub fn watch(&mut self, devices: &'a [Device]) {
        self.watched = devices;
    }

    /// Whether a watched device was found lost.
    #[inline(always)]
    pub fn lost(&self) -> bool {
        self.lost.is_some()
    }

    /// The loss found, if any.
    pub fn take_lost(&mut self) -> Option<Error> {
        self.lost.take()
    }

    /// One iteration of the busy loop. An empty poll (no queue has a frame)
    /// costs a descriptor load per port and the idle strategy, nothing
    /// more; a poll that finds frames runs [`Poller::poll`] between two TSC
    /// reads, so busy cycles are the cycles of polls that received packets.
    /// Idle cycles are the rest of the time. The counters are published
    /// about once a millisecond with plain stores. Returns the packets
    /// received.
    #[inline(always)]
    pub fn iterate(&mut self) -> usize {
        if !self.rx.iter().any(RxQueue::ready) {
            self.own.empty_polls += 1;
            if self.idle == Idle::Spin {
                std::hint::spin_loop();
                // The clock is read every few hundred empty polls only.
                if self.own.empty_polls.is_multiple_of(SPINS_PER_CLOCK) {
                    self.tick(driver::tsc::now());
                }
            } else {
                idle(self.idle, &mut self.idle_for);
                self.tick(driver::tsc::now());
            }
            return 0;
        }
        let start = driver::tsc::now();
        let received = self.poll();
        let end = driver::tsc::now();
        self.own.busy_cycles += end.wrapping_sub(start);
        self.idle_for = Duration::ZERO;
        self.tick(end);
        received
    }

    /// Publishes the counters when the interval has passed.
    #[inline(always)]
    fn tick(&mut self, now: u64) {
        if now.wrapping_sub(self.published) >= self.publish_every {
            self.interval(now);
        }
    }

    /// Once a publication interval: the app's housekeeping, publish, and
    /// check the watched devices when their interval has passed too. Out
    /// of line: never per packet.
    #[cold]
    #[inline(never)]
    fn interval(&mut self, now: u64) {
        self.app.housekeeping(Instant::now());
        self.publish();
        if now.wrapping_sub(self.checked) >= self.check_every && self.lost.is_none() {
            self.checked = now;
            self.lost = self.watched.iter().find_map(|d| d.check_present().err());
        }
    }

    /// Receives a batch on every port and hands it to the app, then sends
    /// what the app queued. Returns the packets received. No allocation,
    /// lock, system call or atomic read-modify-write. Not inlined: it is
    /// called only when a queue has frames, and profilers count it alone
    /// (`make bench`: `--toggle-collect=*Poller*poll*`).
    #[inline(never)]
    pub fn poll(&mut self) -> usize {
        let mut received = 0;
        for (port, q) in self.rx.iter_mut().enumerate() {
            let n = q.rx_batch(&mut self.inbox, self.batch);
            if n == 0 {
                continue;
            }
            received += n;
            self.own.rx_batches += 1;
            self.app
                .process(port, &mut self.inbox, &mut Outputs::new(&mut self.outboxes));
            self.inbox.clear();
        }
        if received == 0 {
            // Apps queue packets only in `process`: nothing to send.
            self.own.empty_polls += 1;
            return 0;
        }
        for (q, out) in self.tx.iter_mut().zip(self.outboxes.iter_mut()) {
            if out.is_empty() {
                continue;
            }
            q.tx_batch(out);
            self.own.tx_drops += out.len() as u64;
            out.clear();
        }
        received
    }

    /// The counters now: what the queues counted plus the poller's own,
    /// on top of what the file held at the start. Idle cycles are the
    /// time since the start that was not busy.
    pub fn counters(&self) -> Counters {
        let (b, o) = (&self.base, &self.own);
        let elapsed = driver::tsc::now().wrapping_sub(self.started);
        let mut c = Counters {
            rx_packets: b.rx_packets,
            rx_bytes: b.rx_bytes,
            tx_packets: b.tx_packets,
            tx_bytes: b.tx_bytes,
            tx_drops: b.tx_drops + o.tx_drops,
            rx_batches: b.rx_batches + o.rx_batches,
            empty_polls: b.empty_polls + o.empty_polls,
            busy_cycles: b.busy_cycles + o.busy_cycles,
            idle_cycles: b.idle_cycles + elapsed.saturating_sub(o.busy_cycles),
            rx_bad_descriptors: b.rx_bad_descriptors,
            rx_queue_resets: b.rx_queue_resets,
        };
        for q in &self.rx {
            let qc = q.counters();
            c.rx_packets += qc.packets;
            c.rx_bytes += qc.bytes;
            c.rx_bad_descriptors += qc.bad_descriptors;
            c.rx_queue_resets += qc.resets;
        }
        for q in &self.tx {
            let qc = q.counters();
            c.tx_packets += qc.packets;
            c.tx_bytes += qc.bytes;
        }
        c
    }

    /// Sets how many TSC cycles pass between two publications (default:
    /// a millisecond's worth). Benchmarks that run the loop under valgrind,
    /// where a millisecond passes in every iteration, set it high.
    pub fn set_publish_interval(&mut self, cycles: u64) {
        self.publish_every = cycles.max(1);
    }

    /// Publishes the counters in the stats file now, the app's too.
    pub fn publish(&mut self) {
        if !self.app_values.is_empty() {
            self.app.counters(&mut self.app_values);
            for (v, b) in self.app_values.iter_mut().zip(&self.app_base) {
                *v = v.wrapping_add(*b);
            }
            self.file.publish_app(&self.app_values);
        }
        self.file.publish(&self.counters());
        self.published = driver::tsc::now();
    }

    /// Detaches every queue (disable, confirm, then free: docs/DESIGN.md 4),
    /// all of them even when one fails (a lost device); returns the first
    /// error.
    pub fn detach(self) -> Result<()> {
        let rx = self.rx.into_iter().map(RxQueue::detach);
        let tx = self.tx.into_iter().map(TxQueue::detach);
        let mut first = Ok(());
        for r in rx.chain(tx) {
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// The worker's busy loop, a function of its own so that profilers can
/// count it alone (`make bench` runs callgrind with
/// `--toggle-collect=*busy_loop*`). It ends on the supervisor's stop
/// request or when a watched device is lost.
#[inline(never)]
pub fn busy_loop<A: App + ?Sized>(poller: &mut Poller<'_, '_, A>, file: &StatsFile) {
    while !file.stop_requested() && !poller.lost() {
        poller.iterate();
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
