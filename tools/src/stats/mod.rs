//! The library half of `ixy-stats` (DESIGN.md 8), one module per job:
//!
//! - [`cli`]: the command-line checks (`--interval`, `--name`, `--run-dir`).
//! - [`sample`]: reading a run directory's `worker-I.stats` and
//!   `port-P.stats` files into a [`Sample`] ([`Sampler`]).
//! - [`report`](mod@report): the report model: two samples turned into a [`Report`]
//!   of rows with rates and totals, app counters summed by name; the port
//!   rows come from [`ports`].
//! - [`table`](mod@table) and [`json`](mod@json): the report as text tables or one line of
//!   JSON (the report structs serialised by `serde_json`).
//! - [`prometheus`](mod@prometheus): the report's counters in the Prometheus
//!   text format; [`serve`](mod@serve) answers scrapes of `/metrics`.
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
//! - App counters (an app's own named counters, like DPDK's extended
//!   stats) are shown as they are, per worker and summed by name over the
//!   workers; they have no rates.

pub mod cli;
pub mod json;
pub mod ports;
pub mod prometheus;
pub mod report;
pub mod sample;
pub mod serve;
pub mod table;

pub use cli::{check_name, check_run_dir, parse_interval, resolve_run_dir};
pub use json::json;
pub use ports::{port_row, PortHistory, PortRow, QueueRow};
pub use prometheus::prometheus;
pub use report::{
    busy_percent, cycles_per_packet, gbps, mpps, report, total_row, worker_row, AppCounters, Rates,
    Report, TotalRow, WorkerRow,
};
pub use sample::{
    alive, classify, find_stats_files, process_exists, FileKind, Sample, Sampler, StatsFiles,
    WorkerSample,
};
pub use table::{app_counters_table, layout, queue_drops_line, rx_faults_line, table};

/// Default interval between the two samples of one-shot mode, seconds.
pub const DEFAULT_INTERVAL_S: f64 = 0.5;
/// Default interval of `--watch`, seconds.
pub const DEFAULT_WATCH_INTERVAL_S: f64 = 1.0;
/// The longest interval allowed, seconds.
pub const MAX_INTERVAL_S: f64 = 60.0;
/// A port file not rewritten for this long (ns) belongs to a supervisor
/// that no longer runs: its rates are 0. The supervisor writes once a second.
pub const PORT_STALE_NS: u128 = 3_000_000_000;

/// Workers, samples and ports made up for the unit tests of every module.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use driver::stats::{PortStats, QueueStats};
    use worker::portfile::PortFile;
    use worker::statsfile::{Counters, State};

    /// Worker `index`, running, with `rx` and `tx` packets of 64 bytes,
    /// `busy` cycles, one tx drop and `index` restarts.
    pub fn worker(index: u32, rx: u64, tx: u64, busy: u64) -> WorkerSample {
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
            app: Vec::new(),
        }
    }

    /// Port 0 of `sim:demo/0` written at `updated_s` seconds: `rx` and `tx`
    /// frames of 100 bytes, 3 missed, 4 no buffer (on queue 1), 5 CRC errors.
    pub fn port(updated_s: u128, rx: u64, tx: u64) -> PortFile {
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
                    1 => QueueStats {
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

    /// A sample of `workers` and `ports` taken at `unix_s` seconds.
    pub fn sample(workers: Vec<WorkerSample>, ports: Vec<PortFile>, unix_s: u128) -> Sample {
        Sample {
            at: std::time::Instant::now(),
            unix_ns: unix_s * 1_000_000_000,
            files: workers.len() + ports.len(),
            workers,
            ports,
        }
    }

    /// Whether `a` is known and within 1e-9 of `b`.
    pub fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }
}
