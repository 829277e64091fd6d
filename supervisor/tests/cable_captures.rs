//! Every packet's latency from two cable taps: the lab captures the cable
//! into the DUT (port 2 to 0) and the cable out of it (1 to 3) while
//! `ixy-pktgen` sends through two forwarding workers; `ixy-latency
//! --captures` matches the frames by pktgen's tag, measures each one and
//! draws the CCDF (`--plot`).

mod common;

use common::*;
use std::process::Command;

const FRAMES: u64 = 2000;

#[test]
fn every_frame_through_the_dut_gets_its_latency_from_the_two_captures() {
    let _serial = serial();
    let run = forward2("captures");
    let dir = fresh_run_dir("captures-files");
    std::fs::create_dir_all(&dir).unwrap();
    let (before, after) = (dir.join("before.pcap"), dir.join("after.pcap"));
    run.lab
        .control(&format!("capture 2 {}", before.display()))
        .expect("capture the cable into the DUT");
    run.lab
        .control(&format!("capture 3 {}", after.display()))
        .expect("capture the cable out of the DUT");
    let out = Command::new(ixy_pktgen())
        .args(["--device", &format!("sim:{}/2", run.name)])
        .args(["--device", &format!("sim:{}/3", run.name)])
        .args([
            "--flows",
            "64",
            "--count",
            &FRAMES.to_string(),
            "--rate",
            "0.1",
        ])
        .args(["--verify", "--json"])
        .output()
        .expect("ixy-pktgen runs");
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{json}");
    run.lab.quiesce(WAIT).expect("the lab settles");
    run.lab.control("capture 2 off").expect("capture off");
    run.lab.control("capture 3 off").expect("capture off");
    let latency = Command::new(built(
        &["-p", "ixy-tools", "--bin", "ixy-latency"],
        "ixy-latency",
    ))
    .arg("--captures")
    .args([&before, &after])
    .arg("--json")
    .arg("--plot")
    .arg(dir.join("ccdf.svg"))
    .output()
    .expect("ixy-latency runs");
    let report = String::from_utf8_lossy(&latency.stdout);
    assert!(
        latency.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&latency.stderr)
    );
    assert_eq!(json_u64(&report, "{", "count"), FRAMES, "{report}");
    assert_eq!(json_u64(&report, "{", "lost"), 0, "{report}");
    assert_eq!(json_u64(&report, "{", "unmatched"), 0, "{report}");
    // Through the DUT takes time, and less than a second.
    let (min, max) = (
        json_u64(&report, "{", "min_ns"),
        json_u64(&report, "{", "max_ns"),
    );
    assert!(min > 0 && max < 1_000_000_000, "{report}");
    // And the CCDF is drawn.
    let svg = std::fs::read_to_string(dir.join("ccdf.svg")).expect("--plot wrote the figure");
    assert!(svg.contains("<polyline") && svg.contains("fraction of packets slower"));
    let (status, _lab, _dir, log) = run.stop();
    assert!(status.success(), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
