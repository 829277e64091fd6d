//! `ixy-latency` end to end: a simulated lab in this process (line rate
//! on, 500 ns cables), the real `ixy-supervisor` forwarding between DUT
//! ports 0 and 1, and the tool measuring from tester port 2 to tester port
//! 3, as the binary (hardware timestamps, JSON, CSV, load) and as the
//! library function (software timestamps). Plus the binary's bad input,
//! and its clean stop on SIGINT/SIGTERM.

mod common;

use driver::{Device, InitConfig, OpenOptions};
use ixy_tools::latency::{self, Config, Timestamps};
use sim::{Lab, LabConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use worker::statsfile::{self, State, StatsFile};

const BIN: &str = env!("CARGO_BIN_EXE_ixy-latency");
const CABLE_DELAY_NS: u64 = 500;
/// Each port's SYSTIM ticks every 6.4 ns with its own phase: a latency
/// can read up to two ticks short of the true one.
const QUANTUM_NS: f64 = 2.0 * 6.4;
/// The tests start several processes on a 2-core machine: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The ixy-supervisor binary: beside this package's binaries when the
/// workspace was built, else built here.
fn supervisor_bin() -> PathBuf {
    let bin = Path::new(BIN).with_file_name("ixy-supervisor");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "ixy-supervisor", "--bin", "ixy-supervisor"])
            .status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "building ixy-supervisor failed"
        );
    }
    bin
}

/// A lab and an ixy-supervisor forwarding between its ports 0 and 1.
struct Dut {
    lab: Option<Lab>,
    name: String,
    log: PathBuf,
    child: Child,
}

impl Dut {
    fn start(test: &str) -> Dut {
        let name = format!("lat-{test}-{}", std::process::id());
        let mut cfg = LabConfig::new(&name);
        cfg.line_rate = true;
        cfg.cable_delay = Duration::from_nanos(CABLE_DELAY_NS);
        let lab = Lab::start(cfg).expect("the lab starts");
        let run_dir = std::env::temp_dir().join(format!("ixy-latency-test-{name}"));
        let _ = std::fs::remove_dir_all(&run_dir);
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let lab_dev = |p: u32| format!("sim:{name}/{p}");
        let child = Command::new(supervisor_bin())
            .args(["--workers", "2", "--app", "forward", "--device"])
            .arg(lab_dev(0))
            .arg("--device")
            .arg(lab_dev(1))
            .args(["--oversubscribe", "--idle", "yield", "--run-dir"])
            .arg(&run_dir)
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ixy-supervisor starts");
        let dut = Dut {
            lab: Some(lab),
            name,
            log,
            child,
        };
        let t0 = Instant::now();
        let running = |i| {
            StatsFile::open(&statsfile::path(&run_dir, i))
                .is_ok_and(|f| f.state() == State::Running)
        };
        while !(running(0) && running(1)) {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the workers never ran; log:\n{}",
                dut.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        dut
    }

    fn dev(&self, port: u32) -> String {
        format!("sim:{}/{port}", self.name)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM; the supervisor must exit 0.
    fn terminate(mut self) {
        let status = self.stop();
        assert!(
            status.is_some_and(|s| s.success()),
            "ixy-supervisor exit {status:?}; log:\n{}",
            self.log()
        );
    }

    fn stop(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return Some(s);
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Dut {
    fn drop(&mut self) {
        self.stop();
        if let Some(lab) = self.lab.take() {
            lab.stop();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The number after `"key":` in a flat JSON text (`None` for null).
fn json_num(json: &str, key: &str) -> Option<f64> {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat).unwrap_or_else(|| panic!("{key} in {json}")) + pat.len();
    let v: String = json[at..]
        .chars()
        .take_while(|c| !matches!(c, ',' | '}'))
        .collect();
    (v != "null").then(|| v.parse().unwrap_or_else(|_| panic!("{key}: {v}")))
}

/// The least time a probe of `size` bytes takes from port 2 to port 3: two
/// cables, and its serialisation once, since the DUT stores and forwards
/// (timestamps are taken at the start of the frame).
fn wire_floor_ns(size: usize) -> f64 {
    2.0 * CABLE_DELAY_NS as f64 + (size as f64 + 4.0 + 20.0) * 0.8
}

#[test]
fn probes_through_a_forwarding_dut() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dut = Dut::start("fwd");
    let csv = std::env::temp_dir().join(format!("{}.csv", dut.name));

    // The binary: hardware timestamps, some background load.
    let out = Command::new(BIN)
        .args(["--device", &dut.dev(2), "--device", &dut.dev(3)])
        .args([
            "--rate",
            "500",
            "--duration",
            "2",
            "--load",
            "0.01",
            "--json",
        ])
        .arg("--csv")
        .arg(&csv)
        .env("RUST_LOG", "debug")
        .output()
        .expect("ixy-latency runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "ixy-latency: {:?}\n{stderr}\n{stdout}\nsupervisor log:\n{}",
        out.status,
        dut.log()
    );
    eprintln!("{stdout}");
    let j = stdout.trim();
    assert_eq!(j.lines().count(), 1, "one JSON object: {j}");
    let num = |k: &str| json_num(j, k).unwrap_or_else(|| panic!("{k} is null: {j}"));
    let (count, lost, sent) = (num("count"), num("lost"), num("sent"));
    assert!(count > 300.0, "about 1000 probes measured: {j}");
    assert!(lost <= sent / 20.0, "few probes lost: {j}");
    let p: Vec<f64> = ["min_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns"]
        .iter()
        .map(|k| num(k))
        .collect();
    assert!(p[0] > 0.0, "{j}");
    assert!(p.windows(2).all(|w| w[0] <= w[1]), "ordered: {p:?}");
    assert!(
        p[0] >= wire_floor_ns(90) - QUANTUM_NS,
        "min {} is at least the wire time {}: {j}",
        p[0],
        wire_floor_ns(90)
    );
    assert_eq!(num("negative"), 0.0);
    assert!(j.contains("\"timestamps\":\"hardware\""), "{j}");
    assert!(num("load_sent") > 0.0 && num("load_received") > 0.0, "{j}");
    assert!(num("clock_syncs") >= 2.0, "synced every second: {j}");
    // The clocks started at different times: a real offset, known well.
    assert!(num("clock_offset_ns").abs() > 0.0, "{j}");
    assert!(num("clock_max_uncertainty_ns") <= 100.0, "{j}");
    // Progress once a second on stderr; the offset at debug level.
    assert!(stderr.contains("probes/s"), "{stderr}");
    assert!(stderr.contains("clock offset"), "{stderr}");
    // The CSV: value,count rows adding up to the count.
    let text = std::fs::read_to_string(&csv).expect("the CSV file");
    let _ = std::fs::remove_file(&csv);
    let total: f64 = text
        .lines()
        .map(|l| {
            let (v, c) = l.split_once(',').expect("value,count");
            assert!(v.parse::<u64>().is_ok(), "{l}");
            c.parse::<f64>().expect("count")
        })
        .sum();
    assert_eq!(total, count);

    // The library function: software timestamps, on the same DUT.
    let open = |p: u32| {
        let d = Device::open(&dut.dev(p), &OpenOptions::default()).expect("open");
        d.init(&InitConfig {
            promisc: true,
            ..InitConfig::default()
        })
        .expect("init");
        d
    };
    let (tx, rx) = (open(2), open(3));
    let mut cfg = Config::new(latency::default_dst_mac(&dut.dev(2)));
    assert_eq!(cfg.dst_mac, sim::lab::mac_of(0));
    cfg.rate = 300.0;
    cfg.duration = Duration::from_millis(1500);
    cfg.timestamps = Timestamps::Software;
    let mut reports = 0;
    let o = latency::measure(&tx, &rx, &cfg, &mut |_| reports += 1).expect("measure");
    let s = o.latencies.summary(o.lost());
    eprintln!("software: {s:?}");
    assert!(s.count > 100, "{s:?} {o:?}");
    assert!(o.lost() <= o.sent / 20, "{o:?}");
    assert!(o.offset.is_none());
    assert!(reports >= 1);
    let v = [s.min, s.p50, s.p90, s.p99, s.max].map(|v| v.expect("values"));
    assert!(v[0] > 0 && v.windows(2).all(|w| w[0] <= w[1]), "{v:?}");
    assert!(v[0] as f64 >= wire_floor_ns(cfg.size), "{v:?}");
    drop((tx, rx));
    dut.terminate();
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("ixy-latency runs")
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let lab = format!("sim:no-such-lab-{}", std::process::id());
    let (d2, d3) = (format!("{lab}/2"), format!("{lab}/3"));
    let d2_blank = format!(" {d2} ");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "--device"),
        (vec!["--device", &d2], "1 --device given"),
        (vec!["--device", &d2, "--device", &d2], "twice"),
        (vec!["--device", &d2, "--device", &d2_blank], "twice"),
        (
            vec!["--device", &d2, "--device", &d3, "--duration", "1e30"],
            "--duration",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--rate", "1e-300"],
            "less than one probe",
        ),
        (
            vec![
                "--device",
                &d2,
                "--device",
                &d3,
                "--rate",
                "0.5",
                "--duration",
                "1",
            ],
            "less than one probe",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--rate", "0"],
            "--rate",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--rate", "-5"],
            "--rate",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--rate", "x"],
            "--rate",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--duration", "0"],
            "--duration",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--duration", "-1"],
            "--duration",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--size", "60"],
            "--size",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--size", "9000"],
            "--size",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--load", "0"],
            "--load",
        ),
        (
            vec!["--device", &d2, "--device", &d3, "--dst-mac", "zz"],
            "--dst-mac",
        ),
        (
            vec![
                "--device",
                &d2,
                "--device",
                &d3,
                "--csv",
                "/nonexistent-dir/x.csv",
            ],
            "--csv",
        ),
        (vec!["--device", &d2, "--device", &d3], "no-such-lab"),
        (vec!["--device", "nonsense", "--device", &d3], "nonsense"),
        (vec!["--device", "0000:zz:00.0", "--device", &d3], "0000:zz"),
        (vec!["--device", &d2, "--device", &d3, "--bogus"], "--bogus"),
    ];
    for (args, needle) in cases {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.starts_with("ixy-latency: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err} lacks {needle}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(!Path::new("/nonexistent-dir/x.csv").exists());
    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--software-timestamps"));
    // The example starts the lab with the option ixy-sim has.
    assert!(help.contains("ixy-sim --lab lab;"), "{help}");
}

#[test]
fn sigint_and_sigterm_stop_with_a_summary_and_free_the_dma_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Tester port 2 cabled straight to port 3: probes need no DUT.
    let name = format!("lat-sig-{}", std::process::id());
    let mut cfg = LabConfig::new(&name);
    cfg.cables = vec![(2, 3)];
    let _lab = Lab::start(cfg).expect("the lab starts");
    let (d2, d3) = (format!("sim:{name}/2"), format!("sim:{name}/3"));
    for signal in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        let args = [
            "--device",
            &d2,
            "--device",
            &d3,
            "--rate",
            "200",
            "--duration",
            "600",
        ];
        // The first progress line: probes are going.
        let stdout = common::stop_by_signal(BIN, &args, "probes/s", signal);
        assert!(
            stdout.contains("stopped early by a signal"),
            "{signal}: {stdout}"
        );
        assert!(stdout.contains("probes of 90 bytes"), "{signal}: {stdout}");
        assert!(stdout.contains("p99"), "{signal}: the histogram: {stdout}");
    }
}
