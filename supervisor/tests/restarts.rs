//! Restarts are bounded by a rate, not a lifetime count, and a worker over
//! its rate is given up without losing its flows: its RSS redirection
//! entries go to the live worker until it runs again.

mod common;

use common::*;
use driver::{RssConfig, RssKey};
use std::time::{Duration, Instant};
use tools::flows;

#[test]
fn a_worker_killed_more_often_than_the_old_lifetime_budget_is_restarted_every_time() {
    let _serial = serial();
    // 3 restarts allowed in any second; the kills below come at most one
    // per 0.6 s, so the rate is never exceeded, but there are 7 of them:
    // more than the 5 restarts the old lifetime budget allowed.
    let args = [
        &FORWARD2[..],
        &["--max-restarts", "3", "--restart-window", "1"],
    ]
    .concat();
    let run = start("rate", &args);
    run.wait_running(&[0, 1]);
    let mut last_kill = Instant::now() - Duration::from_secs(1);
    for k in 1..=7u64 {
        let pace = Duration::from_millis(600).saturating_sub(last_kill.elapsed());
        std::thread::sleep(pace); // pacing the kills, not a proof
        last_kill = Instant::now();
        run.kill_and_wait_back(1);
        assert_eq!(run.worker(1).restarts(), k, "log:\n{}", run.log());
    }
    // Worker 1 still owns its flows: traffic to all flows, none lost.
    let (flows, total) = (64u32, 2048u32);
    let sum = flows::total(&traffic(&run, flows, total, 10_000, |_| {}));
    assert_eq!(
        (sum.received, sum.lost),
        (u64::from(total), 0),
        "log:\n{}",
        run.log()
    );
    assert_eq!(run.iommu_faults(), 0);
    let (_lab, _dir, log) = run.terminate();
    assert!(!log.contains("given up"), "never given up:\n{log}");
}

#[test]
fn a_worker_over_its_restart_rate_is_given_up_its_flows_go_to_the_live_worker_and_come_back() {
    let _serial = serial();
    // One restart allowed in any 10 s: the second death within 10 s gives
    // worker 1 up until its first restart leaves the window.
    let args = [
        &FORWARD2[..],
        &["--max-restarts", "1", "--restart-window", "10"],
    ]
    .concat();
    let run = start("giveup", &args);
    run.wait_running(&[0, 1]);
    run.kill_and_wait_back(1);
    let w1 = run.worker(1);
    let pid = w1.pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    let line = run.wait_log("given up");
    assert!(line.contains("64 RETA entries now go to queue 0"), "{line}");

    // Every flow, worker 1's included, is delivered by worker 0.
    let (flows, total) = (256u32, 4096u32);
    let before = (run.worker(0).counters(), w1.counters());
    let results = traffic(&run, flows, total, 10_000, |_| {});
    for (f, r) in results.iter().enumerate() {
        assert_eq!(
            (r.lost, r.duplicated, r.reordered),
            (0, 0, 0),
            "flow {f}: {r:?}; log:\n{}",
            run.log()
        );
    }
    assert_eq!(flows::total(&results).received, u64::from(total));
    assert!(wait(
        || run.worker(0).counters().tx_packets == before.0.tx_packets + u64::from(total)
    ));
    assert_eq!(
        run.worker(0).counters().rx_packets - before.0.rx_packets,
        u64::from(total),
        "worker 0 received every flow"
    );
    assert_eq!(w1.counters().rx_packets, before.1.rx_packets);
    assert!(
        run.wait_log("trying it again").contains("worker 1"),
        "tried again once the window has room"
    );

    // Tried again after the window, it runs and gets its flows back.
    run.wait_log("RETA entries are back");
    run.wait_running(&[1]);
    let rss = RssConfig::new(2, RssKey::Default).unwrap();
    let share = (0..total)
        .filter(|n| queue_of(&rss, n % flows) == 1)
        .count() as u64;
    let before = w1.counters();
    let sum = flows::total(&traffic(&run, flows, total, 10_000, |_| {}));
    assert_eq!((sum.received, sum.lost), (u64::from(total), 0));
    assert!(
        wait(|| w1.counters().rx_packets - before.rx_packets == share),
        "worker 1 receives its Toeplitz share {share} again, got {}",
        w1.counters().rx_packets - before.rx_packets
    );
    assert_eq!(run.iommu_faults(), 0);
    // Back in service at the end: a clean exit 0.
    run.terminate();
}
