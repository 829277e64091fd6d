//! The per-worker statistics file `RUN_DIR/worker-I.stats` (docs/DESIGN.md 8).
//!
//! A 4 KiB file of little-endian fields, mapped shared by the worker (which
//! updates its counters with plain stores, no system call and no atomic
//! read-modify-write), by the supervisor (which creates it, requests the
//! stop and counts restarts) and by `ixy-stats` (which reads it). It stays
//! after the worker exits, so the counters survive; a restarted worker
//! continues from them. The supervisor creates it fresh at the start of
//! every run ([`create_fresh`]: an old file, or a link planted in its place,
//! is unlinked, never followed or reused), so counters and restarts start
//! at 0.
//!
//! Layout, version 1 (byte offsets):
//!
//! | offset | type | field |
//! | --- | --- | --- |
//! | 0 | u64 | magic `"IXYWSTAT"` |
//! | 8 | u32 | version (1) |
//! | 12 | u32 | worker index |
//! | 16 | u32 | pid of the current (or last) worker process |
//! | 20 | u32 | core the worker is pinned to |
//! | 24 | u32 | queue the worker owns on every port |
//! | 28 | u32 | state: 0 starting, 1 running, 2 stopped, 3 died |
//! | 32 | u64 | control, written by the supervisor: 1 = stop |
//! | 40 | u64 | TSC frequency in Hz, measured by the worker |
//! | 48 | u64 | restarts, counted by the supervisor |
//! | 56 | u64 | start time of the current process, Unix ns |
//! | 64 | u64 | rx packets |
//! | 72 | u64 | rx bytes |
//! | 80 | u64 | tx packets |
//! | 88 | u64 | tx bytes |
//! | 96 | u64 | tx drops (ring full, packet freed) |
//! | 104 | u64 | rx batches (polls that returned packets) |
//! | 112 | u64 | empty polls |
//! | 120 | u64 | busy cycles (TSC cycles of polls that received packets) |
//! | 128 | u64 | idle cycles (all other TSC cycles of the worker's life) |
//! | 136 | u64 | heartbeat: `CLOCK_MONOTONIC` ns of the last publication (0: never) |
//! | 144 | u64 | rx bad descriptors (nonsense write-backs dropped, `driver::rx::RxCounters`) |
//! | 152 | u64 | rx queue resets (after a write-back on a descriptor the device was never given) |
//!
//! The app's own counters ([`crate::App::counter_names`]) follow in the
//! second kilobyte:
//!
//! | offset | type | field |
//! | --- | --- | --- |
//! | 1024 | u32 | number of app counters, 0 to [`MAX_APP_COUNTERS`] |
//! | 1032 + 32·k | 32 bytes | name of counter k: ASCII, NUL-padded |
//! | 2112 + 8·k | u64 | value of counter k |
//!
//! The worker writes the names once when it starts (a restarted worker
//! with the same names continues from the values its predecessor left)
//! and publishes the values with the other counters. Version 1 readers
//! that predate them see a count of 0.
//!
//! The worker publishes its counters about once a millisecond and when it
//! stops, so a reader sees them at most a millisecond old. Each publication
//! also stamps the heartbeat (one clock read per millisecond, none per
//! packet): a worker whose state says running but whose heartbeat is older
//! than [`STALL_AFTER`] is *stalled* (stopped with SIGSTOP, stuck in its
//! app, starved of CPU), see [`StatsFile::stalled`]. The heartbeat was added
//! to version 1 without changing the version: older readers ignore it, and
//! a reader that finds 0 treats the worker's liveness as unknown.
//!
//! Counters start at offset 64: the worker's hot fields share no cache line
//! with the ones the supervisor writes.

use driver::shm::SharedMap;
use driver::tsc::monotonic_ns;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// File magic.
pub const MAGIC: u64 = u64::from_le_bytes(*b"IXYWSTAT");
/// Layout version.
pub const VERSION: u32 = 1;
/// File size.
pub const SIZE: usize = 4096;
/// How long a running worker may go without publishing before it counts
/// as stalled: a thousand times its publication interval.
pub const STALL_AFTER: Duration = Duration::from_secs(1);

/// Lifecycle of a worker, as the file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Forked, setting up.
    Starting = 0,
    /// In the poll loop.
    Running = 1,
    /// Left the loop on request, queues detached.
    Stopped = 2,
    /// Died (the supervisor records this).
    Died = 3,
}

impl State {
    fn from_u32(v: u32) -> State {
        match v {
            1 => State::Running,
            2 => State::Stopped,
            3 => State::Died,
            _ => State::Starting,
        }
    }

    /// Lower-case name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Running => "running",
            State::Stopped => "stopped",
            State::Died => "died",
        }
    }
}

/// The counters a worker keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped because a Tx ring was full.
    pub tx_drops: u64,
    /// Polls that returned packets.
    pub rx_batches: u64,
    /// Polls that returned nothing.
    pub empty_polls: u64,
    /// TSC cycles spent in polls that received packets.
    pub busy_cycles: u64,
    /// All other TSC cycles: empty polls, yielding, sleeping.
    pub idle_cycles: u64,
    /// Receive descriptors the device wrote back with nonsense, dropped.
    pub rx_bad_descriptors: u64,
    /// Receive queue resets after the device wrote back a descriptor it
    /// was never given.
    pub rx_queue_resets: u64,
}

const COUNTERS: usize = 64;
const N_COUNTERS: usize = 9;
const HEARTBEAT: usize = 136;
/// The rx fault counters (bad descriptors, queue resets), after the
/// heartbeat.
const RX_FAULTS: usize = 144;
/// Where the app counters' count, names and values start.
const APP_COUNT: usize = 1024;
const APP_NAMES: usize = 1032;
const APP_VALUES: usize = 2112;
/// Bytes per app counter name, NUL padding included.
const NAME_BYTES: usize = 32;

/// The most counters an app may declare.
pub const MAX_APP_COUNTERS: usize = 32;
/// The longest app counter name, in bytes.
pub const MAX_COUNTER_NAME: usize = NAME_BYTES - 1;

/// Checks the names an app gives its counters: at most
/// [`MAX_APP_COUNTERS`], each 1 to [`MAX_COUNTER_NAME`] characters of
/// `a-z`, `0-9` and `_` starting with a letter (they become table columns
/// and JSON keys), no two alike.
pub fn check_counter_names(names: &[&str]) -> Result<(), String> {
    if names.len() > MAX_APP_COUNTERS {
        return Err(format!(
            "{} app counters: an app may declare at most {MAX_APP_COUNTERS}",
            names.len()
        ));
    }
    for (i, name) in names.iter().enumerate() {
        let ok = (1..=MAX_COUNTER_NAME).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(format!(
                "app counter name {name:?}: use 1 to {MAX_COUNTER_NAME} of a-z, 0-9 and _, starting with a letter"
            ));
        }
        if names[..i].contains(name) {
            return Err(format!("app counter name {name:?} is declared twice"));
        }
    }
    Ok(())
}

/// The state name tables and JSON show: `stalled` for a running worker
/// whose heartbeat stopped (see [`StatsFile::stalled`]), else the state's.
pub fn state_label(state: State, stalled: bool) -> &'static str {
    if stalled && state == State::Running {
        "stalled"
    } else {
        state.name()
    }
}

/// Creates `path` as a new, empty regular file (mode 0644 before the
/// umask) for the files of a run directory: never follows a symbolic link
/// and never reuses what was there. The old name is unlinked first (unlink
/// removes a link itself, never its target), then the file is created with
/// `O_CREAT | O_EXCL | O_NOFOLLOW`, which fails rather than follow or reuse
/// anything that appeared there in between.
pub fn create_fresh(path: &Path) -> io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// The path of worker `index`'s file in `run_dir`.
pub fn path(run_dir: &Path, index: u32) -> PathBuf {
    run_dir.join(format!("worker-{index}.stats"))
}

/// The default run directory of instance `name` (docs/DESIGN.md 8):
/// `/run/ixy/NAME` as root, else `$XDG_RUNTIME_DIR/ixy/NAME`, else
/// `TMPDIR/ixy/NAME`. The supervisor and `ixy-stats` must agree on it.
pub fn default_run_dir(name: &str) -> PathBuf {
    let base = if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/ixy")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(
            || std::env::temp_dir().join("ixy"),
            |d| PathBuf::from(d).join("ixy"),
        )
    };
    base.join(name)
}

/// The DMA manifest of worker `index` (`driver::memory::set_manifest`):
/// what the supervisor reclaims if the worker dies.
pub fn dma_manifest(run_dir: &Path, index: u32) -> PathBuf {
    run_dir.join(format!("worker-{index}.dma"))
}

/// A mapped worker statistics file.
#[derive(Debug)]
pub struct StatsFile {
    map: SharedMap,
}

impl StatsFile {
    /// Creates the file of worker `index` afresh ([`create_fresh`]): every
    /// counter, the restarts and the heartbeat start at 0.
    pub fn create(run_dir: &Path, index: u32, core: u32, queue: u32) -> io::Result<Self> {
        let file = create_fresh(&path(run_dir, index))?;
        file.set_len(SIZE as u64)?;
        let f = StatsFile {
            map: SharedMap::file(&file, 0, SIZE)?,
        };
        let m = &f.map;
        m.u64_at(0).store(MAGIC, Ordering::Relaxed);
        m.u32_at(8).store(VERSION, Ordering::Relaxed);
        m.u32_at(12).store(index, Ordering::Relaxed);
        m.u32_at(20).store(core, Ordering::Relaxed);
        m.u32_at(24).store(queue, Ordering::Relaxed);
        m.u32_at(28)
            .store(State::Starting as u32, Ordering::Release);
        Ok(f)
    }

    /// Opens an existing file (worker, supervisor or `ixy-stats`); a
    /// symbolic link in its place is an error, never followed.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path)?;
        if file.metadata()?.len() < SIZE as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: too short", path.display()),
            ));
        }
        let f = StatsFile {
            map: SharedMap::file(&file, 0, SIZE)?,
        };
        if f.map.u64_at(0).load(Ordering::Acquire) != MAGIC
            || f.map.u32_at(8).load(Ordering::Acquire) != VERSION
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: not an ixy-mp worker statistics file of version {VERSION}",
                    path.display()
                ),
            ));
        }
        Ok(f)
    }

    /// Worker index.
    pub fn index(&self) -> u32 {
        self.map.u32_at(12).load(Ordering::Relaxed)
    }

    /// Pid of the current or last worker process.
    pub fn pid(&self) -> u32 {
        self.map.u32_at(16).load(Ordering::Acquire)
    }

    /// Core the worker is pinned to.
    pub fn core(&self) -> u32 {
        self.map.u32_at(20).load(Ordering::Relaxed)
    }

    /// Queue the worker owns.
    pub fn queue(&self) -> u32 {
        self.map.u32_at(24).load(Ordering::Relaxed)
    }

    /// The worker's state.
    pub fn state(&self) -> State {
        State::from_u32(self.map.u32_at(28).load(Ordering::Acquire))
    }

    /// Records the worker's state; entering [`State::Running`] also stamps
    /// the heartbeat.
    pub fn set_state(&self, s: State) {
        if s == State::Running {
            self.beat();
        }
        self.map.u32_at(28).store(s as u32, Ordering::Release);
    }

    fn beat(&self) {
        self.map
            .u64_at(HEARTBEAT)
            .store(monotonic_ns(), Ordering::Relaxed);
    }

    /// The heartbeat: `CLOCK_MONOTONIC` ns of the last publication (0:
    /// never).
    pub fn heartbeat_ns(&self) -> u64 {
        self.map.u64_at(HEARTBEAT).load(Ordering::Relaxed)
    }

    /// Whether the worker is stalled: its state says running but its last
    /// publication is more than [`STALL_AFTER`] old (a file without a
    /// heartbeat never counts as stalled).
    pub fn stalled(&self) -> bool {
        let beat = self.heartbeat_ns();
        self.state() == State::Running
            && beat != 0
            && monotonic_ns().saturating_sub(beat) > STALL_AFTER.as_nanos() as u64
    }

    /// The state name to show: [`state_label`] of the state and
    /// [`StatsFile::stalled`].
    pub fn label(&self) -> &'static str {
        state_label(self.state(), self.stalled())
    }

    /// Records the process that now runs the worker.
    pub fn set_process(&self, pid: u32, start_unix_ns: u64, tsc_hz: u64) {
        self.map.u32_at(16).store(pid, Ordering::Release);
        self.map.u64_at(56).store(start_unix_ns, Ordering::Relaxed);
        self.map.u64_at(40).store(tsc_hz, Ordering::Relaxed);
    }

    /// TSC frequency measured by the worker.
    pub fn tsc_hz(&self) -> u64 {
        self.map.u64_at(40).load(Ordering::Relaxed)
    }

    /// Asks the worker to stop (or lets a restarted one run).
    pub fn request_stop(&self, stop: bool) {
        self.map
            .u64_at(32)
            .store(u64::from(stop), Ordering::Release);
    }

    /// Whether a stop was requested: one plain load, fine for the hot loop.
    #[inline]
    pub fn stop_requested(&self) -> bool {
        self.map.u64_at(32).load(Ordering::Relaxed) != 0
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u64 {
        self.map.u64_at(48).load(Ordering::Relaxed)
    }

    /// Counts one restart.
    pub fn add_restart(&self) {
        let n = self.restarts() + 1;
        self.map.u64_at(48).store(n, Ordering::Relaxed);
    }

    /// The counters as last published.
    pub fn counters(&self) -> Counters {
        let c = |i: usize| self.map.u64_at(COUNTERS + 8 * i).load(Ordering::Relaxed);
        Counters {
            rx_packets: c(0),
            rx_bytes: c(1),
            tx_packets: c(2),
            tx_bytes: c(3),
            tx_drops: c(4),
            rx_batches: c(5),
            empty_polls: c(6),
            busy_cycles: c(7),
            idle_cycles: c(8),
            rx_bad_descriptors: self.map.u64_at(RX_FAULTS).load(Ordering::Relaxed),
            rx_queue_resets: self.map.u64_at(RX_FAULTS + 8).load(Ordering::Relaxed),
        }
    }

    /// Publishes the counters and stamps the heartbeat: plain stores into
    /// the worker's own lines and one clock read (through the vDSO where
    /// the clock source allows, no system call).
    #[inline]
    pub fn publish(&self, c: &Counters) {
        let values: [u64; N_COUNTERS] = [
            c.rx_packets,
            c.rx_bytes,
            c.tx_packets,
            c.tx_bytes,
            c.tx_drops,
            c.rx_batches,
            c.empty_polls,
            c.busy_cycles,
            c.idle_cycles,
        ];
        for (i, v) in values.iter().enumerate() {
            self.map
                .u64_at(COUNTERS + 8 * i)
                .store(*v, Ordering::Relaxed);
        }
        let faults = [c.rx_bad_descriptors, c.rx_queue_resets];
        for (i, v) in faults.iter().enumerate() {
            self.map
                .u64_at(RX_FAULTS + 8 * i)
                .store(*v, Ordering::Relaxed);
        }
        self.beat();
    }

    /// Declares the app's counters (names checked by
    /// [`check_counter_names`]). Names equal to those already in the file
    /// keep their values (a restarted worker continues from them);
    /// otherwise every value starts at 0.
    pub fn set_app_counters(&self, names: &[&str]) -> Result<(), String> {
        check_counter_names(names)?;
        let same = self
            .app_counters()
            .iter()
            .map(|(n, _)| n.as_str())
            .eq(names.iter().copied());
        if same {
            return Ok(());
        }
        let m = &self.map;
        m.u32_at(APP_COUNT).store(0, Ordering::Release);
        for (k, name) in names.iter().enumerate() {
            let mut field = [0u8; NAME_BYTES];
            field[..name.len()].copy_from_slice(name.as_bytes());
            for (j, chunk) in field.chunks_exact(4).enumerate() {
                let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                m.u32_at(APP_NAMES + NAME_BYTES * k + 4 * j)
                    .store(word, Ordering::Relaxed);
            }
            m.u64_at(APP_VALUES + 8 * k).store(0, Ordering::Relaxed);
        }
        m.u32_at(APP_COUNT)
            .store(names.len() as u32, Ordering::Release);
        Ok(())
    }

    /// Publishes the app counters' values, in the order of their names:
    /// plain stores, as [`StatsFile::publish`]. Values beyond the declared
    /// counters are ignored.
    #[inline]
    pub fn publish_app(&self, values: &[u64]) {
        let n = self.app_count();
        for (k, v) in values.iter().take(n).enumerate() {
            self.map
                .u64_at(APP_VALUES + 8 * k)
                .store(*v, Ordering::Relaxed);
        }
    }

    fn app_count(&self) -> usize {
        (self.map.u32_at(APP_COUNT).load(Ordering::Acquire) as usize).min(MAX_APP_COUNTERS)
    }

    /// The app counters as last published: (name, value) in declaration
    /// order; empty when the app declares none. A name that is not valid
    /// UTF-8 (a damaged file) is shown with replacement characters.
    pub fn app_counters(&self) -> Vec<(String, u64)> {
        (0..self.app_count())
            .map(|k| {
                let bytes: Vec<u8> = (0..NAME_BYTES / 4)
                    .flat_map(|j| {
                        self.map
                            .u32_at(APP_NAMES + NAME_BYTES * k + 4 * j)
                            .load(Ordering::Relaxed)
                            .to_le_bytes()
                    })
                    .take_while(|&b| b != 0)
                    .collect();
                let value = self.map.u64_at(APP_VALUES + 8 * k).load(Ordering::Relaxed);
                (String::from_utf8_lossy(&bytes).into_owned(), value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip_and_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("ixy-statsfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = StatsFile::create(&dir, 3, 1, 3).unwrap();
        let c = Counters {
            rx_packets: 10,
            tx_drops: 2,
            idle_cycles: 99,
            rx_queue_resets: 1,
            ..Counters::default()
        };
        f.publish(&c);
        f.set_state(State::Running);
        f.request_stop(true);
        f.add_restart();
        drop(f);
        let g = StatsFile::open(&path(&dir, 3)).unwrap();
        assert_eq!(g.counters(), c);
        assert_eq!(
            (g.index(), g.core(), g.queue(), g.state()),
            (3, 1, 3, State::Running)
        );
        assert!(g.stop_requested());
        assert_eq!(g.restarts(), 1);
        std::fs::write(dir.join("junk"), [0u8; 4096]).unwrap();
        assert!(StatsFile::open(&dir.join("junk")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn create_starts_afresh_and_never_follows_a_link() {
        let dir = std::env::temp_dir().join(format!("ixy-statsfile-fresh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let old = StatsFile::create(&dir, 0, 0, 0).unwrap();
        old.publish(&Counters {
            rx_packets: 7,
            ..Counters::default()
        });
        old.add_restart();
        let new = StatsFile::create(&dir, 0, 0, 0).unwrap();
        assert_eq!(new.counters(), Counters::default());
        assert_eq!((new.restarts(), new.heartbeat_ns()), (0, 0));
        // The old mapping keeps its own (now unlinked) file.
        assert_eq!(old.counters().rx_packets, 7);
        let target = dir.join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::fs::remove_file(path(&dir, 1)).ok();
        std::os::unix::fs::symlink(&target, path(&dir, 1)).unwrap();
        let e = StatsFile::open(&path(&dir, 1)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(nix::libc::ELOOP), "{e}");
        StatsFile::create(&dir, 1, 0, 1).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(path(&dir, 1))
            .unwrap()
            .file_type()
            .is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_running_worker_without_a_recent_heartbeat_is_stalled() {
        let dir = std::env::temp_dir().join(format!("ixy-statsfile-stall-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = StatsFile::create(&dir, 0, 0, 0).unwrap();
        assert!(!f.stalled(), "starting, no heartbeat yet");
        f.set_state(State::Running);
        assert!(
            f.heartbeat_ns() > 0,
            "entering running stamps the heartbeat"
        );
        assert_eq!((f.stalled(), f.label()), (false, "running"));
        let old = monotonic_ns() - 2 * STALL_AFTER.as_nanos() as u64;
        f.map.u64_at(HEARTBEAT).store(old, Ordering::Relaxed);
        assert_eq!((f.stalled(), f.label()), (true, "stalled"));
        f.publish(&Counters::default());
        assert_eq!((f.stalled(), f.label()), (false, "running"));
        f.map.u64_at(HEARTBEAT).store(old, Ordering::Relaxed);
        f.set_state(State::Died);
        assert_eq!(
            (f.stalled(), f.label()),
            (false, "died"),
            "only running workers stall"
        );
        assert_eq!(state_label(State::Stopped, true), "stopped");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn app_counters_round_trip_and_survive_a_restart_with_the_same_names() {
        let dir = std::env::temp_dir().join(format!("ixy-statsfile-app-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = StatsFile::create(&dir, 0, 0, 0).unwrap();
        assert!(f.app_counters().is_empty(), "a new file has none");
        let names = ["flows", "dropped_unsolicited", "a"];
        f.set_app_counters(&names).unwrap();
        f.publish_app(&[3, 4, 5, 6]);
        let want = |v: [u64; 3]| -> Vec<(String, u64)> {
            names.iter().map(|n| n.to_string()).zip(v).collect()
        };
        assert_eq!(
            f.app_counters(),
            want([3, 4, 5]),
            "the 4th value is ignored"
        );
        let g = StatsFile::open(&path(&dir, 0)).unwrap();
        g.set_app_counters(&names).unwrap();
        assert_eq!(g.app_counters(), want([3, 4, 5]), "same names keep values");
        g.set_app_counters(&["other"]).unwrap();
        assert_eq!(g.app_counters(), vec![("other".to_string(), 0)]);
        let longest = "x".repeat(MAX_COUNTER_NAME);
        g.set_app_counters(&[longest.as_str()]).unwrap();
        assert_eq!(g.app_counters()[0].0, longest);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_app_counter_names_are_refused() {
        let too_long = "x".repeat(MAX_COUNTER_NAME + 1);
        let many: Vec<String> = (0..=MAX_APP_COUNTERS).map(|i| format!("c{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        for bad in [
            &["Flows"][..],
            &[""],
            &["9lives"],
            &["a-b"],
            &["dup", "dup"],
            &[too_long.as_str()],
            &many,
        ] {
            assert!(check_counter_names(bad).is_err(), "{bad:?}");
        }
        assert!(check_counter_names(&["ok_1", "b"]).is_ok());
    }

    #[test]
    fn default_run_dir_ends_with_ixy_name() {
        let d = default_run_dir("lab-1");
        assert!(d.ends_with("ixy/lab-1"), "{}", d.display());
        assert!(d.is_absolute() || std::env::temp_dir().is_relative());
    }
}
