//! Device loss under traffic (docs/DESIGN.md 7): a port that is surprise-removed
//! (its registers read 0xFFFFFFFF) or a lab whose process is gone makes the
//! supervisor and its workers stop within about a second, name the device,
//! never publish all-ones as counters, and exit with status 3.
//!
//! The tests run one at a time (a lock): each starts several processes on a
//! 2-core machine.

use driver::{Device, InitConfig, Mempool, OpenOptions, TxQueue};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tools::flows::{FlowSpec, Generator};
use worker::statsfile::{self, State, StatsFile};

const BIN: &str = env!("CARGO_BIN_EXE_ixy-supervisor");
/// `ixy-supervisor`'s exit status when a device is lost.
const EXIT_DEVICE_LOST: i32 = 3;
/// From the loss to the supervisor's exit, on a loaded 2-core machine.
const EXIT_BOUND: Duration = Duration::from_secs(3);
/// For everything else (start-up, above all: a worker pinned to a busy
/// core can take many seconds to start on a loaded machine).
const WAIT: Duration = Duration::from_secs(60);
static SERIAL: Mutex<()> = Mutex::new(());

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

fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}.log"))
}

fn read_log(name: &str) -> String {
    std::fs::read_to_string(log_path(name)).unwrap_or_default()
}

/// A child process killed (and reaped) when dropped, so that a failing test
/// leaves nothing running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ixy-supervisor forwarding between ports 0 and 1 of `lab` with 2 workers.
fn supervisor(lab: &str, run_dir: &Path) -> Reaped {
    let _ = std::fs::remove_dir_all(run_dir);
    let log = std::fs::File::create(log_path(lab)).expect("log file");
    let child = Command::new(BIN)
        .args(["--workers", "2", "--app", "forward", "--oversubscribe"])
        .args(["--idle", "yield", "--device"])
        .arg(format!("sim:{lab}/0"))
        .arg("--device")
        .arg(format!("sim:{lab}/1"))
        .arg("--run-dir")
        .arg(run_dir)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("ixy-supervisor starts");
    Reaped(child)
}

/// Sets the flag when dropped: a failing assertion inside a thread scope
/// must still end the sender, or the scope would wait for it forever.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Sends frames from tester port 2 (cabled to port 0) until `stop`;
/// carries on quietly when the device or the lab goes away.
fn send_until(lab: &str, stop: &AtomicBool) {
    let dev = Device::open(&format!("sim:{lab}/2"), &OpenOptions::default()).expect("tester");
    dev.init(&InitConfig {
        promisc: true,
        ..InitConfig::default()
    })
    .expect("tester init");
    let pool = Mempool::new(dev.dma(), "gen", 1024, 2048).expect("pool");
    let mut tx = TxQueue::attach(&dev, 0, 256).expect("tx queue");
    let mut gen = Generator::new(FlowSpec {
        flows: 64,
        size: 64,
        src_mac: sim::lab::mac_of(2),
        dst_mac: sim::lab::mac_of(0),
        stream: 0,
    });
    let mut out = Vec::new();
    while !stop.load(Ordering::Acquire) {
        tx.clean();
        while out.len() < 32 {
            let Some(mut p) = pool.alloc() else { break };
            p.set_len(gen.size());
            gen.fill(p.data_mut());
            out.push(p);
        }
        tx.tx_batch(&mut out);
        // Pacing the background load (at most 64 frames a millisecond),
        // not a wait for anything.
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Every counter in the port files: none may be the all-ones of a lost
/// device (nor a sum of them); the test's traffic is far below 2^32.
fn assert_no_garbage(run_dir: &Path) {
    for port in 0..2 {
        let Ok(text) = std::fs::read_to_string(worker::portfile::path(run_dir, port)) else {
            continue;
        };
        for line in text.lines() {
            let Some((key, value)) = line.split_once(' ') else {
                continue;
            };
            if key == "updated_unix_ns" {
                continue;
            }
            if let Ok(n) = value.parse::<u64>() {
                assert!(
                    n < u64::from(u32::MAX),
                    "port-{port}.stats: {key} {n}: all-ones published as a counter"
                );
            }
        }
    }
}

/// Waits (bounded) for the supervisor to exit, checking the port files
/// meanwhile; returns its status and how long it took from `since`.
fn wait_exit(child: &mut Reaped, run_dir: &Path, since: Instant) -> (ExitStatus, Duration) {
    loop {
        assert_no_garbage(run_dir);
        if let Some(status) = child.0.try_wait().expect("wait") {
            return (status, since.elapsed());
        }
        assert!(
            since.elapsed() < WAIT,
            "the supervisor did not notice the loss in {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A worker process is gone (or a zombie waiting for its reaper).
fn process_gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// What the supervisor must have done after a loss: exited 3 within the
/// bound, named the lost device, stopped its workers (none is left, none
/// is shown running), published no garbage; and no DMA memory is left,
/// the workers' nor the tester's (the sender has ended). (Whether
/// a worker stopped by itself or was killed after the short grace depends
/// on how much CPU its core leaves it on a loaded machine.)
fn assert_stopped_for_loss(
    lab: &str,
    run_dir: &Path,
    status: ExitStatus,
    took: Duration,
    pids: &[u32],
    lost_device: &str,
) {
    let log = read_log(lab);
    eprintln!("{lab}: the supervisor exited {took:?} after the loss");
    assert_eq!(
        status.code(),
        Some(EXIT_DEVICE_LOST),
        "exit status {status:?}; log:\n{log}"
    );
    assert!(
        took < EXIT_BOUND,
        "exited {took:?} after the loss; log:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(lost_device) && l.contains("device lost")),
        "the lost device {lost_device} is named; log:\n{log}"
    );
    assert_no_garbage(run_dir);
    for i in 0..2 {
        let state = StatsFile::open(&statsfile::path(run_dir, i))
            .expect("stats file")
            .state();
        assert_ne!(state, State::Running, "worker {i} is left as running");
    }
    for &pid in pids {
        assert!(
            wait(|| process_gone(pid)),
            "worker pid {pid} still runs after the supervisor exited"
        );
    }
    let ports = driver::memory::dma_device_name(&format!("sim:{lab}/"));
    let left: Vec<_> = driver::memory::dma_files()
        .into_iter()
        .filter(|f| f.device.starts_with(&ports))
        .collect();
    assert!(
        left.is_empty(),
        "DMA files left (workers' or the tester's): {left:?}"
    );
}

/// Waits until both workers run and worker pids are known, and traffic
/// has reached a worker.
fn wait_forwarding(lab: &str, run_dir: &Path) -> Vec<u32> {
    let files: Vec<StatsFile> = (0..2)
        .map(|i| {
            assert!(
                wait(|| StatsFile::open(&statsfile::path(run_dir, i))
                    .is_ok_and(|f| f.state() == State::Running)),
                "worker {i} never ran; log:\n{}",
                read_log(lab)
            );
            StatsFile::open(&statsfile::path(run_dir, i)).expect("stats file")
        })
        .collect();
    assert!(
        wait(|| files.iter().map(|f| f.counters().rx_packets).sum::<u64>() > 0),
        "no traffic reached the workers; log:\n{}",
        read_log(lab)
    );
    files.iter().map(StatsFile::pid).collect()
}

#[test]
fn surprise_removal_under_traffic_stops_the_supervisor_with_status_3() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = format!("loss-rm-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = PathBuf::from(driver::simdev::DEFAULT_DIR);
    cfg.line_rate = false;
    let lab = sim::Lab::start(cfg).expect("lab");
    let run_dir = std::env::temp_dir().join(format!("ixy-{name}"));
    let mut child = supervisor(&name, &run_dir);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sender = s.spawn(|| send_until(&name, &stop));
        let _stop = StopOnDrop(&stop);
        let pids = wait_forwarding(&name, &run_dir);
        lab.control("remove 0").expect("remove 0");
        let removed = Instant::now();
        let (status, took) = wait_exit(&mut child, &run_dir, removed);
        stop.store(true, Ordering::Release);
        sender.join().expect("the sender ends");
        assert_stopped_for_loss(
            &name,
            &run_dir,
            status,
            took,
            &pids,
            &format!("sim:{name}/0"),
        );
        let log = read_log(&name);
        assert!(
            !log.lines()
                .any(|l| l.contains(&format!("sim:{name}/1")) && l.contains("device lost")),
            "port 1 is still there; log:\n{log}"
        );
    });
    drop(lab);
    let _ = std::fs::remove_dir_all(&run_dir);
}

/// The ixy-sim binary beside ixy-supervisor, built (or found up to date)
/// here: testing this package alone does not build another's binaries.
fn ixy_sim() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "-q", "-p", "ixy-sim", "--bin", "ixy-sim"])
        .args((!cfg!(debug_assertions)).then_some("--release"))
        .status();
    assert!(built.is_ok_and(|s| s.success()), "building ixy-sim");
    Path::new(BIN).with_file_name("ixy-sim")
}

/// What a killed lab leaves behind (its directory and lock file), removed
/// when dropped, also when the test fails.
struct KilledLab(PathBuf);

impl Drop for KilledLab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let mut lock = self.0.clone().into_os_string();
        lock.push(".lock");
        let _ = std::fs::remove_file(lock);
    }
}

/// Kills the lab's ixy-sim process under traffic (then, with `sigterm`,
/// stops the supervisor at once, before it may have noticed) and checks
/// the stop.
fn kill_the_lab(test: &str, sigterm: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let name = format!("loss-{test}-{}", std::process::id());
    let root = Path::new(driver::simdev::DEFAULT_DIR);
    let _left = KilledLab(root.join(&name));
    let sim_log = std::fs::File::create(log_path(&format!("{name}-sim"))).expect("log file");
    let mut sim = Reaped(
        Command::new(ixy_sim())
            .args(["--lab", &name, "--unlimited", "--dir"])
            .arg(root)
            .stdout(sim_log.try_clone().expect("log"))
            .stderr(sim_log)
            .spawn()
            .expect("ixy-sim starts"),
    );
    assert!(
        wait(|| root.join(&name).join("control").exists()),
        "the lab never came up: {}",
        read_log(&format!("{name}-sim"))
    );
    let run_dir = std::env::temp_dir().join(format!("ixy-{name}"));
    let mut child = supervisor(&name, &run_dir);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sender = s.spawn(|| send_until(&name, &stop));
        let _stop = StopOnDrop(&stop);
        let pids = wait_forwarding(&name, &run_dir);
        sim.0.kill().expect("kill -9 ixy-sim");
        sim.0.wait().expect("reaped");
        let killed = Instant::now();
        if sigterm {
            let pid = nix::unistd::Pid::from_raw(child.0.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        }
        let (status, took) = wait_exit(&mut child, &run_dir, killed);
        stop.store(true, Ordering::Release);
        sender.join().expect("the sender ends");
        assert_stopped_for_loss(
            &name,
            &run_dir,
            status,
            took,
            &pids,
            &format!("sim:{name}/"),
        );
        let log = read_log(&name);
        assert!(
            log.contains(&format!("lab {name} is not running")),
            "the cause is named; log:\n{log}"
        );
    });
    let _ = std::fs::remove_dir_all(&run_dir);
}

#[test]
fn a_killed_lab_process_stops_the_supervisor_with_status_3() {
    kill_the_lab("kill", false);
}

/// SIGTERM waits for no queue handshake that a dead lab can never answer.
#[test]
fn sigterm_after_the_lab_died_stops_at_once_with_status_3() {
    kill_the_lab("term", true);
}
