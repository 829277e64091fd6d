//! `ixy-stats`' text output: the [`Report`] as tables (workers and their
//! total, the app counters when there are any, ports), with a line under a
//! table for what only some rows have (rx faults, per-queue drops).

use super::ports::PortRow;
use super::report::{AppCounters, Report, TotalRow, WorkerRow};
use std::fmt::Write as _;

/// A rate with `decimals` decimals, `-` when unknown.
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

/// The report as text tables: workers with a total line, the app counters
/// (only when some worker has any), then ports.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    if r.workers.is_empty() {
        out.push_str("no readable worker stats files\n");
    } else {
        out.push_str(&worker_table(&r.workers, &r.total));
        for w in &r.workers {
            out.push_str(&rx_faults_line(w));
        }
        let apps = app_counters_table(&r.workers, &r.total.app);
        if !apps.is_empty() {
            out.push('\n');
            out.push_str(&apps);
        }
    }
    if !r.ports.is_empty() {
        out.push('\n');
        out.push_str(&port_table(&r.ports));
        for p in &r.ports {
            out.push_str(&queue_drops_line(p));
        }
    }
    out
}

const WORKER_HEADER: [&str; 16] = [
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

/// One line per worker, then the total.
fn worker_table(workers: &[WorkerRow], t: &TotalRow) -> String {
    let mut rows: Vec<Vec<String>> = workers
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
                fixed(w.rates.rx_mpps, 3),
                fixed(w.rates.tx_mpps, 3),
                fixed(w.rates.rx_gbps, 3),
                fixed(w.rates.tx_gbps, 3),
                fixed(w.cycles_per_packet, 1),
                fixed(w.busy_percent, 1),
                w.restarts.to_string(),
            ]
        })
        .collect();
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
        fixed(t.rates.rx_mpps, 3),
        fixed(t.rates.tx_mpps, 3),
        fixed(t.rates.rx_gbps, 3),
        fixed(t.rates.tx_gbps, 3),
        fixed(t.cycles_per_packet, 1),
        fixed(t.busy_percent, 1),
        t.restarts.to_string(),
    ]);
    let mut left = [false; WORKER_HEADER.len()];
    left[0] = true;
    left[5] = true;
    layout(&WORKER_HEADER, &rows, &left)
}

/// The app counters, one line per counter of `total` (every name any
/// worker has): its value in each worker (`-` where that worker has no
/// such counter) and the total. Empty when no worker has app counters.
///
/// ```text
/// app counter  worker 0  worker 1  total
/// flows               3         4      7
/// ```
pub fn app_counters_table(workers: &[WorkerRow], total: &AppCounters) -> String {
    if total.is_empty() {
        return String::new();
    }
    let names: Vec<String> = workers
        .iter()
        .map(|w| format!("worker {}", w.index))
        .collect();
    let header: Vec<&str> = std::iter::once("app counter")
        .chain(names.iter().map(String::as_str))
        .chain(std::iter::once("total"))
        .collect();
    let rows: Vec<Vec<String>> = total
        .iter()
        .map(|(name, sum)| {
            // Names are a-z, 0-9 and _ unless the file is damaged.
            std::iter::once(name.escape_debug().to_string())
                .chain(
                    workers
                        .iter()
                        .map(|w| w.app.get(name).map_or("-".into(), |v| v.to_string())),
                )
                .chain(std::iter::once(sum.to_string()))
                .collect()
        })
        .collect();
    layout(&header, &rows, &[true])
}

const PORT_HEADER: [&str; 11] = [
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

/// One line per port.
fn port_table(ports: &[PortRow]) -> String {
    let rows: Vec<Vec<String>> = ports
        .iter()
        .map(|p| {
            vec![
                p.port.to_string(),
                // Keep the table one line per port whatever the name holds.
                p.device.escape_debug().to_string(),
                p.rx_packets.to_string(),
                p.tx_packets.to_string(),
                fixed(p.rates.rx_mpps, 3),
                fixed(p.rates.tx_mpps, 3),
                fixed(p.rates.rx_gbps, 3),
                fixed(p.rates.tx_gbps, 3),
                p.rx_missed.to_string(),
                p.rx_no_buffer.to_string(),
                p.rx_crc_errors.to_string(),
            ]
        })
        .collect();
    let mut left = [false; PORT_HEADER.len()];
    left[1] = true;
    layout(&PORT_HEADER, &rows, &left)
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
    use super::super::fixtures::{port, sample, worker};
    use super::super::{report, PortHistory, Sample};
    use super::*;
    use std::time::Instant;

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
    fn app_counters_get_a_table_with_a_total_only_when_there_are_some() {
        let plain = sample(vec![worker(0, 1, 1, 1)], vec![port(1, 1, 1)], 1);
        let text = table(&report(None, &plain, &mut PortHistory::default()));
        assert!(!text.contains("app counter"), "{text}");

        let mut w0 = worker(0, 0, 0, 0);
        w0.app = vec![("flows".into(), 3), ("hits".into(), 10)];
        let mut w1 = worker(1, 0, 0, 0);
        w1.app = vec![("flows".into(), 4)];
        let s = sample(vec![w0, w1], vec![port(1, 1, 1)], 1);
        let text = table(&report(None, &s, &mut PortHistory::default()));
        let lines: Vec<&str> = text.lines().collect();
        // Workers, two rows and the total; a blank line; the app counters.
        assert_eq!(lines[4], "", "{text}");
        assert_eq!(lines[5], "app counter  worker 0  worker 1  total", "{text}");
        assert_eq!(lines[6], "flows               3         4      7", "{text}");
        assert_eq!(lines[7], "hits               10         -     10", "{text}");
        assert_eq!(lines[8], "", "{text}");
        assert!(lines[9].starts_with("port  device"), "{text}");
    }
}
