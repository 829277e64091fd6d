//! The library half of `ixy-stats` (docs/DESIGN.md 8): reading a run directory's
//! `worker-I.stats` and `port-P.stats` files into [`Sample`]s, turning two
//! samples into a [`Report`] of rows with rates, and rendering it as a text
//! table ([`table`]) or one line of JSON ([`json`]).
//!
//! Everything except [`Sampler`] and [`find_stats_files`] is a pure function
//! on plain structs.
//!
//! Where the rates come from:
//!
//! - Worker rates are counter deltas between two samples divided by the
//!   monotonic time between them. Gbit/s counts the frame bytes the worker
//!   counted (no preamble, inter-frame gap or FCS).
//! - Port counters are written by the supervisor about once a second, so
//!   port rates are deltas between the last two *different* versions of a
//!   port file divided by the difference of their `updated_unix_ns`. Until
//!   two versions have been seen a port rate is unknown (`-` in the table,
//!   `null` in JSON); a file older than [`PORT_STALE_NS`] is no longer being
//!   updated (supervisor gone), so its rates are 0.
//! - Cycles per packet is `busy_cycles / rx_packets` over the worker's whole
//!   life (TSC cycles of polls that returned packets per received packet;
//!   time spent waiting, yielding or sleeping is idle, never busy). Busy %
//!   is `busy / (busy + idle)` over the interval between two samples (over
//!   the worker's life with one sample). Cycles per packet are unknown while
//!   no packet has been received.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use worker::portfile::{self, PortFile};
use worker::statsfile::{self, Counters, State, StatsFile};

/// Default interval between the two samples of one-shot mode, seconds.
pub const DEFAULT_INTERVAL_S: f64 = 0.5;
/// Default interval of `--watch`, seconds.
pub const DEFAULT_WATCH_INTERVAL_S: f64 = 1.0;
/// The longest interval allowed, seconds.
pub const MAX_INTERVAL_S: f64 = 60.0;
/// A port file not rewritten for this long (ns) belongs to a supervisor
/// that no longer runs: its rates are 0. The supervisor writes once a second.
pub const PORT_STALE_NS: u128 = 3_000_000_000;

// ---------------------------------------------------------------------------
// Command-line checks
// ---------------------------------------------------------------------------

/// Parses `--interval SECONDS`: a number greater than 0 and at most 60.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "--interval {s:?}: use a number of seconds greater than 0 and at most {MAX_INTERVAL_S}, e.g. --interval 0.5"
        )
    };
    let v: f64 = s.trim().parse().map_err(|_| bad())?;
    if !(v.is_finite() && v > 0.0 && v <= MAX_INTERVAL_S) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(v).map_err(|_| bad())
}

/// Checks an instance name (`--name`), as the supervisor does: letters,
/// digits, `-`, `_` and `.`, and not `.` or `..`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--name {name:?}: use letters, digits, '-', '_' and '.', the name given to ixy-supervisor --name"
        ))
    }
}

/// The run directory from `--run-dir` or `--name` (at most one of them;
/// neither means the default instance `ixy`, see
/// [`statsfile::default_run_dir`]).
pub fn resolve_run_dir(run_dir: Option<PathBuf>, name: Option<&str>) -> Result<PathBuf, String> {
    match (run_dir, name) {
        (Some(_), Some(_)) => Err(
            "use either --run-dir DIR or --name NAME, not both (--name NAME means the default run dir of instance NAME)"
                .into(),
        ),
        (Some(dir), None) => Ok(dir),
        (None, name) => {
            let name = name.unwrap_or("ixy");
            check_name(name)?;
            Ok(statsfile::default_run_dir(name))
        }
    }
}

/// Checks that `dir` is an existing directory; the error says what to do.
pub fn check_run_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} is not a directory: pass the run dir of ixy-supervisor with --run-dir DIR",
            dir.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
            "run dir {} does not exist: start ixy-supervisor first, or pass the --run-dir DIR or --name NAME it runs with",
            dir.display()
        )),
        Err(e) => Err(format!("run dir {}: {e}", dir.display())),
    }
}

// ---------------------------------------------------------------------------
// Samples
// ---------------------------------------------------------------------------

/// One worker's stats file, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSample {
    /// Worker index.
    pub index: u32,
    /// Pid of the current or last worker process (0: never started).
    pub pid: u32,
    /// Whether the process exists and the file says starting or running.
    pub alive: bool,
    /// Core the worker is pinned to.
    pub core: u32,
    /// Queue the worker owns.
    pub queue: u32,
    /// State recorded in the file.
    pub state: State,
    /// The process exists and its file says running, but it has not
    /// published for `statsfile::STALL_AFTER` (`StatsFile::stalled`).
    pub stalled: bool,
    /// Restarts counted by the supervisor.
    pub restarts: u64,
    /// The counters.
    pub counters: Counters,
}

/// Everything read from a run directory at one moment.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the sample was taken (monotonic: the time base of worker rates).
    pub at: Instant,
    /// When the sample was taken, Unix ns (to judge port files' age).
    pub unix_ns: u128,
    /// Stats files that matched `worker-*.stats` or `port-*.stats`,
    /// readable or not.
    pub files: usize,
    /// Workers, by index.
    pub workers: Vec<WorkerSample>,
    /// Ports, by port index.
    pub ports: Vec<PortFile>,
}

/// Whether a worker counts as alive: its process exists (and is not a
/// zombie) and its file says starting or running.
pub fn alive(process_exists: bool, state: State) -> bool {
    process_exists && matches!(state, State::Starting | State::Running)
}

/// Whether process `pid` exists and is not a zombie, from `/proc`.
pub fn process_exists(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| !matches!(s, 'Z' | 'X' | 'x')),
        Err(_) => false,
    }
}

/// The stats files of a run directory, sorted by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsFiles {
    /// `worker-N.stats` files.
    pub workers: Vec<PathBuf>,
    /// `port-N.stats` files.
    pub ports: Vec<PathBuf>,
    /// Files named `worker-*.stats` or `port-*.stats` with no number.
    pub misnamed: Vec<PathBuf>,
}

impl StatsFiles {
    /// How many files matched either pattern.
    pub fn len(&self) -> usize {
        self.workers.len() + self.ports.len() + self.misnamed.len()
    }

    /// Whether no file matched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What kind of stats file a file name is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `worker-N.stats`.
    Worker(u32),
    /// `port-N.stats`.
    Port(usize),
    /// `worker-*.stats` or `port-*.stats` without a number.
    Misnamed,
}

/// Classifies a file name (no directory part).
pub fn classify(name: &str) -> Option<FileKind> {
    let stem = name.strip_suffix(".stats")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(n) = stem.strip_prefix("worker-") {
        return Some(match n.parse() {
            Ok(i) if digits(n) => FileKind::Worker(i),
            _ => FileKind::Misnamed,
        });
    }
    if let Some(n) = stem.strip_prefix("port-") {
        return Some(match n.parse() {
            Ok(p) if digits(n) => FileKind::Port(p),
            _ => FileKind::Misnamed,
        });
    }
    None
}

/// Lists the stats files in `dir`.
pub fn find_stats_files(dir: &Path) -> io::Result<StatsFiles> {
    let mut found = StatsFiles::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match classify(name) {
            Some(FileKind::Worker(_)) => found.workers.push(entry.path()),
            Some(FileKind::Port(_)) => found.ports.push(entry.path()),
            Some(FileKind::Misnamed) => found.misnamed.push(entry.path()),
            None => {}
        }
    }
    found.workers.sort();
    found.ports.sort();
    found.misnamed.sort();
    Ok(found)
}

/// Reads samples of one run directory, warning once per bad file.
#[derive(Debug)]
pub struct Sampler {
    dir: PathBuf,
    warned: HashSet<PathBuf>,
}

impl Sampler {
    /// A sampler of `dir`.
    pub fn new(dir: &Path) -> Self {
        Sampler {
            dir: dir.to_path_buf(),
            warned: HashSet::new(),
        }
    }

    /// The directory sampled.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads every stats file once. Returns the sample and one-line
    /// warnings about files skipped (each file is warned about once until
    /// it reads well again). Errors only if the directory cannot be listed.
    pub fn sample(&mut self) -> io::Result<(Sample, Vec<String>)> {
        let found = find_stats_files(&self.dir)?;
        let at = Instant::now();
        let unix_ns = unix_ns();
        let mut warnings = Vec::new();
        for p in &found.misnamed {
            self.warn(&mut warnings, p, "not named worker-N.stats or port-N.stats");
        }
        let mut workers = Vec::new();
        for p in &found.workers {
            match StatsFile::open(p) {
                Ok(f) => {
                    self.warned.remove(p);
                    let (pid, state) = (f.pid(), f.state());
                    let exists = process_exists(pid);
                    workers.push(WorkerSample {
                        index: f.index(),
                        pid,
                        alive: alive(exists, state),
                        core: f.core(),
                        queue: f.queue(),
                        state,
                        stalled: exists && f.stalled(),
                        restarts: f.restarts(),
                        counters: f.counters(),
                    });
                }
                // Removed between listing and opening: not worth a word.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => self.warn(&mut warnings, p, &describe(p, &e)),
            }
        }
        let mut ports = Vec::new();
        for p in &found.ports {
            match portfile::read(p) {
                Ok(f) => {
                    self.warned.remove(p);
                    ports.push(f);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => self.warn(&mut warnings, p, &describe(p, &e)),
            }
        }
        workers.sort_by_key(|w| w.index);
        ports.sort_by_key(|p| p.port);
        let sample = Sample {
            at,
            unix_ns,
            files: found.len(),
            workers,
            ports,
        };
        Ok((sample, warnings))
    }

    fn warn(&mut self, out: &mut Vec<String>, path: &Path, what: &str) {
        if self.warned.insert(path.to_path_buf()) {
            out.push(format!(
                "ixy-stats: warning: skipping {}: {what}",
                path.display()
            ));
        }
    }
}

/// An error about `path` in one phrase, without repeating the path.
fn describe(path: &Path, e: &io::Error) -> String {
    let msg = e.to_string();
    let prefix = format!("{}: ", path.display());
    let msg = msg.strip_prefix(&prefix).unwrap_or(&msg).to_string();
    if e.kind() == io::ErrorKind::PermissionDenied {
        format!("{msg} (run ixy-stats as the user that runs ixy-supervisor)")
    } else {
        msg
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// One worker's line of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    /// Worker index.
    pub index: u32,
    /// Pid of the current or last process.
    pub pid: u32,
    /// Process exists and state is starting or running.
    pub alive: bool,
    /// Core.
    pub core: u32,
    /// Queue.
    pub queue: u32,
    /// State name (`starting`, `running`, `stalled`, `stopped`, `died`):
    /// `stalled` is a running worker without a heartbeat for a second.
    pub state: &'static str,
    /// Packets received, total.
    pub rx_packets: u64,
    /// Bytes received, total.
    pub rx_bytes: u64,
    /// Packets sent, total.
    pub tx_packets: u64,
    /// Bytes sent, total.
    pub tx_bytes: u64,
    /// Packets dropped on a full Tx ring, total.
    pub tx_drops: u64,
    /// Rx write-backs the driver refused (a length past the buffer, no
    /// EOP) and dropped, total.
    pub rx_bad_descriptors: u64,
    /// Rx queue resets after DD on a descriptor never given to the device.
    pub rx_queue_resets: u64,
    /// TSC cycles of polls that had packets, total.
    pub busy_cycles: u64,
    /// TSC cycles of everything else (empty polls, idling), total.
    pub idle_cycles: u64,
    /// Share of the time in polls that received packets, in percent: over
    /// the interval between the two samples, or the worker's life when
    /// there is one sample (None: no cycles counted yet).
    pub busy_percent: Option<f64>,
    /// Received million packets per second (None: no earlier sample).
    pub rx_mpps: Option<f64>,
    /// Sent million packets per second.
    pub tx_mpps: Option<f64>,
    /// Received Gbit/s.
    pub rx_gbps: Option<f64>,
    /// Sent Gbit/s.
    pub tx_gbps: Option<f64>,
    /// `busy_cycles / rx_packets` (None: nothing received yet).
    pub cycles_per_packet: Option<f64>,
    /// Restarts.
    pub restarts: u64,
}

/// One queue's counters on a port (statistics set i = queue i,
/// 82599 datasheet 8.2.3.23.74 - .80).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRow {
    /// Queue (statistics set) index.
    pub queue: usize,
    /// Frames received on the queue (QPRC).
    pub rx_packets: u64,
    /// Bytes received on the queue (QBRC).
    pub rx_bytes: u64,
    /// Frames dropped for want of a free descriptor on the queue (QPRDC):
    /// its worker did not keep up, or was stopped.
    pub rx_dropped: u64,
    /// Frames sent from the queue (QPTC).
    pub tx_packets: u64,
    /// Bytes sent from the queue (QBTC).
    pub tx_bytes: u64,
}

/// One port's line of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRow {
    /// Port index.
    pub port: usize,
    /// The `--device` string.
    pub device: String,
    /// Good frames received, total.
    pub rx_packets: u64,
    /// Good octets received (FCS included), total.
    pub rx_bytes: u64,
    /// Good frames sent, total.
    pub tx_packets: u64,
    /// Good octets sent (FCS included), total.
    pub tx_bytes: u64,
    /// Received million packets per second (None: unknown yet).
    pub rx_mpps: Option<f64>,
    /// Sent million packets per second.
    pub tx_mpps: Option<f64>,
    /// Received Gbit/s.
    pub rx_gbps: Option<f64>,
    /// Sent Gbit/s.
    pub tx_gbps: Option<f64>,
    /// Frames missed, packet buffer full (MPC).
    pub rx_missed: u64,
    /// Frames dropped for want of descriptors (every queue's QPRDC).
    pub rx_no_buffer: u64,
    /// Frames with a bad FCS (CRCERRS).
    pub rx_crc_errors: u64,
    /// When the supervisor wrote the counters, Unix ns.
    pub updated_unix_ns: u128,
    /// The queues with any counter above 0, by index (where
    /// `rx_no_buffer`'s drops happened).
    pub queues: Vec<QueueRow>,
}

/// The sum over all workers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TotalRow {
    /// Number of workers.
    pub workers: usize,
    /// Number of workers alive.
    pub alive: usize,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Tx drops.
    pub tx_drops: u64,
    /// Refused Rx write-backs.
    pub rx_bad_descriptors: u64,
    /// Rx queue resets.
    pub rx_queue_resets: u64,
    /// Received Mpps (None if no worker has a rate).
    pub rx_mpps: Option<f64>,
    /// Sent Mpps.
    pub tx_mpps: Option<f64>,
    /// Received Gbit/s.
    pub rx_gbps: Option<f64>,
    /// Sent Gbit/s.
    pub tx_gbps: Option<f64>,
    /// All busy cycles over all received packets.
    pub cycles_per_packet: Option<f64>,
    /// The workers' mean busy percentage.
    pub busy_percent: Option<f64>,
    /// Restarts.
    pub restarts: u64,
}

/// A report: what `ixy-stats` prints for one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Workers, by index.
    pub workers: Vec<WorkerRow>,
    /// Ports, by port index.
    pub ports: Vec<PortRow>,
    /// Sum over the workers.
    pub total: TotalRow,
    /// When the (second) sample was taken, Unix ns.
    pub unix_ns: u128,
    /// Seconds between the two samples (None: a single sample).
    pub interval_s: Option<f64>,
}

/// Million packets per second from two packet counts `seconds` apart; a
/// counter that went backwards (files re-created) counts as 0.
pub fn mpps(before: u64, after: u64, seconds: f64) -> f64 {
    after.saturating_sub(before) as f64 / seconds / 1e6
}

/// Gbit/s from two byte counts `seconds` apart.
pub fn gbps(before: u64, after: u64, seconds: f64) -> f64 {
    after.saturating_sub(before) as f64 * 8.0 / seconds / 1e9
}

/// `100 * busy / (busy + idle)`, None while no cycle was counted.
pub fn busy_percent(busy_cycles: u64, idle_cycles: u64) -> Option<f64> {
    let all = busy_cycles.saturating_add(idle_cycles);
    (all > 0).then(|| busy_cycles as f64 * 100.0 / all as f64)
}

/// `busy_cycles / rx_packets`, None while no packet was received.
pub fn cycles_per_packet(busy_cycles: u64, rx_packets: u64) -> Option<f64> {
    (rx_packets > 0).then(|| busy_cycles as f64 / rx_packets as f64)
}

/// A worker's row from its sample `cur` and, for rates, its sample `prev`
/// taken `seconds` earlier.
pub fn worker_row(prev: Option<&WorkerSample>, cur: &WorkerSample, seconds: f64) -> WorkerRow {
    let c = &cur.counters;
    let rates = prev
        .filter(|_| seconds > 0.0)
        .map(|p| &p.counters)
        .map(|p| {
            (
                mpps(p.rx_packets, c.rx_packets, seconds),
                mpps(p.tx_packets, c.tx_packets, seconds),
                gbps(p.rx_bytes, c.rx_bytes, seconds),
                gbps(p.tx_bytes, c.tx_bytes, seconds),
            )
        });
    WorkerRow {
        index: cur.index,
        pid: cur.pid,
        alive: cur.alive,
        core: cur.core,
        queue: cur.queue,
        state: statsfile::state_label(cur.state, cur.stalled),
        rx_packets: c.rx_packets,
        rx_bytes: c.rx_bytes,
        tx_packets: c.tx_packets,
        tx_bytes: c.tx_bytes,
        tx_drops: c.tx_drops,
        rx_bad_descriptors: c.rx_bad_descriptors,
        rx_queue_resets: c.rx_queue_resets,
        busy_cycles: c.busy_cycles,
        idle_cycles: c.idle_cycles,
        busy_percent: match prev.filter(|_| seconds > 0.0) {
            Some(p) => busy_percent(
                c.busy_cycles.saturating_sub(p.counters.busy_cycles),
                c.idle_cycles.saturating_sub(p.counters.idle_cycles),
            ),
            None => busy_percent(c.busy_cycles, c.idle_cycles),
        },
        rx_mpps: rates.map(|r| r.0),
        tx_mpps: rates.map(|r| r.1),
        rx_gbps: rates.map(|r| r.2),
        tx_gbps: rates.map(|r| r.3),
        cycles_per_packet: cycles_per_packet(c.busy_cycles, c.rx_packets),
        restarts: cur.restarts,
    }
}

/// A port's row from its latest file `cur` and the previous different
/// version `prev` (see the module documentation), judged at `now_unix_ns`.
pub fn port_row(prev: Option<&PortFile>, cur: &PortFile, now_unix_ns: u128) -> PortRow {
    let s = &cur.stats;
    let stale = now_unix_ns.saturating_sub(cur.updated_unix_ns) > PORT_STALE_NS;
    let rates = if stale {
        Some((0.0, 0.0, 0.0, 0.0))
    } else {
        prev.and_then(|p| {
            let ns = cur.updated_unix_ns.checked_sub(p.updated_unix_ns)?;
            let seconds = ns as f64 / 1e9;
            (seconds > 0.0).then(|| {
                let q = &p.stats;
                (
                    mpps(q.rx_packets, s.rx_packets, seconds),
                    mpps(q.tx_packets, s.tx_packets, seconds),
                    gbps(q.rx_bytes, s.rx_bytes, seconds),
                    gbps(q.tx_bytes, s.tx_bytes, seconds),
                )
            })
        })
    };
    PortRow {
        port: cur.port,
        device: cur.device.clone(),
        rx_packets: s.rx_packets,
        rx_bytes: s.rx_bytes,
        tx_packets: s.tx_packets,
        tx_bytes: s.tx_bytes,
        rx_mpps: rates.map(|r| r.0),
        tx_mpps: rates.map(|r| r.1),
        rx_gbps: rates.map(|r| r.2),
        tx_gbps: rates.map(|r| r.3),
        rx_missed: s.rx_missed,
        rx_no_buffer: s.rx_no_buffer,
        rx_crc_errors: s.rx_crc_errors,
        updated_unix_ns: cur.updated_unix_ns,
        queues: s
            .queues
            .iter()
            .enumerate()
            .filter(|(_, q)| **q != driver::stats::QueueStats::default())
            .map(|(queue, q)| QueueRow {
                queue,
                rx_packets: q.rx_packets,
                rx_bytes: q.rx_bytes,
                rx_dropped: q.rx_dropped,
                tx_packets: q.tx_packets,
                tx_bytes: q.tx_bytes,
            })
            .collect(),
    }
}

fn sum_rates(rows: &[WorkerRow], f: impl Fn(&WorkerRow) -> Option<f64>) -> Option<f64> {
    rows.iter()
        .filter_map(f)
        .fold(None, |acc, r| Some(acc.unwrap_or(0.0) + r))
}

/// The totals over `rows`.
pub fn total_row(rows: &[WorkerRow]) -> TotalRow {
    let sum = |f: fn(&WorkerRow) -> u64| rows.iter().map(f).fold(0u64, u64::saturating_add);
    let rx_packets = sum(|r| r.rx_packets);
    TotalRow {
        workers: rows.len(),
        alive: rows.iter().filter(|r| r.alive).count(),
        rx_packets,
        rx_bytes: sum(|r| r.rx_bytes),
        tx_packets: sum(|r| r.tx_packets),
        tx_bytes: sum(|r| r.tx_bytes),
        tx_drops: sum(|r| r.tx_drops),
        rx_bad_descriptors: sum(|r| r.rx_bad_descriptors),
        rx_queue_resets: sum(|r| r.rx_queue_resets),
        rx_mpps: sum_rates(rows, |r| r.rx_mpps),
        tx_mpps: sum_rates(rows, |r| r.tx_mpps),
        rx_gbps: sum_rates(rows, |r| r.rx_gbps),
        tx_gbps: sum_rates(rows, |r| r.tx_gbps),
        cycles_per_packet: cycles_per_packet(sum(|r| r.busy_cycles), rx_packets),
        busy_percent: sum_rates(rows, |r| r.busy_percent)
            .map(|b| b / rows.iter().filter(|r| r.busy_percent.is_some()).count() as f64),
        restarts: sum(|r| r.restarts),
    }
}

/// The port files seen so far: per port the latest version and the one
/// before it that differs, so that port rates span one supervisor update.
#[derive(Debug, Default, Clone)]
pub struct PortHistory {
    ports: BTreeMap<usize, (Option<PortFile>, PortFile)>,
}

impl PortHistory {
    /// Takes in the port files of a new sample; ports missing from it are
    /// forgotten, and a port whose device changed or whose counters went
    /// backwards (a new supervisor) starts afresh.
    pub fn observe(&mut self, ports: &[PortFile]) {
        let mut next = BTreeMap::new();
        for p in ports {
            let entry = match self.ports.remove(&p.port) {
                Some((prev, last)) if last.updated_unix_ns == p.updated_unix_ns => (prev, last),
                Some((_, last))
                    if last.device == p.device
                        && last.updated_unix_ns < p.updated_unix_ns
                        && last.stats.rx_packets <= p.stats.rx_packets
                        && last.stats.tx_packets <= p.stats.tx_packets =>
                {
                    (Some(last), p.clone())
                }
                _ => (None, p.clone()),
            };
            next.insert(p.port, entry);
        }
        self.ports = next;
    }

    /// Rows of the ports last observed, judged at `now_unix_ns`.
    pub fn rows(&self, now_unix_ns: u128) -> Vec<PortRow> {
        self.ports
            .values()
            .map(|(prev, last)| port_row(prev.as_ref(), last, now_unix_ns))
            .collect()
    }
}

/// The report for sample `cur`, with worker rates against `prev` (matched
/// by worker index) and port rates from `ports`, which observes `cur`.
pub fn report(prev: Option<&Sample>, cur: &Sample, ports: &mut PortHistory) -> Report {
    let seconds = prev.map(|p| cur.at.saturating_duration_since(p.at).as_secs_f64());
    let workers: Vec<WorkerRow> = cur
        .workers
        .iter()
        .map(|w| {
            let before = prev.and_then(|p| p.workers.iter().find(|x| x.index == w.index));
            worker_row(before, w, seconds.unwrap_or(0.0))
        })
        .collect();
    ports.observe(&cur.ports);
    Report {
        total: total_row(&workers),
        workers,
        ports: ports.rows(cur.unix_ns),
        unix_ns: cur.unix_ns,
        interval_s: seconds,
    }
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/// `s` as a JSON string literal, quotes included.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A rate as a JSON number rounded to 6 decimals, or `null` when unknown
/// or not finite.
pub fn json_number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let r = (v * 1e6).round() / 1e6;
            // `-0` is valid JSON but odd to read.
            format!("{}", if r == 0.0 { 0.0 } else { r })
        }
        _ => "null".into(),
    }
}

/// Builds one JSON object from `(key, already encoded value)` pairs.
fn object(fields: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

fn worker_json(r: &WorkerRow) -> String {
    object(&[
        ("index", r.index.to_string()),
        ("pid", r.pid.to_string()),
        ("alive", r.alive.to_string()),
        ("core", r.core.to_string()),
        ("queue", r.queue.to_string()),
        ("state", json_string(r.state)),
        ("rx_packets", r.rx_packets.to_string()),
        ("rx_bytes", r.rx_bytes.to_string()),
        ("tx_packets", r.tx_packets.to_string()),
        ("tx_bytes", r.tx_bytes.to_string()),
        ("tx_drops", r.tx_drops.to_string()),
        ("rx_bad_descriptors", r.rx_bad_descriptors.to_string()),
        ("rx_queue_resets", r.rx_queue_resets.to_string()),
        ("rx_mpps", json_number(r.rx_mpps)),
        ("tx_mpps", json_number(r.tx_mpps)),
        ("rx_gbps", json_number(r.rx_gbps)),
        ("tx_gbps", json_number(r.tx_gbps)),
        ("busy_cycles", r.busy_cycles.to_string()),
        ("idle_cycles", r.idle_cycles.to_string()),
        ("busy_percent", json_number(r.busy_percent)),
        ("cycles_per_packet", json_number(r.cycles_per_packet)),
        ("restarts", r.restarts.to_string()),
    ])
}

fn queue_json(q: &QueueRow) -> String {
    object(&[
        ("queue", q.queue.to_string()),
        ("rx_packets", q.rx_packets.to_string()),
        ("rx_bytes", q.rx_bytes.to_string()),
        ("rx_dropped", q.rx_dropped.to_string()),
        ("tx_packets", q.tx_packets.to_string()),
        ("tx_bytes", q.tx_bytes.to_string()),
    ])
}

fn port_json(r: &PortRow) -> String {
    let queues: Vec<String> = r.queues.iter().map(queue_json).collect();
    object(&[
        ("port", r.port.to_string()),
        ("device", json_string(&r.device)),
        ("rx_packets", r.rx_packets.to_string()),
        ("rx_bytes", r.rx_bytes.to_string()),
        ("tx_packets", r.tx_packets.to_string()),
        ("tx_bytes", r.tx_bytes.to_string()),
        ("rx_mpps", json_number(r.rx_mpps)),
        ("tx_mpps", json_number(r.tx_mpps)),
        ("rx_gbps", json_number(r.rx_gbps)),
        ("tx_gbps", json_number(r.tx_gbps)),
        ("rx_missed", r.rx_missed.to_string()),
        ("rx_no_buffer", r.rx_no_buffer.to_string()),
        ("rx_crc_errors", r.rx_crc_errors.to_string()),
        ("updated_unix_ns", r.updated_unix_ns.to_string()),
        ("queues", format!("[{}]", queues.join(","))),
    ])
}

fn total_json(t: &TotalRow) -> String {
    object(&[
        ("workers", t.workers.to_string()),
        ("alive", t.alive.to_string()),
        ("rx_packets", t.rx_packets.to_string()),
        ("rx_bytes", t.rx_bytes.to_string()),
        ("tx_packets", t.tx_packets.to_string()),
        ("tx_bytes", t.tx_bytes.to_string()),
        ("tx_drops", t.tx_drops.to_string()),
        ("rx_bad_descriptors", t.rx_bad_descriptors.to_string()),
        ("rx_queue_resets", t.rx_queue_resets.to_string()),
        ("rx_mpps", json_number(t.rx_mpps)),
        ("tx_mpps", json_number(t.tx_mpps)),
        ("rx_gbps", json_number(t.rx_gbps)),
        ("tx_gbps", json_number(t.tx_gbps)),
        ("cycles_per_packet", json_number(t.cycles_per_packet)),
        ("busy_percent", json_number(t.busy_percent)),
        ("restarts", t.restarts.to_string()),
    ])
}

/// The report as one line of JSON (no newline):
/// `{"workers":[...],"ports":[...],"total":{...},"unix_ns":N,"interval_s":X}`.
/// Counts are integers, rates are numbers, unknown rates are `null`.
pub fn json(r: &Report) -> String {
    let list = |items: Vec<String>| format!("[{}]", items.join(","));
    object(&[
        ("workers", list(r.workers.iter().map(worker_json).collect())),
        ("ports", list(r.ports.iter().map(port_json).collect())),
        ("total", total_json(&r.total)),
        ("unix_ns", r.unix_ns.to_string()),
        ("interval_s", json_number(r.interval_s)),
    ])
}

// ---------------------------------------------------------------------------
// Text tables
// ---------------------------------------------------------------------------

fn fixed(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "-".into(),
    }
}

/// Lays out `rows` under `header`: columns two spaces apart, numbers right
/// aligned, the columns flagged in `left` left aligned, no trailing blanks.
pub fn layout(header: &[&str], rows: &[Vec<String>], left: &[bool]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if left.get(i).copied().unwrap_or(false) {
                let _ = write!(line, "{cell:<w$}");
            } else {
                let _ = write!(line, "{cell:>w$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The report as text tables: workers with a total line, then ports.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    if r.workers.is_empty() {
        out.push_str("no readable worker stats files\n");
    } else {
        let header = [
            "worker",
            "pid",
            "alive",
            "core",
            "queue",
            "state",
            "rx packets",
            "tx packets",
            "tx drops",
            "rx Mpps",
            "tx Mpps",
            "rx Gbit/s",
            "tx Gbit/s",
            "cycles/pkt",
            "busy %",
            "restarts",
        ];
        let mut rows: Vec<Vec<String>> = r
            .workers
            .iter()
            .map(|w| {
                vec![
                    w.index.to_string(),
                    w.pid.to_string(),
                    if w.alive { "yes" } else { "no" }.into(),
                    w.core.to_string(),
                    w.queue.to_string(),
                    w.state.into(),
                    w.rx_packets.to_string(),
                    w.tx_packets.to_string(),
                    w.tx_drops.to_string(),
                    fixed(w.rx_mpps, 3),
                    fixed(w.tx_mpps, 3),
                    fixed(w.rx_gbps, 3),
                    fixed(w.tx_gbps, 3),
                    fixed(w.cycles_per_packet, 1),
                    fixed(w.busy_percent, 1),
                    w.restarts.to_string(),
                ]
            })
            .collect();
        let t = &r.total;
        rows.push(vec![
            "total".into(),
            String::new(),
            format!("{}/{}", t.alive, t.workers),
            String::new(),
            String::new(),
            String::new(),
            t.rx_packets.to_string(),
            t.tx_packets.to_string(),
            t.tx_drops.to_string(),
            fixed(t.rx_mpps, 3),
            fixed(t.tx_mpps, 3),
            fixed(t.rx_gbps, 3),
            fixed(t.tx_gbps, 3),
            fixed(t.cycles_per_packet, 1),
            fixed(t.busy_percent, 1),
            t.restarts.to_string(),
        ]);
        let mut left = [false; 16];
        left[0] = true;
        left[5] = true;
        out.push_str(&layout(&header, &rows, &left));
        for w in &r.workers {
            out.push_str(&rx_faults_line(w));
        }
    }
    if !r.ports.is_empty() {
        out.push('\n');
        let header = [
            "port",
            "device",
            "rx packets",
            "tx packets",
            "rx Mpps",
            "tx Mpps",
            "rx Gbit/s",
            "tx Gbit/s",
            "missed",
            "queue drops",
            "crc errors",
        ];
        let rows: Vec<Vec<String>> = r
            .ports
            .iter()
            .map(|p| {
                vec![
                    p.port.to_string(),
                    // Keep the table one line per port whatever the name holds.
                    p.device.escape_debug().to_string(),
                    p.rx_packets.to_string(),
                    p.tx_packets.to_string(),
                    fixed(p.rx_mpps, 3),
                    fixed(p.tx_mpps, 3),
                    fixed(p.rx_gbps, 3),
                    fixed(p.tx_gbps, 3),
                    p.rx_missed.to_string(),
                    p.rx_no_buffer.to_string(),
                    p.rx_crc_errors.to_string(),
                ]
            })
            .collect();
        let mut left = [false; 11];
        left[1] = true;
        out.push_str(&layout(&header, &rows, &left));
        for p in &r.ports {
            out.push_str(&queue_drops_line(p));
        }
    }
    out
}

/// What a worker's driver refused from its device, one line (empty when
/// nothing): `worker 1 rx faults: 3 bad write-backs dropped, 1 queue reset`.
pub fn rx_faults_line(w: &WorkerRow) -> String {
    if w.rx_bad_descriptors == 0 && w.rx_queue_resets == 0 {
        return String::new();
    }
    format!(
        "worker {} rx faults: {} bad write-backs dropped, {} queue resets\n",
        w.index, w.rx_bad_descriptors, w.rx_queue_resets
    )
}

/// Where a port's queue drops happened, one line (empty without drops):
/// `port 0 queue drops (no free Rx descriptor, QPRDC): queue 1: 1234, queue 3: 5`.
pub fn queue_drops_line(p: &PortRow) -> String {
    let drops: Vec<String> = p
        .queues
        .iter()
        .filter(|q| q.rx_dropped > 0)
        .map(|q| format!("queue {}: {}", q.queue, q.rx_dropped))
        .collect();
    if drops.is_empty() {
        return String::new();
    }
    format!(
        "port {} queue drops (no free Rx descriptor, QPRDC): {}\n",
        p.port,
        drops.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use driver::stats::PortStats;

    fn worker(index: u32, rx: u64, tx: u64, busy: u64) -> WorkerSample {
        WorkerSample {
            index,
            pid: 100 + index,
            alive: true,
            core: index,
            queue: index,
            state: State::Running,
            stalled: false,
            restarts: u64::from(index),
            counters: Counters {
                rx_packets: rx,
                rx_bytes: rx * 64,
                tx_packets: tx,
                tx_bytes: tx * 64,
                tx_drops: 1,
                busy_cycles: busy,
                ..Counters::default()
            },
        }
    }

    fn port(updated_s: u128, rx: u64, tx: u64) -> PortFile {
        PortFile {
            device: "sim:demo/0".into(),
            port: 0,
            updated_unix_ns: updated_s * 1_000_000_000,
            stats: PortStats {
                rx_packets: rx,
                rx_bytes: rx * 100,
                tx_packets: tx,
                tx_bytes: tx * 100,
                rx_missed: 3,
                rx_no_buffer: 4,
                rx_crc_errors: 5,
                queues: std::array::from_fn(|i| match i {
                    1 => driver::stats::QueueStats {
                        rx_packets: 6,
                        rx_bytes: 600,
                        rx_dropped: 4,
                        ..Default::default()
                    },
                    _ => Default::default(),
                }),
                ..PortStats::default()
            },
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn rates_are_deltas_over_time() {
        assert_eq!(mpps(1_000_000, 3_000_000, 2.0), 1.0);
        assert_eq!(gbps(0, 1_250_000_000, 1.0), 10.0);
        assert_eq!(mpps(5, 4, 1.0), 0.0, "a counter reset is not negative");
        let a = worker(0, 1_000_000, 500_000, 0);
        let b = worker(0, 3_000_000, 1_500_000, 0);
        let r = worker_row(Some(&a), &b, 0.5);
        assert!(close(r.rx_mpps, 4.0));
        assert!(close(r.tx_mpps, 2.0));
        assert!(close(r.rx_gbps, 4.0 * 64.0 * 8.0 / 1e3));
        let r = worker_row(None, &b, 0.5);
        assert_eq!((r.rx_mpps, r.tx_gbps), (None, None));
        let r = worker_row(Some(&a), &b, 0.0);
        assert_eq!(r.rx_mpps, None);
    }

    #[test]
    fn cycles_per_packet_is_busy_over_received() {
        assert_eq!(cycles_per_packet(1000, 10), Some(100.0));
        assert_eq!(cycles_per_packet(1000, 0), None);
        let rows = [
            worker_row(None, &worker(0, 10, 0, 1000), 1.0),
            worker_row(None, &worker(1, 30, 0, 1000), 1.0),
            worker_row(None, &worker(2, 0, 0, 0), 1.0),
        ];
        assert_eq!(rows[0].cycles_per_packet, Some(100.0));
        assert_eq!(rows[2].cycles_per_packet, None);
        let t = total_row(&rows);
        assert_eq!(t.cycles_per_packet, Some(50.0));
        assert_eq!(
            (t.workers, t.alive, t.rx_packets, t.tx_drops, t.restarts),
            (3, 3, 40, 3, 3)
        );
        assert_eq!(t.rx_mpps, None);
    }

    #[test]
    fn totals_add_the_known_rates() {
        let a = [worker(0, 0, 0, 0), worker(1, 0, 0, 0)];
        let b = [worker(0, 1_000_000, 0, 0), worker(1, 2_000_000, 0, 0)];
        let mut rows: Vec<WorkerRow> = a
            .iter()
            .zip(&b)
            .map(|(a, b)| worker_row(Some(a), b, 1.0))
            .collect();
        rows.push(worker_row(None, &worker(2, 5, 0, 0), 1.0));
        rows[1].alive = false;
        let t = total_row(&rows);
        assert!(close(t.rx_mpps, 3.0));
        assert_eq!(t.alive, 2);
    }

    #[test]
    fn port_rates_span_one_supervisor_update() {
        let now = 10 * 1_000_000_000;
        let mut h = PortHistory::default();
        h.observe(&[port(10, 0, 0)]);
        assert_eq!(h.rows(now)[0].rx_mpps, None, "one version: unknown");
        h.observe(&[port(10, 0, 0)]);
        assert_eq!(h.rows(now)[0].rx_mpps, None, "same version again");
        h.observe(&[port(12, 4_000_000, 2_000_000)]);
        let r = &h.rows(now)[0];
        assert!(close(r.rx_mpps, 2.0) && close(r.tx_mpps, 1.0));
        assert!(close(r.rx_gbps, 2.0 * 800.0 / 1e3));
        assert_eq!((r.rx_missed, r.rx_no_buffer, r.rx_crc_errors), (3, 4, 5));
        assert_eq!(
            r.queues,
            [QueueRow {
                queue: 1,
                rx_packets: 6,
                rx_bytes: 600,
                rx_dropped: 4,
                tx_packets: 0,
                tx_bytes: 0
            }],
            "only the queue with counts"
        );
        // Unchanged file: the rate of the last update holds while fresh...
        h.observe(&[port(12, 4_000_000, 2_000_000)]);
        assert!(close(h.rows(now)[0].rx_mpps, 2.0));
        // ...and is 0 once the supervisor stopped writing.
        let later = now + 2 * 1_000_000_000 + PORT_STALE_NS + 1;
        assert_eq!(h.rows(later)[0].rx_mpps, Some(0.0));
        // A new supervisor (counters back to 0) starts afresh.
        h.observe(&[port(20, 1, 1)]);
        assert_eq!(h.rows(20 * 1_000_000_000)[0].rx_mpps, None);
        h.observe(&[]);
        assert!(h.rows(now).is_empty());
    }

    #[test]
    fn report_matches_workers_by_index() {
        let t0 = Instant::now();
        let s0 = Sample {
            at: t0,
            unix_ns: 1,
            files: 2,
            workers: vec![worker(1, 0, 0, 0)],
            ports: vec![],
        };
        let s1 = Sample {
            at: t0 + Duration::from_millis(500),
            unix_ns: 2,
            files: 2,
            workers: vec![worker(0, 7, 7, 7), worker(1, 1_000_000, 0, 0)],
            ports: vec![],
        };
        let r = report(Some(&s0), &s1, &mut PortHistory::default());
        assert_eq!(r.workers[0].rx_mpps, None, "worker 0 is new");
        assert!(close(r.workers[1].rx_mpps, 2.0));
        assert!(close(r.interval_s, 0.5));
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("sim:demo/0"), "\"sim:demo/0\"");
        assert_eq!(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(json_string("\n\r\t\u{8}\u{c}"), "\"\\n\\r\\t\\b\\f\"");
        assert_eq!(
            json_string("\u{1}\u{1f}\u{7f}"),
            "\"\\u0001\\u001f\\u007f\""
        );
        assert_eq!(json_string("é€😀"), "\"é€😀\"");
        assert_eq!(json_string("\u{2028}"), "\"\\u2028\"");
    }

    #[test]
    fn json_numbers() {
        assert_eq!(json_number(Some(1.0)), "1");
        assert_eq!(json_number(Some(0.1234567)), "0.123457");
        assert_eq!(json_number(Some(-0.0000001)), "0");
        assert_eq!(json_number(None), "null");
        assert_eq!(json_number(Some(f64::NAN)), "null");
        assert_eq!(json_number(Some(f64::INFINITY)), "null");
    }

    #[test]
    fn busy_percent_is_over_the_interval_and_idle_time_is_not_busy() {
        assert_eq!(busy_percent(0, 0), None);
        assert_eq!(busy_percent(1, 3), Some(25.0));
        let mut a = worker(0, 100, 100, 1_000);
        a.counters.idle_cycles = 99_000;
        let mut b = worker(0, 200, 200, 11_000);
        b.counters.idle_cycles = 99_000;
        // Lifetime: 1 % busy; over the interval: all busy, 10 000 cycles
        // for 100 packets.
        assert_eq!(worker_row(None, &a, 0.0).busy_percent, Some(1.0));
        let row = worker_row(Some(&a), &b, 1.0);
        assert_eq!(row.busy_percent, Some(100.0));
        let t = total_row(&[row.clone(), worker_row(None, &a, 0.0)]);
        assert_eq!(t.busy_percent, Some(50.5));
    }

    #[test]
    fn json_shape() {
        let t0 = Instant::now();
        let s0 = Sample {
            at: t0,
            unix_ns: 5,
            files: 2,
            workers: vec![worker(0, 0, 0, 0)],
            ports: vec![],
        };
        let mut p = port(10, 1, 2);
        p.device = "we\"ird\n".into();
        let mut w1 = worker(0, 2_000_000, 1_000_000, 4_000_000);
        w1.counters.idle_cycles = 12_000_000;
        w1.counters.rx_queue_resets = 2;
        let s1 = Sample {
            at: t0 + Duration::from_secs(1),
            unix_ns: 10_000_000_000,
            files: 2,
            workers: vec![w1],
            ports: vec![p],
        };
        let j = json(&report(Some(&s0), &s1, &mut PortHistory::default()));
        assert!(!j.contains('\n'));
        let expected = concat!(
            r#"{"workers":[{"index":0,"pid":100,"alive":true,"core":0,"queue":0,"state":"running","#,
            r#""rx_packets":2000000,"rx_bytes":128000000,"tx_packets":1000000,"tx_bytes":64000000,"#,
            r#""tx_drops":1,"rx_bad_descriptors":0,"rx_queue_resets":2,"#,
            r#""rx_mpps":2,"tx_mpps":1,"rx_gbps":1.024,"tx_gbps":0.512,"#,
            r#""busy_cycles":4000000,"idle_cycles":12000000,"busy_percent":25,"#,
            r#""cycles_per_packet":2,"restarts":0}],"#,
            r#""ports":[{"port":0,"device":"we\"ird\n","rx_packets":1,"rx_bytes":100,"#,
            r#""tx_packets":2,"tx_bytes":200,"rx_mpps":null,"tx_mpps":null,"rx_gbps":null,"#,
            r#""tx_gbps":null,"rx_missed":3,"rx_no_buffer":4,"rx_crc_errors":5,"#,
            r#""updated_unix_ns":10000000000,"queues":[{"queue":1,"rx_packets":6,"#,
            r#""rx_bytes":600,"rx_dropped":4,"tx_packets":0,"tx_bytes":0}]}],"#,
            r#""total":{"workers":1,"alive":1,"rx_packets":2000000,"rx_bytes":128000000,"#,
            r#""tx_packets":1000000,"tx_bytes":64000000,"tx_drops":1,"#,
            r#""rx_bad_descriptors":0,"rx_queue_resets":2,"rx_mpps":2,"tx_mpps":1,"#,
            r#""rx_gbps":1.024,"tx_gbps":0.512,"cycles_per_packet":2,"busy_percent":25,"#,
            r#""restarts":0},"#,
            r#""unix_ns":10000000000,"interval_s":1}"#
        );
        assert_eq!(j, expected);
    }

    #[test]
    fn table_has_a_row_per_worker_a_total_and_ports() {
        let t0 = Instant::now();
        let s = Sample {
            at: t0,
            unix_ns: 10_000_000_000,
            files: 3,
            workers: vec![worker(0, 10, 5, 100), worker(1, 0, 0, 0)],
            ports: vec![port(10, 1, 2)],
        };
        let text = table(&report(None, &s, &mut PortHistory::default()));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("worker  pid"), "{text}");
        assert!(lines[1].contains("running") && lines[1].contains("yes"));
        assert!(
            lines[3].starts_with("total") && lines[3].contains("2/2"),
            "{text}"
        );
        assert!(lines[5].starts_with("port  device"), "{text}");
        assert!(lines[6].contains("sim:demo/0"));
        assert_eq!(
            lines[7],
            "port 0 queue drops (no free Rx descriptor, QPRDC): queue 1: 4"
        );
        assert!(lines.iter().all(|l| l.len() == l.trim_end().len()));
        // Columns line up: every row of a table is as wide as its header
        // in the right-aligned last column.
        assert_eq!(lines[0].len(), lines[1].len());
        assert_eq!(lines[5].len(), lines[6].len());
    }

    #[test]
    fn rx_faults_get_a_line_under_the_workers_only_when_there_are_some() {
        let mut w1 = worker(1, 0, 0, 0);
        w1.counters.rx_bad_descriptors = 3;
        w1.counters.rx_queue_resets = 1;
        let s = Sample {
            at: Instant::now(),
            unix_ns: 10_000_000_000,
            files: 2,
            workers: vec![worker(0, 10, 5, 100), w1],
            ports: vec![],
        };
        let r = report(None, &s, &mut PortHistory::default());
        let text = table(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[4], "worker 1 rx faults: 3 bad write-backs dropped, 1 queue resets",
            "{text}"
        );
        assert_eq!(text.matches("rx faults").count(), 1, "{text}");
        assert_eq!(
            (r.total.rx_bad_descriptors, r.total.rx_queue_resets),
            (3, 1)
        );
    }

    #[test]
    fn classify_names() {
        assert_eq!(classify("worker-3.stats"), Some(FileKind::Worker(3)));
        assert_eq!(classify("port-1.stats"), Some(FileKind::Port(1)));
        assert_eq!(classify("worker-x.stats"), Some(FileKind::Misnamed));
        assert_eq!(classify("worker-+1.stats"), Some(FileKind::Misnamed));
        assert_eq!(classify("port-.stats"), Some(FileKind::Misnamed));
        assert_eq!(classify("port-1.stats.tmp"), None);
        assert_eq!(classify("worker-1.dma"), None);
        assert_eq!(classify(".probe-1"), None);
    }

    #[test]
    fn cli_checks() {
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("60"), Ok(Duration::from_secs(60)));
        for bad in ["0", "-1", "60.1", "nan", "inf", "x", ""] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.starts_with("--interval") && !e.contains('\n'), "{e}");
        }
        assert!(check_name("lab-1.a_b").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let both = resolve_run_dir(Some("/x".into()), Some("y")).unwrap_err();
        assert!(both.contains("not both"));
        assert_eq!(
            resolve_run_dir(Some("/x".into()), None),
            Ok(PathBuf::from("/x"))
        );
        assert!(resolve_run_dir(None, Some("y")).unwrap().ends_with("ixy/y"));
        assert!(resolve_run_dir(None, None).unwrap().ends_with("ixy/ixy"));
        assert!(resolve_run_dir(None, Some("../etc")).is_err());
    }

    #[test]
    fn a_stalled_worker_shows_as_stalled_and_stays_alive() {
        let mut w = worker(0, 10, 10, 5);
        w.stalled = true;
        let r = worker_row(None, &w, 0.0);
        assert_eq!((r.state, r.alive), ("stalled", true));
        w.state = State::Stopped;
        assert_eq!(worker_row(None, &w, 0.0).state, "stopped");
    }

    #[test]
    fn alive_needs_a_process_and_a_live_state() {
        assert!(alive(true, State::Running));
        assert!(alive(true, State::Starting));
        assert!(!alive(true, State::Stopped));
        assert!(!alive(true, State::Died));
        assert!(!alive(false, State::Running));
        assert!(process_exists(std::process::id()));
        assert!(!process_exists(0));
    }
}
