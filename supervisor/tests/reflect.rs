//! The built-in `reflect` app end to end: `ixy-supervisor --app reflect`
//! with 2 workers on DUT port 0, `ixy-pktgen` on tester port 2 sending and
//! receiving (a reflecting DUT): every frame comes back, in order per
//! flow, and both workers carried some. (The tester is promiscuous, so
//! the MAC swap itself is checked by the app's unit test.)

mod common;

use common::*;
use std::process::Command;

#[test]
fn reflect_sends_every_frame_back_in_order_through_two_workers() {
    let _serial = serial();
    let args = [
        "--workers",
        "2",
        "--app",
        "reflect",
        "--device",
        "sim:LAB/0",
        "--oversubscribe",
        "--idle=yield",
    ];
    let run = start("reflect", &args);
    run.wait_running(&[0, 1]);
    // To the DUT's own MAC, which its filter accepts without promiscuity.
    let dut = sim::lab::mac_of(0)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    let out = Command::new(ixy_pktgen())
        .args(["--device", &format!("sim:{}/2", run.name)])
        .args(["--flows", "64", "--count", "3200", "--rate", "0.05"])
        .args(["--dst-mac", &dut, "--verify", "--json"])
        .output()
        .expect("ixy-pktgen runs");
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json_u64(&json, "directions", "received"), 3200, "{json}");
    assert!(wait(|| (0..2)
        .map(|i| run.worker(i).counters().tx_packets)
        .sum::<u64>()
        == 3200));
    for i in 0..2 {
        assert!(
            run.worker(i).counters().tx_packets > 0,
            "worker {i} reflected some"
        );
    }
    let (status, _lab, _dir, log) = run.stop();
    assert!(status.success(), "{log}");
}
