//! Every program that takes a port owns it for its whole life (docs/DESIGN.md 4,
//! "Ownership and reclaim"): while ixy-supervisor runs on a lab's ports 0
//! and 1, a second supervisor and ixy-pktgen on those ports are refused
//! with one line and exit code 2, and the first keeps forwarding. A
//! supervisor killed with SIGKILL leaves its hugepage files behind; the
//! next program that takes the device reclaims them.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use worker::statsfile::State;

/// A tool of this build (ixy-pktgen, ixy-latency): `cargo build` brings it
/// up to date first (another package's binary, which `cargo test -p
/// supervisor` leaves as it is).
fn tool_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "ixy-tools", "--bins"]);
        if BIN.contains("/release/") {
            build.arg("--release");
        }
        let ok = build.status();
        assert!(ok.is_ok_and(|s| s.success()), "building the tools");
    });
    Path::new(BIN).with_file_name(name)
}

/// Exit code 2 and exactly one line on stderr, which is returned.
fn refused(what: &str, out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit code; stderr {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line, got {err:?}");
    lines[0].to_string()
}

/// A fresh run directory beside the run's own.
fn other_run_dir(run: &Run, which: &str) -> PathBuf {
    let dir = run.run_dir.with_extension(which);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_running_supervisor_owns_its_ports() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (pktgen, latency) = (tool_bin("ixy-pktgen"), tool_bin("ixy-latency"));
    let run = start("own-busy", &FORWARD2);
    run.wait_running(&[0, 1]);
    let pids = [run.worker(0).pid(), run.worker(1).pid()];
    let owner = run.child.0.as_ref().expect("running").id();
    let dev = |port: &str| format!("sim:{}/{port}", run.name);

    // A second supervisor on the same ports, with its own run dir and a
    // --duration so that, were it accepted, it would still end.
    let second_dir = other_run_dir(&run, "second");
    let out = Command::new(BIN)
        .args(["--workers", "2", "--app", "forward", "--oversubscribe"])
        .args(["--device", &dev("0"), "--device", &dev("1")])
        .args(["--duration", "3", "--run-dir"])
        .arg(&second_dir)
        .output()
        .expect("a second supervisor runs");
    assert_eq!(
        refused("a second ixy-supervisor", &out),
        format!(
            "ixy-supervisor: {} is in use by pid {owner} (ixy-supervisor)",
            dev("0")
        )
    );
    // Another spelling of the port is the same port.
    let out = Command::new(BIN)
        .args(["--workers", "1", "--app", "sink", "--device", &dev("01")])
        .args(["--duration", "3", "--run-dir"])
        .arg(&second_dir)
        .output()
        .expect("a third supervisor runs");
    assert_eq!(
        refused("ixy-supervisor on sim:LAB/01", &out),
        format!(
            "ixy-supervisor: {} is in use by pid {owner} (ixy-supervisor)",
            dev("1")
        )
    );
    // ixy-pktgen on a port the supervisor forwards on.
    let out = Command::new(&pktgen)
        .args(["--device", &dev("1"), "--count", "100"])
        .output()
        .expect("ixy-pktgen runs");
    assert_eq!(
        refused("ixy-pktgen on an owned port", &out),
        format!(
            "ixy-pktgen: {} is in use by pid {owner} (ixy-supervisor)",
            dev("1")
        )
    );

    // ixy-latency probing through a port the supervisor owns.
    let out = Command::new(&latency)
        .args([
            "--device",
            &dev("0"),
            "--device",
            &dev("3"),
            "--duration",
            "1",
        ])
        .output()
        .expect("ixy-latency runs");
    assert_eq!(
        refused("ixy-latency on an owned port", &out),
        format!(
            "ixy-latency: {} is in use by pid {owner} (ixy-supervisor)",
            dev("0")
        )
    );

    // The first supervisor kept its workers, and they still forward every
    // flow: before, the ports were reset under them and all was lost.
    // (That nothing at all is lost is e2e.rs's to show; here a starved
    // worker on a loaded machine may drop a few frames.)
    for (i, pid) in pids.iter().enumerate() {
        let w = run.worker(i as u32);
        assert_eq!(
            (w.pid(), w.state(), w.restarts()),
            (*pid, State::Running, 0),
            "worker {i}"
        );
    }
    let (flows, total) = (256u32, 4_000u32);
    let results = traffic(&run, flows, total, 4_000, |_| {});
    for (f, r) in results.iter().enumerate() {
        assert!(
            r.received > 0 && r.duplicated == 0 && r.reordered == 0,
            "flow {f}: {r:?}"
        );
    }
    let received: u64 = results.iter().map(|r| r.received).sum();
    assert!(
        received * 100 >= u64::from(total) * 95,
        "{received} of {total} frames"
    );
    assert_eq!(run.iommu_faults(), 0);
    let (_lab, run_dir, _log) = run.terminate();
    for dir in [&run_dir, &second_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn the_same_device_twice_is_bad_input() {
    for devices in [
        ["sim:nolab-own/0", "sim:nolab-own/0"],
        ["sim:nolab-own/0", "sim:nolab-own/00"],
        ["0000:03:00.0", "03:00.0"],
    ] {
        let out = Command::new(BIN)
            .args(["--workers", "1", "--app", "forward"])
            .args(["--device", devices[0], "--device", devices[1]])
            .output()
            .expect("ixy-supervisor runs");
        let line = refused(&format!("{devices:?}"), &out);
        assert!(
            line.starts_with("ixy-supervisor: --device ") && line.contains("is given twice"),
            "{devices:?}: {line}"
        );
    }
}

#[test]
fn the_next_supervisor_reclaims_what_a_killed_one_left() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut run = start("own-kill9", &FORWARD2);
    run.wait_running(&[0, 1]);
    let workers = [run.worker(0).pid(), run.worker(1).pid()];
    let mut left = dma_files_left(&run.name);
    left.sort();
    for w in &workers {
        assert!(
            left.iter().any(|f| f.contains(&format!("-{w}-"))),
            "worker {w} named its files: {left:?}"
        );
    }
    // kill -9: the workers die with it (PR_SET_PDEATHSIG), their files stay.
    let mut first = run.child.0.take().expect("running");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    let gone = wait(|| {
        workers
            .iter()
            .all(|&w| nix::sys::signal::kill(nix::unistd::Pid::from_raw(w as i32), None).is_err())
    });
    assert!(gone, "the workers died with the supervisor");
    let mut now = dma_files_left(&run.name);
    now.sort();
    assert_eq!(now, left, "nothing reclaimed them yet");

    // A new supervisor with fewer workers and another run dir: no manifest
    // of the dead workers to go by, only the pids in the file names.
    let next_dir = other_run_dir(&run, "next");
    let log = std::env::temp_dir().join(format!("{}.log", run.name));
    let log_file = std::fs::File::create(&log).expect("log");
    let next = Command::new(BIN)
        .args(["--workers", "1", "--app", "forward", "--idle=yield"])
        .args(["--device", &format!("sim:{}/0", run.name)])
        .args(["--device", &format!("sim:{}/1", run.name)])
        .arg("--run-dir")
        .arg(&next_dir)
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .spawn()
        .expect("the next supervisor starts");
    run.child = Stopper(Some(next));
    run.run_dir = next_dir;
    run.wait_running(&[0]);
    let next_worker = run.worker(0).pid();
    let now = dma_files_left(&run.name);
    for f in &left {
        assert!(!now.contains(f), "{f} reclaimed; now {now:?}");
    }
    assert!(
        now.iter().all(|f| f.contains(&format!("-{next_worker}-"))),
        "only the new worker's files: {now:?}"
    );
    let table = sim::iommu::Table::open(&run.lab.iommu_path()).expect("IOMMU table");
    for e in table.entries() {
        let file = e.path.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(
            !file.is_some_and(|f| left.contains(&f)),
            "{} is still mapped",
            e.path.display()
        );
    }
    let text = run.log();
    for port in 0..2 {
        assert!(
            text.contains(&format!("sim:{}/{port}: reclaimed ", run.name)),
            "the reclaim is logged:\n{text}"
        );
    }
    assert_eq!(run.iommu_faults(), 0);
    let name = run.name.clone();
    let (_lab, run_dir, _log) = run.terminate();
    assert!(
        dma_files_left(&name).is_empty(),
        "{:?}",
        dma_files_left(&name)
    );
    let _ = std::fs::remove_dir_all(run_dir);
}
