//! Every bad input of DESIGN.md 10 that concerns ixy-supervisor gets one
//! line saying what is wrong and what to do, and exit code 2, and leaves
//! nothing half-initialised behind.

use std::process::Command;

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
