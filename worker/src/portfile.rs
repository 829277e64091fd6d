//! The port statistics file `RUN_DIR/port-P.stats` (DESIGN.md 8), written
//! by the supervisor once a second: the hardware counters as 64-bit totals.
//!
//! Format, version 1: UTF-8 text, one `key value` pair per line, the first
//! line being `ixy-port-stats 1`. Keys: `device` (the --device string),
//! `port`, `updated_unix_ns`, then every field of `driver::stats::PortStats`
//! (`rx_packets`, `rx_bytes`, `tx_packets`, `tx_bytes`, `rx_missed`,
//! `rx_no_buffer`, `rx_crc_errors`, `rx_length_errors`, `rx_undersize`,
//! `rx_oversize`, `rx_total`) and per statistics set i (= queue i)
//! `queue.I.rx_packets`, `.rx_bytes`, `.rx_dropped`, `.tx_packets`,
//! `.tx_bytes`. The file is replaced atomically (write, then rename).

use driver::stats::PortStats;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// First line of a port statistics file.
pub const HEADER: &str = "ixy-port-stats 1";

/// The path of port `port`'s file.
pub fn path(run_dir: &Path, port: usize) -> PathBuf {
    run_dir.join(format!("port-{port}.stats"))
}

/// Renders the file's text.
pub fn render(device: &str, port: usize, s: &PortStats) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = format!("{HEADER}\ndevice {device}\nport {port}\nupdated_unix_ns {now}\n");
    let fields = [
        ("rx_packets", s.rx_packets),
        ("rx_bytes", s.rx_bytes),
        ("tx_packets", s.tx_packets),
        ("tx_bytes", s.tx_bytes),
        ("rx_missed", s.rx_missed),
        ("rx_no_buffer", s.rx_no_buffer),
        ("rx_crc_errors", s.rx_crc_errors),
        ("rx_length_errors", s.rx_length_errors),
        ("rx_undersize", s.rx_undersize),
        ("rx_oversize", s.rx_oversize),
        ("rx_total", s.rx_total),
    ];
    for (k, v) in fields {
        let _ = writeln!(out, "{k} {v}");
    }
    for (i, q) in s.queues.iter().enumerate() {
        let _ = writeln!(out, "queue.{i}.rx_packets {}", q.rx_packets);
        let _ = writeln!(out, "queue.{i}.rx_bytes {}", q.rx_bytes);
        let _ = writeln!(out, "queue.{i}.rx_dropped {}", q.rx_dropped);
        let _ = writeln!(out, "queue.{i}.tx_packets {}", q.tx_packets);
        let _ = writeln!(out, "queue.{i}.tx_bytes {}", q.tx_bytes);
    }
    out
}

/// Writes the file atomically.
pub fn write(run_dir: &Path, device: &str, port: usize, s: &PortStats) -> io::Result<()> {
    let target = path(run_dir, port);
    let tmp = target.with_extension("stats.tmp");
    std::fs::write(&tmp, render(device, port, s))?;
    std::fs::rename(tmp, target)
}
