//! A connection-tracking firewall built on the supervisor library: why RSS
//! sharding matters. Port 0 faces the inside, port 1 the outside. An IPv4
//! TCP or UDP packet from the inside opens (or refreshes) a connection and
//! goes out; a packet from the outside goes in only if it is the reply of
//! an open connection (its addresses and ports are the connection's,
//! swapped). Everything else from the outside is dropped and counted:
//! ARP passes both ways; IPv6 and other EtherTypes go out but never in.
//! Connections idle for [`IDLE_TIMEOUT`] expire.
//!
//! Each worker keeps the connections of the flows RSS gives it, in its own
//! table, shared with nobody. That works only if both directions of a
//! connection reach the same worker: run it with `--rss-key symmetric`.
//! With the default key a reply usually lands on another worker, which
//! has never seen the connection, and is dropped.
//!
//! ```sh
//! ixy-sim --lab demo &
//! cargo run --release -p ixy-supervisor --example firewall -- \
//!     --workers 2 --device sim:demo/0 --device sim:demo/1 --rss-key symmetric --oversubscribe
//! ixy-stats --run-dir ...   # per worker: connections, allowed_in, dropped_in, ...
//! ```
//!
//! `supervisor/tests/firewall.rs` runs exactly this with `ixy-pktgen` on
//! both sides.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use ixy_supervisor::{App, Outputs, Packet, WorkerInfo};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The port that faces the inside.
pub const INSIDE: usize = 0;
/// The port that faces the outside.
pub const OUTSIDE: usize = 1;
/// Connections one worker tracks at most; new ones beyond are refused.
pub const MAX_CONNECTIONS: usize = 1 << 16;
/// A connection with no packet for this long is forgotten.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often housekeeping looks for idle connections.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The app's counters, in the order of [`Firewall::counters`].
pub const COUNTERS: [&str; 8] = [
    "connections",
    "allowed_out",
    "allowed_in",
    "dropped_in",
    "dropped_table_full",
    "dropped_malformed",
    "passed_arp",
    "expired",
];
const CONNECTIONS: usize = 0;
const ALLOWED_OUT: usize = 1;
const ALLOWED_IN: usize = 2;
const DROPPED_IN: usize = 3;
const DROPPED_TABLE_FULL: usize = 4;
const DROPPED_MALFORMED: usize = 5;
const PASSED_ARP: usize = 6;
const EXPIRED: usize = 7;

/// A connection as seen from the inside: who opened it, to whom, how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connection {
    /// 6 (TCP) or 17 (UDP).
    pub proto: u8,
    /// The inside host and port that opened it.
    pub inside: (Ipv4Addr, u16),
    /// The outside host and port it goes to.
    pub outside: (Ipv4Addr, u16),
}

/// What a packet is, as far as the firewall cares.
enum Kind {
    /// IPv4 TCP or UDP: source and destination address and port.
    Tracked {
        proto: u8,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
    },
    /// IPv4 without ports, IPv6, unknown EtherTypes: out only.
    Other,
    /// ARP: both ways, or no host could resolve the other.
    Arp,
    /// Headers that do not parse.
    Malformed,
}

fn classify(frame: &[u8]) -> Kind {
    let Ok(p) = SlicedPacket::from_ethernet(frame) else {
        return Kind::Malformed;
    };
    let ip = match p.net {
        Some(NetSlice::Ipv4(ip)) => ip,
        Some(NetSlice::Arp(_)) => return Kind::Arp,
        // IPv6, or an EtherType the parser does not know (which could
        // carry IP in a tunnel): out only.
        _ => return Kind::Other,
    };
    let h = ip.header();
    let (src, dst) = (h.source_addr(), h.destination_addr());
    match p.transport {
        Some(TransportSlice::Udp(u)) => Kind::Tracked {
            proto: 17,
            src: (src, u.source_port()),
            dst: (dst, u.destination_port()),
        },
        Some(TransportSlice::Tcp(t)) => Kind::Tracked {
            proto: 6,
            src: (src, t.source_port()),
            dst: (dst, t.destination_port()),
        },
        _ => Kind::Other,
    }
}

/// One worker's firewall: its connection table and counters.
pub struct Firewall {
    /// Open connections and the time (ms since `start`) of their last packet.
    table: HashMap<Connection, u64>,
    capacity: usize,
    counts: [u64; COUNTERS.len()],
    start: Instant,
    /// Milliseconds since `start`, as of the last housekeeping: the clock
    /// `process` stamps connections with, never read per packet.
    now_ms: u64,
    last_sweep_ms: u64,
}

impl Firewall {
    /// A firewall tracking up to `capacity` connections, its table
    /// allocated now (in the worker, after pinning: on its own core).
    pub fn new(capacity: usize) -> Self {
        Firewall {
            table: HashMap::with_capacity(capacity),
            capacity,
            counts: [0; COUNTERS.len()],
            start: Instant::now(),
            now_ms: 0,
            last_sweep_ms: 0,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.table.len()
    }

    /// Whether a packet from `port` may pass; opens and refreshes
    /// connections on the way.
    fn admit(&mut self, port: usize, frame: &[u8]) -> bool {
        let (proto, src, dst) = match classify(frame) {
            Kind::Tracked { proto, src, dst } => (proto, src, dst),
            Kind::Arp => {
                self.counts[PASSED_ARP] += 1;
                return true;
            }
            Kind::Other if port == INSIDE => {
                self.counts[ALLOWED_OUT] += 1;
                return true;
            }
            Kind::Other => {
                self.counts[DROPPED_IN] += 1;
                return false;
            }
            Kind::Malformed => {
                self.counts[DROPPED_MALFORMED] += 1;
                return false;
            }
        };
        if port == INSIDE {
            let c = Connection {
                proto,
                inside: src,
                outside: dst,
            };
            let full = self.table.len() >= self.capacity;
            match self.table.get_mut(&c) {
                Some(seen) => *seen = self.now_ms,
                None if full => {
                    self.counts[DROPPED_TABLE_FULL] += 1;
                    return false;
                }
                None => {
                    self.table.insert(c, self.now_ms);
                    self.counts[CONNECTIONS] += 1;
                }
            }
            self.counts[ALLOWED_OUT] += 1;
            return true;
        }
        let reply = Connection {
            proto,
            inside: dst,
            outside: src,
        };
        match self.table.get_mut(&reply) {
            Some(seen) => {
                *seen = self.now_ms;
                self.counts[ALLOWED_IN] += 1;
                true
            }
            None => {
                self.counts[DROPPED_IN] += 1;
                false
            }
        }
    }
}

impl App for Firewall {
    fn name(&self) -> &'static str {
        "firewall"
    }

    fn ports(&self) -> usize {
        2
    }

    fn process<'a>(
        &mut self,
        port: usize,
        packets: &mut Vec<Packet<'a>>,
        out: &mut Outputs<'a, '_>,
    ) {
        for p in packets.drain(..) {
            if self.admit(port, p.data()) {
                out.send(port ^ 1, p);
            }
        }
    }

    fn counter_names(&self) -> &[&str] {
        &COUNTERS
    }

    fn counters(&self, values: &mut [u64]) {
        values.copy_from_slice(&self.counts);
    }

    fn housekeeping(&mut self, now: Instant) {
        self.now_ms = now.saturating_duration_since(self.start).as_millis() as u64;
        if self.now_ms - self.last_sweep_ms < SWEEP_EVERY.as_millis() as u64 {
            return;
        }
        self.last_sweep_ms = self.now_ms;
        let (now_ms, timeout) = (self.now_ms, IDLE_TIMEOUT.as_millis() as u64);
        let before = self.table.len();
        self.table.retain(|_, seen| now_ms - *seen < timeout);
        self.counts[EXPIRED] += (before - self.table.len()) as u64;
    }
}

fn main() -> ExitCode {
    ixy_supervisor::main(ixy_supervisor::factory("firewall", 2, |w: &WorkerInfo| {
        log::info!(
            "firewall on worker {} of {}: room for {MAX_CONNECTIONS} connections",
            w.index,
            w.workers
        );
        Firewall::new(MAX_CONNECTIONS)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use ixy_supervisor::Mempool;

    const IN_HOST: [u8; 4] = [10, 0, 0, 7];
    const OUT_HOST: [u8; 4] = [192, 0, 2, 1];

    fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .udp(sport, dport);
        let mut v = Vec::new();
        b.write(&mut v, &[0; 18]).unwrap();
        v
    }

    fn tcp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, 1, 1024);
        let mut v = Vec::new();
        b.write(&mut v, &[]).unwrap();
        v
    }

    fn arp() -> Vec<u8> {
        let mut f = vec![0xFF; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06]);
        f.resize(60, 0);
        f
    }

    /// Runs `frames` through `fw` as received on `port`; returns how many
    /// left on each port.
    fn run(fw: &mut Firewall, pool: &Mempool, port: usize, frames: &[Vec<u8>]) -> [usize; 2] {
        let mut packets = Vec::new();
        for f in frames {
            let mut p = pool.alloc().expect("a free buffer");
            p.set_len(f.len());
            p.data_mut().copy_from_slice(f);
            packets.push(p);
        }
        let mut batches = vec![Vec::new(), Vec::new()];
        fw.process(port, &mut packets, &mut Outputs::new(&mut batches));
        assert!(packets.is_empty(), "every packet is sent or dropped");
        [batches[0].len(), batches[1].len()]
    }

    fn count(fw: &Firewall, name: &str) -> u64 {
        let mut v = [0; COUNTERS.len()];
        fw.counters(&mut v);
        v[COUNTERS.iter().position(|n| *n == name).unwrap()]
    }

    #[test]
    fn replies_to_inside_connections_pass_and_unsolicited_traffic_does_not() {
        let pool = Mempool::detached(64, 2048).unwrap();
        let mut fw = Firewall::new(16);
        let unsolicited = [
            udp(OUT_HOST, 53, IN_HOST, 5000),
            tcp(OUT_HOST, 80, IN_HOST, 40000),
        ];
        assert_eq!(run(&mut fw, &pool, OUTSIDE, &unsolicited), [0, 0]);
        let out = [
            udp(IN_HOST, 5000, OUT_HOST, 53),
            tcp(IN_HOST, 40000, OUT_HOST, 80),
        ];
        assert_eq!(run(&mut fw, &pool, INSIDE, &out), [0, 2], "out on port 1");
        assert_eq!(
            run(&mut fw, &pool, OUTSIDE, &unsolicited),
            [2, 0],
            "replies in"
        );
        // The same tuple as the inside's packet, but from the outside: not
        // a reply (a spoof of the inside host).
        assert_eq!(run(&mut fw, &pool, OUTSIDE, &out), [0, 0]);
        // Another port of the same host is another connection.
        assert_eq!(
            run(&mut fw, &pool, OUTSIDE, &[udp(OUT_HOST, 54, IN_HOST, 5000)]),
            [0, 0]
        );
        assert_eq!(
            [
                count(&fw, "connections"),
                count(&fw, "allowed_out"),
                count(&fw, "allowed_in"),
                count(&fw, "dropped_in")
            ],
            [2, 2, 2, 5]
        );
        assert_eq!(pool.free_count(), 64, "dropped packets are freed");
    }

    #[test]
    fn idle_connections_expire_in_housekeeping() {
        let pool = Mempool::detached(8, 2048).unwrap();
        let mut fw = Firewall::new(16);
        let t0 = fw.start;
        run(&mut fw, &pool, INSIDE, &[udp(IN_HOST, 5000, OUT_HOST, 53)]);
        fw.housekeeping(t0 + IDLE_TIMEOUT / 2);
        assert_eq!(
            run(&mut fw, &pool, OUTSIDE, &[udp(OUT_HOST, 53, IN_HOST, 5000)]),
            [1, 0]
        );
        // The reply refreshed it at IDLE_TIMEOUT / 2.
        fw.housekeeping(t0 + IDLE_TIMEOUT);
        assert_eq!(fw.open(), 1);
        fw.housekeeping(t0 + IDLE_TIMEOUT * 2);
        assert_eq!((fw.open(), count(&fw, "expired")), (0, 1));
        assert_eq!(
            run(&mut fw, &pool, OUTSIDE, &[udp(OUT_HOST, 53, IN_HOST, 5000)]),
            [0, 0]
        );
    }

    #[test]
    fn a_full_table_refuses_new_connections_but_keeps_the_open_ones() {
        let pool = Mempool::detached(8, 2048).unwrap();
        let mut fw = Firewall::new(2);
        let opens: Vec<_> = (0..3)
            .map(|i| udp(IN_HOST, 5000 + i, OUT_HOST, 53))
            .collect();
        assert_eq!(run(&mut fw, &pool, INSIDE, &opens), [0, 2]);
        assert_eq!(count(&fw, "dropped_table_full"), 1);
        assert_eq!(
            run(&mut fw, &pool, INSIDE, &opens[..2]),
            [0, 2],
            "open ones pass"
        );
    }

    #[test]
    fn arp_passes_both_ways_ipv6_and_unknown_only_out_and_garbage_nowhere() {
        let pool = Mempool::detached(8, 2048).unwrap();
        let mut fw = Firewall::new(2);
        assert_eq!(run(&mut fw, &pool, INSIDE, &[arp()]), [0, 1]);
        assert_eq!(run(&mut fw, &pool, OUTSIDE, &[arp()]), [1, 0]);
        let mut v6 = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv6([1; 16], [2; 16], 64)
            .udp(1, 2)
            .write(&mut v6, &[])
            .unwrap();
        assert_eq!(
            run(&mut fw, &pool, INSIDE, std::slice::from_ref(&v6)),
            [0, 1]
        );
        assert_eq!(run(&mut fw, &pool, OUTSIDE, &[v6]), [0, 0]);
        let mut unknown = arp();
        unknown[12..14].copy_from_slice(&0x88B5u16.to_be_bytes());
        assert_eq!(
            run(&mut fw, &pool, INSIDE, std::slice::from_ref(&unknown)),
            [0, 1]
        );
        assert_eq!(run(&mut fw, &pool, OUTSIDE, &[unknown]), [0, 0]);
        let mut truncated = udp(IN_HOST, 1, OUT_HOST, 2);
        truncated.truncate(20);
        assert_eq!(run(&mut fw, &pool, INSIDE, &[truncated]), [0, 0]);
        assert_eq!(count(&fw, "dropped_malformed"), 1);
    }
}
