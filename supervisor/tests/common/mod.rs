//! Helpers of the supervisor's end-to-end tests: a simulated lab, the real
//! `ixy-supervisor` binary on its DUT ports 0 and 1 with its log in a file,
//! tester ports 2 and 3 driven with the driver crate, and `tools::flows`
//! (what `ixy-pktgen --verify` uses) to send and check traffic.
//!
//! Tests that use these take [`SERIAL`]: each starts several processes on
//! a 2-core machine. Every wait is on an event, with the generous [`WAIT`].

#![allow(dead_code)] // each test file uses its own subset

use driver::{Device, InitConfig, Mempool, OpenOptions, Packet, RssConfig, RxQueue, TxQueue};
use sim::{Lab, LabConfig, SimCounter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tools::flows::{self, FlowResult, FlowSpec, Generator, Verifier};
use worker::statsfile::{self, State, StatsFile};

/// The supervisor binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_ixy-supervisor");
/// How long any wait for an event may take.
pub const WAIT: Duration = Duration::from_secs(20);
/// One test at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Takes [`SERIAL`], whatever an earlier test did with it.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A supervisor running on a lab.
pub struct Run {
    /// First, so that it drops (stopping the supervisor) before the lab.
    pub child: Stopper,
    pub lab: Lab,
    pub name: String,
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

/// A lab named after the test and this process (ports 0-3, cables 0-2
/// and 1-3, no pacing).
pub fn lab(test: &str) -> (Lab, String) {
    let name = format!("sup-{test}-{}", std::process::id());
    let mut cfg = LabConfig::new(&name);
    cfg.root = PathBuf::from(driver::simdev::DEFAULT_DIR);
    cfg.line_rate = false;
    (Lab::start(cfg).expect("lab"), name)
}

/// A fresh run dir for `test`.
pub fn fresh_run_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ixy-e2e-sup-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Starts the supervisor with `args` (`LAB` replaced by the lab's name)
/// on a new lab and a fresh run dir.
pub fn start(test: &str, args: &[&str]) -> Run {
    start_at(test, args, &fresh_run_dir(test))
}

/// Starts the supervisor with `args` on a new lab, with `--run-dir
/// run_dir` as it is.
pub fn start_at(test: &str, args: &[&str], run_dir: &Path) -> Run {
    start_program(Path::new(BIN), test, args, run_dir)
}

/// Starts `program` (the supervisor, or a program built on its library)
/// with `args` on a new lab, with `--run-dir run_dir`.
pub fn start_program(program: &Path, test: &str, args: &[&str], run_dir: &Path) -> Run {
    let (lab, name) = lab(test);
    start_on(lab, name, program, args, run_dir)
}

/// Starts `program` with `args` on the running `lab` called `name`.
pub fn start_on(lab: Lab, name: String, program: &Path, args: &[&str], run_dir: &Path) -> Run {
    let log =
        std::fs::File::create(std::env::temp_dir().join(format!("{name}.log"))).expect("log file");
    let args: Vec<String> = args.iter().map(|a| a.replace("LAB", &name)).collect();
    let child = Command::new(program)
        .args(&args)
        .arg("--run-dir")
        .arg(run_dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("ixy-supervisor starts");
    Run {
        child: Stopper(Some(child)),
        lab,
        name,
        run_dir: run_dir.to_path_buf(),
    }
}

impl Run {
    /// What the supervisor printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }

    /// Waits until the log has a line containing `needle`; returns it.
    pub fn wait_log(&self, needle: &str) -> String {
        let mut found = None;
        let ok = wait(|| {
            found = self
                .log()
                .lines()
                .find(|l| l.contains(needle))
                .map(str::to_string);
            found.is_some()
        });
        assert!(ok, "no log line with {needle:?}; log:\n{}", self.log());
        found.unwrap_or_default()
    }

    /// Worker `i`'s stats file.
    pub fn worker(&self, i: u32) -> StatsFile {
        StatsFile::open(&statsfile::path(&self.run_dir, i)).expect("worker stats file")
    }

    /// Waits until every worker of `workers` runs.
    pub fn wait_running(&self, workers: &[u32]) {
        let ok = wait(|| {
            workers.iter().all(|&i| {
                StatsFile::open(&statsfile::path(&self.run_dir, i))
                    .is_ok_and(|f| f.state() == State::Running)
            })
        });
        assert!(ok, "workers {workers:?} never ran; log:\n{}", self.log());
    }

    /// `kill -9` of worker `i`'s process; waits until a new process runs
    /// it. Returns how long that took.
    pub fn kill_and_wait_back(&self, i: u32) -> Duration {
        let w = self.worker(i);
        let old = w.pid();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill -9");
        let t0 = Instant::now();
        let back = wait(|| w.pid() != old && w.state() == State::Running);
        assert!(back, "worker {i} never came back; log:\n{}", self.log());
        t0.elapsed()
    }

    /// Tester port `port`, promiscuous.
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

    /// IOMMU faults of every port of the lab.
    pub fn iommu_faults(&self) -> u64 {
        (0..4)
            .map(|p| {
                sim::Bar::open(&self.lab.bar_path(p))
                    .expect("bar")
                    .sim_counter(SimCounter::IommuFaults)
            })
            .sum()
    }

    /// SIGTERM; waits for the exit (10 s at most). Returns the status,
    /// the lab, the run dir and the log.
    pub fn stop(mut self) -> (ExitStatus, Lab, PathBuf, String) {
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
        self.child.0 = None; // reaped: nothing left for the drop to stop
        let log = self.log();
        (status, self.lab, self.run_dir, log)
    }

    /// SIGTERM; the supervisor must exit 0.
    pub fn terminate(self) -> (Lab, PathBuf, String) {
        let (status, lab, dir, log) = self.stop();
        assert!(status.success(), "exit status {status:?}; log:\n{log}");
        (lab, dir, log)
    }
}

/// Runs `cmd` (stdout discarded) and returns its exit code and stderr. A
/// program still running after [`WAIT`] is killed and the test fails: a
/// command that should refuse at once must never hang the suite.
pub fn output_within(cmd: &mut Command) -> (Option<i32>, String) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("ixy-e2e-stderr-{}-{n}", std::process::id()));
    let err = std::fs::File::create(&path).expect("stderr file");
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(err)
        .spawn()
        .expect("runs");
    let mut status = None;
    let done = wait(|| {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    assert!(done, "{cmd:?} still ran after {WAIT:?}; stderr:\n{text}");
    (status.and_then(|s| s.code()), text)
}

/// Polls `cond` every 10 ms until it holds (true) or [`WAIT`] passes.
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
            verifier.check(p.data(), gen.sent());
            received += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(verifier.foreign(), 0, "only generated frames arrive");
    verifier.results(gen.sent())
}

/// The queue RSS picks for flow `flow` of [`spec`].
pub fn queue_of(rss: &RssConfig, flow: u32) -> u32 {
    let s = spec(flow + 1);
    u32::from(rss.queue_for_ipv4_udp(s.src_ip(flow), s.dst_ip(), flows::SRC_PORT, flows::DST_PORT))
}

/// Waits until the workers of `run` published `total` forwarded frames.
pub fn wait_published(run: &Run, workers: u32, total: u64) -> bool {
    wait(|| {
        (0..workers)
            .map(|i| run.worker(i).counters().tx_packets)
            .sum::<u64>()
            == total
    })
}

/// `cargo build ARGS` in this test's profile (built, or found up to date:
/// testing one package alone does not build another's binaries or this
/// one's examples); returns `bin`, a path beside ixy-supervisor.
pub fn built(args: &[&str], bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let ok = Command::new(cargo)
        .args(["build", "-q"])
        .args(args)
        .args((!cfg!(debug_assertions)).then_some("--release"))
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "cargo build {args:?}");
    Path::new(BIN).with_file_name(bin)
}

/// The ixy-stats binary.
pub fn ixy_stats() -> PathBuf {
    built(&["-p", "ixy-tools", "--bin", "ixy-stats"], "ixy-stats")
}

/// The ixy-pktgen binary.
pub fn ixy_pktgen() -> PathBuf {
    built(&["-p", "ixy-tools", "--bin", "ixy-pktgen"], "ixy-pktgen")
}

/// `ixy-stats --json` on `run_dir`, one sample pair `interval` apart.
pub fn ixy_stats_json(run_dir: &Path, interval: &str) -> String {
    let out = Command::new(ixy_stats())
        .args(["--json", "--interval", interval, "--run-dir"])
        .arg(run_dir)
        .output()
        .expect("ixy-stats runs");
    assert!(
        out.status.success(),
        "ixy-stats: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of `"key":"..."` following `anchor` in a JSON text.
pub fn json_str(json: &str, anchor: &str, key: &str) -> String {
    let from = json
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} in {json}"));
    let rest = &json[from..];
    let at = rest
        .find(&format!("\"{key}\":\""))
        .unwrap_or_else(|| panic!("{key} after {anchor} in {json}"));
    rest[at + key.len() + 4..]
        .chars()
        .take_while(|&c| c != '"')
        .collect()
}

/// The lines of `text` that start with an env_logger timestamp with
/// milliseconds (`[2025-01-31T12:34:56.789Z`) and contain `needle`.
pub fn timestamped_lines<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.contains(needle))
        .filter(|l| {
            let b = l.as_bytes();
            b.len() > 25
                && b[0] == b'['
                && b[11] == b'T'
                && b[20] == b'.'
                && b[24] == b'Z'
                && b[1..5].iter().all(u8::is_ascii_digit)
        })
        .collect()
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

/// The number after `"key":` (and any blanks) following `anchor` in a
/// JSON text.
pub fn json_u64(json: &str, anchor: &str, key: &str) -> u64 {
    let from = json
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} in {json}"));
    let rest = &json[from..];
    let at = rest
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} after {anchor}"));
    rest[at + key.len() + 3..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a number")
}

/// The DMA files of lab `lab`'s ports still on disk.
pub fn dma_files_left(lab: &str) -> Vec<String> {
    let ports = driver::memory::dma_device_name(&format!("sim:{lab}/"));
    driver::memory::dma_files()
        .into_iter()
        .filter(|f| f.device.starts_with(&ports))
        .map(|f| {
            f.path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The arguments of a supervisor with two forwarding workers on DUT ports
/// 0 and 1 (`LAB` stands for the lab's name), sharing the cores.
pub const FORWARD2: [&str; 10] = [
    "--workers",
    "2",
    "--app",
    "forward",
    "--device",
    "sim:LAB/0",
    "--device",
    "sim:LAB/1",
    "--oversubscribe",
    "--idle=yield",
];

/// [`FORWARD2`] started for `test`, both workers running.
pub fn forward2(test: &str) -> Run {
    let run = start(test, &FORWARD2);
    run.wait_running(&[0, 1]);
    run
}
