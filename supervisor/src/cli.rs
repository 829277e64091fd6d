//! Command line of `ixy-supervisor` (docs/DESIGN.md 7) and its validation: all
//! of it happens before anything is touched (docs/DESIGN.md 10).

use clap::Parser;
use driver::{RssConfig, RssKey};
use std::path::PathBuf;
use std::time::Duration;
use worker::{AppFactory, Idle};

/// The most workers: the 82599 spreads RSS over at most 16 queues.
pub const MAX_WORKERS: u32 = 16;
/// The longest `--restart-window`, seconds (a day).
pub const MAX_RESTART_WINDOW_S: f64 = 86_400.0;

/// ixy-supervisor: programs the NIC's RSS to spread flows over N queues,
/// then forks N pinned workers, each owning one rx/tx queue pair on every
/// device and its own hugepage mempool.
#[derive(Debug, Parser)]
#[command(
    name = "ixy-supervisor",
    version,
    after_help = "Examples:\n  \
        ixy-supervisor --workers 2 --app forward --device sim:demo/0 --device sim:demo/1 --oversubscribe\n  \
        ixy-supervisor --workers 4 --app reflect --device 0000:03:00.0 --cores 2,3,4,5\n  \
        ixy-supervisor --workers 4 --app sink --device sim:demo/0 --debug-worker 1"
)]
pub struct Args {
    /// Number of workers, 1 to 16: worker i owns queue i of every device, e.g. --workers 4.
    #[arg(long, value_name = "N")]
    pub workers: u32,
    /// The app every worker runs; ixy-supervisor's built-in apps are forward (2 devices), reflect and sink (1 device), e.g. --app forward. A program built on the supervisor library runs its own app and needs no --app.
    #[arg(long, value_name = "APP")]
    pub app: Option<String>,
    /// A device: a PCI address or a simulated port; repeat for the second port of forward, e.g. --device 0000:03:00.0 or --device sim:demo/0.
    #[arg(long = "device", value_name = "DEV", required = true)]
    pub devices: Vec<String>,
    /// Cores to pin workers to, e.g. 2,3,4 or 2-5 (default: cores 0..N-1).
    #[arg(long, value_name = "LIST")]
    pub cores: Option<String>,
    /// Packets per rx_batch, e.g. --batch 64.
    #[arg(long, default_value_t = 32, value_name = "B")]
    pub batch: usize,
    /// What a worker does on an empty poll: spin (one full core), yield, or sleep, e.g. --idle yield.
    #[arg(long, default_value = "spin", value_name = "spin|yield|sleep")]
    pub idle: String,
    /// RSS key: default (Microsoft), random, symmetric (both directions of a flow to one worker), or 80 hex digits, e.g. --rss-key symmetric.
    #[arg(long, default_value = "default", value_name = "KEY")]
    pub rss_key: String,
    /// Directory of the worker and port stats files, yours and writable by no one else; created if missing, its files are replaced each run (default /run/ixy/NAME, or $XDG_RUNTIME_DIR/ixy/NAME without root), e.g. --run-dir /tmp/ixy.
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Name of this instance (names the run dir), e.g. --name lab1.
    #[arg(long, default_value = "ixy", value_name = "NAME")]
    pub name: String,
    /// Run only worker K in the foreground, without forking (for gdb and strace), e.g. --debug-worker 1.
    #[arg(long, value_name = "K")]
    pub debug_worker: Option<u32>,
    /// Stop after this many seconds (as on SIGTERM; at most ten years), e.g. --duration 30.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Allow more workers than usable cores (tests on small machines; never for benchmarks).
    #[arg(long)]
    pub oversubscribe: bool,
    /// Restarts allowed per worker within any --restart-window; one more and the worker is given up (its RSS share goes to the live workers) until the window has room again, e.g. --max-restarts 10; 0: never restart.
    #[arg(
        long,
        visible_alias = "restart-limit",
        default_value_t = 10,
        value_name = "N"
    )]
    pub max_restarts: u32,
    /// The sliding window of --max-restarts, in seconds (at most 86400), e.g. --restart-window 60.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub restart_window: f64,
    /// Descriptors per Rx ring (power of two, 64 to 8192), e.g. --rx-ring 2048.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    pub rx_ring: u32,
    /// Descriptors per Tx ring (power of two, 64 to 8192), e.g. --tx-ring 2048.
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub tx_ring: u32,
    /// Receive all unicast and multicast frames.
    #[arg(long)]
    pub promisc: bool,
    /// Take a PCI device even if a kernel driver is bound to it.
    #[arg(long)]
    pub force: bool,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of workers.
    pub workers: u32,
    /// The app's name (from its factory).
    pub app: String,
    /// Device strings, in port order.
    pub devices: Vec<String>,
    /// Core of each worker.
    pub cores: Vec<usize>,
    /// Batch size.
    pub batch: usize,
    /// Idle strategy.
    pub idle: Idle,
    /// RSS over `workers` queues.
    pub rss: RssConfig,
    /// Stats directory.
    pub run_dir: PathBuf,
    /// Worker to run in the foreground.
    pub debug_worker: Option<u32>,
    /// Run time limit.
    pub duration: Option<Duration>,
    /// Restarts allowed per worker within `restart_window`.
    pub max_restarts: u32,
    /// The sliding window of the restart budget.
    pub restart_window: Duration,
    /// Rx ring size.
    pub rx_ring: u32,
    /// Tx ring size.
    pub tx_ring: u32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Take bound PCI devices.
    pub force: bool,
}

/// The longest `--duration`: ten years, far inside what `Instant` can
/// represent (a deadline beyond it overflowed).
pub const MAX_DURATION_S: f64 = 10.0 * 365.0 * 86_400.0;

/// Checks a `--duration` in seconds: positive, finite, at most
/// [`MAX_DURATION_S`].
pub fn parse_duration(s: f64) -> Result<Duration, String> {
    if !(s.is_finite() && s > 0.0) {
        return Err(format!("--duration {s}: give a positive number of seconds"));
    }
    if s > MAX_DURATION_S {
        return Err(format!(
            "--duration {s}: at most {MAX_DURATION_S} seconds (ten years); omit it to run until SIGTERM"
        ));
    }
    Ok(Duration::from_secs_f64(s))
}

/// Parses a core list: `0,2,4`, `2-5`, or a mix.
pub fn parse_cores(s: &str) -> Result<Vec<usize>, String> {
    let mut cores = Vec::new();
    for part in s.split(',').map(str::trim) {
        let bad = || format!("--cores {s:?}: write core numbers and ranges, e.g. 2,3 or 2-5");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cores.extend(a..=b);
            }
            None => cores.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(cores)
}

/// Cores this process may run on.
pub fn usable_cores() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

impl Args {
    /// Checks everything that can be checked without touching a device;
    /// `factory` takes `--app` ([`AppFactory::select`]) and says how many
    /// devices its app needs.
    pub fn validate<F: AppFactory>(&self, factory: &mut F) -> Result<Config, String> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(format!("--workers {}: use 1 to {MAX_WORKERS} (the 82599 spreads RSS over at most 16 queues)", self.workers));
        }
        factory.select(self.app.as_deref())?;
        if self.devices.len() != factory.ports() {
            return Err(format!(
                "app {} needs {} --device, got {}",
                factory.name(),
                factory.ports(),
                self.devices.len()
            ));
        }
        for d in &self.devices {
            if !d.starts_with("sim:") && d.parse::<driver::PciAddress>().is_err() {
                return Err(format!(
                    "--device {d:?}: expected a PCI address like 0000:03:00.0 or sim:LAB/PORT"
                ));
            }
        }
        driver::claim::check_distinct(&self.devices).map_err(|e| e.to_string())?;
        let usable = usable_cores();
        let cores = match &self.cores {
            Some(list) => parse_cores(list)?,
            None => (0..self.workers as usize)
                .map(|i| usable.get(i % usable.len().max(1)).copied().unwrap_or(0))
                .collect(),
        };
        if let Some(bad) = cores.iter().find(|c| !usable.contains(c)) {
            return Err(format!(
                "--cores: core {bad} is not usable here (usable: {usable:?})"
            ));
        }
        if cores.len() < self.workers as usize {
            return Err(format!(
                "--cores lists {} cores for {} workers",
                cores.len(),
                self.workers
            ));
        }
        let distinct = {
            let mut c = cores[..self.workers as usize].to_vec();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        if (self.workers as usize > usable.len() || distinct < self.workers as usize)
            && !self.oversubscribe
            && self.debug_worker.is_none()
        {
            return Err(format!(
                "{} workers but {} usable cores: pass --oversubscribe to share cores (never for benchmarks)",
                self.workers,
                usable.len().min(distinct)
            ));
        }
        if !(1..=512).contains(&self.batch) {
            return Err(format!("--batch {}: use 1 to 512", self.batch));
        }
        let idle: Idle = self.idle.parse().map_err(|e| format!("--idle: {e}"))?;
        let key: RssKey = self
            .rss_key
            .parse()
            .map_err(|e: driver::Error| format!("--rss-key: {e}"))?;
        let rss =
            RssConfig::new(self.workers as u16, key).map_err(|e| format!("--rss-key: {e}"))?;
        for (name, size) in [("--rx-ring", self.rx_ring), ("--tx-ring", self.tx_ring)] {
            if !size.is_power_of_two() || !(64..=8192).contains(&size) {
                return Err(format!("{name} {size}: use a power of two from 64 to 8192"));
            }
        }
        if let Some(k) = self.debug_worker {
            if k >= self.workers {
                return Err(format!(
                    "--debug-worker {k}: workers are numbered 0 to {}",
                    self.workers - 1
                ));
            }
        }
        let duration = self.duration.map(parse_duration).transpose()?;
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || self.name.starts_with('.')
        {
            return Err(format!(
                "--name {:?}: use letters, digits, '-', '_' and '.'",
                self.name
            ));
        }
        let w = self.restart_window;
        if !(w.is_finite() && w > 0.0 && w <= MAX_RESTART_WINDOW_S) {
            return Err(format!(
                "--restart-window {w}: give a number of seconds greater than 0 and at most {MAX_RESTART_WINDOW_S}"
            ));
        }
        let run_dir = self
            .run_dir
            .clone()
            .unwrap_or_else(|| worker::statsfile::default_run_dir(&self.name));
        let run_dir = crate::rundir::check(&run_dir)?;
        Ok(Config {
            workers: self.workers,
            app: factory.name().to_string(),
            devices: self.devices.clone(),
            cores: cores[..self.workers as usize].to_vec(),
            batch: self.batch,
            idle,
            rss,
            run_dir,
            debug_worker: self.debug_worker,
            duration,
            max_restarts: self.max_restarts,
            restart_window: Duration::from_secs_f64(w),
            rx_ring: self.rx_ring,
            tx_ring: self.tx_ring,
            promisc: self.promisc,
            force: self.force,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_positive_and_within_the_clock() {
        assert_eq!(parse_duration(1.5), Ok(Duration::from_millis(1500)));
        assert!(parse_duration(MAX_DURATION_S).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                parse_duration(bad).unwrap_err().contains("positive"),
                "{bad}"
            );
        }
        for bad in [MAX_DURATION_S * 1.01, 1e19, 1e30, f64::MAX] {
            assert!(
                parse_duration(bad).unwrap_err().contains("at most"),
                "{bad}"
            );
        }
    }

    #[test]
    fn core_lists_parse() {
        assert_eq!(parse_cores("0,2,4").unwrap(), vec![0, 2, 4]);
        assert_eq!(parse_cores("2-5").unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(parse_cores("1, 3-4").unwrap(), vec![1, 3, 4]);
        for bad in ["", "a", "3-1", "1,,2", "-1"] {
            assert!(parse_cores(bad).unwrap_err().contains("--cores"), "{bad}");
        }
    }
}
