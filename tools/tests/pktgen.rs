//! ixy-pktgen against ixy-supervisor forwarding on a simulated lab: zero
//! loss and no reordering at a rate the machine sustains, and exactly the
//! loss that is caused on purpose. One test at a time (each runs several
//! processes on a 2-core machine).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tools::pktgen::{self, Config, Rate};
use worker::statsfile::{self, State, StatsFile};

const PKTGEN: &str = env!("CARGO_BIN_EXE_ixy-pktgen");
static SERIAL: Mutex<()> = Mutex::new(());

/// ixy-supervisor, built beside this package's binaries when missing.
fn supervisor_bin() -> PathBuf {
    let bin = Path::new(PKTGEN).with_file_name("ixy-supervisor");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "supervisor", "--bin", "ixy-supervisor"])
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "building ixy-supervisor");
    }
    bin
}

struct Dut {
    lab: sim::Lab,
    name: String,
    run_dir: PathBuf,
    child: Child,
}

fn dut(test: &str) -> Dut {
    let name = format!("pg-{test}-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    cfg.line_rate = false;
    let lab = sim::Lab::start(cfg).expect("lab");
    let run_dir = std::env::temp_dir().join(format!("ixy-{name}"));
    let child = Command::new(supervisor_bin())
        .args([
            "--workers",
            "2",
            "--app",
            "forward",
            "--oversubscribe",
            "--idle",
            "yield",
        ])
        .args([
            "--device",
            &format!("sim:{name}/0"),
            "--device",
            &format!("sim:{name}/1"),
        ])
        .arg("--run-dir")
        .arg(&run_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("supervisor");
    let t0 = Instant::now();
    while !(0..2).all(|i| {
        StatsFile::open(&statsfile::path(&run_dir, i)).is_ok_and(|f| f.state() == State::Running)
    }) {
        assert!(t0.elapsed() < Duration::from_secs(20), "workers never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    Dut {
        lab,
        name,
        run_dir,
        child,
    }
}

impl Dut {
    fn devices(&self) -> Vec<String> {
        vec![
            format!("sim:{}/2", self.name),
            format!("sim:{}/3", self.name),
        ]
    }

    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let status = self.child.wait().expect("supervisor exits");
        assert!(status.success(), "{status:?}");
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

fn config(devices: Vec<String>, count: u64, bidirectional: bool) -> Config {
    Config {
        devices,
        flows: 1024,
        size: 64,
        dst_mac: [0xFF; 6],
        rate: Rate::Mpps(0.05),
        duration: None,
        count: Some(count),
        bidirectional,
        verify: true,
        progress: false,
    }
}

#[test]
fn verify_reports_no_loss_and_no_reordering_through_the_supervisor() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = dut("clean");
    let out = Command::new(PKTGEN)
        .args(["--device", &d.devices()[0], "--device", &d.devices()[1]])
        .args([
            "--bidirectional",
            "--verify",
            "--flows",
            "1024",
            "--rate",
            "0.05",
            "--count",
            "40000",
            "--json",
        ])
        .output()
        .expect("ixy-pktgen runs");
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{json} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(json.contains("\"ok\":true"), "{json}");
    assert_eq!(
        json.matches(
            "\"sent\":40000,\"received\":40000,\"lost\":0,\"duplicated\":0,\"reordered\":0"
        )
        .count(),
        2,
        "{json}"
    );
    d.stop();
}

#[test]
fn verify_reports_exactly_the_frames_lost_on_purpose() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = dut("drop");
    // The cable into tester port 3 loses the next 37 frames.
    d.lab.control("drop 3 37").expect("drop");
    let devs = pktgen::open(&d.devices()).expect("tester ports");
    let report = pktgen::run(&config(d.devices(), 20_000, false), &devs).expect("pktgen");
    let t = report.directions[0].total;
    assert_eq!(
        (t.sent, t.lost, t.duplicated, t.reordered),
        (20_000, 37, 0, 0),
        "{}",
        report.text()
    );
    assert!(!report.ok(), "loss below line rate fails the verdict");
    drop(devs);
    d.stop();
}

#[test]
fn verify_reports_loss_when_a_worker_is_killed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = dut("kill");
    let victim = StatsFile::open(&statsfile::path(&d.run_dir, 1))
        .expect("worker 1")
        .pid();
    let devices = d.devices();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill");
    });
    let devs = pktgen::open(&devices).expect("tester ports");
    let mut cfg = config(devices, 0, false);
    cfg.count = None;
    cfg.duration = Some(Duration::from_secs(2));
    cfg.rate = Rate::Mpps(0.1);
    let report = pktgen::run(&cfg, &devs).expect("pktgen");
    killer.join().expect("killer");
    let t = report.directions[0].total;
    assert!(
        t.lost > 0,
        "frames of the killed worker's queue were lost: {}",
        report.text()
    );
    assert!(
        t.received > 0 && t.reordered == 0 && t.duplicated == 0,
        "{}",
        report.text()
    );
    assert!(
        report.directions[0].bad_flows > 0 && report.directions[0].bad_flows < 1024,
        "only the killed worker's flows: {}",
        report.text()
    );
    assert!(!report.ok());
    drop(devs);
    d.stop();
}

#[test]
fn bad_input_gets_one_line_and_exit_code_2() {
    for (args, needle) in [
        (vec!["--device", "sim:nolab-pg/2"], "does not exist"),
        (vec!["--device", "sim:a/2", "--rate", "fast"], "--rate"),
        (vec!["--device", "sim:a/2", "--size", "20"], "--size 20"),
        (vec!["--device", "sim:a/2", "--flows", "0"], "--flows 0"),
        (
            vec!["--device", "sim:a/2", "--bidirectional"],
            "two --device",
        ),
        (
            vec!["--device", "sim:a/2", "--count", "5", "--duration", "1"],
            "not both",
        ),
        (
            vec!["--device", "sim:a/2", "--dst-mac", "nope"],
            "MAC address",
        ),
        (vec!["--flows", "3"], "--device"),
    ] {
        let out = Command::new(PKTGEN).args(&args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("ixy-pktgen: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}
