//! ixy-supervisor and its workers end to end on a simulated lab: the real
//! binary supervises forked workers on DUT ports 0 and 1, while this test
//! drives tester ports 2 and 3 with the driver crate.
//!
//! The tests run one at a time (a lock): each starts several processes on
//! a 2-core machine. Traffic is paced well below what the machine carries,
//! so that "nothing lost" is a property of the framework, not of luck.

use driver::{
    Device, InitConfig, Mempool, OpenOptions, Packet, RssConfig, RssKey, RxQueue, TxQueue,
};
use sim::{Lab, LabConfig, SimCounter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tools::flows::{self, FlowResult, FlowSpec, Generator, Verifier};
use worker::statsfile::{self, State, StatsFile};

const BIN: &str = env!("CARGO_BIN_EXE_ixy-supervisor");
const WAIT: Duration = Duration::from_secs(20);
static SERIAL: Mutex<()> = Mutex::new(());

struct Run {
    /// First, so that it drops (stopping the supervisor) before the lab.
    child: Stopper,
    lab: Lab,
    name: String,
    run_dir: PathBuf,
}

/// The supervisor of a run. If a test fails before `Run::terminate`, the
/// drop stops it (SIGTERM, then SIGKILL after 3 s) while its lab still
/// exists, instead of leaving it and its workers spinning after the test.
struct Stopper(Option<Child>);

impl Drop for Stopper {
    fn drop(&mut self) {
        let Some(child) = self.0.as_mut() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn start(test: &str, args: &[&str]) -> Run {
    let name = format!("sup-{test}-{}", std::process::id());
    let mut cfg = LabConfig::new(&name);
    cfg.root = PathBuf::from(driver::simdev::DEFAULT_DIR);
    cfg.line_rate = false;
    let lab = Lab::start(cfg).expect("lab");
    let run_dir = std::env::temp_dir().join(format!("ixy-e2e-{name}"));
    let _ = std::fs::remove_dir_all(&run_dir);
    let log =
        std::fs::File::create(std::env::temp_dir().join(format!("{name}.log"))).expect("log file");
    let args: Vec<String> = args.iter().map(|a| a.replace("LAB", &name)).collect();
    let child = Command::new(BIN)
        .args(&args)
        .arg("--run-dir")
        .arg(&run_dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("ixy-supervisor starts");
    Run {
        child: Stopper(Some(child)),
        lab,
        name,
        run_dir,
    }
}

impl Run {
    fn log(&self) -> String {
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }

    fn worker(&self, i: u32) -> StatsFile {
        StatsFile::open(&statsfile::path(&self.run_dir, i)).expect("worker stats file")
    }

    fn wait_running(&self, workers: &[u32]) {
        let ok = wait(|| {
            workers.iter().all(|&i| {
                StatsFile::open(&statsfile::path(&self.run_dir, i))
                    .is_ok_and(|f| f.state() == State::Running)
            })
        });
        assert!(ok, "workers {workers:?} never ran; log:\n{}", self.log());
    }

    fn tester(&self, port: u32) -> Device {
        let dev = Device::open(
            &format!("sim:{}/{port}", self.name),
            &OpenOptions::default(),
        )
        .expect("tester");
        dev.init(&InitConfig {
            promisc: true,
            ..InitConfig::default()
        })
        .expect("tester init");
        dev
    }

    fn iommu_faults(&self) -> u64 {
        (0..4)
            .map(|p| {
                sim::Bar::open(&self.lab.bar_path(p))
                    .expect("bar")
                    .sim_counter(SimCounter::IommuFaults)
            })
            .sum()
    }

    /// SIGTERM; the supervisor must exit 0 within 2 s (plus scheduling slack).
    fn terminate(mut self) -> (Lab, PathBuf, String) {
        let child = self.child.0.as_mut().expect("the supervisor runs");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no exit after SIGTERM; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = t0.elapsed();
        self.child.0 = None; // reaped: nothing left for the drop to stop
        let log = self.log();
        assert!(status.success(), "exit status {status:?}; log:\n{log}");
        assert!(took < Duration::from_millis(2500), "stopping took {took:?}");
        (self.lab, self.run_dir, log)
    }
}

fn wait(mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < WAIT {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The flows of these tests: tools::flows, the one generator and verifier.
fn spec(flows: u32) -> FlowSpec {
    FlowSpec {
        flows,
        size: 64,
        src_mac: sim::lab::mac_of(2),
        dst_mac: sim::lab::mac_of(0),
        stream: 0,
    }
}

/// Sends `total` frames round robin over `flows` flows from port 2 at about
/// `pps`, receiving on port 3; `during(sent)` runs between bursts. Returns
/// what the verifier found per flow.
fn traffic(
    run: &Run,
    flows: u32,
    total: u32,
    pps: u32,
    mut during: impl FnMut(u32),
) -> Vec<FlowResult> {
    let (t2, t3) = (run.tester(2), run.tester(3));
    let (p2, p3) = (
        Mempool::new(t2.dma(), "gen", 1024, 2048).unwrap(),
        Mempool::new(t3.dma(), "chk", 4096, 2048).unwrap(),
    );
    let mut tx = TxQueue::attach(&t2, 0, 256).unwrap();
    let mut rx = RxQueue::attach(&t3, 0, &p3, 2048, true).unwrap();
    let (mut gen, mut verifier) = (Generator::new(spec(flows)), Verifier::new(0, flows));
    let (mut out, mut inbox): (Vec<Packet>, Vec<Packet>) = (Vec::new(), Vec::new());
    let burst = 32u32;
    let gap = Duration::from_secs_f64(f64::from(burst) / f64::from(pps));
    let t0 = Instant::now();
    let (mut sent, mut received) = (0u32, 0u32);
    let mut last_rx = Instant::now();
    while sent < total
        || !out.is_empty()
        || (received < total && last_rx.elapsed() < Duration::from_secs(3))
    {
        if sent < total && t0.elapsed() >= gap * (sent / burst) {
            for _ in 0..burst.min(total - sent) {
                tx.clean();
                let Some(mut p) = p2.alloc() else { break };
                p.set_len(gen.size());
                gen.fill(p.data_mut());
                out.push(p);
                sent += 1;
            }
            during(sent);
        }
        tx.tx_batch(&mut out);
        if rx.rx_batch(&mut inbox, 64) > 0 {
            last_rx = Instant::now();
        }
        for p in inbox.drain(..) {
            verifier.check(p.data());
            received += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(verifier.foreign(), 0, "only generated frames arrive");
    verifier.results(gen.sent())
}

fn queue_of(rss: &RssConfig, flow: u32) -> u32 {
    let s = spec(flow + 1);
    u32::from(rss.queue_for_ipv4_udp(s.src_ip(flow), s.dst_ip(), flows::SRC_PORT, flows::DST_PORT))
}

fn port_stat(run_dir: &Path, port: usize, key: &str) -> u64 {
    let text = std::fs::read_to_string(worker::portfile::path(run_dir, port)).unwrap_or_default();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|v| v.strip_prefix(' '))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The ixy-stats binary (built beside ixy-supervisor by `cargo test
/// --workspace`; built here when this package is tested alone).
fn ixy_stats() -> PathBuf {
    let bin = Path::new(BIN).with_file_name("ixy-stats");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "tools", "--bin", "ixy-stats"])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "building ixy-stats");
    }
    bin
}

/// The number after `"key":` following `anchor` in a JSON text.
fn json_u64(json: &str, anchor: &str, key: &str) -> u64 {
    let from = json
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} in {json}"));
    let rest = &json[from..];
    let at = rest
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} after {anchor}"));
    rest[at + key.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number")
}

fn dma_files_left(lab: &str) -> Vec<String> {
    let tag = format!("sim_{}", lab.replace(['-', '.'], "_"));
    [
        driver::memory::DEFAULT_HUGE_MOUNT,
        driver::memory::SHM_FALLBACK_DIR,
    ]
    .iter()
    .filter_map(|d| std::fs::read_dir(d).ok())
    .flatten()
    .filter_map(|e| e.ok())
    .map(|e| e.file_name().to_string_lossy().into_owned())
    .filter(|n| n.contains(&tag))
    .collect()
}

#[test]
fn four_workers_forward_1024_flows_each_worker_its_toeplitz_share() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = start(
        "fwd4",
        &[
            "--workers",
            "4",
            "--app",
            "forward",
            "--device",
            "sim:LAB/0",
            "--device",
            "sim:LAB/1",
            "--oversubscribe",
            "--idle",
            "yield",
        ],
    );
    run.wait_running(&[0, 1, 2, 3]);
    let (flows, total) = (1024u32, 8192u32);
    let results = traffic(&run, flows, total, 20_000, |_| {});
    let sum = flows::total(&results);
    assert_eq!(
        (sum.sent, sum.received),
        (u64::from(total), u64::from(total)),
        "every packet sent comes back out; log:\n{}",
        run.log()
    );
    assert_eq!(
        (sum.lost, sum.duplicated, sum.reordered),
        (0, 0, 0),
        "in order per flow, counted once"
    );
    assert!(
        results.iter().all(|r| r.received > 0),
        "every flow came through"
    );
    let rss = RssConfig::new(4, RssKey::Default).unwrap();
    let mut share = [0u64; 4];
    for f in 0..total {
        share[queue_of(&rss, f % flows) as usize] += 1;
    }
    // Workers publish their counters about once a millisecond: the last
    // frames can be back at the tester before their worker has published.
    let published = wait(|| {
        (0..4)
            .map(|i| run.worker(i).counters().tx_packets)
            .sum::<u64>()
            == u64::from(total)
    });
    assert!(published, "the workers publish every frame they forwarded");
    for i in 0..4 {
        let c = run.worker(i).counters();
        assert_eq!(
            c.rx_packets, share[i as usize],
            "worker {i} receives what the Toeplitz prediction says"
        );
        assert_eq!(
            (c.tx_packets, c.tx_drops),
            (c.rx_packets, 0),
            "worker {i} forwards all it receives"
        );
    }
    // The supervisor's port files (hardware counters) agree with the traffic.
    let ok = wait(|| {
        port_stat(&run.run_dir, 0, "rx_packets") == u64::from(total)
            && port_stat(&run.run_dir, 1, "tx_packets") == u64::from(total)
    });
    assert!(
        ok,
        "port-0 rx {} and port-1 tx {} vs {total}",
        port_stat(&run.run_dir, 0, "rx_packets"),
        port_stat(&run.run_dir, 1, "tx_packets")
    );
    // ixy-stats --json says the same, and sees every worker alive.
    let out = Command::new(ixy_stats())
        .args(["--json", "--interval", "0.2", "--run-dir"])
        .arg(&run.run_dir)
        .output()
        .expect("ixy-stats runs");
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ixy-stats: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json_u64(&json, "\"total\"", "rx_packets"),
        u64::from(total),
        "{json}"
    );
    assert_eq!(json_u64(&json, "\"total\"", "alive"), 4, "{json}");
    assert_eq!(
        json_u64(&json, "\"port\":0", "rx_packets"),
        u64::from(total),
        "{json}"
    );
    assert_eq!(
        json_u64(&json, "\"port\":1", "tx_packets"),
        u64::from(total),
        "{json}"
    );
    for (i, want) in share.iter().enumerate() {
        assert_eq!(
            json_u64(&json, &format!("\"index\":{i},"), "rx_packets"),
            *want,
            "{json}"
        );
    }
    let lab_name = run.name.clone();
    let (lab, run_dir, log) = run.terminate();
    assert!(log.contains("summary"), "a summary is printed:\n{log}");
    let faults: u64 = (0..4)
        .map(|p| {
            sim::Bar::open(&lab.bar_path(p))
                .unwrap()
                .sim_counter(SimCounter::IommuFaults)
        })
        .sum();
    assert_eq!(faults, 0, "queues disabled before memory was freed");
    assert!(
        dma_files_left(&lab_name).is_empty(),
        "DMA files left: {:?}",
        dma_files_left(&lab_name)
    );
    for i in 0..4 {
        assert_eq!(
            StatsFile::open(&statsfile::path(&run_dir, i))
                .unwrap()
                .state(),
            State::Stopped
        );
    }
}

#[test]
fn a_killed_worker_is_restarted_and_the_others_lose_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = start(
        "kill",
        &[
            "--workers",
            "2",
            "--app",
            "forward",
            "--device",
            "sim:LAB/0",
            "--device",
            "sim:LAB/1",
            "--oversubscribe",
            "--idle",
            "yield",
        ],
    );
    run.wait_running(&[0, 1]);
    let victim = run.worker(1);
    let old_pid = victim.pid();
    let mut restarted_in = None;
    let (flows, total) = (256u32, 12_000u32);
    let results = traffic(&run, flows, total, 10_000, |sent| {
        if sent >= total / 3 && restarted_in.is_none() {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(old_pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .expect("kill -9");
            let t0 = Instant::now();
            let back = wait(|| victim.pid() != old_pid && victim.state() == State::Running);
            assert!(back, "worker 1 never came back; log:\n{}", run.log());
            restarted_in = Some(t0.elapsed());
        }
    });
    let took = restarted_in.expect("the worker was killed");
    assert!(took < Duration::from_secs(2), "restarted after {took:?}");
    assert_eq!(victim.restarts(), 1);
    let rss = RssConfig::new(2, RssKey::Default).unwrap();
    for f in (0..flows).filter(|&f| queue_of(&rss, f) == 0) {
        let r = results[f as usize];
        assert_eq!(
            (r.lost, r.duplicated, r.reordered),
            (0, 0, 0),
            "flow {f} of the surviving worker: {r:?}"
        );
        assert_eq!(
            r.received,
            u64::from(total / flows + u32::from(f < total % flows))
        );
    }
    assert_eq!(
        run.iommu_faults(),
        0,
        "the dead worker's queues were disabled before its memory went"
    );
    let (_lab, _dir, log) = run.terminate();
    assert!(
        log.contains("killed by SIGKILL"),
        "the exit cause is reported:\n{log}"
    );
}

#[test]
fn debug_worker_1_receives_exactly_the_flows_of_queue_1() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = start(
        "debug",
        &[
            "--workers",
            "4",
            "--app",
            "sink",
            "--device",
            "sim:LAB/0",
            "--debug-worker",
            "1",
            "--duration",
            "30",
        ],
    );
    run.wait_running(&[1]);
    assert!(
        StatsFile::open(&statsfile::path(&run.run_dir, 0))
            .is_ok_and(|f| f.state() == State::Starting),
        "no other worker runs"
    );
    let (t2, flows, total) = (run.tester(2), 1024u32, 4096u32);
    let pool = Mempool::new(t2.dma(), "dbg", 512, 2048).unwrap();
    let mut tx = TxQueue::attach(&t2, 0, 256).unwrap();
    let mut gen = Generator::new(spec(flows));
    let mut out = Vec::new();
    for _ in 0..total {
        let mut p = loop {
            tx.clean();
            if let Some(p) = pool.alloc() {
                break p;
            }
        };
        p.set_len(gen.size());
        gen.fill(p.data_mut());
        out.push(p);
        if out.len() == 32 {
            while !out.is_empty() {
                tx.tx_batch(&mut out);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    while !out.is_empty() {
        tx.tx_batch(&mut out);
    }
    let rss = RssConfig::new(4, RssKey::Default).unwrap();
    let want = (0..total)
        .filter(|n| queue_of(&rss, n % flows) == 1)
        .count() as u64;
    let w = run.worker(1);
    assert!(
        wait(|| w.counters().rx_packets >= want),
        "worker 1 got {} of {want}",
        w.counters().rx_packets
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        w.counters().rx_packets,
        want,
        "exactly the flows of queue 1"
    );
    // The tester's queue goes before the lab does (it waits for the
    // simulated device to confirm the disable).
    drop(out);
    drop(tx);
    drop(pool);
    run.terminate();
}
