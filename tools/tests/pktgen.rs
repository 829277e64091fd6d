//! ixy-pktgen against ixy-supervisor forwarding on a simulated lab: zero
//! loss and no reordering at a rate the machine sustains, and exactly the
//! loss that is caused on purpose. Against a lab whose tester ports are
//! cabled to each other: exactly the frames asked for, a clean stop on
//! SIGINT/SIGTERM, the summary without --verify. One test at a time (each
//! runs several processes on a 2-core machine).

mod common;

use common::stop_by_signal;
use ixy_tools::pktgen::{self, Config, Rate};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use worker::statsfile::{self, State, StatsFile};

const PKTGEN: &str = env!("CARGO_BIN_EXE_ixy-pktgen");
static SERIAL: Mutex<()> = Mutex::new(());
/// How long any wait for an event may take.
const WAIT: Duration = Duration::from_secs(20);

/// ixy-supervisor, built beside this package's binaries when missing.
fn supervisor_bin() -> PathBuf {
    let bin = Path::new(PKTGEN).with_file_name("ixy-supervisor");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "ixy-supervisor", "--bin", "ixy-supervisor"])
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

    /// Frames the DUT dropped and counted: missed (MPC) and queue drops
    /// (QPRDC) on both ports, and the workers' Tx-ring drops, once the
    /// files hold all of them: the lab quiet (the traffic is over), then
    /// two more writes of each port file (rewritten every second from the
    /// port counters: the first write stamped after the barrier may have
    /// read the counters before it, the next one read them after), by
    /// which time the workers have published their counters too (every
    /// millisecond).
    fn drops(&self) -> u64 {
        self.lab.quiesce(WAIT).expect("the lab goes quiet");
        let quiet = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        for p in 0..2 {
            let path = worker::portfile::path(&self.run_dir, p);
            let updated = || worker::portfile::read(&path).map_or(0, |f| f.updated_unix_ns);
            let mut first = 0;
            let written = sim::harness::wait_for(WAIT, || {
                first = updated();
                first > quiet
            });
            assert!(written, "port file {p} not rewritten after the traffic");
            assert!(
                sim::harness::wait_for(WAIT, || updated() > first),
                "port file {p} not rewritten a second time"
            );
        }
        let ports: u64 = (0..2)
            .filter_map(|p| worker::portfile::read(&worker::portfile::path(&self.run_dir, p)).ok())
            .map(|f| f.stats.rx_missed + f.stats.queues.iter().map(|q| q.rx_dropped).sum::<u64>())
            .sum();
        let workers: u64 = (0..2)
            .filter_map(|i| StatsFile::open(&statsfile::path(&self.run_dir, i)).ok())
            .map(|f| f.counters().tx_drops)
            .sum();
        ports + workers
    }

    fn stop(mut self) {
        let status = self.terminate();
        assert!(status.is_some_and(|s| s.success()), "{status:?}");
    }

    /// SIGTERM, then SIGKILL after 30 s; the exit status if it exited.
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return Some(s);
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
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
    /// A failed test leaves no supervisor behind (the lab goes after this).
    fn drop(&mut self) {
        self.terminate();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// A lab of 4 ports whose only cable joins ports 2 and 3 (no DUT: what
/// port 2 sends, port 3 receives); unpaced, so the tests run quickly.
fn loop_lab(test: &str) -> (sim::Lab, [String; 2]) {
    let name = format!("pgl-{test}-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    cfg.line_rate = false;
    cfg.cables = vec![(2, 3)];
    let lab = sim::Lab::start(cfg).expect("lab");
    (lab, [format!("sim:{name}/2"), format!("sim:{name}/3")])
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
        replies: false,
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
    // Exactly the 37 dropped on purpose, plus whatever the DUT itself
    // dropped and counted (a worker starved of CPU on a 2-core machine
    // shared with the model and this test): every frame is accounted for.
    let dut = d.drops();
    assert_eq!(
        (t.sent, t.lost, t.duplicated, t.reordered),
        (20_000, 37 + dut, 0, 0),
        "{} (DUT drops {dut})",
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
    let victim = StatsFile::open(&statsfile::path(&d.run_dir, 1)).expect("worker 1");
    let devices = d.devices();
    let killer = std::thread::spawn(move || {
        // Kill worker 1 once traffic through it is well under way (20 000
        // frames: about 0.4 s of its share), not in the rush of the start.
        let flowing = sim::harness::wait_for(WAIT, || victim.counters().rx_packets >= 20_000);
        assert!(flowing, "no traffic reached worker 1");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(victim.pid() as i32),
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
    // Each flow that suffered is one RSS gives worker 1 (two workers,
    // the default key): the report names them.
    let rss = driver::RssConfig::new(2, driver::RssKey::Default).expect("rss");
    let ids = &report.directions[0].bad_flow_ids;
    assert_eq!(ids.len() as u32, report.directions[0].bad_flows);
    for &f in ids {
        let src = std::net::Ipv4Addr::from(u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)) + f);
        let q = rss.queue_for_ipv4_udp(
            src,
            std::net::Ipv4Addr::new(10, 1, 0, 1),
            ixy_tools::flows::SRC_PORT,
            ixy_tools::flows::DST_PORT,
        );
        assert_eq!(q, 1, "flow {f} is worker {q}'s, not the killed worker's");
    }
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

#[test]
fn bad_numbers_and_a_port_twice_get_one_line_and_exit_code_2() {
    for (args, needle) in [
        (vec!["--duration", "1e30"], "--duration \"1e30\""),
        (vec!["--duration", "-1"], "--duration \"-1\""),
        (vec!["--duration", "0"], "--duration \"0\""),
        (vec!["--rate", "1e-12"], "--rate \"1e-12\""),
        (
            vec!["--rate", "0.000001", "--duration", "0.5"],
            "not one frame",
        ),
        (vec!["--count", "0"], "--count 0"),
        (vec!["--device", "sim:a/2"], "--device sim:a/2 twice"),
    ] {
        let out = Command::new(PKTGEN)
            .args(["--device", "sim:a/2"])
            .args(&args)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("ixy-pktgen: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn exactly_the_frames_asked_for_leave_the_tester_port() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_lab, ports) = loop_lab("exact");
    let devs = pktgen::open(&ports).expect("tester ports");
    // The hardware counters of both ports, cleared by the read.
    let counters = |devs: &[driver::Device]| {
        let (mut tx, mut rx) = (
            driver::stats::PortStats::default(),
            driver::stats::PortStats::default(),
        );
        tx.update(devs[0].regs().expect("a simulated 82599"));
        rx.update(devs[1].regs().expect("a simulated 82599"));
        (tx.tx_packets, rx.rx_packets)
    };
    counters(&devs);
    for count in [1, 63, 64, 65, 1000] {
        let mut cfg = config(ports.to_vec(), count, false);
        cfg.rate = Rate::Mpps(0.1);
        let report = pktgen::run(&cfg, &devs).expect("pktgen");
        let t = report.directions[0].total;
        assert_eq!(
            (t.sent, t.received, t.lost),
            (count, count, 0),
            "--count {count}: {}",
            report.text()
        );
        assert_eq!(
            counters(&devs),
            (count, count),
            "--count {count}: GPTC, GPRC"
        );
    }
    // --duration: rate x duration frames, the last one due at the very end included.
    let mut cfg = config(ports.to_vec(), 0, false);
    cfg.count = None;
    cfg.duration = Some(Duration::from_millis(300));
    cfg.rate = Rate::Mpps(0.02);
    for _ in 0..3 {
        let report = pktgen::run(&cfg, &devs).expect("pktgen");
        assert_eq!(report.directions[0].total.sent, 6000, "{}", report.text());
        assert_eq!(counters(&devs), (6000, 6000), "GPTC, GPRC");
    }
}

#[test]
fn without_verify_the_summary_says_loss_not_flows() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // No DUT behind the lab's DUT ports: everything sent from 2 is lost.
    let name = format!("pgn-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    let _lab = sim::Lab::start(cfg).expect("lab");
    let out = Command::new(PKTGEN)
        .args(["--device", &format!("sim:{name}/2")])
        .args(["--device", &format!("sim:{name}/3")])
        .args(["--count", "200", "--rate", "0.1"])
        .output()
        .expect("ixy-pktgen runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "documented: only --verify fails a run; {text}"
    );
    assert!(
        text.contains("sent 200 received 0 lost 200 (100.000 %)"),
        "{text}"
    );
    assert!(!text.contains("flows with problems"), "{text}");
    assert!(text.contains("not verified"), "{text}");
}

#[test]
fn sigint_and_sigterm_stop_with_a_summary_and_free_the_dma_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (_lab, ports) = loop_lab("signal");
    for signal in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        let args = [
            "--device",
            &ports[0],
            "--device",
            &ports[1],
            "--verify",
            "--rate",
            "0.05",
            "--duration",
            "600",
        ];
        // The first progress line: it is sending.
        let stdout = stop_by_signal(PKTGEN, &args, "Mpps", signal);
        assert!(stdout.contains("stopped by a signal"), "{signal}: {stdout}");
        // The frames in flight came back: nothing lost.
        assert!(
            stdout.contains(" lost 0 duplicated 0 reordered 0") && stdout.contains("verdict: OK"),
            "{signal}: {stdout}"
        );
    }
}

#[test]
fn the_receive_rate_is_over_the_time_frames_arrived_not_the_wait_for_lost_ones() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (lab, devices) = loop_lab("rxrate");
    // Five frames never arrive: pktgen then waits its full second for
    // them after sending stops. That second is not receive time.
    lab.control("drop 3 5").expect("drop");
    let devs = pktgen::open(&devices).expect("tester ports");
    let report = pktgen::run(&config(devices.to_vec(), 20_000, false), &devs).expect("pktgen");
    let d = &report.directions[0];
    assert_eq!(
        (d.total.sent, d.total.lost),
        (20_000, 5),
        "{}",
        report.text()
    );
    // Sent at 0.05 Mpps over 0.4 s and received as sent: the receive
    // rate is the send rate, less the five frames. The margin allows a
    // model thread that lags on a loaded 2-core machine (80 ms); counting
    // the wait for the lost frames gives 0.014 Mpps, 72 % low.
    let expected = d.tx_mpps * d.total.received as f64 / d.total.sent as f64;
    assert!(
        (d.rx_mpps - expected).abs() < 0.2 * expected,
        "rx {} Mpps, expected about {expected}: {}",
        d.rx_mpps,
        report.text()
    );
    drop(devs);
    lab.stop();
}
