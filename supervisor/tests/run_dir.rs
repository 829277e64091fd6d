//! The run directory trusts nothing it finds: links planted there are not
//! followed, every run starts its files afresh, a directory other users can
//! change is refused, and one supervisor at a time holds it.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use tools::flows;
use worker::statsfile::{self, Counters, State, StatsFile};

const SINK2: [&str; 7] = [
    "--workers",
    "2",
    "--app",
    "sink",
    "--device",
    "sim:LAB/0",
    "--oversubscribe",
];

fn is_plain_file(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
}

#[test]
fn links_planted_in_the_run_dir_are_not_followed_and_old_files_are_replaced() {
    let _serial = serial();
    let dir = fresh_run_dir("links");
    std::fs::create_dir_all(&dir).unwrap();
    let target = std::env::temp_dir().join(format!("ixy-e2e-target-{}", std::process::id()));
    std::fs::write(&target, b"precious").unwrap();
    for name in ["worker-0.stats", "worker-0.dma", "port-0.stats.tmp"] {
        std::os::unix::fs::symlink(&target, dir.join(name)).unwrap();
    }
    // A worker file an earlier run left, with its counters and restarts.
    let old = StatsFile::create(&dir, 1, 0, 1).unwrap();
    old.publish(&Counters {
        rx_packets: 1_000_000,
        ..Counters::default()
    });
    for _ in 0..6 {
        old.add_restart();
    }
    old.set_state(State::Running);
    drop(old);

    let run = start_at("links", &SINK2, &dir);
    run.wait_running(&[0, 1]);
    // The port file is written once a second, through a fresh .tmp.
    assert!(wait(|| is_plain_file(&worker::portfile::path(&dir, 0))));
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"precious",
        "target untouched"
    );
    for i in 0..2 {
        assert!(is_plain_file(&statsfile::path(&dir, i)), "worker-{i}.stats");
        let w = run.worker(i);
        assert_eq!(
            (w.counters().rx_packets, w.restarts()),
            (0, 0),
            "worker {i} starts at 0"
        );
    }
    run.terminate();
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    std::fs::remove_file(&target).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_run_on_the_same_run_dir_starts_counters_and_restarts_at_zero() {
    let _serial = serial();
    let dir = fresh_run_dir("again");
    let forward = [
        "--workers",
        "1",
        "--app",
        "forward",
        "--device",
        "sim:LAB/0",
        "--device",
        "sim:LAB/1",
        "--idle",
        "yield",
    ];
    let first = start_at("again1", &forward, &dir);
    first.wait_running(&[0]);
    let sum = flows::total(&traffic(&first, 16, 1000, 10_000, |_| {}));
    assert_eq!(sum.received, 1000);
    assert!(wait_published(&first, 1, 1000));
    first.kill_and_wait_back(0);
    assert_eq!(first.worker(0).restarts(), 1);
    drop(first.terminate());

    let second = start_at("again2", &forward, &dir);
    second.wait_running(&[0]);
    let w = second.worker(0);
    assert_eq!(
        (
            w.counters().rx_packets,
            w.counters().tx_packets,
            w.restarts()
        ),
        (0, 0, 0),
        "nothing of the first run is counted again; log:\n{}",
        second.log()
    );
    second.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_supervisor_on_a_run_dir_in_use_is_refused() {
    let _serial = serial();
    let run = start("held", &SINK2);
    run.wait_running(&[0, 1]);
    let (_other_lab, other) = lab("held-other");
    let (code, err) = output_within(
        Command::new(BIN)
            .args(["--workers", "1", "--app", "sink", "--device"])
            .arg(format!("sim:{other}/0"))
            .arg("--run-dir")
            .arg(&run.run_dir),
    );
    assert_eq!(code, Some(2), "{err}");
    let pid = run.child.0.as_ref().expect("runs").id();
    assert!(
        err.lines()
            .last()
            .is_some_and(|l| l.contains(&format!("is in use by pid {pid} (ixy-supervisor)"))),
        "{err}"
    );
    // The first one's workers run on, their files untouched.
    for i in 0..2 {
        assert_eq!(run.worker(i).state(), State::Running);
        assert_eq!(run.worker(i).restarts(), 0);
    }
    run.terminate();
}

#[test]
fn a_run_dir_other_users_can_change_is_refused() {
    let dir = fresh_run_dir("open");
    std::fs::create_dir_all(&dir).unwrap();
    let refuse = |needle: &str| {
        let (code, err) = output_within(
            Command::new(BIN)
                .args(["--workers", "1", "--app", "sink", "--device", "sim:nolab/0"])
                .arg("--run-dir")
                .arg(&dir),
        );
        assert_eq!(code, Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(needle), "{err}");
    };
    for mode in [0o777, 0o775, 0o757] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        refuse("writable by other users");
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    if nix::unistd::geteuid().is_root() {
        // Root can hand the directory to someone else.
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        refuse("belongs to uid 65534");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
