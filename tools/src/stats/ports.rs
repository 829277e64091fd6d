//! Port rows: a port file's counters, and rates between the last two
//! versions of it the supervisor wrote ([`PortHistory`]).

use super::report::{gbps, mpps, Rates};
use super::PORT_STALE_NS;
use serde::Serialize;
use std::collections::BTreeMap;
use worker::portfile::PortFile;

/// One queue's counters on a port (statistics set i = queue i,
/// 82599 datasheet 8.2.3.23.74 - .80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Packet and bit rates (`rx_mpps`, `tx_mpps`, `rx_gbps`, `tx_gbps`
    /// in JSON, at this place).
    #[serde(flatten)]
    pub rates: Rates,
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
        rates: Rates {
            rx_mpps: rates.map(|r| r.0),
            tx_mpps: rates.map(|r| r.1),
            rx_gbps: rates.map(|r| r.2),
            tx_gbps: rates.map(|r| r.3),
        },
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{close, port};
    use super::*;

    #[test]
    fn port_rates_span_one_supervisor_update() {
        let now = 10 * 1_000_000_000;
        let mut h = PortHistory::default();
        h.observe(&[port(10, 0, 0)]);
        assert_eq!(h.rows(now)[0].rates.rx_mpps, None, "one version: unknown");
        h.observe(&[port(10, 0, 0)]);
        assert_eq!(h.rows(now)[0].rates.rx_mpps, None, "same version again");
        h.observe(&[port(12, 4_000_000, 2_000_000)]);
        let r = &h.rows(now)[0];
        assert!(close(r.rates.rx_mpps, 2.0) && close(r.rates.tx_mpps, 1.0));
        assert!(close(r.rates.rx_gbps, 2.0 * 800.0 / 1e3));
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
        assert!(close(h.rows(now)[0].rates.rx_mpps, 2.0));
        // ...and is 0 once the supervisor stopped writing.
        let later = now + 2 * 1_000_000_000 + PORT_STALE_NS + 1;
        assert_eq!(h.rows(later)[0].rates.rx_mpps, Some(0.0));
        // A new supervisor (counters back to 0) starts afresh.
        h.observe(&[port(20, 1, 1)]);
        assert_eq!(h.rows(20 * 1_000_000_000)[0].rates.rx_mpps, None);
        h.observe(&[]);
        assert!(h.rows(now).is_empty());
    }
}
