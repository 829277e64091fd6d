//! Every bad input of docs/DESIGN.md 10 that concerns ixy-supervisor gets one
//! line saying what is wrong and what to do, and exit code 2, and leaves
//! nothing half-initialised behind.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ixy-supervisor");

fn run(args: &[&str]) -> (Option<i32>, String) {
    let run_dir = std::env::temp_dir().join(format!("ixy-bad-input-{}", std::process::id()));
    let out = Command::new(BIN)
        .args(args)
        .arg("--run-dir")
        .arg(&run_dir)
        .output()
        .expect("ixy-supervisor runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(args: &[&str], needle: &str) {
    let (code, err) = run(args);
    assert_eq!(code, Some(2), "{args:?}: exit code, stderr {err:?}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line, got {err:?}");
    assert!(
        lines[0].starts_with("ixy-supervisor: "),
        "{args:?}: {err:?}"
    );
    assert!(
        lines[0].contains(needle),
        "{args:?}: {err:?} should mention {needle:?}"
    );
}

#[test]
fn argument_errors() {
    let sink = ["--app", "sink", "--device", "sim:nolab/0"];
    assert_refused(
        &[&["--workers", "0"][..], &sink].concat(),
        "--workers 0: use 1 to 16",
    );
    assert_refused(
        &[&["--workers", "17"][..], &sink].concat(),
        "at most 16 queues",
    );
    assert_refused(
        &["--workers", "2", "--app", "bogus", "--device", "sim:x/0"],
        "unknown app",
    );
    assert_refused(
        &["--workers", "2", "--app", "forward", "--device", "sim:x/0"],
        "needs 2 --device",
    );
    assert_refused(
        &["--workers", "1", "--app", "sink", "--device", "eth0"],
        "expected a PCI address",
    );
    assert_refused(&["--workers", "1", "--app", "sink"], "--device");
    assert_refused(&["--app", "sink", "--device", "sim:x/0"], "--workers");
    assert_refused(
        &["--workers", "x", "--app", "sink", "--device", "sim:x/0"],
        "invalid value",
    );
    assert_refused(
        &[&["--workers", "1", "--idle", "nap"][..], &sink].concat(),
        "spin, yield or sleep",
    );
    assert_refused(
        &[&["--workers", "1", "--rss-key", "abc"][..], &sink].concat(),
        "--rss-key",
    );
    assert_refused(
        &[&["--workers", "1", "--batch", "0"][..], &sink].concat(),
        "--batch 0",
    );
    assert_refused(
        &[&["--workers", "1", "--rx-ring", "100"][..], &sink].concat(),
        "power of two",
    );
    assert_refused(
        &[
            &["--workers", "2", "--debug-worker", "2", "--oversubscribe"][..],
            &sink,
        ]
        .concat(),
        "numbered 0 to 1",
    );
    assert_refused(
        &[&["--workers", "1", "--duration", "0"][..], &sink].concat(),
        "positive number",
    );
    assert_refused(
        &[&["--workers", "1", "--cores", "9999"][..], &sink].concat(),
        "not usable",
    );
    assert_refused(
        &[&["--workers", "1", "--cores", "0-"][..], &sink].concat(),
        "--cores",
    );
    assert_refused(
        &[&["--workers", "1", "--name", "../x"][..], &sink].concat(),
        "--name",
    );
}

#[test]
fn more_workers_than_cores_needs_oversubscribe() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = (cores + 1).min(16).to_string();
    assert_refused(
        &["--workers", &n, "--app", "sink", "--device", "sim:nolab/0"],
        "--oversubscribe",
    );
}

#[test]
fn devices_that_cannot_be_used() {
    assert_refused(
        &[
            "--workers",
            "1",
            "--app",
            "sink",
            "--device",
            "sim:nosuchlab/0",
        ],
        "does not exist",
    );
    assert_refused(
        &[
            "--workers",
            "1",
            "--app",
            "sink",
            "--device",
            "0000:7f:1f.7",
        ],
        "0000:7f:1f.7",
    );
    // A PCI device that is not an ixgbe NIC, where the machine has one.
    if let Some(other) = std::fs::read_dir("/sys/bus/pci/devices")
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok()).find(|e| {
                std::fs::read_to_string(e.path().join("class"))
                    .is_ok_and(|c| !c.starts_with("0x0200"))
            })
        })
    {
        let addr = other.file_name().to_string_lossy().into_owned();
        assert_refused(
            &["--workers", "1", "--app", "sink", "--device", &addr],
            "not a supported ixgbe device",
        );
    }
}

#[test]
fn an_unwritable_run_dir_is_refused() {
    let out = Command::new(BIN)
        .args([
            "--workers",
            "1",
            "--app",
            "sink",
            "--device",
            "sim:x/0",
            "--run-dir",
            "/proc/ixy",
        ])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--run-dir /proc/ixy"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn help_explains_every_flag_with_examples() {
    let out = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--workers",
        "--app",
        "--device",
        "--cores",
        "--batch",
        "--idle",
        "--rss-key",
        "--run-dir",
        "--name",
        "--debug-worker",
        "--duration",
        "--oversubscribe",
        "--max-restarts",
        "Examples:",
    ] {
        assert!(text.contains(flag), "--help mentions {flag}");
    }
}

#[test]
fn durations_beyond_the_clock_are_refused() {
    let sink = ["--workers", "1", "--app", "sink", "--device", "sim:nolab/0"];
    for d in ["1e19", "1e30", "1e300"] {
        assert_refused(&[&sink[..], &["--duration", d]].concat(), "--duration");
    }
}

/// A lab directory under a private `IXY_SIM_DIR` whose `port0/bar0` is
/// made by `make`, without any ixy-sim behind it.
struct FakeLab {
    root: std::path::PathBuf,
    name: String,
}

impl FakeLab {
    fn new(what: &str, make: impl FnOnce(&std::path::Path)) -> Self {
        let name = format!("fake-{what}-{}", std::process::id());
        let root = std::env::temp_dir().join(format!("ixy-sim-{name}"));
        let _ = std::fs::remove_dir_all(&root);
        let port = root.join(&name).join("port0");
        std::fs::create_dir_all(&port).expect("lab directory");
        make(&port.join("bar0"));
        FakeLab { root, name }
    }

    fn bar(&self) -> String {
        self.root
            .join(&self.name)
            .join("port0/bar0")
            .display()
            .to_string()
    }

    /// Runs `bin` with `args`, `LAB` replaced by the lab's name; returns
    /// the exit code (None: killed by a signal), stderr and the time taken.
    fn run(&self, bin: &std::path::Path, args: &[&str]) -> (Option<i32>, String, Duration) {
        let run_dir = self.root.join("run");
        let t0 = Instant::now();
        let out = Command::new(bin)
            .args(args.iter().map(|a| a.replace("LAB", &self.name)))
            .arg("--run-dir")
            .arg(&run_dir)
            .env("IXY_SIM_DIR", &self.root)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            t0.elapsed(),
        )
    }
}

impl Drop for FakeLab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const SINK_ON_LAB: [&str; 6] = ["--workers", "1", "--app", "sink", "--device", "sim:LAB/0"];

fn assert_one_line(code: Option<i32>, err: &str, needles: &[&str]) {
    assert_eq!(code, Some(2), "exit code (None: a signal), stderr {err:?}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, got {err:?}");
    for n in needles {
        assert!(lines[0].contains(n), "{err:?} should mention {n:?}");
    }
}

#[test]
fn a_damaged_bar_file_is_refused_without_a_crash() {
    let truncated = FakeLab::new("short", |bar| {
        std::fs::write(bar, [0u8; 100]).expect("bar0");
    });
    let (code, err, _) = truncated.run(Path::new(BIN), &SINK_ON_LAB);
    assert_one_line(code, &err, &[&truncated.bar(), "100 bytes", "524288"]);

    let dir = FakeLab::new("dir", |bar| std::fs::create_dir(bar).expect("bar0 dir"));
    let (code, err, _) = dir.run(Path::new(BIN), &SINK_ON_LAB);
    assert_one_line(code, &err, &[&dir.bar(), "directory"]);

    let fifo = FakeLab::new("fifo", |bar| {
        nix::unistd::mkfifo(bar, nix::sys::stat::Mode::S_IRWXU).expect("bar0 fifo")
    });
    let (code, err, took) = fifo.run(Path::new(BIN), &SINK_ON_LAB);
    assert_one_line(code, &err, &[&fifo.bar(), "not a regular file"]);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn ixy_pktgen_refuses_a_truncated_bar_without_a_crash() {
    let pktgen = common::ixy_pktgen();
    let lab = FakeLab::new("pktgen", |bar| {
        std::fs::write(bar, [0u8; 100]).expect("bar0");
    });
    let out = Command::new(&pktgen)
        .args(["--device", &format!("sim:{}/0", lab.name), "--count", "1"])
        .env("IXY_SIM_DIR", &lab.root)
        .output()
        .expect("ixy-pktgen runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_one_line(out.status.code(), &err, &[&lab.bar(), "100 bytes"]);
}

#[test]
fn a_bar_file_without_a_lab_behind_it_is_not_running() {
    // The files of a real lab, copied: a valid BAR and IOMMU table that no
    // ixy-sim serves.
    let real = sim::Lab::start(sim::LabConfig::new(&format!(
        "bad-input-real-{}",
        std::process::id()
    )))
    .expect("lab");
    let lab = FakeLab::new("nolab", |bar| {
        std::fs::copy(real.bar_path(0), bar).expect("copying bar0");
        let iommu = bar.parent().and_then(Path::parent).expect("lab dir");
        std::fs::copy(real.iommu_path(), iommu.join("iommu")).expect("copying iommu");
    });
    real.stop();
    let (code, err, took) = lab.run(Path::new(BIN), &SINK_ON_LAB);
    assert_one_line(code, &err, &[&format!("lab {} is not running", lab.name)]);
    assert!(
        took < Duration::from_secs(2),
        "took {took:?}: no reset timeout"
    );
}

#[test]
fn a_removed_port_is_refused_as_removed() {
    let name = format!("bad-input-removed-{}", std::process::id());
    let mut cfg = sim::LabConfig::new(&name);
    cfg.root = driver::simdev::DEFAULT_DIR.into();
    let lab = sim::Lab::start(cfg).expect("lab");
    lab.control("remove 0").expect("remove 0");
    let (code, err) = run(&[
        "--workers",
        "1",
        "--app",
        "sink",
        "--device",
        &format!("sim:{name}/0"),
    ]);
    assert_one_line(code, &err, &[&format!("sim:{name}/0"), "was removed"]);
}
