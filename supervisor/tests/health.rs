//! Faults that kill nothing are not silent: the supervisor logs link
//! changes with timestamps, and a worker that stops running (SIGSTOP) shows
//! as stalled in `ixy-stats` and the supervisor's log until it continues.

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Instant;

#[test]
fn link_down_and_up_are_logged_with_timestamps_and_restart_nothing() {
    let _serial = serial();
    let run = start(
        "link",
        &["--workers", "1", "--app", "sink", "--device", "sim:LAB/0"],
    );
    run.wait_running(&[0]);
    let pid = run.worker(0).pid();
    run.lab.control("link 0 down").expect("link down");
    run.wait_log("): link down");
    run.lab.control("link 0 up").expect("link up");
    run.wait_log("): link up");
    let log = run.log();
    let down = timestamped_lines(&log, "port 0 (sim:");
    assert!(
        down.len() == 2 && down[0].contains("link down") && down[1].contains("link up at"),
        "two timestamped lines, down then up:\n{log}"
    );
    assert_eq!((run.worker(0).pid(), run.worker(0).restarts()), (pid, 0));
    run.terminate();
}

#[test]
fn a_stopped_worker_shows_as_stalled_until_it_continues() {
    let _serial = serial();
    let run = start(
        "stall",
        &[
            "--workers",
            "2",
            "--app",
            "sink",
            "--device",
            "sim:LAB/0",
            "--oversubscribe",
            "--idle",
            "yield",
        ],
    );
    run.wait_running(&[0, 1]);
    let state = || {
        json_str(
            &ixy_stats_json(&run.run_dir, "0.1"),
            "\"index\":1,",
            "state",
        )
    };
    assert_eq!(state(), "running");
    let raw = run.worker(1).pid();
    let pid = Pid::from_raw(raw as i32);
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
    let t0 = Instant::now();
    let stalled = wait(|| state() == "stalled");
    let took = t0.elapsed();
    if !stalled {
        kill(pid, Signal::SIGCONT).expect("SIGCONT");
        panic!("never shown as stalled; log:\n{}", run.log());
    }
    eprintln!("ixy-stats showed the stopped worker as stalled after {took:?}");
    // Stalled means no heartbeat for 1 s; the rest is slack for a loaded
    // 2-core machine running ixy-stats in a loop.
    assert!(took.as_secs_f64() < 5.0, "stalled shown after {took:?}");
    // The supervisor looks every 100 ms: it says so too.
    let logged = wait(|| {
        run.log().contains(&format!(
            "worker 1 (pid {raw}): stalled: running but no heartbeat"
        ))
    });
    kill(pid, Signal::SIGCONT).expect("SIGCONT");
    assert!(logged, "the supervisor logs the stall:\n{}", run.log());
    assert!(wait(|| state() == "running"), "running again after SIGCONT");
    run.wait_log("worker 1: running again after a stall");
    assert_eq!(run.worker(1).restarts(), 0, "a stall is not a death");

    // Stopped again when the supervisor stops: it is killed after the
    // grace period, and the summary says why.
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP");
    let stall = format!("worker 1 (pid {raw}): stalled");
    assert!(
        wait(|| run.log().matches(&stall).count() == 2),
        "{}",
        run.log()
    );
    let (_lab, _dir, log) = run.terminate();
    assert!(
        log.contains("worker 1: did not stop within 2s (stalled)"),
        "{log}"
    );
    let row = log
        .lines()
        .skip_while(|l| !l.contains("summary after"))
        .find(|l| l.split_whitespace().next() == Some("1"))
        .unwrap_or_default();
    assert!(
        row.ends_with("stalled"),
        "summary row of worker 1: {row:?}\n{log}"
    );
}
