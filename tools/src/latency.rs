//! `ixy-latency`'s work (docs/DESIGN.md 9): timestamped probes through the
//! device under test, MoonGen style.
//!
//! - **Probes** are PTP v2 Sync messages over IPv4/UDP to port 319
//!   ([`build_probe`], [`parse_probe`]), which the 82599 timestamps on Rx
//!   (datasheet 7.9.2.1) and, when the descriptor asks, on Tx (7.9.2.2).
//!   The NIC latches one timestamp at a time, so one probe is in flight at
//!   a time.
//! - **Clocks.** The Tx and the Rx port each have their own SYSTIM clock.
//!   [`measure_offset`] reads A, B, A again many times and keeps the
//!   sample with the smallest A-A gap: offset = B - (A1 + A2) / 2, to within
//!   half that gap. [`measure`] repeats it every second.
//! - **Latency** = Rx timestamp - Tx timestamp - offset, into an HDR
//!   histogram ([`crate::histogram::Latencies`]). Without hardware
//!   timestamps ([`Timestamps::Software`]) the host clock is read right
//!   after the send and right after the receive instead.
//! - **Load**: optional background frames from [`crate::flows::Generator`]
//!   on Tx queue 1, interleaved in the same loop.
//! - **Stopping early**: [`measure_until`] ends the probes once its flag is
//!   set (SIGINT/SIGTERM in the binary), resolves the probe in flight and
//!   reports what was measured.

use crate::flows::{self, FlowSpec, Generator};
use crate::histogram::Latencies;
use driver::checksum;
use driver::simdev::SimAddress;
use driver::{timestamp, Device, Mempool, Packet, RxQueue, TxQueue};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Ethernet + IPv4 + UDP headers.
pub const UDP_HEADERS: usize = 14 + 20 + 8;
/// A PTP v2 Sync message: 34-byte header + 10-byte originTimestamp.
pub const PTP_SYNC_LEN: usize = 44;
/// Smallest probe (without FCS): the headers and the Sync message.
pub const MIN_SIZE: usize = UDP_HEADERS + PTP_SYNC_LEN;
/// Largest probe (without FCS): a standard frame.
pub const MAX_SIZE: usize = 1514;
/// Default probe size (without FCS).
pub const DEFAULT_SIZE: usize = 90;
/// Default probes per second.
pub const DEFAULT_RATE: f64 = 1000.0;
/// Default measurement time.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(5);
/// Highest probe rate accepted: one probe is in flight at a time.
pub const MAX_RATE: f64 = 1_000_000.0;
/// Highest background load (Mpps): 64-byte frames at 10 Gbit/s.
pub const MAX_LOAD_MPPS: f64 = 14.88;
/// UDP port of PTP event messages (IEEE 1588-2008 annex D).
pub const PTP_EVENT_PORT: u16 = 319;
/// Destination MAC when none is given and none is known.
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// How long to wait for the Tx timestamp of a probe.
pub const TX_STAMP_TIMEOUT: Duration = Duration::from_millis(10);
/// How long to wait for a probe to come back.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(100);
/// How often the clock offset is measured again.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// A, B, A reads per offset measurement (fewer when a gap of 0 is seen).
pub const SYNC_SAMPLES: u32 = 100;
/// Frames of the background load (without FCS).
pub const LOAD_FRAME_SIZE: usize = flows::MIN_SIZE;
/// Flows of the background load.
pub const LOAD_FLOWS: u32 = 4;

const SRC_IP: [u8; 4] = [198, 18, 0, 1];
const DST_IP: [u8; 4] = [198, 18, 0, 2];
const PTP: usize = UDP_HEADERS;

// ---------------------------------------------------------------------------
// Probe frames
// ---------------------------------------------------------------------------

/// What identifies a probe: the sender's PTP clock identity and the
/// sequence id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeId {
    /// sourcePortIdentity.clockIdentity (EUI-64 made from the source MAC).
    pub clock_identity: [u8; 8],
    /// sequenceId.
    pub seq: u16,
}

/// The PTP clock identity of a port with MAC `mac` (EUI-48 to EUI-64 with
/// FF-FE in the middle, IEEE 1588-2008 7.5.2.2.2).
pub fn clock_identity(mac: [u8; 6]) -> [u8; 8] {
    [mac[0], mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]]
}

/// Writes probe `seq` into `buf` (`MIN_SIZE..=MAX_SIZE` bytes: the frame
/// without FCS): Ethernet from `src_mac` to `dst_mac`, IPv4 198.18.0.1 to
/// 198.18.0.2 with a valid header checksum, UDP 319 to 319 with a valid
/// checksum, a PTP v2 Sync message, zero padding.
///
/// # Panics
/// If `buf` is outside `MIN_SIZE..=MAX_SIZE` (the caller validates sizes).
pub fn build_probe(buf: &mut [u8], src_mac: [u8; 6], dst_mac: [u8; 6], seq: u16) {
    let n = buf.len();
    assert!(
        (MIN_SIZE..=MAX_SIZE).contains(&n),
        "probe size {n} outside {MIN_SIZE}..={MAX_SIZE}"
    );
    buf.fill(0);
    buf[0..6].copy_from_slice(&dst_mac);
    buf[6..12].copy_from_slice(&src_mac);
    buf[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (n - 14) as u16;
    buf[14] = 0x45;
    buf[16..18].copy_from_slice(&ip_len.to_be_bytes());
    buf[22] = 64; // TTL
    buf[23] = 17; // UDP
    buf[26..30].copy_from_slice(&SRC_IP);
    buf[30..34].copy_from_slice(&DST_IP);
    let ip_sum = checksum::ipv4_header(&buf[14..34]);
    buf[24..26].copy_from_slice(&ip_sum.to_be_bytes());
    buf[34..36].copy_from_slice(&PTP_EVENT_PORT.to_be_bytes());
    buf[36..38].copy_from_slice(&PTP_EVENT_PORT.to_be_bytes());
    buf[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    let ptp = &mut buf[PTP..PTP + PTP_SYNC_LEN];
    ptp[0] = 0x00; // transportSpecific 0, messageType 0: Sync
    ptp[1] = 0x02; // versionPTP 2
    ptp[2..4].copy_from_slice(&(PTP_SYNC_LEN as u16).to_be_bytes());
    ptp[6] = 0x02; // flagField: twoStepFlag (the time is in the timestamps)
    ptp[20..28].copy_from_slice(&clock_identity(src_mac));
    ptp[28..30].copy_from_slice(&1u16.to_be_bytes()); // portNumber
    ptp[30..32].copy_from_slice(&seq.to_be_bytes());
    ptp[32] = 0x00; // controlField: Sync
    ptp[33] = 0x7f; // logMessageInterval: unspecified
    let udp_sum = checksum::udp_ipv4(&buf[14..34], &buf[34..n]);
    buf[40..42].copy_from_slice(&udp_sum.to_be_bytes());
}

/// A probe frame for tests and tools: `size` bytes, see [`build_probe`].
pub fn probe(size: usize, src_mac: [u8; 6], dst_mac: [u8; 6], seq: u16) -> Vec<u8> {
    let mut f = vec![0u8; size];
    build_probe(&mut f, src_mac, dst_mac, seq);
    f
}

/// The identity of a probe: a PTP v2 Sync message over IPv4/UDP to port
/// 319 with a valid IPv4 header checksum; `None` for anything else.
pub fn parse_probe(frame: &[u8]) -> Option<ProbeId> {
    let ptp = frame.get(PTP..PTP + PTP_SYNC_LEN)?;
    let ip = &frame[14..34];
    let is_probe = frame[12..14] == [0x08, 0x00]
        && ip[0] == 0x45
        && ip[9] == 17
        && ip[6..8] == [0, 0] // not a fragment
        && frame[36..38] == PTP_EVENT_PORT.to_be_bytes()
        && ptp[0] & 0x0f == 0 // Sync
        && ptp[1] & 0x0f == 2 // PTP v2
        && checksum::ipv4_header(ip) == 0;
    is_probe.then(|| ProbeId {
        clock_identity: ptp[20..28].try_into().unwrap_or_default(),
        seq: u16::from_be_bytes([ptp[30], ptp[31]]),
    })
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/// A number of option `name` that must be finite and above 0, at most `max`.
pub fn parse_positive(name: &str, s: &str, max: f64, unit: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= max => Ok(v),
        _ => Err(format!(
            "{name} {s:?}: use a number above 0 and at most {max}{unit}"
        )),
    }
}

/// The probe size (without FCS) of `--size`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if (MIN_SIZE..=MAX_SIZE).contains(&v) => Ok(v),
        _ => Err(format!(
            "--size {s:?}: use {MIN_SIZE} (Ethernet, IPv4, UDP and PTP headers) to {MAX_SIZE} bytes (without FCS)"
        )),
    }
}

/// The default destination MAC for probes sent from device `tx_spec`: for
/// a simulated port, the MAC of the port its cable leads to, read from the
/// lab's `lab.conf` (02:1c:59:90:00:00 for tester port 2 of the default
/// lab, cabled to DUT port 0); otherwise (or if that fails) broadcast,
/// which every port accepts.
pub fn default_dst_mac(tx_spec: &str) -> [u8; 6] {
    tx_spec
        .strip_prefix("sim:")
        .and_then(|s| SimAddress::parse(s).ok())
        .and_then(|a| {
            let conf = std::fs::read_to_string(a.lab_dir().join("lab.conf")).ok()?;
            sim_peer_mac(&conf, a.port)
        })
        .unwrap_or(BROADCAST)
}

/// The MAC of the port cabled to `port`, from the text of a `lab.conf`.
pub fn sim_peer_mac(lab_conf: &str, port: u32) -> Option<[u8; 6]> {
    let value = |key: &str| {
        lab_conf
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    };
    let peer = value("cables")?.split(',').find_map(|c| {
        let (a, b) = c.trim().split_once('-')?;
        let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
        match port {
            p if p == a => Some(b),
            p if p == b => Some(a),
            _ => None,
        }
    })?;
    crate::mac::parse_mac(value(&format!("port{peer}.mac"))?).ok()
}

/// Where timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamps {
    /// The NICs' IEEE 1588 clocks (82599 7.9).
    Hardware,
    /// The host's monotonic clock, read right after sending and right
    /// after receiving (for NICs without IEEE 1588).
    Software,
}

impl Timestamps {
    /// `"hardware"` or `"software"`.
    pub fn name(self) -> &'static str {
        match self {
            Timestamps::Hardware => "hardware",
            Timestamps::Software => "software",
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// Probes started per second (at most; one is in flight at a time).
    pub rate: f64,
    /// How long to send probes.
    pub duration: Duration,
    /// Probe size without FCS.
    pub size: usize,
    /// Destination MAC of probes and load (what the DUT port accepts).
    pub dst_mac: [u8; 6],
    /// Background load in Mpps on Tx queue 1 (`None`: no load).
    pub load_mpps: Option<f64>,
    /// Hardware or software timestamps.
    pub timestamps: Timestamps,
}

impl Config {
    /// A configuration with the defaults and `dst_mac`.
    pub fn new(dst_mac: [u8; 6]) -> Self {
        Config {
            rate: DEFAULT_RATE,
            duration: DEFAULT_DURATION,
            size: DEFAULT_SIZE,
            dst_mac,
            load_mpps: None,
            timestamps: Timestamps::Hardware,
        }
    }

    /// Checks the numbers; `Err` says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= MAX_RATE) {
            return Err(format!(
                "--rate {}: use above 0 and at most {MAX_RATE} probes/s",
                self.rate
            ));
        }
        let secs = self.duration.as_secs_f64();
        if self.duration.is_zero() || secs > crate::cli::MAX_DURATION_S {
            return Err(format!(
                "--duration {secs}: use more than 0 and at most {} seconds",
                crate::cli::MAX_DURATION_S
            ));
        }
        if self.rate * secs < 1.0 {
            return Err(format!(
                "--rate {} for --duration {secs}: less than one probe per run; use at least {} probes/s",
                self.rate,
                1.0 / secs
            ));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return Err(format!(
                "--size {}: use {MIN_SIZE} to {MAX_SIZE} bytes",
                self.size
            ));
        }
        if let Some(l) = self.load_mpps {
            if !(l.is_finite() && l > 0.0 && l <= MAX_LOAD_MPPS) {
                return Err(format!(
                    "--load {l}: use above 0 and at most {MAX_LOAD_MPPS} Mpps"
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Clock synchronisation
// ---------------------------------------------------------------------------

/// The offset of clock B against clock A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    /// B - A in ns.
    pub offset_ns: i64,
    /// Half the A-A gap of the sample used: the true offset lies within
    /// `offset_ns ± uncertainty_ns` (0 on the simulator when both reads of
    /// A came from the same pass of the model).
    pub uncertainty_ns: u64,
    /// Samples taken.
    pub samples: u32,
}

/// Measures B - A, MoonGen style: up to `samples` times reads A, B, A and
/// keeps the sample with the smallest A-A gap (stopping early at a gap of
/// 0); offset = B - (A1 + A2) / 2.
pub fn measure_offset(
    mut read_a: impl FnMut() -> u64,
    mut read_b: impl FnMut() -> u64,
    samples: u32,
) -> ClockOffset {
    let mut best: Option<(u64, i64)> = None;
    let mut taken = 0;
    for _ in 0..samples.max(1) {
        let a1 = read_a();
        let b = read_b();
        let a2 = read_a();
        taken += 1;
        let Some(gap) = a2.checked_sub(a1) else {
            continue; // clock set backwards in between
        };
        if best.is_none_or(|(g, _)| gap < g) {
            let mid2 = i128::from(a1) + i128::from(a2);
            let off2 = 2 * i128::from(b) - mid2;
            // Round half away from zero; clocks are 43-bit ns values.
            let off = (off2 + off2.signum()) / 2;
            best = Some((gap, off as i64));
        }
        if gap == 0 {
            break;
        }
    }
    let (gap, offset_ns) = best.unwrap_or((u64::MAX, 0));
    ClockOffset {
        offset_ns,
        uncertainty_ns: gap.div_ceil(2),
        samples: taken,
    }
}

/// Latency from a Tx and an Rx timestamp (ns of their own clocks) and the
/// offset Rx clock - Tx clock.
pub fn latency_ns(tx: u64, rx: u64, offset_ns: i64) -> i64 {
    (i128::from(rx) - i128::from(tx) - i128::from(offset_ns)) as i64
}

// ---------------------------------------------------------------------------
// The measurement
// ---------------------------------------------------------------------------

/// Once a second during [`measure`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Probes measured per second since the last report.
    pub probes_per_s: f64,
    /// Probes measured so far.
    pub measured: u64,
    /// Probes lost so far.
    pub lost: u64,
    /// Load frames sent so far.
    pub load_sent: u64,
    /// Load frames received so far.
    pub load_received: u64,
}

/// What a measurement found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Latencies in ns of the probes that came back with both timestamps.
    pub latencies: Latencies,
    /// Probes sent.
    pub sent: u64,
    /// Probes whose Tx timestamp never came ([`TX_STAMP_TIMEOUT`]).
    pub lost_tx_stamp: u64,
    /// Probes that came back without an Rx timestamp.
    pub lost_rx_stamp: u64,
    /// Probes that did not come back within [`PROBE_TIMEOUT`].
    pub lost_timeout: u64,
    /// Latencies below 0 (a bad clock offset), recorded as 0.
    pub negative: u64,
    /// Probes that came back after they were given up (dropped).
    pub late_probes: u64,
    /// Load frames sent.
    pub load_sent: u64,
    /// Load frames received (dropped after counting).
    pub load_received: u64,
    /// Other frames received (dropped after counting).
    pub other_received: u64,
    /// The last clock offset (Rx clock - Tx clock); `None` with software
    /// timestamps.
    pub offset: Option<ClockOffset>,
    /// The largest offset uncertainty seen.
    pub max_uncertainty_ns: u64,
    /// Offset measurements done.
    pub syncs: u64,
    /// Time from the first probe to the end.
    pub elapsed: Duration,
    /// Whether the probes were cut short by the stop flag (SIGINT/SIGTERM).
    pub stopped: bool,
}

impl Outcome {
    /// Probes lost for any reason.
    pub fn lost(&self) -> u64 {
        self.lost_tx_stamp + self.lost_rx_stamp + self.lost_timeout
    }
}

/// The probe in flight.
struct InFlight {
    seq: u16,
    /// When `tx_batch` took it (host clock: for the timeouts).
    sent: Instant,
    /// Tx timestamp: the NIC's, or ns since the start (software).
    tx: Option<u64>,
    /// Rx timestamp, the same way.
    rx: Option<u64>,
}

/// The probes: built and sent on Tx queue 0 at the configured rate, one in
/// flight at a time, each resolved into a latency or a loss.
struct Probes<'a> {
    pool: &'a Mempool,
    queue: TxQueue<'a>,
    /// Hardware timestamps (else the host clock).
    hw: bool,
    size: usize,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    /// The sequence id of the next probe.
    seq: u16,
    /// When the next probe is due, and the time between probes.
    next: Instant,
    interval: Duration,
    inflight: Option<InFlight>,
    send: Vec<Packet<'a>>,
}

impl<'a> Probes<'a> {
    /// Attaches Tx queue 0 of `tx` (MAC `src_mac`) for the probes of
    /// `cfg`, from `pool`; the first is due at once.
    fn attach(
        tx: &'a Device,
        src_mac: [u8; 6],
        pool: &'a Mempool,
        cfg: &Config,
    ) -> driver::Result<Self> {
        // Validated: 1 / rate is at most the duration, at most MAX_DURATION_S.
        let interval = Duration::try_from_secs_f64(1.0 / cfg.rate).unwrap_or(cfg.duration);
        Ok(Probes {
            pool,
            queue: TxQueue::attach(tx, 0, 64)?,
            hw: cfg.timestamps == Timestamps::Hardware,
            size: cfg.size,
            src_mac,
            dst_mac: cfg.dst_mac,
            seq: 0,
            next: Instant::now(),
            interval,
            inflight: None,
            send: Vec::with_capacity(1),
        })
    }

    /// Whether a probe is in flight.
    fn in_flight(&self) -> bool {
        self.inflight.is_some()
    }

    /// Sends the next probe if none is in flight and it is due at `now`
    /// (the first at `t0`); true if one was due (the loop was busy).
    fn start_if_due(&mut self, now: Instant, t0: Instant, tx: &Device, out: &mut Outcome) -> bool {
        if self.inflight.is_some() || now < self.next {
            return false;
        }
        self.queue.clean();
        if let Some(mut p) = self.pool.alloc() {
            if self.hw {
                // A stale latch would swallow this probe's stamp.
                let _ = tx_stamp(tx);
            }
            p.set_len(self.size);
            build_probe(p.data_mut(), self.src_mac, self.dst_mac, self.seq);
            p.request_timestamp(self.hw);
            self.send.push(p);
            if self.queue.tx_batch(&mut self.send) == 1 {
                let t = Instant::now();
                self.inflight = Some(InFlight {
                    seq: self.seq,
                    sent: t,
                    tx: (!self.hw).then(|| since(t0, t)),
                    rx: None,
                });
                out.sent += 1;
                self.seq = self.seq.wrapping_add(1);
            }
            self.send.clear();
        }
        self.next += self.interval;
        if self.next + self.interval < now {
            // Fell behind (a slow probe): no burst to catch up.
            self.next = now;
        }
        true
    }

    /// Hardware timestamps: takes the Tx timestamp of the probe in flight
    /// once the NIC latched it; true if it did.
    fn poll_tx_stamp(&mut self, tx: &Device) -> bool {
        if !self.hw {
            return false;
        }
        match self.inflight.as_mut().filter(|f| f.tx.is_none()) {
            Some(f) => match tx_stamp(tx) {
                Some(ts) => {
                    f.tx = Some(ts);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Whether probe `seq` is the one in flight and has not come back yet.
    fn awaits(&self, seq: u16) -> bool {
        self.inflight
            .as_ref()
            .is_some_and(|f| f.seq == seq && f.rx.is_none())
    }

    /// The probe in flight came back in `p`, received at `t`: its Rx
    /// timestamp (the NIC's, or the host clock since `t0`); a probe the NIC
    /// did not stamp is lost.
    fn came_back(&mut self, p: &Packet, t: Instant, t0: Instant, rx: &Device, out: &mut Outcome) {
        let hw = self.hw;
        let Some(f) = self.inflight.as_mut() else {
            return;
        };
        if !hw {
            f.rx = Some(since(t0, t));
        } else if let Some(ts) = p.timestamped().then(|| rx_stamp(rx)).flatten() {
            f.rx = Some(ts);
        } else {
            out.lost_rx_stamp += 1;
            self.inflight = None;
        }
    }

    /// Resolves the probe in flight: its latency once both timestamps are
    /// in (corrected by the last clock offset), or a loss once its Tx stamp
    /// or the probe itself is overdue.
    fn resolve(&mut self, out: &mut Outcome) {
        let Some(f) = self.inflight.as_ref() else {
            return;
        };
        let age = f.sent.elapsed();
        if let (Some(t), Some(r)) = (f.tx, f.rx) {
            let offset = if self.hw {
                out.offset.map_or(0, |o| o.offset_ns)
            } else {
                0
            };
            let l = latency_ns(t, r, offset);
            if l < 0 {
                out.negative += 1;
            }
            out.latencies.record(l.max(0) as u64);
            self.inflight = None;
        } else if f.tx.is_none() && age > TX_STAMP_TIMEOUT {
            out.lost_tx_stamp += 1;
            self.inflight = None;
        } else if age > PROBE_TIMEOUT {
            out.lost_timeout += 1;
            self.inflight = None;
        }
    }
}

/// What comes out of the DUT on Rx queue 0: the probe in flight, late
/// probes, load frames and anything else, each counted.
struct Receiver<'a> {
    queue: RxQueue<'a>,
    batch: Vec<Packet<'a>>,
    /// Hardware timestamps: frames the NIC stamped free its Rx latch.
    hw: bool,
    /// The PTP clock identity of our probes.
    identity: [u8; 8],
}

impl<'a> Receiver<'a> {
    /// Attaches Rx queue 0 of `rx` with buffers from `pool`, for the probes
    /// of clock `identity`.
    fn attach(
        rx: &'a Device,
        pool: &'a Mempool,
        identity: [u8; 8],
        hw: bool,
    ) -> driver::Result<Self> {
        Ok(Receiver {
            queue: RxQueue::attach(rx, 0, pool, 1024, true)?,
            batch: Vec::with_capacity(64),
            hw,
            identity,
        })
    }

    /// Receives one batch: the probe in flight goes to `probes`, the rest
    /// is counted in `out`. True if anything came.
    fn poll(&mut self, probes: &mut Probes, t0: Instant, rx: &Device, out: &mut Outcome) -> bool {
        if self.queue.rx_batch(&mut self.batch, 64) == 0 {
            return false;
        }
        let t = Instant::now();
        for p in self.batch.drain(..) {
            let id = parse_probe(p.data()).filter(|id| id.clock_identity == self.identity);
            if id.is_some_and(|id| probes.awaits(id.seq)) {
                probes.came_back(&p, t, t0, rx, out);
                continue;
            }
            if self.hw && p.timestamped() {
                // Not the probe in flight: free the latch for it.
                let _ = rx_stamp(rx);
            }
            if id.is_some() {
                out.late_probes += 1;
            } else if flows::parse_tag(p.data()).is_some() {
                out.load_received += 1;
            } else {
                out.other_received += 1;
            }
        }
        true
    }

    /// After the last probe: load frames still on their way come in for a
    /// moment more (20 ms) and are counted.
    fn drain(&mut self, rx: &Device, out: &mut Outcome) {
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            if self.queue.rx_batch(&mut self.batch, 64) == 0 {
                std::thread::yield_now();
            }
            for p in self.batch.drain(..) {
                if self.hw && p.timestamped() {
                    let _ = rx_stamp(rx);
                }
                if flows::parse_tag(p.data()).is_some() {
                    out.load_received += 1;
                } else if parse_probe(p.data()).is_some() {
                    out.late_probes += 1;
                } else {
                    out.other_received += 1;
                }
            }
        }
    }
}

/// The background load: frames of [`crate::flows`] on Tx queue 1 at a
/// steady rate.
struct Load<'a> {
    pool: &'a Mempool,
    queue: TxQueue<'a>,
    gen: Generator,
    pps: f64,
    credit: f64,
    last: Instant,
    batch: Vec<Packet<'a>>,
}

impl<'a> Load<'a> {
    /// Attaches Tx queue 1 of `tx` (MAC `src_mac`) for `mpps` of load to
    /// `dst_mac`, from `pool`; the rate counts from now.
    fn attach(
        tx: &'a Device,
        src_mac: [u8; 6],
        pool: &'a Mempool,
        mpps: f64,
        dst_mac: [u8; 6],
    ) -> driver::Result<Self> {
        Ok(Load {
            pool,
            queue: TxQueue::attach(tx, 1, 1024)?,
            gen: Generator::new(FlowSpec {
                flows: LOAD_FLOWS,
                size: LOAD_FRAME_SIZE,
                src_mac,
                dst_mac,
                stream: 0,
            }),
            pps: mpps * 1e6,
            credit: 0.0,
            last: Instant::now(),
            batch: Vec::with_capacity(64),
        })
    }

    /// Sends what the rate allows since the last call (a token bucket of at
    /// most 256 frames, 64 per call); returns how many went out.
    fn send(&mut self, now: Instant) -> u64 {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.credit = (self.credit + dt * self.pps).min(256.0);
        let want = (self.credit as usize).min(64);
        if want == 0 {
            return 0;
        }
        let got = self.pool.alloc_bulk(&mut self.batch, want, LOAD_FRAME_SIZE);
        for p in self.batch.iter_mut() {
            self.gen.fill(p.data_mut());
        }
        let sent = self.queue.tx_batch(&mut self.batch);
        self.gen.unsend((got - sent) as u32);
        self.batch.clear();
        self.credit -= sent as f64;
        sent as u64
    }
}

/// The clock offset Rx - Tx, measured again every [`SYNC_INTERVAL`]
/// (hardware timestamps only).
struct ClockSync {
    next: Instant,
}

impl ClockSync {
    /// Measures the offset of `rx`'s clock against `tx`'s into `out` if a
    /// measurement is due at `now`. The caller makes sure no probe is in
    /// flight.
    fn measure_if_due(&mut self, now: Instant, tx: &Device, rx: &Device, out: &mut Outcome) {
        if now < self.next {
            return;
        }
        let o = measure_offset(|| clock_now(tx), || clock_now(rx), SYNC_SAMPLES);
        log::debug!(
            "clock offset {} - {}: {:+} ns ± {} ns (best of {} samples)",
            rx.name(),
            tx.name(),
            o.offset_ns,
            o.uncertainty_ns,
            o.samples
        );
        out.offset = Some(o);
        out.max_uncertainty_ns = out.max_uncertainty_ns.max(o.uncertainty_ns);
        out.syncs += 1;
        self.next += SYNC_INTERVAL;
        if self.next < now {
            self.next = now + SYNC_INTERVAL;
        }
    }
}

/// [`Progress`] once a second.
struct ProgressReports {
    next: Instant,
    /// Probes measured at the last report.
    measured: u64,
}

impl ProgressReports {
    /// Calls `progress` if a report is due at `now` (the first a second
    /// after `t0`).
    fn report_if_due(
        &mut self,
        now: Instant,
        t0: Instant,
        out: &Outcome,
        progress: &mut dyn FnMut(&Progress),
    ) {
        if now < self.next {
            return;
        }
        let measured = out.latencies.count();
        progress(&Progress {
            elapsed: now - t0,
            probes_per_s: (measured - self.measured) as f64,
            measured,
            lost: out.lost(),
            load_sent: out.load_sent,
            load_received: out.load_received,
        });
        self.measured = measured;
        self.next += Duration::from_secs(1);
    }
}

fn since(t0: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(t0).as_nanos() as u64
}

/// The Tx timestamp latched by `d`'s 1588 clock; `None` without one
/// (`measure_until` refuses hardware timestamps there before it starts).
fn tx_stamp(d: &Device) -> Option<u64> {
    d.regs().and_then(timestamp::tx)
}

/// The Rx timestamp latched by `d`'s 1588 clock (see [`tx_stamp`]).
fn rx_stamp(d: &Device) -> Option<u64> {
    d.regs().and_then(timestamp::rx)
}

/// `d`'s 1588 clock now, 0 without one (see [`tx_stamp`]).
fn clock_now(d: &Device) -> u64 {
    d.regs().map_or(0, timestamp::now)
}

/// [`measure_until`] with a flag that is never set.
pub fn measure(
    tx: &Device,
    rx: &Device,
    cfg: &Config,
    progress: &mut dyn FnMut(&Progress),
) -> driver::Result<Outcome> {
    measure_until(tx, rx, cfg, progress, &AtomicBool::new(false))
}

/// Runs a measurement: `tx` sends probes (Tx queue 0) and the optional
/// load (Tx queue 1) into the DUT, `rx` receives what comes out (Rx queue
/// 0, everything: no RSS). Both devices must be initialised, promiscuous,
/// and, for hardware timestamps, with IEEE 1588 on
/// (`InitConfig::timestamps`). `progress` is called once a second.
///
/// Probes start at `cfg.rate` per second while the previous one is done;
/// the loop ends `cfg.duration` after the start, once the last probe is
/// resolved. Once `stop` is set no probe starts any more (the binary
/// passes the flag of [`crate::signals::stop_on_signals`];
/// `Outcome::stopped` says so).
/// Errors are the driver's (attaching queues, memory).
pub fn measure_until(
    tx: &Device,
    rx: &Device,
    cfg: &Config,
    progress: &mut dyn FnMut(&Progress),
    stop: &AtomicBool,
) -> driver::Result<Outcome> {
    if let Err(m) = cfg.validate() {
        return Err(driver::Error::new(driver::ErrorKind::InvalidInput, "", m));
    }
    let hw = cfg.timestamps == Timestamps::Hardware;
    if let Some(d) = [tx, rx].into_iter().find(|d| hw && !d.has_ptp_clock()) {
        return Err(d
            .unsupported("the IEEE 1588 clock (hardware timestamps)")
            .hint("use software timestamps (ixy-latency --software-timestamps)"));
    }
    let src_mac = tx.mac();
    let probe_pool = Mempool::new(tx.dma(), "latency-probes", 128, 2048)?;
    let load_pool = match cfg.load_mpps {
        Some(_) => Some(Mempool::new(tx.dma(), "latency-load", 2048, 2048)?),
        None => None,
    };
    let rx_pool = Mempool::new(rx.dma(), "latency-rx", 2048, 2048)?;
    let mut probes = Probes::attach(tx, src_mac, &probe_pool, cfg)?;
    let mut load = match (&load_pool, cfg.load_mpps) {
        (Some(pool), Some(mpps)) => Some(Load::attach(tx, src_mac, pool, mpps, cfg.dst_mac)?),
        _ => None,
    };
    let mut receiver = Receiver::attach(rx, &rx_pool, clock_identity(src_mac), hw)?;
    if hw {
        // Unlock latches holding stale values.
        let _ = tx_stamp(tx);
        let _ = rx_stamp(rx);
    }

    let mut out = Outcome::default();
    let t0 = Instant::now();
    let Some(end) = t0.checked_add(cfg.duration) else {
        return Err(driver::Error::new(
            driver::ErrorKind::InvalidInput,
            "",
            format!("--duration {:?} is too long", cfg.duration),
        ));
    };
    probes.next = t0;
    if let Some(l) = load.as_mut() {
        l.last = t0;
    }
    let mut sync = ClockSync { next: t0 };
    let mut reports = ProgressReports {
        next: t0 + Duration::from_secs(1),
        measured: 0,
    };

    loop {
        let now = Instant::now();
        if !out.stopped && now < end && stop.load(Ordering::Relaxed) {
            out.stopped = true;
        }
        let measuring = now < end && !out.stopped;
        if !measuring && !probes.in_flight() {
            break;
        }
        // The clocks, while no probe is in flight.
        if hw && !probes.in_flight() {
            sync.measure_if_due(now, tx, rx, &mut out);
        }
        let mut busy = false;
        if measuring {
            if let Some(l) = load.as_mut() {
                let n = l.send(now);
                out.load_sent += n;
                busy |= n > 0;
            }
            busy |= probes.start_if_due(now, t0, tx, &mut out);
        }
        busy |= probes.poll_tx_stamp(tx);
        busy |= receiver.poll(&mut probes, t0, rx, &mut out);
        probes.resolve(&mut out);
        reports.report_if_due(now, t0, &out, progress);
        if !busy {
            std::thread::yield_now();
        }
    }
    out.elapsed = t0.elapsed();
    receiver.drain(rx, &mut out);
    // Queues go before their pools: Rx, load, probes.
    drop(receiver);
    drop(load);
    drop(probes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const SRC: [u8; 6] = [0x02, 0x1c, 0x59, 0x90, 0x00, 0x02];
    const DST: [u8; 6] = [0x02, 0x1c, 0x59, 0x90, 0x00, 0x00];

    #[test]
    fn probes_are_ptp_sync_over_udp_319_with_valid_checksums() {
        for size in [MIN_SIZE, DEFAULT_SIZE, 1514] {
            let f = probe(size, SRC, DST, 0xbeef);
            assert_eq!(f.len(), size);
            assert_eq!(&f[0..6], &DST);
            assert_eq!(&f[6..12], &SRC);
            assert_eq!(checksum::ipv4_header(&f[14..34]), 0, "IPv4");
            assert_ne!(&f[40..42], &[0, 0], "a UDP checksum is sent");
            assert!(checksum::udp_ipv4_ok(&f[14..34], &f[34..]), "UDP");
            assert_eq!(u16::from_be_bytes([f[36], f[37]]), 319);
            assert_eq!(u16::from_be_bytes([f[16], f[17]]) as usize, size - 14);
            assert_eq!((f[42], f[43]), (0x00, 0x02), "Sync, PTP v2");
            assert_eq!(
                parse_probe(&f),
                Some(ProbeId {
                    clock_identity: [0x02, 0x1c, 0x59, 0xff, 0xfe, 0x90, 0x00, 0x02],
                    seq: 0xbeef
                })
            );
        }
    }

    #[test]
    fn the_simulator_sees_the_same_ptp_layout() {
        // sim::harness::ptp_frame builds what the model timestamps; ours
        // must have the PTP header at the same place with the same fields.
        let f = probe(90, SRC, DST, 7);
        assert_eq!(&f[42..44], &[0x00, 0x02]);
        assert_eq!(&f[44..46], &44u16.to_be_bytes());
        assert_eq!(&f[72..74], &7u16.to_be_bytes());
    }

    #[test]
    fn anything_else_is_not_a_probe() {
        let good = probe(90, SRC, DST, 1);
        assert!(parse_probe(&good[..80]).is_none(), "too short");
        let mut bad_sum = good.clone();
        bad_sum[24] ^= 1;
        assert!(parse_probe(&bad_sum).is_none(), "IP checksum");
        let mut port = good.clone();
        port[37] = 0x40; // 320: a general message
        assert!(parse_probe(&port).is_none());
        let mut delay_req = good.clone();
        delay_req[42] = 1;
        assert!(parse_probe(&delay_req).is_none());
        let mut v1 = good.clone();
        v1[43] = 1;
        assert!(parse_probe(&v1).is_none());
        let mut g = Generator::new(FlowSpec {
            flows: 1,
            size: 90,
            src_mac: SRC,
            dst_mac: DST,
            stream: 0,
        });
        let mut load = vec![0u8; 90];
        g.fill(&mut load);
        assert!(parse_probe(&load).is_none());
        assert!(parse_probe(&[]).is_none());
    }

    #[test]
    #[should_panic(expected = "probe size 85")]
    fn too_small_a_probe_is_refused() {
        probe(85, SRC, DST, 0);
    }

    #[test]
    fn the_peer_mac_comes_from_lab_conf() {
        let conf = "ports=4\ncables=0-2,1-3\nline_rate=1\ncable_delay_ns=50\n\
                    port0.mac=02:1c:59:90:00:00\nport1.mac=02:1c:59:90:00:01\n\
                    port2.mac=02:1c:59:90:00:02\nport3.mac=02:1c:59:90:00:03\n";
        assert_eq!(sim_peer_mac(conf, 2), Some(DST));
        assert_eq!(sim_peer_mac(conf, 1), Some([2, 0x1c, 0x59, 0x90, 0, 3]));
        assert_eq!(sim_peer_mac("ports=5\ncables=\n", 4), None);
        assert_eq!(default_dst_mac("0000:03:00.0"), BROADCAST);
        assert_eq!(default_dst_mac("sim:no-such-lab-here/2"), BROADCAST);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            parse_positive("--rate", "500", MAX_RATE, " probes/s"),
            Ok(500.0)
        );
        for bad in ["0", "-1", "nan", "inf", "x", "2000000"] {
            let e = parse_positive("--rate", bad, MAX_RATE, " probes/s").unwrap_err();
            assert!(e.starts_with("--rate"), "{e}");
        }
        assert_eq!(parse_size("90"), Ok(90));
        assert!(parse_size("85").is_err() && parse_size("1515").is_err());
        let mut c = Config::new(DST);
        assert!(c.validate().is_ok());
        c.rate = 0.0;
        assert!(c.validate().is_err());
        c = Config::new(DST);
        c.duration = Duration::ZERO;
        assert!(c.validate().is_err());
        c = Config::new(DST);
        c.load_mpps = Some(20.0);
        assert!(c.validate().is_err());
        // Less than one probe per run, or a run too long: refused, no panic.
        c = Config::new(DST);
        c.rate = 1e-300;
        assert!(c.validate().unwrap_err().contains("less than one probe"));
        c.rate = 0.5;
        c.duration = Duration::from_secs(2);
        assert!(c.validate().is_ok());
        c.duration = Duration::from_secs(2_000_000);
        assert!(c.validate().unwrap_err().contains("at most 1000000"));
    }

    /// A clock that advances `step` ns per read, from `start`.
    fn clock(start: u64, step: u64) -> impl FnMut() -> u64 {
        let t = Cell::new(start);
        move || {
            let v = t.get();
            t.set(v + step);
            v
        }
    }

    #[test]
    fn offset_from_a_b_a() {
        // One shared time line: every read advances it by 10 ns.
        let time = Cell::new(1_000u64);
        let read = |base: i64| {
            let v = time.get();
            time.set(v + 10);
            (v as i64 + base) as u64
        };
        let o = measure_offset(|| read(0), || read(5_000), 10);
        // A1 = t, B = t + 10 + 5000, A2 = t + 20: offset = 5000 exactly.
        assert_eq!(o.offset_ns, 5_000);
        assert_eq!(o.uncertainty_ns, 10);
        assert_eq!(o.samples, 10);
        // Frozen clocks (the simulator between passes): gap 0, exact, one sample.
        let o = measure_offset(|| 777, || 123, 100);
        assert_eq!(
            (o.offset_ns, o.uncertainty_ns, o.samples),
            (123 - 777, 0, 1)
        );
        // The smallest gap wins.
        let mut gaps = [50u64, 4, 30].into_iter();
        let a = Cell::new(0u64);
        let o = measure_offset(
            || {
                let v = a.get();
                a.set(v + 1);
                if v.is_multiple_of(2) {
                    v * 1000
                } else {
                    (v - 1) * 1000 + gaps.next().unwrap_or(100)
                }
            },
            clock(9_000_000, 0),
            3,
        );
        // Best sample: A1 = 2000, A2 = 2004, B = 9e6.
        assert_eq!(o.offset_ns, 9_000_000 - 2_002);
        assert_eq!(o.uncertainty_ns, 2);
    }

    #[test]
    fn latency_arithmetic() {
        assert_eq!(latency_ns(1_000, 500_000, 497_000), 2_000);
        assert_eq!(latency_ns(500_000, 1_000, -501_000), 2_000);
        assert!(latency_ns(1_000, 1_000, 10) < 0);
    }
}
