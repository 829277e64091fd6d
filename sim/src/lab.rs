//! A lab: simulated ports, the cables between them, the IOMMU table, the
//! polling thread that runs the model and the control socket.

use crate::control;
use crate::crossing::{LinkFlags, SplitEnd};
use crate::iommu::{Table, Translator};
use crate::port::{Port, Timing};
use crate::shard::{self, Router};
use crate::tap::Tap;
use crate::tx::TxContext;
use crate::wire::{wire_time_ps, WireFrame};
use driver::pcap::PcapFile;
use driver::simfmt::{self, bar::SimCounter};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest number of ports in one lab.
pub const MAX_PORTS: usize = 16;
/// Longest [`LabConfig::link_delay`] (`--link-delay-ms`).
pub const MAX_LINK_DELAY: Duration = Duration::from_secs(60);
/// Longest [`LabConfig::reset_delay`] (`--reset-delay-ms`).
pub const MAX_RESET_DELAY: Duration = Duration::from_secs(60);
/// Longest [`LabConfig::cable_delay`] (`--cable-delay-ns`).
pub const MAX_CABLE_DELAY: Duration = Duration::from_secs(1);
/// Longest [`LabConfig::max_idle_sleep`].
pub const MAX_IDLE_SLEEP: Duration = Duration::from_secs(1);

/// What a lab looks like; see `ixy-sim --help` for the defaults.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The lab's name: its directory under `root`.
    pub name: String,
    /// Directory holding labs (`$IXY_SIM_DIR` or `/dev/shm/ixy-sim`).
    pub root: PathBuf,
    /// Number of ports.
    pub ports: usize,
    /// Cables between pairs of ports.
    pub cables: Vec<(usize, usize)>,
    /// Ports cabled to a Linux TAP device instead of another port, and the
    /// device's name ([`crate::tap`]).
    pub taps: Vec<(usize, String)>,
    /// Pace every cable at 10 Gbit/s.
    pub line_rate: bool,
    /// Time from reset or AN restart to link up.
    pub link_delay: Duration,
    /// Time from CTRL.RST to the end of the reset.
    pub reset_delay: Duration,
    /// Propagation delay of every cable.
    pub cable_delay: Duration,
    /// Longest sleep of the idle polling loop.
    pub max_idle_sleep: Duration,
    /// Pin the model's thread to this CPU core (benchmarks); with several
    /// threads, thread k goes to core `core + k`.
    pub core: Option<usize>,
    /// Model threads. Cables (both their ports) and lone ports are shared
    /// out among them round robin; there are never more threads than
    /// such units (`shard::groups`).
    pub threads: usize,
}

impl LabConfig {
    /// The default lab: 4 ports, cables 0-2 and 1-3, line rate on.
    pub fn new(name: &str) -> Self {
        LabConfig {
            name: name.to_string(),
            root: simfmt::labs_root(),
            ports: 4,
            cables: vec![(0, 2), (1, 3)],
            taps: Vec::new(),
            line_rate: true,
            link_delay: Duration::from_millis(10),
            reset_delay: Duration::from_millis(1),
            cable_delay: Duration::from_nanos(50),
            max_idle_sleep: Duration::from_millis(1),
            core: None,
            threads: 1,
        }
    }

    /// The lab directory.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.name)
    }

    /// Checks names, port numbers, cables, durations (each at most its
    /// `MAX_*` constant) and the core to pin to.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            && !self.name.starts_with('.');
        if !name_ok {
            return bad(format!(
                "lab name {:?}: use 1-64 letters, digits, '-', '_' or '.'",
                self.name
            ));
        }
        if self.threads == 0 || self.threads > MAX_PORTS {
            return bad(format!(
                "{} model threads: give 1 to {MAX_PORTS} (one per cable at most is used)",
                self.threads
            ));
        }
        if self.ports == 0 || self.ports > MAX_PORTS {
            return bad(format!("{} ports: a lab has 1 to {MAX_PORTS}", self.ports));
        }
        let mut used = vec![false; self.ports];
        for &(a, b) in &self.cables {
            if a >= self.ports || b >= self.ports {
                return bad(format!(
                    "cable {a}-{b}: the lab has ports 0 to {}",
                    self.ports - 1
                ));
            }
            if a == b {
                return bad(format!("cable {a}-{b}: a cable joins two different ports"));
            }
            for p in [a, b] {
                if std::mem::replace(&mut used[p], true) {
                    return bad(format!("port {p} has two cables; each port has one"));
                }
            }
        }
        for (i, (p, name)) in self.taps.iter().enumerate() {
            if *p >= self.ports {
                return bad(format!(
                    "--tap {p}:{name}: the lab has ports 0 to {}",
                    self.ports - 1
                ));
            }
            if std::mem::replace(&mut used[*p], true) {
                return bad(format!(
                    "--tap {p}:{name}: port {p} already has a cable or a TAP; each port has one"
                ));
            }
            crate::tap::check_name(name).map_err(Error::Config)?;
            if self.taps[..i].iter().any(|(_, n)| n == name) {
                return bad(format!("--tap {p}:{name}: TAP {name} is named twice"));
            }
        }
        self.check_timing_and_core().map_err(Error::Config)
    }

    /// Checks every duration against its `MAX_*` constant (a link delay of
    /// 2^64-1 ns would never bring the link up) and that the cores to pin
    /// to exist in a CPU set.
    fn check_timing_and_core(&self) -> Result<(), String> {
        type InUnit = fn(Duration) -> (u128, &'static str);
        let ms: InUnit = |d| (d.as_millis(), "ms");
        let ns: InUnit = |d| (d.as_nanos(), "ns");
        let limits = [
            ("--link-delay-ms", self.link_delay, MAX_LINK_DELAY, ms),
            ("--reset-delay-ms", self.reset_delay, MAX_RESET_DELAY, ms),
            ("--cable-delay-ns", self.cable_delay, MAX_CABLE_DELAY, ns),
            ("max_idle_sleep", self.max_idle_sleep, MAX_IDLE_SLEEP, ms),
        ];
        for (option, value, max, unit) in limits {
            if value > max {
                let ((value, u), (max, _)) = (unit(value), unit(max));
                return Err(format!("{option} {value} {u}: give at most {max} {u}"));
            }
        }
        if let Some(core) = self.core {
            let cores = nix::sched::CpuSet::count();
            if core.checked_add(self.threads).is_none_or(|end| end > cores) {
                return Err(format!(
                    "--core {core}: thread k of {} pins to core {core}+k; cores go up to {}",
                    self.threads,
                    cores - 1
                ));
            }
        }
        Ok(())
    }
}

/// Why a lab could not start.
#[derive(Debug)]
pub enum Error {
    /// The configuration is invalid.
    Config(String),
    /// A lab of that name is running.
    Running {
        /// The lab directory.
        dir: PathBuf,
        /// The process running it.
        pid: u32,
    },
    /// A file operation failed.
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "{m}"),
            Error::Running { dir, pid } => write!(
                f,
                "lab {} is already running (pid {pid}); stop it or pick another --lab name",
                dir.display()
            ),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// A request to the polling thread: a control line and where to answer.
pub(crate) struct Request {
    pub line: String,
    pub reply: mpsc::Sender<String>,
}

/// A running lab. Dropping it stops the model and removes the directory.
pub struct Lab {
    dir: PathBuf,
    name: String,
    core: Option<usize>,
    ports: usize,
    stop: Arc<AtomicBool>,
    router: Router,
    /// The model threads, one per group of ports.
    engines: Vec<JoinHandle<Parked>>,
    /// The models taken back from their threads by [`Lab::run_inline`].
    inline: Vec<Parked>,
    control: Option<control::Server>,
    lock: Option<LabLock>,
}

impl Lab {
    /// Creates the lab directory and starts the model on its own threads.
    pub fn start(cfg: LabConfig) -> Result<Lab, Error> {
        cfg.validate()?;
        let dir = cfg.dir();
        let lock = claim_dir(&dir)?;
        let groups = shard::groups(cfg.ports, &cfg.cables, cfg.threads);
        let (senders, parked): (Vec<_>, Vec<Parked>) = Engine::create(&cfg, &dir, &groups)?
            .into_iter()
            .map(|engine| {
                let (tx, rx) = mpsc::channel();
                (tx, (engine, rx))
            })
            .unzip();
        let router = Router::new(senders, &groups);
        let control = control::Server::start(&dir.join("control"), router.clone())
            .map_err(io_err("control socket"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let engines = spawn_models(&cfg.name, cfg.core, &stop, parked)?;
        log::info!(
            "sim lab {} up: {} ports, cables {:?}, line rate {}, model threads {groups:?}",
            dir.display(),
            cfg.ports,
            cfg.cables,
            if cfg.line_rate {
                "10 Gbit/s"
            } else {
                "unlimited"
            }
        );
        Ok(Lab {
            dir,
            name: cfg.name,
            core: cfg.core,
            ports: cfg.ports,
            stop,
            router,
            engines,
            inline: Vec::new(),
            control: Some(control),
            lock: Some(lock),
        })
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of ports.
    pub fn ports(&self) -> usize {
        self.ports
    }

    /// The BAR file of `port`.
    pub fn bar_path(&self, port: usize) -> PathBuf {
        simfmt::bar_path(&self.dir, port)
    }

    /// The IOMMU table file.
    pub fn iommu_path(&self) -> PathBuf {
        simfmt::iommu_path(&self.dir)
    }

    /// Runs one control command (the same text as over the control socket)
    /// and returns the answer; `Err` carries the error line.
    pub fn control(&self, line: &str) -> Result<String, String> {
        if !self.inline.is_empty() {
            return Err("error: the model runs inline: send commands from another thread while this one steps it".into());
        }
        let answer = self.router.ask(line);
        if answer.starts_with("error") {
            Err(answer)
        } else {
            Ok(answer)
        }
    }

    /// A barrier: returns `Ok` once every model thread has made, after
    /// this call, a whole pass over its ports that found nothing to do
    /// and no frame in flight (the control command `sync`). So every
    /// frame a driver queued (its TDT written) before the call has been
    /// sent, carried and received, delivered into host memory or dropped
    /// and counted, with the registers and statistics published, and
    /// every register write made before the call has been acted on.
    /// Timers are not waited for: a reset or an auto-negotiation still
    /// running, and frames held for want of a link or of Rx descriptors,
    /// stay as they are (poll the registers for those). `Err` with the
    /// `error: ...` line when the lab is not quiet within `timeout` (traffic
    /// that keeps coming), is stopping, or runs inline (use
    /// [`Lab::settle`] there).
    pub fn quiesce(&self, timeout: Duration) -> Result<(), String> {
        if !self.inline.is_empty() {
            return Err("error: the model runs inline: step it with Lab::settle".into());
        }
        let answer = self.router.sync(timeout);
        if answer.starts_with("error") {
            Err(answer)
        } else {
            Ok(())
        }
    }

    /// Stops the model's thread and keeps the model, so that from now on
    /// the device works only in [`Lab::step`], in the caller's thread.
    /// Benchmarks use it to time driver code alone: device work happens
    /// between the timed regions, never concurrently with them. Control
    /// commands from other threads or the control socket are served by
    /// `step`.
    pub fn run_inline(&mut self) -> Result<(), Error> {
        self.stop.store(true, Ordering::Release);
        for handle in std::mem::take(&mut self.engines) {
            let parked = handle.join().map_err(|_| Error::Io {
                what: "taking the model back from its thread".into(),
                source: io::Error::other("the model thread panicked"),
            })?;
            self.inline.push(parked);
        }
        Ok(())
    }

    /// One pass of the model after [`Lab::run_inline`]: every frame due is
    /// moved, every register write acted on. Returns how much happened (0:
    /// nothing was pending); 0 as well when the model still has its thread.
    /// A `sync` from another thread is answered by the first step that
    /// finds nothing to do.
    pub fn step(&mut self) -> usize {
        let mut work = 0;
        for (engine, requests) in &mut self.inline {
            work += engine.serve(requests);
            let now = ps(engine.epoch.elapsed());
            // A full pass (every queue enable scanned) while a sync waits.
            let full = !engine.syncs.is_empty();
            let done = engine.pass(now, !full);
            engine.answer_syncs(now, done, full);
            work += done;
        }
        work
    }

    /// Gives the model back its own thread after [`Lab::run_inline`].
    pub fn resume(&mut self) -> Result<(), Error> {
        if self.inline.is_empty() {
            return Ok(());
        }
        self.stop.store(false, Ordering::Release);
        let parked = std::mem::take(&mut self.inline);
        self.engines = spawn_models(&self.name, self.core, &self.stop, parked)?;
        Ok(())
    }

    /// Steps the inline model until a pass finds nothing to do (at most
    /// `max` passes); returns the passes made.
    pub fn settle(&mut self, max: usize) -> usize {
        (1..=max).find(|_| self.step() == 0).unwrap_or(max)
    }

    /// Stops the model and removes the lab directory.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(c) = self.control.take() {
            c.stop();
        }
        for h in std::mem::take(&mut self.engines) {
            if h.join().is_err() {
                log::error!("sim lab {}: a model thread panicked", self.dir.display());
            }
        }
        self.inline.clear();
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            log::warn!(
                "sim lab {}: cannot remove the directory: {e}",
                self.dir.display()
            );
        }
        // Remove the lock file while holding the lock, then release it.
        let _ = std::fs::remove_file(simfmt::lock_path(&self.dir));
        drop(self.lock.take());
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.engines.is_empty() || !self.inline.is_empty() {
            self.shutdown();
        }
    }
}

/// Runs each model on a thread of its own until `stop` (thread k pinned
/// to `core + k`); each thread hands its model back when it ends.
fn spawn_models(
    name: &str,
    core: Option<usize>,
    stop: &Arc<AtomicBool>,
    parked: Vec<Parked>,
) -> Result<Vec<JoinHandle<Parked>>, Error> {
    let mut handles = Vec::new();
    for (k, (mut engine, requests)) in parked.into_iter().enumerate() {
        let flag = stop.clone();
        let core = core.map(|c| c + k);
        let thread = if k == 0 {
            format!("ixy-sim-{name}")
        } else {
            format!("ixy-sim{k}-{name}")
        };
        let spawned = std::thread::Builder::new().name(thread).spawn(move || {
            if let Some(core) = core {
                if let Err(e) = pin_to_core(core) {
                    log::warn!("sim: cannot pin a model thread to core {core}: {e}");
                }
            }
            engine.run(&flag, &requests);
            (engine, requests)
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // Stop and reap the threads already running.
                stop.store(true, Ordering::Release);
                handles.into_iter().for_each(|h| drop(h.join()));
                return Err(io_err("spawning a model thread")(e));
            }
        }
    }
    Ok(handles)
}

/// Pins the calling thread to CPU `core`.
pub fn pin_to_core(core: usize) -> nix::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(core)?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
}

/// The lock that makes a lab directory ours for the lab's lifetime: an
/// exclusive `flock` on `ROOT/NAME.lock`, released by the kernel when the
/// process dies, so a lab left behind by a crash is recognised as stale.
type LabLock = nix::fcntl::Flock<std::fs::File>;

/// Makes `dir` ours: refuses a running lab, clears a stale one.
fn claim_dir(dir: &Path) -> Result<LabLock, Error> {
    let root = dir.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(root).map_err(io_err(format!("creating {}", root.display())))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(simfmt::lock_path(dir))
        .map_err(io_err(format!("opening the lock of lab {}", dir.display())))?;
    let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(
        |_| {
            let pid = std::fs::read_to_string(dir.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0);
            Error::Running {
                dir: dir.to_path_buf(),
                pid,
            }
        },
    )?;
    if dir.exists() {
        log::warn!(
            "sim lab {}: removing what a stopped lab left behind",
            dir.display()
        );
        std::fs::remove_dir_all(dir)
            .map_err(io_err(format!("removing stale lab {}", dir.display())))?;
    }
    std::fs::create_dir_all(dir)
        .map_err(io_err(format!("creating lab directory {}", dir.display())))?;
    std::fs::write(dir.join("pid"), format!("{}\n", std::process::id()))
        .map_err(io_err("writing the pid file"))?;
    Ok(lock)
}

/// The model and its request queue, as the thread hands them back.
type Parked = (Engine, mpsc::Receiver<Request>);

/// The model of a group of ports: everything one polling thread owns.
/// Vectors are indexed by the port's place in the group; `Port::index` is
/// its number in the lab.
struct Engine {
    ports: Vec<Port>,
    /// Ports in the whole lab (control commands are checked against it).
    lab_ports: usize,
    peer: Vec<Option<usize>>,
    /// Frames in flight, indexed by destination port.
    wires: Vec<VecDeque<WireFrame>>,
    /// Per port: its end of a cable whose other port runs on another
    /// model thread (`crossing`), if so.
    split: Vec<Option<SplitEnd>>,
    /// Whether each port of the lab would bring its link up, for the
    /// threads at the other end of split cables.
    links: Arc<LinkFlags>,
    iommu: Translator,
    free: Vec<Vec<u8>>,
    line_rate: bool,
    cable_delay_ps: u64,
    max_idle_sleep: Duration,
    epoch: Instant,
    /// Where to answer the `sync` requests received and not answered yet:
    /// after the next full pass that finds the model quiet.
    syncs: Vec<mpsc::Sender<String>>,
    /// Per port: the TAP device its cable leads to, if any.
    taps: Vec<Option<TapEnd>>,
    /// Per port: the capture of its cable (`capture P PATH`), if any.
    captures: Vec<Option<PcapFile>>,
    /// Lab time 0 as Unix ns, the time base of captures.
    epoch_unix_ns: u64,
}

/// Largest size of a cable capture file.
const MAX_CAPTURE_BYTES: usize = 1 << 30;

/// The time base of cable captures.
#[derive(Clone, Copy)]
struct CaptureBase {
    /// Lab time 0 as Unix ns.
    epoch_unix_ns: u64,
    /// Propagation delay of a cable (a frame's `rx_sfd_ps` less it is
    /// when its first bit left the sender).
    cable_delay_ps: u64,
}

/// Writes the frames a port just sent (those of `sent` after the first
/// `before`) to the captures of the ports in `cables` (the port and its
/// peer: one cable), at the time their first bit left the port.
fn capture_sent(
    captures: &mut [Option<PcapFile>],
    cables: [Option<usize>; 2],
    sent: &VecDeque<WireFrame>,
    before: usize,
    at: CaptureBase,
) {
    for c in cables.into_iter().flatten() {
        let Some(file) = captures[c].as_mut() else {
            continue;
        };
        for f in sent.range(before.min(sent.len())..) {
            let departure_ps = f.rx_sfd_ps.saturating_sub(at.cable_delay_ps);
            // A full file loses the frame to the capture only.
            let _ = file.append(at.epoch_unix_ns + departure_ps / 1000, &f.data);
        }
    }
}

/// The far end of a port cabled to a TAP device.
struct TapEnd {
    tap: Tap,
    /// Frames the port sent, on their way to the TAP.
    out: VecDeque<WireFrame>,
    /// When the wire from the TAP to the port is free again (pacing).
    in_free_ps: u64,
}

/// Frames read from a TAP per pass.
const TAP_BURST: usize = 64;
/// Shortest frame on a wire without FCS: the TAP's frames are padded to it,
/// as the MAC of a real sender would.
const MIN_FRAME_NO_FCS: usize = 60;

fn ps(d: Duration) -> u64 {
    u64::try_from(d.as_nanos())
        .unwrap_or(u64::MAX / 2_000)
        .saturating_mul(1000)
}

impl Engine {
    /// Creates the lab's ports, lab.conf and IOMMU table, and one model
    /// per group of [`shard::groups`].
    fn create(cfg: &LabConfig, dir: &Path, groups: &[Vec<usize>]) -> Result<Vec<Engine>, Error> {
        let timing = Timing {
            reset_ps: ps(cfg.reset_delay),
            link_ps: ps(cfg.link_delay),
        };
        let mut ports = Vec::with_capacity(cfg.ports);
        for i in 0..cfg.ports {
            let path = simfmt::bar_path(dir, i);
            let create = || {
                std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
                Port::create(i, &path, mac_of(i), timing)
            };
            ports.push(create().map_err(io_err(format!("creating {}", path.display())))?);
        }
        // Lab time 0 on the host's monotonic clock: the 1588 clocks publish
        // their anchors on it, so a reader computes SYSTIM at read time.
        let epoch = Instant::now();
        let epoch_host_ns = driver::tsc::monotonic_ns();
        let epoch_unix_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        for p in &mut ports {
            p.epoch_host_ns = epoch_host_ns;
        }
        let mut tap_of: Vec<Option<TapEnd>> = (0..cfg.ports).map(|_| None).collect();
        for (p, name) in &cfg.taps {
            let tap = Tap::open(name).map_err(|e| Error::Io {
                what: format!(
                    "creating TAP device {name} for port {p} (needs CAP_NET_ADMIN and /dev/net/tun)"
                ),
                source: e,
            })?;
            log::info!("sim port {p}: cabled to TAP device {name}");
            tap_of[*p] = Some(TapEnd {
                tap,
                out: VecDeque::new(),
                in_free_ps: 0,
            });
        }
        let mut peer_of = vec![None; cfg.ports];
        for &(a, b) in &cfg.cables {
            peer_of[a] = Some(b);
            peer_of[b] = Some(a);
        }
        // A cable whose ports went to two threads becomes two cross wires.
        let group_of = |p: usize| groups.iter().position(|g| g.contains(&p));
        let mut split_of: Vec<Option<SplitEnd>> = (0..cfg.ports).map(|_| None).collect();
        for &(a, b) in &cfg.cables {
            if group_of(a) != group_of(b) {
                let (end_a, end_b) = SplitEnd::pair(a, b);
                (split_of[a], split_of[b]) = (Some(end_a), Some(end_b));
            }
        }
        let links = LinkFlags::new(cfg.ports);
        let mut info = format!(
            "ports={}\ncables={}\ntaps={}\nline_rate={}\ncable_delay_ns={}\n",
            cfg.ports,
            cfg.cables
                .iter()
                .map(|(a, b)| format!("{a}-{b}"))
                .collect::<Vec<_>>()
                .join(","),
            cfg.taps
                .iter()
                .map(|(p, n)| format!("{p}:{n}"))
                .collect::<Vec<_>>()
                .join(","),
            u8::from(cfg.line_rate),
            cfg.cable_delay.as_nanos()
        );
        for i in 0..cfg.ports {
            let m = mac_of(i);
            info += &format!(
                "port{i}.mac={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
                m[0], m[1], m[2], m[3], m[4], m[5]
            );
        }
        std::fs::write(dir.join("lab.conf"), info).map_err(io_err("writing lab.conf"))?;
        let table_path = simfmt::iommu_path(dir);
        let mut table =
            Some(Table::create(&table_path).map_err(io_err("creating the IOMMU table"))?);
        let mut ports: Vec<Option<Port>> = ports.into_iter().map(Some).collect();
        let mut engines = Vec::new();
        for group in groups {
            // Each thread translates through its own view of the table.
            let table = match table.take() {
                Some(t) => t,
                None => Table::open(&table_path).map_err(io_err("opening the IOMMU table"))?,
            };
            let local = |p: usize| group.iter().position(|&q| q == p);
            engines.push(Engine {
                ports: group.iter().filter_map(|&p| ports[p].take()).collect(),
                lab_ports: cfg.ports,
                peer: group.iter().map(|&p| peer_of[p].and_then(local)).collect(),
                wires: group.iter().map(|_| VecDeque::new()).collect(),
                split: group.iter().map(|&p| split_of[p].take()).collect(),
                links: Arc::clone(&links),
                iommu: Translator::new(table),
                free: Vec::new(),
                line_rate: cfg.line_rate,
                cable_delay_ps: ps(cfg.cable_delay),
                max_idle_sleep: cfg.max_idle_sleep,
                epoch,
                syncs: Vec::new(),
                taps: group.iter().map(|&p| tap_of[p].take()).collect(),
                captures: group.iter().map(|_| None).collect(),
                epoch_unix_ns,
            });
        }
        Ok(engines)
    }

    /// The polling loop. Idle back-off by idle *time*: spin for the first
    /// 50 µs without work, then yield, and after 1 ms sleep an eighth of the
    /// time idle so far (at most `max_idle_sleep`): a busy lab never sleeps,
    /// an idle one costs little, and it wakes within 1/8 of its idle time.
    fn run(&mut self, stop: &AtomicBool, requests: &mpsc::Receiver<Request>) {
        let mut idle_since: Option<Instant> = None;
        let mut busy = false;
        while !stop.load(Ordering::Acquire) {
            if self.serve(requests) > 0 {
                idle_since = None;
            }
            let now = ps(self.epoch.elapsed());
            // A busy pass may skip the queue enable scan; not while a sync
            // waits, so that the pass that answers it has looked at all.
            let full = !busy || !self.syncs.is_empty();
            let work = self.pass(now, !full);
            self.answer_syncs(now, work, full);
            busy = work > 0;
            if busy {
                idle_since = None;
                continue;
            }
            let idle = idle_since.get_or_insert_with(Instant::now).elapsed();
            let in_flight = !self.quiet_wires();
            if idle < Duration::from_micros(50) {
                std::hint::spin_loop();
            } else if idle < Duration::from_millis(1) || in_flight {
                std::thread::yield_now();
            } else {
                self.sleep((idle / 8).min(self.max_idle_sleep));
            }
        }
    }

    /// Answers the pending control requests, except `sync`, which
    /// [`Engine::answer_syncs`] answers after a pass; returns how many
    /// requests there were.
    fn serve(&mut self, requests: &mpsc::Receiver<Request>) -> usize {
        let mut served = 0;
        while let Ok(req) = requests.try_recv() {
            served += 1;
            let answer = match control::parse(&req.line, self.lab_ports) {
                Ok(control::Command::Sync { .. }) => {
                    self.syncs.push(req.reply);
                    continue;
                }
                Ok(cmd) => self.execute(cmd, ps(self.epoch.elapsed())),
                Err(e) => format!("error: {e}"),
            };
            // The asker may have given up waiting; nothing to do then.
            let _ = req.reply.send(answer);
        }
        served
    }

    /// Answers the waiting `sync` requests after a pass (at lab time
    /// `now`, `work` done, `full`: no queue scan skipped) that found the
    /// model quiet. Every one of them arrived before that pass began (the
    /// requests are served between passes), so the pass saw every
    /// register write and every frame queued before the request was made.
    fn answer_syncs(&mut self, now: u64, work: usize, full: bool) {
        if self.syncs.is_empty() || !full || work > 0 || !self.quiet(now) {
            return;
        }
        for reply in self.syncs.drain(..) {
            // The asker may have given up waiting.
            let _ = reply.send("ok".into());
        }
    }

    /// Nothing in flight: no frame on a cable, and with pacing every
    /// port's wire free, so that a pass that found no work offered every
    /// enabled Tx queue its turn rather than stopping at a busy wire.
    fn quiet(&self, now: u64) -> bool {
        self.quiet_wires() && (!self.line_rate || self.ports.iter().all(|p| p.wire_free_ps <= now))
    }

    /// No frame on a cable, nor on its way to a TAP.
    fn quiet_wires(&self) -> bool {
        self.wires.iter().all(VecDeque::is_empty)
            && self.taps.iter().flatten().all(|t| t.out.is_empty())
            && self.split.iter().flatten().all(SplitEnd::quiet)
    }

    /// Sleeps for `d` while idle; with TAP devices, wakes as soon as the
    /// kernel sends a frame on one of them.
    fn sleep(&self, d: Duration) {
        let mut fds: Vec<PollFd> = self
            .taps
            .iter()
            .flatten()
            .map(|t| PollFd::new(t.tap.as_fd(), PollFlags::POLLIN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(d);
            return;
        }
        let ms = u16::try_from(d.as_millis().max(1)).unwrap_or(u16::MAX);
        // An error (EINTR) only ends the sleep early.
        let _ = poll(&mut fds, PollTimeout::from(ms));
    }

    /// Moves what the kernel sent on each TAP onto its port's wire (at most
    /// [`TAP_BURST`] frames a pass, paced at 10 Gbit/s when the lab is),
    /// and the frames whose time has come from the ports to their TAPs.
    /// Returns the frames moved.
    fn exchange_taps(&mut self, now: u64) -> usize {
        let mut moved = 0;
        for (i, end) in self.taps.iter_mut().enumerate() {
            let Some(end) = end else { continue };
            while end.out.front().is_some_and(|f| f.arrival_ps <= now) {
                let Some(frame) = end.out.pop_front() else {
                    break;
                };
                moved += 1;
                match end.tap.send(&frame.data) {
                    Ok(true) => {}
                    Ok(false) => self.ports[i].regs.count_sim(SimCounter::CableDropped, 1),
                    Err(e) => log::warn!("TAP {}: write: {e}; frame dropped", end.tap.name()),
                }
                self.free.push(frame.data);
            }
            for _ in 0..TAP_BURST {
                let mut data = self.free.pop().unwrap_or_default();
                match end.tap.recv(&mut data) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.free.push(data);
                        break;
                    }
                    Err(e) => {
                        log::warn!("TAP {}: read: {e}", end.tap.name());
                        self.free.push(data);
                        break;
                    }
                }
                moved += 1;
                if data.len() < MIN_FRAME_NO_FCS {
                    data.resize(MIN_FRAME_NO_FCS, 0);
                }
                let (rx_sfd_ps, arrival_ps) = if self.line_rate {
                    let sfd = end.in_free_ps.max(now);
                    end.in_free_ps = sfd + wire_time_ps(data.len());
                    (sfd, end.in_free_ps)
                } else {
                    (now, now)
                };
                self.wires[i].push_back(WireFrame {
                    data,
                    fcs_ok: true,
                    rx_sfd_ps,
                    arrival_ps,
                });
            }
        }
        moved
    }

    /// One pass over the model. Returns how much happened.
    fn pass(&mut self, now: u64, busy: bool) -> usize {
        self.iommu.refresh();
        // Transmit first: every register write a driver made before its
        // TDT write is then visible to the control pass below, which the
        // receive side of this pass uses (RSS tables are read there).
        let mut work = 0;
        let capturing = self.captures.iter().any(Option::is_some);
        for (i, port) in self.ports.iter_mut().enumerate() {
            let wire = match (self.peer[i], &mut self.split[i], &mut self.taps[i]) {
                (Some(j), _, _) => Some(&mut self.wires[j]),
                (None, Some(end), _) => Some(&mut end.outbox),
                (None, None, Some(end)) => Some(&mut end.out),
                (None, None, None) => None,
            };
            let sent_before = wire.as_ref().map_or(0, |w| w.len());
            let mut cx = TxContext {
                now_ps: now,
                line_rate: self.line_rate,
                cable_delay_ps: self.cable_delay_ps,
                iommu: &mut self.iommu,
                free: &mut self.free,
                wire,
            };
            work += port.transmit(&mut cx);
            port.publish_heads();
            if let Some(end) = &mut self.split[i] {
                end.hand_over(&mut self.free);
            }
            if capturing {
                let at = CaptureBase {
                    epoch_unix_ns: self.epoch_unix_ns,
                    cable_delay_ps: self.cable_delay_ps,
                };
                let sent = match (self.peer[i], &self.taps[i]) {
                    (Some(j), _) => &self.wires[j],
                    (None, Some(end)) => &end.out,
                    (None, None) => continue,
                };
                let cables = [Some(i), self.peer[i]];
                capture_sent(&mut self.captures, cables, sent, sent_before, at);
            }
        }
        for p in &mut self.ports {
            work += usize::from(p.control(now, busy));
        }
        for i in 0..self.ports.len() {
            let a = &self.ports[i];
            let ready = |p: &Port| p.an_done(now) && !p.forced_down;
            let up = match (self.peer[i], &self.split[i]) {
                (Some(j), _) => ready(a) && ready(&self.ports[j]),
                (None, Some(end)) => {
                    self.links.set(a.index, ready(a));
                    ready(a) && self.links.get(end.peer)
                }
                // A TAP is always there to link with.
                (None, None) => self.taps[i].is_some() && ready(a),
            };
            self.ports[i].set_link(up);
        }
        if self.taps.iter().any(Option::is_some) {
            work += self.exchange_taps(now);
        }
        for ((port, wire), split) in self
            .ports
            .iter_mut()
            .zip(&mut self.wires)
            .zip(&mut self.split)
        {
            if let Some(end) = split.as_mut() {
                end.take(wire);
            }
            work += port.receive_arrived(wire, now, &mut self.iommu, &mut self.free);
            let delivered = port.deliver(&mut self.iommu, &mut self.free);
            work += delivered;
            port.publish();
            if let Some(end) = split.as_mut() {
                // Settled: nothing left on the wire, and the packet buffer
                // drained or blocked for want of descriptors.
                let settled = wire.is_empty() && (delivered == 0 || port.rx_fifo.is_empty());
                end.settle(settled, &mut self.free);
            }
            // A drained deque starts again at its first slot: its ring
            // otherwise walks its whole capacity, a cold line per frame.
            if wire.is_empty() {
                wire.clear();
            }
        }
        work
    }

    fn execute(&mut self, cmd: control::Command, now: u64) -> String {
        use control::Command as C;
        // The command's port, as its place in this model's group.
        let at = cmd
            .port()
            .map(|p| self.ports.iter().position(|q| q.index == p).ok_or(p));
        let port = match at {
            Some(Ok(local)) => local,
            Some(Err(p)) => return format!("error: port {p} is not on this model thread"),
            None => 0,
        };
        match cmd {
            C::Link { up, .. } => {
                self.ports[port].forced_down = !up;
                "ok".into()
            }
            C::Inject { kind, count, .. } => {
                let mac = self.ports[port].mac;
                for n in 0..count {
                    let mut data = self.free.pop().unwrap_or_default();
                    let fcs_ok = control::fault_frame(kind, mac, n, &mut data);
                    self.wires[port].push_back(WireFrame {
                        data,
                        fcs_ok,
                        rx_sfd_ps: now,
                        arrival_ps: now,
                    });
                }
                "ok".into()
            }
            C::Corrupt { kind, count, .. } => {
                self.ports[port].corrupt.set(kind, count);
                "ok".into()
            }
            C::Drop { count, .. } => {
                self.ports[port].drop_next += count;
                "ok".into()
            }
            C::Capture { path, .. } => {
                let index = self.ports[port].index;
                if let Some(end) = &self.split[port] {
                    return format!(
                        "error: the cable of port {index} runs on two model threads (port {} on another); a capture needs both ends on one (fewer --threads)",
                        end.peer
                    );
                }
                match path {
                    None => {
                        let was = self.captures[port].take();
                        if was.is_none() {
                            return format!("error: port {index} has no capture");
                        }
                        "ok".into()
                    }
                    Some(path) => match PcapFile::create(&path, MAX_CAPTURE_BYTES) {
                        Ok(file) => {
                            self.captures[port] = Some(file);
                            log::info!(
                                "sim port {index}: capturing its cable to {}",
                                path.display()
                            );
                            "ok".into()
                        }
                        Err(e) => format!("error: capture file {}: {e}", path.display()),
                    },
                }
            }
            C::Remove { .. } => {
                self.ports[port].remove();
                log::info!("sim port {}: surprise removal", self.ports[port].index);
                "ok".into()
            }
            C::Counters { .. } => {
                let p = &self.ports[port];
                let mut out = String::from("ok");
                for c in SimCounter::ALL {
                    out += &format!("\n{} {}", c.name(), p.regs.sim_count(c));
                }
                out
            }
            C::Help => format!("ok\n{}", control::HELP),
            // Taken aside by `serve`: answered after a quiet pass.
            C::Sync { .. } => "error: sync is answered by the polling loop".into(),
            C::Status => {
                let mut out = String::from("ok");
                for (((p, peer), tap), split) in self
                    .ports
                    .iter()
                    .zip(&self.peer)
                    .zip(&self.taps)
                    .zip(&self.split)
                {
                    let state = if p.removed {
                        "removed"
                    } else if p.link_up {
                        "up"
                    } else {
                        "down"
                    };
                    let rx = p.rxq.iter().filter(|q| q.enabled).count();
                    out += &format!(
                        "\nport{} link={state} peer={} rx_queues={rx} tx_queues={} buffered={}",
                        p.index,
                        match (peer, split, tap) {
                            (Some(j), _, _) => self.ports[*j].index.to_string(),
                            (None, Some(end), _) => end.peer.to_string(),
                            (None, None, Some(end)) => format!("tap:{}", end.tap.name()),
                            (None, None, None) => "-".to_string(),
                        },
                        p.tx_enabled.len(),
                        p.rx_fifo.len(),
                    );
                }
                out
            }
        }
    }
}

/// The MAC address of port `i`: locally administered, unique in the lab.
pub fn mac_of(i: usize) -> [u8; 6] {
    [0x02, 0x1c, 0x59, 0x90, 0x00, i as u8]
}
