//! What the supervisor's end-to-end test files share: a lab with the real
//! ixy-supervisor on DUT ports 0 and 1, tester ports 2 and 3 driven with
//! the driver crate, verified flows, and readers of the run directory.

#![allow(dead_code)] // each test file uses its own subset

use driver::{Device, InitConfig, Mempool, OpenOptions, Packet, RssConfig, RxQueue, TxQueue};
use sim::{Lab, LabConfig, SimCounter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tools::flows::{self, FlowResult, FlowSpec, Generator, Verifier};
use worker::statsfile::{self, State, StatsFile};

pub const BIN: &str = env!("CARGO_BIN_EXE_ixy-supervisor");
pub const WAIT: Duration = Duration::from_secs(20);
pub static SERIAL: Mutex<()> = Mutex::new(());

pub struct Run {
    /// First, so that it drops (stopping the supervisor) before the lab.
    pub child: Stopper,
    /// The lab the supervisor runs on.
    pub lab: Lab,
    /// The lab's name.
    pub name: String,
    /// The supervisor's run directory.
    pub run_dir: PathBuf,
}

/// The supervisor of a run. If a test fails before `Run::terminate`, the
/// drop stops it (SIGTERM, then SIGKILL after 3 s) while its lab still
/// exists, instead of leaving it and its workers spinning after the test.
pub struct Stopper(pub Option<Child>);

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

pub fn start(test: &str, args: &[&str]) -> Run {
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
    pub fn log(&self) -> String {
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }

    pub fn worker(&self, i: u32) -> StatsFile {
        StatsFile::open(&statsfile::path(&self.run_dir, i)).expect("worker stats file")
    }

    pub fn wait_running(&self, workers: &[u32]) {
        let ok = wait(|| {
            workers.iter().all(|&i| {
                StatsFile::open(&statsfile::path(&self.run_dir, i))
                    .is_ok_and(|f| f.state() == State::Running)
            })
        });
        assert!(ok, "workers {workers:?} never ran; log:\n{}", self.log());
    }

    pub fn tester(&self, port: u32) -> Device {
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

    pub fn iommu_faults(&self) -> u64 {
        (0..4)
            .map(|p| {
                sim::Bar::open(&self.lab.bar_path(p))
                    .expect("bar")
                    .sim_counter(SimCounter::IommuFaults)
            })
            .sum()
    }

    /// SIGTERM; the supervisor must exit 0 within 2 s (plus scheduling slack).
    pub fn terminate(mut self) -> (Lab, PathBuf, String) {
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

pub fn wait(mut cond: impl FnMut() -> bool) -> bool {
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
pub fn spec(flows: u32) -> FlowSpec {
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
pub fn traffic(
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

pub fn queue_of(rss: &RssConfig, flow: u32) -> u32 {
    let s = spec(flow + 1);
    u32::from(rss.queue_for_ipv4_udp(s.src_ip(flow), s.dst_ip(), flows::SRC_PORT, flows::DST_PORT))
}

pub fn port_stat(run_dir: &Path, port: usize, key: &str) -> u64 {
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
pub fn ixy_stats() -> PathBuf {
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
pub fn json_u64(json: &str, anchor: &str, key: &str) -> u64 {
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

pub fn dma_files_left(lab: &str) -> Vec<String> {
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
