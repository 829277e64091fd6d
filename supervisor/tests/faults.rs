//! The fault suite (RELIABILITY.md): faults injected into a running
//! ixy-supervisor while verified traffic flows from tester port 2 through
//! DUT ports 0 -> 1 to tester port 3. Each test states what may be lost
//! (only the frames of the queue whose worker the fault hit) and checks
//! that nothing else is: per-flow loss against the Toeplitz hash, restarts,
//! IOMMU faults, counters, leaked DMA files and hugepages.
//!
//! `cargo test` runs the short form (a few seconds per fault);
//! `IXY_FAULTS_LONG=1` (`make test-faults`) the long form of the issue:
//! kills every 2 s for 20 s, a 5 s stop, 10 s of bad frames.

mod common;

use common::*;
use driver::{Mempool, Packet, RssConfig, RssKey, RxQueue, TxQueue};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};
use tools::flows::{FlowResult, Generator, Verifier};
use worker::statsfile::{self, State, StatsFile};

/// Whether the long form runs (`make test-faults`).
fn long() -> bool {
    std::env::var("IXY_FAULTS_LONG").is_ok_and(|v| v == "1")
}

/// Prints one line of what a fault cost (`--nocapture` shows it; the
/// figures of RELIABILITY.md come from `make test-faults`).
fn report(fault: &str, what: &str, seen: &Seen) {
    let sum = |f: fn(&FlowResult) -> u64| seen.flows.iter().map(f).sum::<u64>();
    let hit_flows = seen.flows.iter().filter(|r| r.lost > 0).count();
    eprintln!(
        "fault: {fault}: {what}; verified frames sent {}, lost {} (in {hit_flows} of {} flows), duplicated {}, reordered {}",
        sum(|r| r.sent),
        sum(|r| r.lost),
        seen.flows.len(),
        sum(|r| r.duplicated),
        sum(|r| r.reordered),
    );
}

/// Free 2 MiB hugepages of the machine.
fn free_hugepages() -> u64 {
    std::fs::read_to_string("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).expect("signal");
}

/// Whether process `pid` is gone (or a zombie waiting for its reaper).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// What one traffic run saw.
struct Seen {
    /// Per-flow results of the verified frames.
    flows: Vec<FlowResult>,
    /// Frames received that were not generated flows (the odd frames).
    foreign: u64,
}

/// Sends `flows` verified flows round robin from port 2 at about `pps`
/// for `duration`, plus whatever `during(elapsed)` returns (raw frames,
/// sent as they come), and receives on port 3 until everything arrived
/// or 3 s passed without a frame.
fn traffic_for(
    run: &Run,
    flows: u32,
    pps: u32,
    duration: Duration,
    mut during: impl FnMut(Duration) -> Vec<Vec<u8>>,
) -> Seen {
    let (t2, t3) = (run.tester(2), run.tester(3));
    let (p2, p3) = (
        Mempool::new(t2.dma(), "gen", 2048, 2048).expect("pool"),
        Mempool::new(t3.dma(), "chk", 4096, 2048).expect("pool"),
    );
    let mut tx = TxQueue::attach(&t2, 0, 512).expect("tx");
    let mut rx = RxQueue::attach(&t3, 0, &p3, 2048, true).expect("rx");
    let (mut gen, mut verifier) = (Generator::new(spec(flows)), Verifier::new(0, flows));
    let (mut out, mut inbox): (Vec<Packet>, Vec<Packet>) = (Vec::new(), Vec::new());
    let burst = 32u64;
    let t0 = Instant::now();
    let (mut sent, mut extra_sent, mut received) = (0u64, 0u64, 0u64);
    let mut last_rx = Instant::now();
    loop {
        let elapsed = t0.elapsed();
        let sending = elapsed < duration;
        if sending && sent < (elapsed.as_secs_f64() * f64::from(pps)) as u64 + burst {
            for _ in 0..burst {
                tx.clean();
                let Some(mut p) = p2.alloc() else { break };
                p.set_len(gen.size());
                gen.fill(p.data_mut());
                out.push(p);
                sent += 1;
            }
        }
        if sending {
            for frame in during(elapsed) {
                tx.clean();
                let Some(mut p) = p2.alloc() else { break };
                let n = frame.len().min(p.capacity());
                p.set_len(n);
                p.data_mut().copy_from_slice(&frame[..n]);
                out.push(p);
                extra_sent += 1;
            }
        }
        tx.tx_batch(&mut out);
        if rx.rx_batch(&mut inbox, 64) > 0 {
            last_rx = Instant::now();
        }
        for p in inbox.drain(..) {
            verifier.check(p.data(), gen.sent());
            received += 1;
        }
        if !sending
            && out.is_empty()
            && (received >= sent + extra_sent || last_rx.elapsed() > Duration::from_secs(3))
        {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Seen {
        flows: verifier.results(gen.sent()),
        foreign: verifier.foreign(),
    }
}

/// The queue (= worker, with one queue each) of every flow under the
/// supervisor's default RSS over two queues.
fn queues_of(flows: u32) -> Vec<u32> {
    let rss = RssConfig::new(2, RssKey::Default).expect("rss");
    (0..flows).map(|f| queue_of(&rss, f)).collect()
}

/// Asserts that only flows of `hit` queues lost frames, and that nothing
/// was duplicated or reordered anywhere.
fn only_hit_queues_lost(seen: &Seen, queues: &[u32], hit: &BTreeSet<u32>, log: &str) {
    for (f, r) in seen.flows.iter().enumerate() {
        assert_eq!(
            (r.duplicated, r.reordered),
            (0, 0),
            "flow {f}: {r:?}; log:\n{log}"
        );
        if !hit.contains(&queues[f]) {
            assert_eq!(
                (r.lost, r.received),
                (0, r.sent),
                "flow {f} of queue {} (not hit by the fault) lost frames: {r:?}; log:\n{log}",
                queues[f]
            );
        }
    }
}

#[test]
fn killing_workers_repeatedly_loses_only_their_flows_and_leaks_nothing() {
    let _serial = serial();
    let (period, kills) = if long() {
        (Duration::from_secs(2), 10)
    } else {
        (Duration::from_millis(1500), 3)
    };
    let free_before = free_hugepages();
    let run = forward2("kills");
    let flows = 256;
    let queues = queues_of(flows);
    let workers = [run.worker(0), run.worker(1)];
    // A fixed pseudo-random victim sequence (xorshift), printed on failure.
    let mut x = 0x9E37_79B9u32 ^ std::process::id();
    let mut victims = Vec::new();
    let seen = traffic_for(&run, flows, 8_000, period * (kills + 1), |t| {
        if t >= period * (victims.len() as u32 + 1) && victims.len() < kills as usize {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // A worker still in its restart back-off is not there to kill:
            // the other one is.
            let mut v = (x % 2) as usize;
            if workers[v].state() != State::Running {
                v = 1 - v;
            }
            signal(workers[v].pid(), nix::sys::signal::Signal::SIGKILL);
            victims.push(v);
        }
        Vec::new()
    });
    let log = run.log();
    assert_eq!(victims.len(), kills as usize, "every kill happened");
    for (i, w) in workers.iter().enumerate() {
        let killed = victims.iter().filter(|&&v| v == i).count() as u64;
        let back = wait(|| w.restarts() == killed && w.state() == State::Running);
        assert!(
            back,
            "worker {i} killed {killed} times (victims {victims:?}) shows {} restarts, state {:?}; log:\n{log}",
            w.restarts(),
            w.state()
        );
    }
    let hit: BTreeSet<u32> = victims.iter().map(|&v| v as u32).collect();
    only_hit_queues_lost(&seen, &queues, &hit, &log);
    report(
        "kill -9 of a random worker",
        &format!("{kills} kills every {period:?} (victims {victims:?})"),
        &seen,
    );
    assert_eq!(run.iommu_faults(), 0, "no DMA after a queue was given up");
    let name = run.name.clone();
    run.terminate();
    assert_eq!(dma_files_left(&name), Vec::<String>::new());
    assert!(
        wait(|| free_hugepages() >= free_before),
        "hugepages leaked: {} free before, {} after",
        free_before,
        free_hugepages()
    );
}

#[test]
fn a_stopped_worker_stalls_only_its_own_queue_and_catches_up() {
    let _serial = serial();
    let stop = if long() {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(2)
    };
    let run = forward2("sigstop");
    let flows = 256;
    let queues = queues_of(flows);
    let (w0, w1) = (run.worker(0), run.worker(1));
    let victim = w1.pid();
    let mut phase = 0;
    let (mut before, mut during_stop) = ((0u64, Duration::ZERO), (0u64, Duration::ZERO));
    let mut shown_stalled = false;
    let mut rx1_at_cont = 0;
    let stats_bin = ixy_stats();
    let seen = traffic_for(&run, flows, 8_000, stop * 3, |t| {
        let rx0 = w0.counters().rx_packets;
        if phase == 0 && t >= stop {
            before = (rx0, t);
            signal(victim, nix::sys::signal::Signal::SIGSTOP);
            phase = 1;
        } else if phase == 1 && t >= stop * 2 {
            during_stop = (rx0 - before.0, t - before.1);
            let out = Command::new(&stats_bin)
                .arg("--run-dir")
                .arg(&run.run_dir)
                .output()
                .expect("ixy-stats");
            shown_stalled = String::from_utf8_lossy(&out.stdout).contains("stalled");
            rx1_at_cont = w1.counters().rx_packets;
            signal(victim, nix::sys::signal::Signal::SIGCONT);
            phase = 2;
        }
        Vec::new()
    });
    let log = run.log();
    // Worker 0's share kept flowing at the offered rate while 1 stood still.
    let rate_during = during_stop.0 as f64 / during_stop.1.as_secs_f64();
    let share = queues.iter().filter(|&&q| q == 0).count() as f64 / f64::from(flows);
    let offered = 8_000.0 * share;
    assert!(
        (rate_during - offered).abs() / offered < 0.05,
        "worker 0 forwarded {rate_during:.0} pps while worker 1 was stopped, offered {offered:.0}"
    );
    assert!(
        shown_stalled,
        "ixy-stats shows the stopped worker as stalled"
    );
    only_hit_queues_lost(&seen, &queues, &BTreeSet::from([1]), &log);
    let mut dropped = 0;
    wait(|| {
        // The port file is rewritten once a second.
        let now = port_stat(&run.run_dir, 0, "queue.1.rx_dropped");
        let settled = now > 0 && now == dropped;
        dropped = now;
        settled
    });
    let lost: u64 = seen.flows.iter().map(|r| r.lost).sum();
    assert!(dropped > 0, "the stopped queue's drops are counted");
    // The rest of the loss: the full Rx ring leaves as one burst after
    // SIGCONT, more than the Tx ring holds (counted as the worker's drops).
    let tx_drops = w1.counters().tx_drops;
    assert_eq!(
        lost,
        dropped + tx_drops,
        "every frame lost is counted: at the stopped queue ({dropped}) or at its Tx ring ({tx_drops})"
    );
    // After SIGCONT it caught up: its flows received frames after the stop.
    assert_eq!(w1.restarts(), 0, "a stopped worker is not restarted");
    assert_eq!(w1.state(), State::Running);
    report(
        "SIGSTOP of worker 1",
        &format!(
            "stopped {stop:?}; worker 0 at {rate_during:.0} pps of {offered:.0} offered; \
             queue 1: {dropped} QPRDC drops + {tx_drops} Tx-ring drops after SIGCONT"
        ),
        &seen,
    );
    assert!(
        w1.counters().rx_packets > rx1_at_cont,
        "worker 1 received again after SIGCONT"
    );
    run.terminate();
}

#[test]
fn a_link_flap_is_logged_restarts_nothing_and_traffic_resumes() {
    let _serial = serial();
    let run = forward2("flap");
    let flows = 64;
    let mut phase = 0;
    let seen_flap = traffic_for(&run, flows, 5_000, Duration::from_secs(3), |t| {
        if phase == 0 && t >= Duration::from_millis(500) {
            run.lab.control("link 1 down").expect("link down");
            phase = 1;
        } else if phase == 1 && t >= Duration::from_millis(1500) {
            run.lab.control("link 1 up").expect("link up");
            phase = 2;
        }
        Vec::new()
    });
    assert!(
        seen_flap.flows.iter().all(|r| r.duplicated == 0),
        "no duplicates across a flap"
    );
    // Once the link is back, nothing is lost.
    assert!(
        wait(|| {
            let log = run.log().to_lowercase();
            log.contains("link down") && log.contains("link up")
        }),
        "both transitions logged:\n{}",
        run.log()
    );
    let after = traffic_for(&run, flows, 5_000, Duration::from_secs(1), |_| Vec::new());
    let lost: u64 = after.flows.iter().map(|r| r.lost).sum();
    assert_eq!(lost, 0, "traffic resumed after the flap");
    report(
        "link 1 down for 1 s, then up",
        "during the flap",
        &seen_flap,
    );
    report("link 1 down for 1 s, then up", "1 s after it", &after);
    assert_eq!((run.worker(0).restarts(), run.worker(1).restarts()), (0, 0));
    run.terminate();
}

#[test]
fn a_killed_supervisor_takes_its_workers_and_the_next_one_reclaims_first() {
    let _serial = serial();
    let mut run = forward2("sk9");
    let pids = [run.worker(0).pid(), run.worker(1).pid()];
    let child = run.child.0.take().expect("the supervisor");
    signal(child.id(), nix::sys::signal::Signal::SIGKILL);
    let t0 = Instant::now();
    let mut child = child;
    let _ = child.wait();
    assert!(
        wait(|| pids.iter().all(|&p| gone(p))),
        "workers outlived it"
    );
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(1), "workers died after {took:?}");
    let left = dma_files_left(&run.name);
    assert!(!left.is_empty(), "a SIGKILL leaves DMA files behind");
    eprintln!(
        "fault: kill -9 of the supervisor: workers gone after {took:?}; {} DMA files left for the next one",
        left.len()
    );
    // A new supervisor with fewer workers reclaims all of them first.
    let log =
        std::fs::File::create(std::env::temp_dir().join(format!("{}.log", run.name))).expect("log");
    let next = Command::new(BIN)
        .args(["--workers", "1", "--app", "forward", "--oversubscribe"])
        .args(["--idle", "yield"])
        .arg("--device")
        .arg(format!("sim:{}/0", run.name))
        .arg("--device")
        .arg(format!("sim:{}/1", run.name))
        .arg("--run-dir")
        .arg(&run.run_dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("the next supervisor");
    run.child.0 = Some(next);
    // Running under a new pid: the old stats file said running too.
    assert!(
        // The new supervisor replaces the run dir's files: the stats file
        // may be missing for a moment, which is "not yet", not a failure.
        wait(|| {
            StatsFile::open(&statsfile::path(&run.run_dir, 0))
                .is_ok_and(|w| w.state() == State::Running && !pids.contains(&w.pid()))
        }),
        "the next supervisor's worker never ran; log:\n{}",
        run.log()
    );
    let still: Vec<String> = dma_files_left(&run.name)
        .into_iter()
        .filter(|f| left.contains(f))
        .collect();
    assert_eq!(
        still,
        Vec::<String>::new(),
        "reclaimed before allocating; log:\n{}",
        run.log()
    );
    let name = run.name.clone();
    run.terminate();
    assert_eq!(dma_files_left(&name), Vec::<String>::new());
}

/// A frame for DUT port 0 from tester port 2 with `ethertype` and `body`.
fn odd_frame(ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&sim::lab::mac_of(0));
    f.extend_from_slice(&sim::lab::mac_of(2));
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f.resize(f.len().max(60), 0);
    f
}

/// An IPv4 header (checksum left 0: nothing on the path checks it).
fn ipv4(ihl: u8, proto: u8, frag: u16, payload: usize) -> Vec<u8> {
    let len = usize::from(ihl) * 4 + payload;
    let mut h = vec![0x40 | ihl, 0, (len >> 8) as u8, len as u8, 0, 1];
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2]);
    h.resize(usize::from(ihl) * 4, 1); // options, if any
    h
}

/// Well-formed Ethernet frames with odd layer 3/4 content: the NIC
/// accepts them and the forwarder passes them on. Each is tagged in its
/// last byte so that a test can tell them apart.
fn odd_frames() -> Vec<Vec<u8>> {
    let udp_empty = [0x30, 0x39, 0x30, 0x39, 0, 8, 0, 0];
    let mut vlan = vec![0x00, 0x05, 0x08, 0x00];
    vlan.extend(ipv4(5, 17, 0, 8));
    vlan.extend_from_slice(&udp_empty);
    let mut with_options = ipv4(8, 17, 0, 8);
    with_options.extend_from_slice(&udp_empty);
    let mut fragment = ipv4(5, 17, 0x2000 | 3, 8);
    fragment.extend_from_slice(&[0xAA; 8]);
    let mut zero_udp = ipv4(5, 17, 0, 8);
    zero_udp.extend_from_slice(&udp_empty);
    vec![
        odd_frame(0x0800, &ipv4(5, 17, 0, 8)[..10]), // truncated IPv4 header
        odd_frame(0x86DD, &[0x60, 0, 0, 0, 0, 8, 17, 64, 0xFE, 0x80]), // truncated IPv6
        odd_frame(0x0800, &with_options),
        odd_frame(0x0800, &fragment),
        odd_frame(0x8100, &vlan),
        odd_frame(0x88B5, b"not ip at all"),
        odd_frame(0x0800, &zero_udp),
    ]
}

#[test]
fn bad_frames_mixed_with_good_ones_are_counted_and_the_good_ones_forwarded() {
    let _serial = serial();
    let secs = if long() { 10 } else { 2 };
    let run = forward2("badframes");
    let odd = odd_frames();
    let jumbo = odd_frame(0x88B5, &[0x5A; 1986]); // 2000 bytes: ROC without JUMBOEN
    let (mut rounds, mut odd_sent, mut jumbo_sent) = (0u64, 0u64, 0u64);
    let per_round = 200u64;
    let seen = traffic_for(&run, 128, 5_000, Duration::from_secs(secs), |t| {
        // Every 100 ms: a volley of each injected kind at port 0's receive
        // side (as fast as the model takes them), and the odd frames and a
        // jumbo frame from the tester.
        if t < Duration::from_millis(100) * rounds as u32 {
            return Vec::new();
        }
        rounds += 1;
        for kind in ["corrupt", "runt", "oversize", "length"] {
            run.lab
                .control(&format!("inject 0 {kind} {per_round}"))
                .expect("inject");
        }
        odd_sent += odd.len() as u64;
        jumbo_sent += 1;
        let mut frames = odd.clone();
        frames.push(jumbo.clone());
        frames
    });
    let log = run.log();
    assert_eq!(
        (run.worker(0).restarts(), run.worker(1).restarts()),
        (0, 0),
        "no worker crashed; log:\n{log}"
    );
    let lost: u64 = seen.flows.iter().map(|r| r.lost).sum();
    assert_eq!(lost, 0, "every good frame was forwarded");
    assert_eq!(
        seen.foreign, odd_sent,
        "every odd but valid frame was forwarded"
    );
    let injected = rounds * per_round;
    let counted = |key: &str| {
        let mut last = 0;
        wait(|| {
            last = port_stat(&run.run_dir, 0, key);
            last >= injected
        });
        last
    };
    assert_eq!(counted("rx_crc_errors"), injected, "CRCERRS");
    assert_eq!(counted("rx_undersize"), injected, "RUC");
    assert_eq!(counted("rx_length_errors"), injected, "RLEC");
    let oversize = injected + jumbo_sent;
    let mut roc = 0;
    wait(|| {
        roc = port_stat(&run.run_dir, 0, "rx_oversize");
        roc >= oversize
    });
    assert_eq!(roc, oversize, "ROC: injected and jumbo frames");
    report(
        "bad frames mixed with good ones",
        &format!(
            "{rounds} volleys: {injected} each of corrupt/runt/oversize/length injected, \
             {odd_sent} odd frames and {jumbo_sent} jumbo frames sent, all counted exactly; \
             odd frames forwarded: {}",
            seen.foreign
        ),
        &seen,
    );
    run.terminate();
}
