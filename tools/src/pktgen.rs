//! The engine of `ixy-pktgen`: MoonGen-like load from tester ports through
//! the device under test, with per-flow verification (docs/DESIGN.md 9).
//!
//! One thread drives every direction: generate at the asked rate into a Tx
//! queue of the sending port, receive on the other port and check each
//! frame's tag with [`crate::flows::Verifier`].
//!
//! Sending ends after `--count` frames per direction, or after `--duration`
//! with exactly the frames due by then (rate × duration, rounded down, if
//! the ports take them within a second after), or
//! when the stop flag is set (SIGINT/SIGTERM, [`crate::signals`]). Then
//! the frames in flight get a second to come back before the report.

use crate::flows::{self, FlowResult, FlowSpec, Generator, Verifier};
use driver::{Device, InitConfig, Mempool, OpenOptions, Owned, Packet, RxQueue, TxQueue};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Frames per Tx batch.
const BATCH: usize = 64;
/// The lowest rate, Mpps: one frame per second.
pub const MIN_MPPS: f64 = 1e-6;
/// The highest rate given in Mpps.
pub const MAX_MPPS: f64 = 1000.0;
/// How long frames due by the end of `--duration` may take to go out
/// after it: enough to catch up after the scheduler took the CPU away; a
/// rate above what the ports take leaves frames unsent after it.
const OVERTIME: Duration = Duration::from_secs(1);
/// How long after the last frame of its own pktgen waits for the rest.
const DRAIN: Duration = Duration::from_secs(1);

/// How fast to send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Million packets per second, per direction.
    Mpps(f64),
    /// As fast as the ring and the link take.
    Line,
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "line" {
            return Ok(Rate::Line);
        }
        match s.parse::<f64>() {
            Ok(r) if (MIN_MPPS..=MAX_MPPS).contains(&r) => Ok(Rate::Mpps(r)),
            _ => Err(format!(
                "--rate {s:?}: give Mpps from {MIN_MPPS} (one frame per second) to {MAX_MPPS}, e.g. 0.5, or 'line'"
            )),
        }
    }
}

/// Frames due after `t` at `mpps`: the product rounded down, with a hair of
/// tolerance so that 0.1 Mpps for 0.3 s is 30000 frames, not 29999.
pub fn frames_due(mpps: f64, t: Duration) -> u64 {
    let x = mpps * 1e6 * t.as_secs_f64();
    (x * (1.0 + 1e-9)).floor() as u64
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sending device, and receiving device (the same one for a reflector).
    pub devices: Vec<String>,
    /// Flow spec (size, flows, MACs; the stream is set per direction).
    pub flows: u32,
    /// Frame size without FCS.
    pub size: usize,
    /// Destination MAC of the frames.
    pub dst_mac: [u8; 6],
    /// Rate per direction.
    pub rate: Rate,
    /// Stop sending after this long...
    pub duration: Option<Duration>,
    /// ...or after this many frames per direction.
    pub count: Option<u64>,
    /// Also send from the second device to the first.
    pub bidirectional: bool,
    /// Send the flows' replies (addresses and ports swapped); with
    /// `bidirectional`, from the second device only.
    pub replies: bool,
    /// Check every frame (loss, duplicates, reordering per flow).
    pub verify: bool,
    /// Print progress lines on stderr once a second.
    pub progress: bool,
}

impl Config {
    /// Checks what the command line cannot: the device list, the flows and
    /// size, and that the run sends at least one frame (rate × duration).
    /// `Err` is the one-line message.
    pub fn validate(&self) -> Result<(), String> {
        match self.devices.as_slice() {
            [] => {
                return Err(
                    "give one --device (a reflecting DUT) or two (sending, receiving)".into(),
                )
            }
            [_] | [_, _] => {}
            _ => {
                return Err(
                    "give one --device (a reflecting DUT) or two (sending, receiving), not more"
                        .into(),
                )
            }
        }
        if let Some(d) = crate::cli::duplicate_device(&self.devices) {
            return Err(format!(
                "--device {d} twice: give it once for a reflecting DUT, or two different ports"
            ));
        }
        if self.bidirectional && self.devices.len() != 2 {
            return Err("--bidirectional needs two --device".into());
        }
        FlowSpec {
            flows: self.flows,
            size: self.size,
            src_mac: [0; 6],
            dst_mac: self.dst_mac,
            stream: 0,
        }
        .validate()?;
        if let Rate::Mpps(r) = self.rate {
            if !(MIN_MPPS..=MAX_MPPS).contains(&r) {
                return Err(format!(
                    "--rate {r}: give Mpps from {MIN_MPPS} to {MAX_MPPS}"
                ));
            }
        }
        match (self.duration, self.count) {
            (Some(_), Some(_)) => Err("give --duration or --count, not both".into()),
            (None, None) => Err("give --duration or --count".into()),
            (None, Some(0)) => Err("--count 0: send at least one frame".into()),
            (Some(d), None) if d.is_zero() || d.as_secs_f64() > crate::cli::MAX_DURATION_S => {
                Err(format!(
                    "--duration {}: use above 0 and at most {} seconds",
                    d.as_secs_f64(),
                    crate::cli::MAX_DURATION_S
                ))
            }
            (Some(d), None) => match self.rate {
                Rate::Mpps(r) if frames_due(r, d) == 0 => Err(format!(
                    "--rate {r} for --duration {}: not one frame in the run; raise --rate or --duration",
                    d.as_secs_f64()
                )),
                _ => Ok(()),
            },
            (None, Some(_)) => Ok(()),
        }
    }
}

/// The outcome of one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectionReport {
    /// Sending device.
    pub from: String,
    /// Receiving device.
    pub to: String,
    /// Totals over all flows (received counts distinct frames when
    /// verifying, every frame of this direction otherwise, copies included;
    /// duplicated and reordered are 0 when not verifying).
    pub total: FlowResult,
    /// Flows with loss, duplicates or reordering (0 when not verifying:
    /// flows are only judged with `--verify`).
    pub bad_flows: u32,
    /// The first [`MAX_BAD_FLOW_IDS`] of those flows, by index: which
    /// flows suffered (a worker's restart should cost only its own).
    pub bad_flow_ids: Vec<u32>,
    /// Frames received that were not of this direction.
    pub foreign: u64,
    /// Send rate achieved, Mpps.
    pub tx_mpps: f64,
    /// Receive rate achieved, Mpps: frames received over the time they
    /// were sent, or until the last one arrived if that was later (the
    /// wait for frames that never come is not receive time).
    pub rx_mpps: f64,
}

/// How many bad flows a report names one by one.
pub const MAX_BAD_FLOW_IDS: usize = 4096;

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// One entry per direction.
    pub directions: Vec<DirectionReport>,
    /// Seconds spent sending.
    pub seconds: f64,
    /// The rate asked for.
    pub rate: Rate,
    /// Whether frames were verified.
    pub verified: bool,
    /// Whether sending was cut short by the stop flag (SIGINT/SIGTERM).
    pub stopped: bool,
}

impl Report {
    /// The verdict: with verification, nothing duplicated or reordered, and
    /// nothing lost unless the rate was line rate (where the NIC may drop).
    pub fn ok(&self) -> bool {
        !self.verified
            || self.directions.iter().all(|d| {
                d.total.duplicated == 0
                    && d.total.reordered == 0
                    && (d.total.lost == 0 || self.rate == Rate::Line)
            })
    }

    /// Human-readable summary: a line per direction, then what only
    /// verification can judge (the verdict, or that it was not done).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for d in &self.directions {
            let t = &d.total;
            if self.verified {
                out += &format!(
                    "{} -> {}: sent {} received {} lost {} duplicated {} reordered {} (flows with problems: {}), tx {:.3} Mpps rx {:.3} Mpps\n",
                    d.from, d.to, t.sent, t.received, t.lost, t.duplicated, t.reordered, d.bad_flows, d.tx_mpps, d.rx_mpps
                );
            } else {
                let percent = if t.sent > 0 {
                    t.lost as f64 * 100.0 / t.sent as f64
                } else {
                    0.0
                };
                out += &format!(
                    "{} -> {}: sent {} received {} lost {} ({percent:.3} %), tx {:.3} Mpps rx {:.3} Mpps\n",
                    d.from, d.to, t.sent, t.received, t.lost, d.tx_mpps, d.rx_mpps
                );
            }
        }
        if self.stopped {
            out += &format!(
                "stopped by a signal after {:.3} s of sending; frames in flight were waited for\n",
                self.seconds
            );
        }
        if !self.verified {
            out += "not verified: received counts copies too; --verify checks loss, duplicates and order per flow\n";
        } else {
            out += if self.ok() {
                "verdict: OK, nothing lost, duplicated or reordered within a flow\n"
            } else {
                "verdict: FAILED, frames were lost, duplicated or reordered\n"
            };
        }
        out
    }

    /// One JSON object.
    pub fn json(&self) -> String {
        let dirs: Vec<String> = self
            .directions
            .iter()
            .map(|d| {
                let t = &d.total;
                // Only verification judges copies, order and flows.
                let judged = |v: u64| {
                    if self.verified {
                        v.to_string()
                    } else {
                        "null".into()
                    }
                };
                format!(
                    "{{\"from\":{},\"to\":{},\"sent\":{},\"received\":{},\"lost\":{},\"duplicated\":{},\"reordered\":{},\"bad_flows\":{},\"bad_flow_ids\":{},\"foreign\":{},\"tx_mpps\":{:.6},\"rx_mpps\":{:.6}}}",
                    crate::json::json_string(&d.from),
                    crate::json::json_string(&d.to),
                    t.sent,
                    t.received,
                    t.lost,
                    judged(t.duplicated),
                    judged(t.reordered),
                    judged(u64::from(d.bad_flows)),
                    if self.verified {
                        format!(
                            "[{}]",
                            d.bad_flow_ids
                                .iter()
                                .map(u32::to_string)
                                .collect::<Vec<_>>()
                                .join(",")
                        )
                    } else {
                        "null".into()
                    },
                    d.foreign,
                    d.tx_mpps,
                    d.rx_mpps
                )
            })
            .collect();
        format!(
            "{{\"directions\":[{}],\"seconds\":{:.3},\"verified\":{},\"stopped\":{},\"ok\":{}}}",
            dirs.join(","),
            self.seconds,
            self.verified,
            self.stopped,
            self.ok()
        )
    }
}

/// One direction's state.
struct Direction<'a> {
    tx_dev: usize,
    rx_dev: usize,
    generator: Generator,
    verifier: Verifier,
    tx: TxQueue<'a>,
    received: u64,
    /// When the last of this direction's frames arrived, from the start.
    last_received: Duration,
}

/// Claims, opens and initialises the devices (promiscuous, no RSS); they
/// stay this process's until the result is dropped (docs/DESIGN.md 4).
pub fn open(devices: &[String]) -> driver::Result<Owned> {
    let init = InitConfig {
        promisc: true,
        ..InitConfig::default()
    };
    Owned::take(devices, &OpenOptions::default(), &init, "ixy-pktgen")
}

/// Runs the load; `devs` are `cfg.devices` opened with [`open`].
pub fn run(cfg: &Config, devs: &[Device]) -> driver::Result<Report> {
    run_until(cfg, devs, &AtomicBool::new(false))
}

/// [`run`], and sending stops early once `stop` is set (the binary passes
/// the flag of [`crate::signals::stop_on_signals`]); the frames in flight
/// are still waited for and the report says `stopped`.
pub fn run_until(cfg: &Config, devs: &[Device], stop: &AtomicBool) -> driver::Result<Report> {
    if let Err(m) = cfg.validate() {
        return Err(driver::Error::new(
            driver::ErrorKind::InvalidInput,
            "ixy-pktgen",
            m,
        ));
    }
    let pools: Vec<Mempool> = devs
        .iter()
        .enumerate()
        .map(|(i, d)| Mempool::new(d.dma(), &format!("pktgen{i}"), 8192, 2048))
        .collect::<driver::Result<_>>()?;
    let mut rx: Vec<RxQueue> = devs
        .iter()
        .zip(&pools)
        .map(|(d, p)| RxQueue::attach(d, 0, p, 4096, true))
        .collect::<driver::Result<_>>()?;
    let pairs: Vec<(usize, usize)> = if devs.len() == 1 {
        vec![(0, 0)]
    } else if cfg.bidirectional {
        vec![(0, 1), (1, 0)]
    } else {
        vec![(0, 1)]
    };
    let mut dirs = Vec::new();
    for (stream, &(t, r)) in pairs.iter().enumerate() {
        let spec = FlowSpec {
            flows: cfg.flows,
            size: cfg.size,
            src_mac: devs[t].mac(),
            dst_mac: cfg.dst_mac,
            stream: stream as u32,
        };
        let reply = cfg.replies && (stream == 1 || !cfg.bidirectional);
        dirs.push(Direction {
            tx_dev: t,
            rx_dev: r,
            generator: if reply {
                Generator::replies(spec)
            } else {
                Generator::new(spec)
            },
            verifier: Verifier::new(stream as u32, cfg.flows),
            tx: TxQueue::attach(&devs[t], 0, 1024)?,
            received: 0,
            last_received: Duration::ZERO,
        });
    }
    let start = Instant::now();
    let mut sending = true;
    let mut stopped = false;
    // When the duration ran out with frames due still to send.
    let mut overtime: Option<Instant> = None;
    let mut last_progress = (start, 0u64, 0u64);
    let mut last_rx = Instant::now();
    let mut out: Vec<Packet> = Vec::with_capacity(BATCH);
    let mut inbox: Vec<Packet> = Vec::with_capacity(BATCH);
    let mut send_seconds = 0.0;
    loop {
        let now = Instant::now();
        let elapsed = now.duration_since(start);
        // Frames are due by the clock, but none after the duration.
        let paced = cfg.duration.map_or(elapsed, |d| elapsed.min(d));
        if sending {
            let sent_all = |n: u64| dirs.iter().all(|d| d.generator.total_sent() >= n);
            let by_signal = stop.load(Ordering::Relaxed);
            let by_count = cfg.count.is_some_and(sent_all);
            let by_time = match (cfg.duration, cfg.rate) {
                (Some(d), _) if elapsed < d => false,
                (Some(_), Rate::Line) => true,
                // The frames due by the end go out first, for at most
                // OVERTIME after it.
                (Some(d), Rate::Mpps(r)) => {
                    sent_all(frames_due(r, d))
                        || now.duration_since(*overtime.get_or_insert(now)) >= OVERTIME
                }
                (None, _) => false,
            };
            if by_signal || by_count || by_time {
                sending = false;
                stopped = by_signal && !(by_count || by_time);
                send_seconds = elapsed.as_secs_f64();
                last_rx = now;
            }
        }
        let mut idle_round = cfg.rate != Rate::Line;
        if sending {
            for d in &mut dirs {
                let sent = d.generator.total_sent();
                let mut want = match cfg.rate {
                    Rate::Line => BATCH as u64,
                    Rate::Mpps(r) => frames_due(r, paced).saturating_sub(sent).min(BATCH as u64),
                };
                if let Some(c) = cfg.count {
                    want = want.min(c.saturating_sub(sent));
                }
                if want == 0 {
                    continue;
                }
                idle_round = false;
                d.tx.clean();
                pools[d.tx_dev].alloc_bulk(&mut out, want as usize, 0);
                for p in out.iter_mut() {
                    p.set_len(p.capacity());
                    let n = d.generator.fill(p.data_mut());
                    p.set_len(n);
                }
                d.tx.tx_batch(&mut out);
                // Not taken by a full ring: not sent, sequence numbers rewound.
                d.generator.unsend(out.len() as u32);
                out.clear();
            }
        }
        let mut got = false;
        for (r, q) in rx.iter_mut().enumerate() {
            if q.rx_batch(&mut inbox, BATCH) == 0 {
                continue;
            }
            got = true;
            for p in inbox.drain(..) {
                let data = p.data();
                let stream = flows::parse_tag(data).map(|t| t.0 as usize);
                match stream
                    .and_then(|s| dirs.get_mut(s))
                    .filter(|d| d.rx_dev == r)
                {
                    Some(d) => {
                        d.received += 1;
                        d.last_received = elapsed;
                        // Only our own frames keep the wait for the rest going.
                        last_rx = now;
                        if cfg.verify {
                            d.verifier.check(data, d.generator.sent());
                        }
                    }
                    None => {
                        if let Some(d) = dirs.iter_mut().find(|d| d.rx_dev == r) {
                            d.verifier.check(data, d.generator.sent());
                        }
                    }
                }
            }
        }
        if cfg.progress && now.duration_since(last_progress.0) >= Duration::from_secs(1) {
            let (tx, rx_n) = (
                dirs.iter().map(|d| d.generator.total_sent()).sum::<u64>(),
                dirs.iter().map(|d| d.received).sum::<u64>(),
            );
            let secs = now.duration_since(last_progress.0).as_secs_f64();
            let _ = writeln!(
                std::io::stderr(),
                "ixy-pktgen: {:>5.1} s  tx {:.3} Mpps  rx {:.3} Mpps  not yet received {}",
                elapsed.as_secs_f64(),
                (tx - last_progress.1) as f64 / secs / 1e6,
                (rx_n - last_progress.2) as f64 / secs / 1e6,
                tx.saturating_sub(rx_n)
            );
            last_progress = (now, tx, rx_n);
        }
        if !sending {
            let all_in = dirs.iter().all(|d| d.received >= d.generator.total_sent());
            // In-flight frames get a second to arrive after the last one.
            if all_in || now.duration_since(last_rx) >= DRAIN {
                break;
            }
        }
        // Nothing to do this round: leave the CPU to the device under
        // test (on small machines it shares the cores with the tester).
        if !got && (!sending || idle_round) {
            std::thread::yield_now();
        }
    }
    let seconds = send_seconds.max(1e-9);
    let names: Vec<String> = devs.iter().map(|d| d.name().to_string()).collect();
    let directions = dirs
        .iter()
        .map(|d| {
            let sent = d.generator.sent();
            let per_flow = if cfg.verify {
                d.verifier.results(sent)
            } else {
                // Without verification only totals are known.
                vec![FlowResult {
                    sent: d.generator.total_sent(),
                    received: d.received,
                    lost: d.generator.total_sent().saturating_sub(d.received),
                    ..FlowResult::default()
                }]
            };
            let total = flows::total(&per_flow);
            DirectionReport {
                from: names[d.tx_dev].clone(),
                to: names[d.rx_dev].clone(),
                // Flows are judged only when verifying.
                bad_flows: if cfg.verify {
                    per_flow
                        .iter()
                        .filter(|f| f.lost + f.duplicated + f.reordered > 0)
                        .count() as u32
                } else {
                    0
                },
                bad_flow_ids: if cfg.verify {
                    (0u32..)
                        .zip(&per_flow)
                        .filter(|(_, f)| f.lost + f.duplicated + f.reordered > 0)
                        .map(|(i, _)| i)
                        .take(MAX_BAD_FLOW_IDS)
                        .collect()
                } else {
                    Vec::new()
                },
                foreign: d.verifier.foreign(),
                tx_mpps: total.sent as f64 / seconds / 1e6,
                // Over the time frames were sent, or arrived if they
                // kept arriving after that; not the wait for lost ones.
                rx_mpps: d.received as f64 / seconds.max(d.last_received.as_secs_f64()) / 1e6,
                total,
            }
        })
        .collect();
    drop(dirs);
    drop(rx);
    Ok(Report {
        directions,
        seconds,
        rate: cfg.rate,
        verified: cfg.verify,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!("line".parse::<Rate>(), Ok(Rate::Line));
        assert_eq!("0.5".parse::<Rate>(), Ok(Rate::Mpps(0.5)));
        assert_eq!("0.000001".parse::<Rate>(), Ok(Rate::Mpps(MIN_MPPS)));
        for bad in ["0", "-1", "fast", "nan", "inf", "1e-12", "1001"] {
            assert!(bad.parse::<Rate>().unwrap_err().contains("--rate"), "{bad}");
        }
    }

    #[test]
    fn the_verdict_tolerates_loss_only_at_line_rate() {
        let dir = |lost, reordered| DirectionReport {
            from: "a".into(),
            to: "b".into(),
            total: FlowResult {
                sent: 10,
                received: 10 - lost,
                lost,
                duplicated: 0,
                reordered,
            },
            bad_flows: 0,
            bad_flow_ids: Vec::new(),
            foreign: 0,
            tx_mpps: 1.0,
            rx_mpps: 1.0,
        };
        let report = |d, rate| Report {
            directions: vec![d],
            seconds: 1.0,
            rate,
            verified: true,
            stopped: false,
        };
        assert!(report(dir(0, 0), Rate::Mpps(1.0)).ok());
        assert!(!report(dir(1, 0), Rate::Mpps(1.0)).ok());
        assert!(report(dir(1, 0), Rate::Line).ok());
        assert!(!report(dir(0, 1), Rate::Line).ok());
        let r = report(dir(1, 0), Rate::Mpps(1.0));
        assert!(r.text().contains("lost 1") && r.text().contains("FAILED"));
        assert!(
            r.json().starts_with("{\"directions\":[{\"from\":\"a\"")
                && r.json().contains("\"ok\":false")
        );
    }

    fn config(rate: Rate, duration: Option<f64>, count: Option<u64>) -> Config {
        Config {
            devices: vec!["sim:a/2".into(), "sim:a/3".into()],
            flows: 16,
            size: 64,
            dst_mac: [0xff; 6],
            rate,
            duration: duration.map(Duration::from_secs_f64),
            count,
            bidirectional: false,
            replies: false,
            verify: false,
            progress: false,
        }
    }

    #[test]
    fn a_run_must_send_at_least_one_frame() {
        assert_eq!(config(Rate::Mpps(0.1), Some(1.0), None).validate(), Ok(()));
        assert_eq!(config(Rate::Line, None, Some(1)).validate(), Ok(()));
        assert_eq!(
            config(Rate::Mpps(MIN_MPPS), Some(1.0), None).validate(),
            Ok(())
        );
        let err = |c: Config| c.validate().unwrap_err();
        assert!(err(config(Rate::Mpps(MIN_MPPS), Some(0.5), None)).contains("not one frame"));
        assert!(err(config(Rate::Mpps(1e-12), None, Some(5))).contains("--rate"));
        assert!(err(config(Rate::Mpps(0.1), Some(2e6), None)).contains("at most 1000000"));
        assert!(err(config(Rate::Mpps(0.1), None, Some(0))).contains("--count 0"));
        let mut twice = config(Rate::Line, None, Some(1));
        twice.devices = vec!["sim:a/2".into(), "sim:a/2 ".into()];
        assert!(err(twice).contains("--device sim:a/2 twice"));
    }

    #[test]
    fn frames_due_are_the_product_rounded_down() {
        assert_eq!(frames_due(0.1, Duration::from_secs_f64(0.3)), 30_000);
        assert_eq!(frames_due(0.05, Duration::from_secs(3)), 150_000);
        assert_eq!(frames_due(0.07, Duration::from_secs(3)), 210_000);
        assert_eq!(frames_due(1.0, Duration::from_nanos(999)), 0);
        assert_eq!(frames_due(1.0, Duration::from_nanos(1999)), 1);
    }

    #[test]
    fn without_verify_the_summary_says_loss_and_judges_no_flow() {
        let r = Report {
            directions: vec![DirectionReport {
                from: "a".into(),
                to: "b".into(),
                total: FlowResult {
                    sent: 200,
                    received: 0,
                    lost: 200,
                    duplicated: 0,
                    reordered: 0,
                },
                bad_flows: 0,
                bad_flow_ids: Vec::new(),
                foreign: 0,
                tx_mpps: 0.1,
                rx_mpps: 0.0,
            }],
            seconds: 1.0,
            rate: Rate::Mpps(0.1),
            verified: false,
            stopped: false,
        };
        let text = r.text();
        assert!(
            text.starts_with("a -> b: sent 200 received 0 lost 200 (100.000 %)"),
            "{text}"
        );
        assert!(
            !text.contains("flows with problems") && !text.contains("verdict"),
            "{text}"
        );
        assert!(text.contains("not verified"), "{text}");
        let json = r.json();
        assert!(
            json.contains("\"lost\":200,\"duplicated\":null,\"reordered\":null,\"bad_flows\":null,\"bad_flow_ids\":null"),
            "{json}"
        );
        assert!(
            json.contains("\"verified\":false,\"stopped\":false"),
            "{json}"
        );
    }
}
