//! Reading a run directory: which files are stats files, and one
//! [`Sample`] of all of them at a moment ([`Sampler`], which warns once
//! per file it has to skip).

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use worker::portfile::{self, PortFile};
use worker::statsfile::{Counters, State, StatsFile};

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
    /// The app's own counters, (name, value) in declaration order
    /// (`StatsFile::app_counters`; empty when the app declares none).
    pub app: Vec<(String, u64)>,
}

impl WorkerSample {
    /// What worker stats file `f` says now, its liveness judged from
    /// `/proc` ([`process_exists`]).
    pub fn read(f: &StatsFile) -> Self {
        let (pid, state) = (f.pid(), f.state());
        let exists = process_exists(pid);
        WorkerSample {
            index: f.index(),
            pid,
            alive: alive(exists, state),
            core: f.core(),
            queue: f.queue(),
            state,
            stalled: exists && f.stalled(),
            restarts: f.restarts(),
            counters: f.counters(),
            app: f.app_counters(),
        }
    }
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
                    workers.push(WorkerSample::read(&f));
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

#[cfg(test)]
mod tests {
    use super::*;

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
