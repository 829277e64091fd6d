//! The supervisor proper (docs/DESIGN.md 7): init the devices, fork the workers,
//! watch them, restart the ones that die, and shut everything down.
//!
//! Restarts are bounded by a rate ([`crate::budget`]). A worker over its
//! budget is given up for a while: its redirection table entries are dealt
//! to the live workers' queues so its flows keep flowing, it is tried again
//! once the window has room, and its entries return when it runs again.
//! Every [`WATCH_EVERY`] the supervisor also logs link changes and workers
//! that stall (running, but no heartbeat for `statsfile::STALL_AFTER`).
//!
//! The supervisor never starts a thread: signals (SIGINT, SIGTERM, SIGCHLD)
//! are blocked and read from a signalfd in the main loop, so forking a
//! replacement worker at any time is safe.

use crate::budget::{Decision, RestartBudget};
use crate::cli::Config;
use crate::rundir::RunDir;
use driver::stats::PortStats;
use driver::{Error, ErrorKind, InitConfig, LinkStatus, OpenOptions, Owned, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};
use worker::portfile;
use worker::statsfile::{self, State, StatsFile};
use worker::{AppFactory, WorkerSpec};

/// How long a stop may take before stragglers are killed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The same when a device is lost: a worker on it cannot detach cleanly
/// anyway, and once it is killed the supervisor disables its queues on the
/// devices still there itself (the dead-worker path, docs/DESIGN.md 4).
const LOST_GRACE: Duration = Duration::from_millis(500);
/// How often the supervisor checks that its devices are still there
/// (`Device::check_present`: a register read, and a system call on the
/// simulator), so that a lost device is noticed well within a second.
const PRESENCE_INTERVAL: Duration = Duration::from_millis(200);
/// How often the supervisor looks at the links, for stalled workers and for
/// given-up workers that run again.
pub const WATCH_EVERY: Duration = Duration::from_millis(100);

/// One worker as the supervisor tracks it.
struct Slot {
    index: u32,
    core: usize,
    file: StatsFile,
    pid: Option<Pid>,
    budget: RestartBudget,
    restart_at: Option<Instant>,
    /// Over its restart budget: its RETA entries point to other queues
    /// until it runs again.
    given_up: bool,
    /// Its RSS share is sent elsewhere while a virtio queue pair of it is
    /// reset and it restarts (`release_worker`); back once it runs.
    detoured: bool,
    /// Seen stalled at the last watch.
    stalled: bool,
}

/// A supervisor with its devices initialised, running the apps `F` makes.
pub struct Supervisor<F: AppFactory> {
    cfg: Config,
    factory: F,
    devices: Owned,
    ports: Vec<PortStats>,
    slots: Vec<Slot>,
    signals: SignalFd,
    started: Instant,
    stopping: bool,
    /// Per device: found lost (and reported once).
    lost: Vec<bool>,
    /// A device was lost: found by the supervisor, or a worker exited
    /// with [`worker::EXIT_DEVICE_LOST`]. The run stops and exits with it.
    device_lost: bool,
    /// A worker exited with [`worker::EXIT_BAD_APP`]: its app cannot run.
    /// The run stops and exits with 2.
    bad_app: bool,
    /// Each device's link as last seen, and since when.
    links: Vec<(LinkStatus, Instant)>,
    /// The run dir, held for the supervisor's life.
    _run_dir: RunDir,
}

fn fatal(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Io, "ixy-supervisor", msg)
}

impl<F: AppFactory> Supervisor<F> {
    /// Blocks the signals, claims, opens and initialises every device (RSS
    /// over the workers' queues), reclaims what dead owners left, and
    /// creates the stats files. No thread exists.
    pub fn new(cfg: Config, factory: F) -> Result<Self> {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD] {
            mask.add(s);
        }
        mask.thread_block()
            .map_err(|e| fatal(format!("blocking signals: {e}")))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| fatal(format!("signalfd: {e}")))?;
        let opts = OpenOptions { force: cfg.force };
        let init = InitConfig {
            promisc: cfg.promisc,
            rss: Some(cfg.rss.clone()),
            ..InitConfig::default()
        };
        // Exclusive for the supervisor's whole life; forked workers inherit
        // the locks (docs/DESIGN.md 4, "Ownership and reclaim").
        let devices = Owned::take(&cfg.devices, &opts, &init, "ixy-supervisor")?;
        let run_dir = RunDir::claim(&cfg.run_dir)?;
        let mut slots = Vec::new();
        for i in 0..cfg.workers {
            let core = cfg.cores[i as usize];
            let file = StatsFile::create(&cfg.run_dir, i, core as u32, i).map_err(|e| {
                Error::io(
                    "ixy-supervisor",
                    format!(
                        "creating the stats file of worker {i} in {}",
                        cfg.run_dir.display()
                    ),
                    e,
                )
            })?;
            slots.push(Slot {
                index: i,
                core,
                file,
                pid: None,
                budget: RestartBudget::new(cfg.max_restarts, cfg.restart_window),
                restart_at: None,
                given_up: false,
                detoured: false,
                stalled: false,
            });
        }
        let ports = devices.iter().map(|_| PortStats::default()).collect();
        let lost = vec![false; devices.len()];
        let links = devices.iter().map(|d| (d.link(), Instant::now())).collect();
        Ok(Supervisor {
            cfg,
            factory,
            devices,
            ports,
            slots,
            signals,
            started: Instant::now(),
            stopping: false,
            lost,
            device_lost: false,
            bad_app: false,
            links,
            _run_dir: run_dir,
        })
    }

    fn spec(&self, i: u32) -> WorkerSpec {
        WorkerSpec {
            index: i,
            workers: self.cfg.workers,
            core: Some(self.slots[i as usize].core),
            batch: self.cfg.batch,
            idle: self.cfg.idle,
            rx_ring: self.cfg.rx_ring,
            tx_ring: self.cfg.tx_ring,
            run_dir: self.cfg.run_dir.clone(),
        }
    }

    /// Runs worker `k` in this process, in the foreground (`--debug-worker`).
    pub fn run_debug_worker(mut self, k: u32) -> Result<i32> {
        let path = statsfile::path(&self.cfg.run_dir, k);
        let stopper = StatsFile::open(&path)
            .map_err(|e| Error::io("ixy-supervisor", "opening the stats file", e))?;
        let mut unblock = SigSet::empty();
        unblock.add(Signal::SIGINT);
        unblock.add(Signal::SIGTERM);
        unblock
            .thread_unblock()
            .map_err(|e| fatal(format!("unblocking signals: {e}")))?;
        // No fork happens in this mode, so the handler thread is harmless.
        ctrlc::set_handler(move || stopper.request_stop(true))
            .map_err(|e| fatal(format!("installing the Ctrl-C handler: {e}")))?;
        log::info!("debug worker {k}: running in the foreground; Ctrl-C stops it");
        let deadline = self.cfg.duration;
        let spec = self.spec(k);
        if let Some(d) = deadline {
            let stopper = StatsFile::open(&path)
                .map_err(|e| Error::io("ixy-supervisor", "opening the stats file", e))?;
            std::thread::spawn(move || {
                std::thread::sleep(d);
                stopper.request_stop(true);
            });
        }
        match worker::run_with(&spec, &self.devices, |w| self.factory.make(w)) {
            Err(e) if e.kind() == ErrorKind::DeviceLost => {
                log::error!("debug worker {k}: {e}");
                self.device_lost = true;
            }
            other => other?,
        }
        self.finish()
    }

    /// Forks every worker and supervises them until SIGINT/SIGTERM or the
    /// end of `--duration`; returns the exit code.
    pub fn run(mut self) -> Result<i32> {
        for i in 0..self.cfg.workers {
            self.spawn(i)?;
        }
        // None also when the end lies beyond the clock's range: no end.
        let deadline = self.cfg.duration.and_then(|d| self.started.checked_add(d));
        let mut next_stats = Instant::now() + Duration::from_secs(1);
        let mut next_check = Instant::now() + PRESENCE_INTERVAL;
        let mut next_watch = Instant::now() + WATCH_EVERY;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                log::info!("--duration reached: stopping");
                break;
            }
            if now >= next_check {
                next_check = now + PRESENCE_INTERVAL;
                self.check_devices();
            }
            if self.device_lost || self.bad_app {
                break;
            }
            if now >= next_stats {
                self.update_port_stats();
                next_stats += Duration::from_secs(1);
            }
            if now >= next_watch {
                self.watch();
                next_watch = now + WATCH_EVERY;
            }
            for i in 0..self.cfg.workers {
                let slot = &mut self.slots[i as usize];
                if slot.restart_at.is_some_and(|t| t <= now) {
                    slot.restart_at = None;
                    if slot.given_up {
                        // The window has room again: this try is a restart.
                        slot.budget.record(now);
                        slot.file.add_restart();
                        log::info!("worker {i}: trying it again after giving it up");
                    }
                    self.spawn(i)?;
                }
            }
            let mut wake = next_stats.min(next_check).min(next_watch);
            if let Some(d) = deadline {
                wake = wake.min(d);
            }
            for t in self.slots.iter().filter_map(|s| s.restart_at) {
                wake = wake.min(t);
            }
            if self.wait_signal(wake.saturating_duration_since(Instant::now()))? {
                break;
            }
        }
        self.shutdown();
        self.finish()
    }

    /// Checks every device not yet known lost; reports each lost one on
    /// one line naming it and marks the run for stopping.
    fn check_devices(&mut self) {
        for (p, dev) in self.devices.iter().enumerate() {
            if self.lost[p] {
                continue;
            }
            if let Err(e) = dev.check_present() {
                log::error!("{e}; stopping the workers");
                self.lost[p] = true;
                self.device_lost = true;
            }
        }
    }

    /// Waits for a signal up to `timeout`; reaps children. Returns true on
    /// SIGINT/SIGTERM.
    fn wait_signal(&mut self, timeout: Duration) -> Result<bool> {
        let ms = u16::try_from(timeout.as_millis().clamp(1, 1000)).unwrap_or(1000);
        let mut fds = [PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(fatal(format!("poll: {e}"))),
        }
        let mut stop = false;
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => {}
                Ok(sig) => {
                    log::info!("{sig:?}: stopping the workers");
                    stop = true;
                }
                Err(_) => {}
            }
        }
        self.reap();
        Ok(stop)
    }

    /// Collects every child that exited and handles it.
    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => {
                    if let Some(pid) = status.pid() {
                        if let Some(i) = self.slots.iter().position(|s| s.pid == Some(pid)) {
                            self.worker_exited(i, status);
                        }
                    }
                }
            }
        }
    }

    /// Forks worker `i` on its core and queue.
    fn spawn(&mut self, i: u32) -> Result<()> {
        let spec = self.spec(i);
        let slot = &self.slots[i as usize];
        slot.file.request_stop(false);
        slot.file.set_state(State::Starting);
        match crate::process::fork()? {
            ForkResult::Child => {
                let code = crate::process::worker_child(&spec, &self.devices, &self.factory);
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                log::info!(
                    "worker {i}: forked as pid {child} on core {}",
                    spec.core.unwrap_or(0)
                );
                self.slots[i as usize].pid = Some(child);
                Ok(())
            }
        }
    }

    /// A worker process ended: a clean stop, or the dead-worker path of
    /// docs/DESIGN.md 4 (queues disabled and confirmed, memory reclaimed, restart).
    fn worker_exited(&mut self, i: usize, status: WaitStatus) {
        let slot = &mut self.slots[i];
        slot.pid = None;
        let clean =
            matches!(status, WaitStatus::Exited(_, 0)) && slot.file.state() == State::Stopped;
        if clean && self.stopping {
            log::info!("worker {}: stopped", slot.index);
            return;
        }
        let cause = match status {
            WaitStatus::Exited(_, code) => format!("exited with status {code}"),
            WaitStatus::Signaled(_, sig, core) => format!(
                "killed by {sig:?}{}",
                if core { " (core dumped)" } else { "" }
            ),
            other => format!("ended ({other:?})"),
        };
        let index = slot.index;
        log::warn!("worker {index}: {cause}");
        self.release_worker(i);
        let slot = &mut self.slots[i];
        slot.file.set_state(State::Died);
        if matches!(status, WaitStatus::Exited(_, worker::EXIT_DEVICE_LOST)) {
            // Its device is gone: a restart could not help. Stop the run,
            // naming the device.
            log::warn!("worker {index}: lost its device; not restarted");
            self.device_lost = true;
            self.check_devices();
            return;
        }
        if matches!(status, WaitStatus::Exited(_, worker::EXIT_BAD_APP)) {
            log::error!(
                "worker {index}: its app cannot run (its error is above); not restarted, stopping"
            );
            self.bad_app = true;
            return;
        }
        if self.stopping {
            // A worker killed at shutdown because it was stalled keeps
            // that mark for the summary.
            return;
        }
        slot.stalled = false;
        let now = Instant::now();
        let (limit, window) = (self.cfg.max_restarts, self.cfg.restart_window);
        match slot.budget.decide(now) {
            Decision::Restart(delay) => {
                slot.budget.record(now);
                slot.file.add_restart();
                slot.restart_at = Some(now + delay);
                log::info!(
                    "worker {index}: restarting in {delay:?} (restart {} of {limit} allowed within {} s)",
                    slot.budget.recent(now),
                    window.as_secs_f64()
                );
            }
            Decision::GiveUp { retry_at } => {
                slot.restart_at = retry_at;
                let next = match retry_at {
                    Some(t) => format!(
                        "trying it again in {:.1} s",
                        t.saturating_duration_since(now).as_secs_f64()
                    ),
                    None => "not trying it again (--max-restarts 0)".into(),
                };
                if slot.given_up {
                    log::error!("worker {index}: failed again; {next}");
                    return;
                }
                slot.given_up = true;
                let entries = self.reta_entries(index);
                let to = self.steer();
                log::error!(
                    "worker {index}: over its restart budget (--max-restarts {limit} within --restart-window {}): given up, {next}; its {entries} RETA entries now go to {}",
                    window.as_secs_f64(),
                    queues(&to)
                );
            }
        }
    }

    /// How many entries of the configured redirection table name queue `q`.
    fn reta_entries(&self, q: u32) -> usize {
        self.cfg
            .rss
            .reta
            .iter()
            .filter(|&&e| u32::from(e) == q)
            .count()
    }

    /// Writes every device's RETA (7.1.2.8.2): the configured table with
    /// the entries of given-up workers dealt to the others' queues. Returns
    /// the queues that receive those entries (none when every worker is
    /// given up: the table then stays as configured).
    fn steer(&self) -> Vec<u16> {
        let avoid: Vec<u16> = self
            .slots
            .iter()
            .filter(|s| s.given_up || s.detoured)
            .map(|s| s.index as u16)
            .collect();
        let table = self.cfg.rss.reta_avoiding(&avoid);
        for dev in &self.devices {
            if let Err(e) = dev.set_reta(&table) {
                log::error!("{e}");
            }
        }
        let mut to: Vec<u16> = table
            .iter()
            .map(|&q| u16::from(q))
            .filter(|q| !avoid.contains(q))
            .collect();
        to.sort_unstable();
        to.dedup();
        to
    }

    /// Logs link changes and stalls, and gives the RETA entries back to a
    /// given-up worker that runs again.
    fn watch(&mut self) {
        let now = Instant::now();
        for (p, dev) in self.devices.iter().enumerate() {
            let link = dev.link();
            let (was, since) = self.links[p];
            if link.up == was.up {
                continue;
            }
            let for_s = now.saturating_duration_since(since).as_secs_f64();
            if link.up {
                log::info!(
                    "port {p} ({}): link up at {} Mbit/s (it was down for {for_s:.1} s)",
                    dev.name(),
                    link.speed_mbps
                );
            } else {
                log::warn!(
                    "port {p} ({}): link down (it was up for {for_s:.1} s)",
                    dev.name()
                );
            }
            self.links[p] = (link, now);
        }
        let mut back = Vec::new();
        let mut restore = false;
        for slot in &mut self.slots {
            if slot.pid.is_none() {
                continue;
            }
            let stalled = slot.file.stalled();
            if stalled != slot.stalled {
                slot.stalled = stalled;
                if stalled {
                    let age = driver::tsc::monotonic_ns().saturating_sub(slot.file.heartbeat_ns());
                    log::warn!(
                        "worker {} (pid {}): stalled: running but no heartbeat for {:.1} s (stopped, or stuck in its app)",
                        slot.index,
                        slot.file.pid(),
                        age as f64 / 1e9
                    );
                } else {
                    log::info!("worker {}: running again after a stall", slot.index);
                }
            }
            if (slot.given_up || slot.detoured) && slot.file.state() == State::Running {
                if slot.given_up {
                    back.push(slot.index);
                }
                slot.given_up = false;
                slot.detoured = false;
                restore = true;
            }
        }
        if restore {
            self.steer();
            for i in back {
                log::info!(
                    "worker {i}: running again; its {} RETA entries are back",
                    self.reta_entries(i)
                );
            }
        }
    }

    /// Disables worker `i`'s queues on every device, waits for the device
    /// to confirm, then reclaims its DMA memory (docs/DESIGN.md 4).
    fn release_worker(&mut self, i: usize) {
        let q = self.slots[i].index;
        let virtio: Vec<&driver::VirtioNet> =
            self.devices.iter().filter_map(|d| d.virtio()).collect();
        if !virtio.is_empty() && !self.stopping {
            // QEMU's software RSS parks a frame steered to a queue without
            // buffers on the queue it arrived on, and a queue reset purges
            // what is parked there: another worker's frames too. So the
            // dead worker's share goes elsewhere first, the device retries
            // what it parked (now steered to a live queue), then the reset.
            // The share comes back once the worker runs again.
            self.slots[i].detoured = true;
            self.steer();
            for v in &virtio {
                v.kick_receive_queues();
            }
            // Nothing tells when the device has retried them: 20 ms is
            // many times what QEMU takes, and a worker dies rarely.
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut disabled = true;
        for dev in &self.devices {
            match dev.stop_queue(q) {
                Ok(true) => {}
                // Virtio without RING_RESET: the dead worker's buffers stay
                // with the device until it is reset, and so does their
                // memory (docs/DESIGN.md 4); `finish` reclaims it.
                Ok(false) => {
                    log::info!(
                        "worker {q}: {} cannot stop one queue pair; its DMA memory is kept until the device is reset",
                        dev.name()
                    );
                    disabled = false;
                }
                // A device that is gone does no DMA: nothing to wait for.
                Err(e) if e.kind() == ErrorKind::DeviceLost => {
                    log::debug!("worker {q}: {e}");
                }
                Err(e) => {
                    log::error!("worker {q}: {e}");
                    disabled = false;
                }
            }
        }
        if !disabled {
            log::warn!("worker {q}: queues not confirmed stopped; its DMA memory is kept, not freed under the device");
            return;
        }
        let manifest = statsfile::dma_manifest(&self.cfg.run_dir, q);
        match self.devices[0].dma().reclaim(&manifest) {
            Ok(n) => log::debug!("worker {q}: queues disabled, {n} DMA region(s) reclaimed"),
            Err(e) => log::error!("worker {q}: reclaiming DMA memory: {e}"),
        }
    }

    /// Asks every worker to stop, waits (bounded), kills the stragglers.
    fn shutdown(&mut self) {
        self.stopping = true;
        for s in &mut self.slots {
            s.restart_at = None;
            s.file.request_stop(true);
        }
        let grace = if self.device_lost {
            LOST_GRACE
        } else {
            STOP_GRACE
        };
        let until = Instant::now() + grace;
        while self.slots.iter().any(|s| s.pid.is_some()) && Instant::now() < until {
            // Signals other than SIGCHLD are ignored from here on.
            let _ = self.wait_signal(Duration::from_millis(20));
        }
        for s in &self.slots {
            if let Some(pid) = s.pid {
                log::warn!(
                    "worker {}: did not stop within {grace:?}{}; killing it",
                    s.index,
                    if s.stalled { " (stalled)" } else { "" }
                );
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            }
        }
        let until = Instant::now() + STOP_GRACE;
        while self.slots.iter().any(|s| s.pid.is_some()) && Instant::now() < until {
            let _ = self.wait_signal(Duration::from_millis(20));
        }
    }

    /// Reads the counters of every device still there and writes its port
    /// file; a lost device keeps its last good totals (all-ones reads are
    /// never counted: `PortStats::update`).
    fn update_port_stats(&mut self) {
        self.check_devices();
        for (p, (dev, stats)) in self.devices.iter().zip(self.ports.iter_mut()).enumerate() {
            if self.lost[p] {
                continue;
            }
            // Virtio has no statistics registers: its traffic is in the
            // workers' counters.
            let Some(regs) = dev.regs() else { continue };
            if !stats.update(regs) {
                // Vanished since the check: the next check reports it.
                continue;
            }
            if let Err(e) = portfile::write(&self.cfg.run_dir, dev.name(), p, stats) {
                log::warn!("port {p}: cannot write its stats file: {e}");
            }
        }
    }

    /// Final statistics, summary, device reset, leftover memory; exit code.
    fn finish(mut self) -> Result<i32> {
        self.update_port_stats();
        crate::summary::print(
            &self
                .slots
                .iter()
                .map(|s| {
                    // Stalled until the end: killed at shutdown, not stopped.
                    let stalled = s.stalled && s.file.state() != State::Stopped;
                    (&s.file, if stalled { "stalled" } else { s.file.label() })
                })
                .collect::<Vec<_>>(),
            &self.devices,
            &self.ports,
            self.started.elapsed(),
        );
        for (dev, _) in self
            .devices
            .iter()
            .zip(&self.lost)
            .filter(|(_, &lost)| !lost)
        {
            if let Err(e) = dev.reset() {
                log::warn!("{e}");
            }
        }
        // After the reset: no device writes the workers' buffers any more
        // (a virtio device held them until now).
        for i in 0..self.slots.len() {
            let manifest = statsfile::dma_manifest(&self.cfg.run_dir, self.slots[i].index);
            if let Err(e) = self.devices[0].dma().reclaim(&manifest) {
                log::error!("worker {i}: {e}");
            }
        }
        if self.device_lost {
            return Ok(worker::EXIT_DEVICE_LOST);
        }
        if self.bad_app {
            return Ok(worker::EXIT_BAD_APP);
        }
        let failed = self.slots.iter().any(|s| s.given_up);
        Ok(i32::from(failed))
    }
}

/// "queue 0" or "queues 0, 2", or what it means when there is none.
fn queues(q: &[u16]) -> String {
    match q {
        [] => "no other queue (every worker is given up: the table stays)".into(),
        [one] => format!("queue {one}"),
        many => format!(
            "queues {}",
            many.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
