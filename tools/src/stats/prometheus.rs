//! The report in the Prometheus text exposition format (version 0.0.4),
//! what `ixy-stats --prometheus` prints and `--listen` serves on
//! `/metrics`: every worker, port, queue and app counter, cumulative, with
//! stable metric names and `worker`, `port`, `queue` labels (the names
//! are listed in docs/DESIGN.md 8). Rates are left to Prometheus
//! (`rate(ixy_worker_rx_packets_total[1m])`).

use super::{PortRow, QueueRow, Report, WorkerRow};
use std::fmt::Write;

/// One metric family: its name, type, help and samples (labels, value).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: Vec<(String, u64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, value) in &self.samples {
            let _ = writeln!(out, "{}{{{labels}}} {value}", self.name);
        }
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The counters of one worker row, in the order of [`WORKER_FAMILIES`].
fn worker_values(w: &WorkerRow) -> [u64; 10] {
    [
        w.rx_packets,
        w.rx_bytes,
        w.tx_packets,
        w.tx_bytes,
        w.tx_drops,
        w.rx_bad_descriptors,
        w.rx_queue_resets,
        w.busy_cycles,
        w.idle_cycles,
        w.restarts,
    ]
}

const WORKER_FAMILIES: [(&str, &str); 10] = [
    (
        "ixy_worker_rx_packets_total",
        "Packets the worker received.",
    ),
    (
        "ixy_worker_rx_bytes_total",
        "Bytes the worker received (frames without FCS).",
    ),
    ("ixy_worker_tx_packets_total", "Packets the worker sent."),
    (
        "ixy_worker_tx_bytes_total",
        "Bytes the worker sent (frames without FCS).",
    ),
    (
        "ixy_worker_tx_drops_total",
        "Packets dropped because a Tx ring was full.",
    ),
    (
        "ixy_worker_rx_bad_descriptors_total",
        "Rx write-backs the driver refused and dropped.",
    ),
    (
        "ixy_worker_rx_queue_resets_total",
        "Rx queue resets after DD on a descriptor the device was never given.",
    ),
    (
        "ixy_worker_busy_cycles_total",
        "TSC cycles of polls that received packets.",
    ),
    (
        "ixy_worker_idle_cycles_total",
        "All other TSC cycles of the worker's life.",
    ),
    (
        "ixy_worker_restarts_total",
        "Restarts of the worker by the supervisor.",
    ),
];

fn port_values(p: &PortRow) -> [u64; 7] {
    [
        p.rx_packets,
        p.rx_bytes,
        p.tx_packets,
        p.tx_bytes,
        p.rx_missed,
        p.rx_no_buffer,
        p.rx_crc_errors,
    ]
}

const PORT_FAMILIES: [(&str, &str); 7] = [
    (
        "ixy_port_rx_packets_total",
        "Good frames the port received (GPRC).",
    ),
    (
        "ixy_port_rx_bytes_total",
        "Good octets the port received, FCS included (GORC).",
    ),
    (
        "ixy_port_tx_packets_total",
        "Good frames the port sent (GPTC).",
    ),
    (
        "ixy_port_tx_bytes_total",
        "Good octets the port sent, FCS included (GOTC).",
    ),
    (
        "ixy_port_rx_missed_total",
        "Frames missed because the packet buffer was full (MPC).",
    ),
    (
        "ixy_port_rx_no_buffer_total",
        "Frames dropped for want of Rx descriptors (QPRDC, all queues).",
    ),
    (
        "ixy_port_rx_crc_errors_total",
        "Frames with a bad FCS (CRCERRS).",
    ),
];

fn queue_values(q: &QueueRow) -> [u64; 5] {
    [
        q.rx_packets,
        q.rx_bytes,
        q.rx_dropped,
        q.tx_packets,
        q.tx_bytes,
    ]
}

const QUEUE_FAMILIES: [(&str, &str); 5] = [
    (
        "ixy_queue_rx_packets_total",
        "Frames the port delivered to the queue (QPRC).",
    ),
    (
        "ixy_queue_rx_bytes_total",
        "Bytes the port delivered to the queue (QBRC).",
    ),
    (
        "ixy_queue_rx_dropped_total",
        "Frames dropped for want of descriptors on the queue (QPRDC).",
    ),
    (
        "ixy_queue_tx_packets_total",
        "Frames the queue sent (QPTC).",
    ),
    ("ixy_queue_tx_bytes_total", "Bytes the queue sent (QBTC)."),
];

/// The report `r` as a Prometheus exposition.
pub fn prometheus(r: &Report) -> String {
    let mut families = Vec::new();
    let mut up = Family::new(
        "ixy_worker_up",
        "gauge",
        "1 while the worker's process exists and runs.",
    );
    let mut state = Family::new(
        "ixy_worker_state",
        "gauge",
        "1 for the worker's state (starting, running, stalled, stopped, died).",
    );
    let mut per_worker: Vec<Family> = WORKER_FAMILIES
        .iter()
        .map(|&(n, h)| Family::new(n, "counter", h))
        .collect();
    let mut app = Family::new(
        "ixy_app_total",
        "counter",
        "The app's own counters, by the name the app gives them.",
    );
    for w in &r.workers {
        let labels = format!(
            "worker=\"{}\",core=\"{}\",queue=\"{}\"",
            w.index, w.core, w.queue
        );
        up.samples.push((labels.clone(), u64::from(w.alive)));
        state
            .samples
            .push((format!("{labels},state=\"{}\"", escape(w.state)), 1));
        for (f, v) in per_worker.iter_mut().zip(worker_values(w)) {
            f.samples.push((labels.clone(), v));
        }
        for (name, v) in w.app.iter() {
            app.samples.push((
                format!("worker=\"{}\",counter=\"{}\"", w.index, escape(name)),
                v,
            ));
        }
    }
    families.push(up);
    families.push(state);
    families.append(&mut per_worker);
    families.push(app);
    let mut per_port: Vec<Family> = PORT_FAMILIES
        .iter()
        .map(|&(n, h)| Family::new(n, "counter", h))
        .collect();
    let mut per_queue: Vec<Family> = QUEUE_FAMILIES
        .iter()
        .map(|&(n, h)| Family::new(n, "counter", h))
        .collect();
    for p in &r.ports {
        let labels = format!("port=\"{}\",device=\"{}\"", p.port, escape(&p.device));
        for (f, v) in per_port.iter_mut().zip(port_values(p)) {
            f.samples.push((labels.clone(), v));
        }
        for q in &p.queues {
            let labels = format!("port=\"{}\",queue=\"{}\"", p.port, q.queue);
            for (f, v) in per_queue.iter_mut().zip(queue_values(q)) {
                f.samples.push((labels.clone(), v));
            }
        }
    }
    families.append(&mut per_port);
    families.append(&mut per_queue);
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        f.write(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{port, sample, worker};
    use super::super::{report, PortHistory};
    use super::*;

    #[test]
    fn every_counter_is_a_labelled_sample_under_one_help_and_type() {
        let mut w1 = worker(1, 10, 9, 500);
        w1.app = vec![("connections".into(), 7), ("dropped_in".into(), 2)];
        let cur = sample(
            vec![worker(0, 100, 90, 1000), w1],
            vec![port(10, 50, 40)],
            10,
        );
        let text = prometheus(&report(None, &cur, &mut PortHistory::default()));
        for line in [
            "# TYPE ixy_worker_rx_packets_total counter",
            "ixy_worker_rx_packets_total{worker=\"0\",core=\"0\",queue=\"0\"} 100",
            "ixy_worker_tx_bytes_total{worker=\"1\",core=\"1\",queue=\"1\"} 576",
            "ixy_worker_restarts_total{worker=\"1\",core=\"1\",queue=\"1\"} 1",
            "ixy_worker_up{worker=\"0\",core=\"0\",queue=\"0\"} 1",
            "ixy_worker_state{worker=\"0\",core=\"0\",queue=\"0\",state=\"running\"} 1",
            "ixy_app_total{worker=\"1\",counter=\"connections\"} 7",
            "ixy_port_rx_bytes_total{port=\"0\",device=\"sim:demo/0\"} 5000",
            "ixy_port_rx_no_buffer_total{port=\"0\",device=\"sim:demo/0\"} 4",
            "ixy_queue_rx_dropped_total{port=\"0\",queue=\"1\"} 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // One HELP and one TYPE per family, before its samples.
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        assert_eq!(types, helps);
        assert_eq!(
            text.matches("# TYPE ixy_worker_rx_packets_total").count(),
            1
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
