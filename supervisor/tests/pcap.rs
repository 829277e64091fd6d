//! `ixy-pcap` end to end: two capturing workers on DUT port 0 while
//! `ixy-pktgen` sends 16 flows from tester port 2; `tshark -r` reads the
//! workers' files: every frame sent is there once, each flow in one file,
//! its sequence numbers in the order they were sent. Needs tshark
//! (`.ci/run` installs it).

mod common;

use common::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const PCAP: &str = env!("CARGO_BIN_EXE_ixy-pcap");
const FLOWS: u64 = 16;
const FRAMES: u64 = 800;

#[test]
fn what_pktgen_sent_is_in_the_captures_once_in_order_per_flow() {
    let _serial = serial();
    let args = [
        "--workers",
        "2",
        "--device",
        "sim:LAB/0",
        "--oversubscribe",
        "--idle=yield",
        "--count",
        "100000",
    ];
    let run = start_program(Path::new(PCAP), "pcap", &args, &fresh_run_dir("pcap"));
    run.wait_running(&[0, 1]);
    let out = Command::new(ixy_pktgen())
        .args(["--device", &format!("sim:{}/2", run.name)])
        .args([
            "--flows",
            &FLOWS.to_string(),
            "--count",
            &FRAMES.to_string(),
        ])
        .args(["--rate", "0.05", "--json"])
        .output()
        .expect("ixy-pktgen runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let captured = || -> u64 {
        (0..2)
            .map(|i| {
                let c = run.worker(i).app_counters();
                c.iter()
                    .find(|(n, _)| n == "captured")
                    .map_or(0, |&(_, v)| v)
            })
            .sum()
    };
    assert!(
        wait(|| captured() == FRAMES),
        "captured {} of {FRAMES}",
        captured()
    );
    let (status, _lab, dir, log) = run.stop();
    assert!(status.success(), "{log}");

    // Per flow (source address): the files it is in and its sequence
    // numbers in capture order. The tag is at UDP payload bytes 8..20:
    // flow (4), sequence (8), big-endian.
    let mut flows: HashMap<String, (Vec<u32>, Vec<u64>)> = HashMap::new();
    for w in 0..2u32 {
        let file = worker::pcap::path(&dir, w);
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&file)
            .args(["-T", "fields", "-e", "ip.src", "-e", "udp.payload"])
            .output()
            .expect("tshark is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "tshark -r {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let (src, payload) = line.split_once('\t').expect("two fields");
            let hex: String = payload.chars().filter(|c| *c != ':').collect();
            assert!(hex.starts_with("49585947"), "a pktgen frame: {line}");
            let seq = u64::from_str_radix(&hex[24..40], 16).expect("a sequence number");
            let entry = flows.entry(src.to_string()).or_default();
            if !entry.0.contains(&w) {
                entry.0.push(w);
            }
            entry.1.push(seq);
        }
    }
    assert_eq!(flows.len() as u64, FLOWS, "every flow captured");
    for (src, (files, seqs)) in &flows {
        assert_eq!(
            files.len(),
            1,
            "flow {src} in one worker's file only: {files:?}"
        );
        let want: Vec<u64> = (0..FRAMES / FLOWS).collect();
        assert_eq!(seqs, &want, "flow {src}: each frame once, in order");
    }
}

#[test]
fn a_capture_file_that_cannot_be_created_stops_the_run_with_status_2_and_no_restart() {
    let _serial = serial();
    let (_lab, name) = lab("pcap-bad");
    let dir = fresh_run_dir("pcap-bad");
    // A directory where worker 0's capture file goes.
    std::fs::create_dir_all(worker::pcap::path(&dir, 0)).unwrap();
    let (code, out) = output_within(
        Command::new(PCAP)
            .args(["--workers", "1", "--device", &format!("sim:{name}/0")])
            .args(["--idle=yield", "--run-dir"])
            .arg(&dir),
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("cannot create") && out.contains("worker-0.pcap"),
        "{out}"
    );
    assert!(!out.contains("restarting"), "not restarted: {out}");
    let _ = std::fs::remove_dir_all(&dir);
}
