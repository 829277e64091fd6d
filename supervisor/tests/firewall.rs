//! The connection-tracking firewall of `examples/firewall.rs`, a program
//! built on the supervisor library, run with 2 workers on a simulated lab
//! and driven by `ixy-pktgen` on both sides: the inside (tester port 2,
//! cabled to DUT port 0) opens connections, the outside (tester port 3,
//! cabled to DUT port 1) answers them and sends unsolicited traffic. The sim's RSS decides
//! which worker sees which flow; the workers' own counters (in their stats
//! files and in `ixy-stats`) show where each connection's state lives.

mod common;

use common::*;
use driver::{RssConfig, RssKey};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use tools::flows::{DST_PORT, SRC_PORT};

/// Flows the inside opens, and frames per flow in each pktgen run.
const FLOWS: u32 = 64;
const PER_FLOW: u64 = 10;

fn firewall() -> PathBuf {
    let bin = built(
        &["-p", "ixy-supervisor", "--example", "firewall"],
        "examples",
    );
    bin.join("firewall")
}

/// Runs ixy-pktgen from tester port `from` to `to` on `lab`; returns its
/// exit code and JSON summary.
fn pktgen(lab: &str, from: u32, to: u32, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(ixy_pktgen())
        .args(["--device", &format!("sim:{lab}/{from}")])
        .args(["--device", &format!("sim:{lab}/{to}")])
        .args(["--rate", "0.02", "--json"])
        .args(extra)
        .output()
        .expect("ixy-pktgen runs");
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), json)
}

/// Each worker's value of the app counter `name`.
fn app_counter(run: &Run, name: &str) -> [u64; 2] {
    [0, 1].map(|i| {
        run.worker(i)
            .app_counters()
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| panic!("no app counter {name}"), |&(_, v)| v)
    })
}

/// For each worker, the flows whose first packet (inside to outside)
/// lands on its queue, and how many flows have replies that land on the
/// other worker's queue, as the software Toeplitz says for `key`.
fn predicted(key: RssKey) -> ([u64; 2], u64) {
    let rss = RssConfig::new(2, key).unwrap();
    let server = Ipv4Addr::new(10, 1, 0, 1);
    let (mut per_worker, mut split) = ([0u64; 2], 0);
    for f in 0..FLOWS {
        let client = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + f);
        let out = rss.queue_for_ipv4_udp(client, server, SRC_PORT, DST_PORT);
        let back = rss.queue_for_ipv4_udp(server, client, DST_PORT, SRC_PORT);
        per_worker[usize::from(out)] += 1;
        split += u64::from(out != back);
    }
    (per_worker, split)
}

fn start_firewall(test: &str, key: &str) -> Run {
    let program = firewall();
    let args = [
        "--workers",
        "2",
        "--device",
        "sim:LAB/0",
        "--device",
        "sim:LAB/1",
        "--rss-key",
        key,
        "--oversubscribe",
        "--idle=yield",
    ];
    let run = start_program(&program, test, &args, &fresh_run_dir(test));
    run.wait_running(&[0, 1]);
    run
}

/// The inside opens FLOWS connections; every frame goes out.
fn open_connections(run: &Run) {
    let count = (u64::from(FLOWS) * PER_FLOW).to_string();
    let flows = FLOWS.to_string();
    let (code, json) = pktgen(
        &run.name,
        2,
        3,
        &["--flows", &flows, "--count", &count, "--verify"],
    );
    assert_eq!(code, Some(0), "outbound: {json}");
    assert_eq!(json_u64(&json, "directions", "lost"), 0, "{json}");
}

#[test]
fn with_a_symmetric_key_each_connection_lives_on_one_worker_and_its_replies_pass() {
    let _serial = serial();
    let run = start_firewall("fw-sym", "symmetric");
    open_connections(&run);
    // The replies, from the outside: every one passes, in order per flow.
    let flows = FLOWS.to_string();
    let count = (u64::from(FLOWS) * PER_FLOW).to_string();
    let (code, json) = pktgen(
        &run.name,
        3,
        2,
        &[
            "--replies",
            "--flows",
            &flows,
            "--count",
            &count,
            "--verify",
        ],
    );
    assert_eq!(code, Some(0), "replies: {json}");
    assert_eq!(json_u64(&json, "directions", "lost"), 0, "{json}");
    // Replies to twice as many flows: those of the flows never opened are
    // unsolicited and dropped.
    let more = (2 * FLOWS).to_string();
    let count2 = (2 * u64::from(FLOWS) * PER_FLOW).to_string();
    let (code, json) = pktgen(
        &run.name,
        3,
        2,
        &["--replies", "--flows", &more, "--count", &count2],
    );
    assert_eq!(code, Some(0), "unsolicited: {json}");
    let opened = u64::from(FLOWS) * PER_FLOW;
    assert_eq!(json_u64(&json, "directions", "received"), opened, "{json}");
    // Each connection was opened on exactly one worker, the one the
    // Toeplitz hash of its first packet names; the counters add up.
    let (per_worker, split) = predicted(RssKey::Symmetric);
    assert_eq!(
        split, 0,
        "a symmetric key sends both directions to one queue"
    );
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "both workers hold connections: {per_worker:?}"
    );
    assert!(wait(
        || app_counter(&run, "dropped_in").iter().sum::<u64>() == opened
    ));
    assert_eq!(app_counter(&run, "connections"), per_worker);
    assert_eq!(
        app_counter(&run, "allowed_out"),
        per_worker.map(|n| n * PER_FLOW)
    );
    assert_eq!(
        app_counter(&run, "allowed_in"),
        per_worker.map(|n| 2 * n * PER_FLOW)
    );
    // ixy-stats shows the app's counters, per worker and summed.
    let stats = ixy_stats_json(&run.run_dir, "0.2");
    assert_eq!(
        json_u64(&stats, "\"total\"", "connections"),
        u64::from(FLOWS),
        "{stats}"
    );
    let (status, _lab, _dir, log) = run.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn with_the_default_key_replies_land_on_a_worker_that_never_saw_the_connection() {
    let _serial = serial();
    let run = start_firewall("fw-default", "default");
    open_connections(&run);
    let flows = FLOWS.to_string();
    let count = (u64::from(FLOWS) * PER_FLOW).to_string();
    let (_, json) = pktgen(
        &run.name,
        3,
        2,
        &["--replies", "--flows", &flows, "--count", &count],
    );
    // Exactly the replies of the flows whose two directions hash to
    // different queues are lost: their state is on the other worker.
    let (per_worker, split) = predicted(RssKey::Default);
    assert!(split > 0, "the default key splits some flows");
    let lost = split * PER_FLOW;
    assert_eq!(
        json_u64(&json, "directions", "received"),
        count.parse::<u64>().unwrap() - lost,
        "{json}"
    );
    assert!(wait(
        || app_counter(&run, "dropped_in").iter().sum::<u64>() == lost
    ));
    assert_eq!(app_counter(&run, "connections"), per_worker);
    let (status, _lab, _dir, log) = run.stop();
    assert!(status.success(), "{log}");
}
