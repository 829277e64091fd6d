//! The report model: what `ixy-stats` prints for one sample, as rows of
//! counters and rates ([`Report`]), and how the worker rows and their
//! totals are made from two samples. Port rows are made in
//! [`super::ports`]. The structs here, serialised by `serde_json` in their
//! field order, are the JSON output ([`super::json()`]).

use super::ports::{PortHistory, PortRow};
use super::sample::{Sample, WorkerSample};
use crate::json::rounded;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use worker::statsfile;

/// Packet and bit rates of a worker, a port or the total (None: unknown,
/// e.g. before a second sample).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Rates {
    /// Received million packets per second.
    #[serde(serialize_with = "rounded")]
    pub rx_mpps: Option<f64>,
    /// Sent million packets per second.
    #[serde(serialize_with = "rounded")]
    pub tx_mpps: Option<f64>,
    /// Received Gbit/s.
    #[serde(serialize_with = "rounded")]
    pub rx_gbps: Option<f64>,
    /// Sent Gbit/s.
    #[serde(serialize_with = "rounded")]
    pub tx_gbps: Option<f64>,
}

/// One worker's line of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Packet and bit rates (`rx_mpps`, `tx_mpps`, `rx_gbps`, `tx_gbps`
    /// in JSON, at this place).
    #[serde(flatten)]
    pub rates: Rates,
    /// TSC cycles of polls that had packets, total.
    pub busy_cycles: u64,
    /// TSC cycles of everything else (empty polls, idling), total.
    pub idle_cycles: u64,
    /// Share of the time in polls that received packets, in percent: over
    /// the interval between the two samples, or the worker's life when
    /// there is one sample (None: no cycles counted yet).
    #[serde(serialize_with = "rounded")]
    pub busy_percent: Option<f64>,
    /// `busy_cycles / rx_packets` (None: nothing received yet).
    #[serde(serialize_with = "rounded")]
    pub cycles_per_packet: Option<f64>,
    /// Restarts.
    pub restarts: u64,
    /// The app's own counters (empty when the app declares none).
    pub app: AppCounters,
}

/// The sum over all workers.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
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
    /// Packet and bit rates (`rx_mpps`, `tx_mpps`, `rx_gbps`, `tx_gbps`
    /// in JSON, at this place).
    #[serde(flatten)]
    pub rates: Rates,
    /// All busy cycles over all received packets.
    #[serde(serialize_with = "rounded")]
    pub cycles_per_packet: Option<f64>,
    /// The workers' mean busy percentage.
    #[serde(serialize_with = "rounded")]
    pub busy_percent: Option<f64>,
    /// Restarts.
    pub restarts: u64,
    /// Every worker's app counters summed by name, in the order the names
    /// first appear (by worker index, then declaration order).
    pub app: AppCounters,
}

/// A report: what `ixy-stats` prints for one sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    #[serde(serialize_with = "rounded")]
    pub interval_s: Option<f64>,
}

/// An app's own named counters (`worker::statsfile::StatsFile::app_counters`),
/// in order, each name once; a JSON object `{"name": value, ...}` in that
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppCounters(Vec<(String, u64)>);

impl AppCounters {
    /// Adds `value` to counter `name` (saturating), which is appended if new.
    pub fn add(&mut self, name: &str, value: u64) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = v.saturating_add(value),
            None => self.0.push((name.to_string(), value)),
        }
    }

    /// The value of counter `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The counters in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// How many counters there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> FromIterator<(&'a str, u64)> for AppCounters {
    /// Counters in the order given; a name given twice (only a damaged
    /// file does that) is summed into its first place.
    fn from_iter<I: IntoIterator<Item = (&'a str, u64)>>(iter: I) -> Self {
        let mut c = AppCounters::default();
        for (name, value) in iter {
            c.add(name, value);
        }
        c
    }
}

impl Serialize for AppCounters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
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
    let prev = prev.filter(|_| seconds > 0.0).map(|p| &p.counters);
    let rate = |f: fn(u64, u64, f64) -> f64, field: fn(&statsfile::Counters) -> u64| {
        prev.map(|p| f(field(p), field(c), seconds))
    };
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
        rates: Rates {
            rx_mpps: rate(mpps, |c| c.rx_packets),
            tx_mpps: rate(mpps, |c| c.tx_packets),
            rx_gbps: rate(gbps, |c| c.rx_bytes),
            tx_gbps: rate(gbps, |c| c.tx_bytes),
        },
        busy_cycles: c.busy_cycles,
        idle_cycles: c.idle_cycles,
        busy_percent: match prev {
            Some(p) => busy_percent(
                c.busy_cycles.saturating_sub(p.busy_cycles),
                c.idle_cycles.saturating_sub(p.idle_cycles),
            ),
            None => busy_percent(c.busy_cycles, c.idle_cycles),
        },
        cycles_per_packet: cycles_per_packet(c.busy_cycles, c.rx_packets),
        restarts: cur.restarts,
        app: cur.app.iter().map(|(n, v)| (n.as_str(), *v)).collect(),
    }
}

/// The sum of the known values of `f` over `rows`, None if none is known.
fn sum_known(rows: &[WorkerRow], f: impl Fn(&WorkerRow) -> Option<f64>) -> Option<f64> {
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
        rates: Rates {
            rx_mpps: sum_known(rows, |r| r.rates.rx_mpps),
            tx_mpps: sum_known(rows, |r| r.rates.tx_mpps),
            rx_gbps: sum_known(rows, |r| r.rates.rx_gbps),
            tx_gbps: sum_known(rows, |r| r.rates.tx_gbps),
        },
        cycles_per_packet: cycles_per_packet(sum(|r| r.busy_cycles), rx_packets),
        busy_percent: sum_known(rows, |r| r.busy_percent)
            .map(|b| b / rows.iter().filter(|r| r.busy_percent.is_some()).count() as f64),
        restarts: sum(|r| r.restarts),
        app: rows.iter().flat_map(|r| r.app.iter()).collect(),
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{close, sample, worker};
    use super::*;
    use std::time::Duration;
    use worker::statsfile::State;

    #[test]
    fn rates_are_deltas_over_time() {
        assert_eq!(mpps(1_000_000, 3_000_000, 2.0), 1.0);
        assert_eq!(gbps(0, 1_250_000_000, 1.0), 10.0);
        assert_eq!(mpps(5, 4, 1.0), 0.0, "a counter reset is not negative");
        let a = worker(0, 1_000_000, 500_000, 0);
        let b = worker(0, 3_000_000, 1_500_000, 0);
        let r = worker_row(Some(&a), &b, 0.5);
        assert!(close(r.rates.rx_mpps, 4.0));
        assert!(close(r.rates.tx_mpps, 2.0));
        assert!(close(r.rates.rx_gbps, 4.0 * 64.0 * 8.0 / 1e3));
        let r = worker_row(None, &b, 0.5);
        assert_eq!((r.rates.rx_mpps, r.rates.tx_gbps), (None, None));
        let r = worker_row(Some(&a), &b, 0.0);
        assert_eq!(r.rates.rx_mpps, None);
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
        assert_eq!(t.rates.rx_mpps, None);
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
        assert!(close(t.rates.rx_mpps, 3.0));
        assert_eq!(t.alive, 2);
    }

    #[test]
    fn app_counters_are_summed_by_name_in_the_order_first_seen() {
        let mut w0 = worker(0, 0, 0, 0);
        w0.app = vec![("flows".into(), 3), ("hits".into(), 10)];
        let mut w1 = worker(1, 0, 0, 0);
        w1.app = vec![("misses".into(), 2), ("flows".into(), 4)];
        let w2 = worker(2, 0, 0, 0);
        let rows: Vec<WorkerRow> = [w0, w1, w2]
            .iter()
            .map(|w| worker_row(None, w, 0.0))
            .collect();
        assert_eq!(rows[1].app.get("misses"), Some(2));
        assert!(rows[2].app.is_empty());
        let t = total_row(&rows);
        let totals: Vec<(&str, u64)> = t.app.iter().collect();
        assert_eq!(totals, [("flows", 7), ("hits", 10), ("misses", 2)]);
        // Sums saturate, and a name twice in one file is counted once.
        let c: AppCounters = [("a", u64::MAX), ("b", 1), ("a", 5)].into_iter().collect();
        assert_eq!((c.len(), c.get("a"), c.get("z")), (2, Some(u64::MAX), None));
    }

    #[test]
    fn report_matches_workers_by_index() {
        let s0 = sample(vec![worker(1, 0, 0, 0)], vec![], 1);
        let mut s1 = sample(
            vec![worker(0, 7, 7, 7), worker(1, 1_000_000, 0, 0)],
            vec![],
            2,
        );
        s1.at = s0.at + Duration::from_millis(500);
        let r = report(Some(&s0), &s1, &mut PortHistory::default());
        assert_eq!(r.workers[0].rates.rx_mpps, None, "worker 0 is new");
        assert!(close(r.workers[1].rates.rx_mpps, 2.0));
        assert!(close(r.interval_s, 0.5));
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
    fn a_stalled_worker_shows_as_stalled_and_stays_alive() {
        let mut w = worker(0, 10, 10, 5);
        w.stalled = true;
        let r = worker_row(None, &w, 0.0);
        assert_eq!((r.state, r.alive), ("stalled", true));
        w.state = State::Stopped;
        assert_eq!(worker_row(None, &w, 0.0).state, "stopped");
    }
}
