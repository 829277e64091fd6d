//! Traffic nobody here wrote: the Linux kernel's TCP/IP stack on both sides
//! of the framework. The lab's DUT ports 0 and 1 are cabled to TAP devices
//! (`LabConfig::taps`, `ixy-sim --tap`), each moved by
//! `scripts/netns-lab.sh` into a network namespace of its own with an
//! address (10.10.0.1 and 10.10.0.2); `ping`, `iperf3` and `tshark` run in
//! the namespaces. Needs root (namespaces, TAP devices) and those tools
//! (`.ci/run` installs them).

mod common;

use common::*;
use driver::{RssConfig, RssKey};
use sim::{Lab, LabConfig};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const A: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 2);
/// The iperf3 server port and the first client port (`--cport`).
const SERVER_PORT: u16 = 5201;
const CLIENT_PORT: u16 = 40000;
const STREAMS: u16 = 8;

/// A lab whose ports 0 and 1 lead to TAP devices in two namespaces;
/// dropping it deletes the namespaces (the lab removes the TAPs).
struct NetnsLab {
    ns: [String; 2],
    taps: [String; 2],
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/netns-lab.sh")
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is not installed (.ci/run installs it)");
}

impl NetnsLab {
    /// Starts a lab for `test` and the namespaces around it.
    fn start(test: &str) -> (NetnsLab, Lab, String) {
        assert!(
            nix::unistd::geteuid().is_root(),
            "needs root: namespaces and TAP devices"
        );
        let id = std::process::id() % 100_000;
        let name = format!("sup-{test}-{}", std::process::id());
        let taps = [format!("ixy{id}{test}a"), format!("ixy{id}{test}b")]
            .map(|t| t.chars().take(15).collect::<String>());
        let ns = [format!("ixy-{test}-{id}-a"), format!("ixy-{test}-{id}-b")];
        let mut cfg = LabConfig::new(&name);
        cfg.root = PathBuf::from(driver::simdev::DEFAULT_DIR);
        cfg.ports = 2;
        cfg.cables.clear();
        cfg.taps = vec![(0, taps[0].clone()), (1, taps[1].clone())];
        let lab = Lab::start(cfg).expect("a lab with TAP ports");
        let me = NetnsLab { ns, taps };
        let out = Command::new(script())
            .args(["up", &me.taps[0], &me.taps[1], &me.ns[0], &me.ns[1]])
            .output()
            .expect("netns-lab.sh runs");
        assert!(
            out.status.success(),
            "netns-lab.sh up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (me, lab, name)
    }

    /// `cmd` run in namespace `k` (0: A, 1: B).
    fn exec(&self, k: usize, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns[k]]).args(cmd);
        c
    }
}

impl Drop for NetnsLab {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["down", &self.ns[0], &self.ns[1]])
            .status();
    }
}

fn forward_args() -> [&'static str; 11] {
    [
        "--workers",
        "4",
        "--app",
        "forward",
        "--device",
        "sim:LAB/0",
        "--device",
        "sim:LAB/1",
        "--promisc",
        "--oversubscribe",
        "--idle=yield",
    ]
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Bytes received on each queue of `port`, from the supervisor's port
/// file once it was written after `since` (Unix ns).
fn queue_bytes(run: &Run, port: usize, since: u128) -> [u64; 4] {
    let fresh = wait(|| u128::from(port_stat(&run.run_dir, port, "updated_unix_ns")) > since);
    assert!(fresh, "the port file of port {port} was not rewritten");
    [0, 1, 2, 3].map(|q| port_stat(&run.run_dir, port, &format!("queue.{q}.rx_bytes")))
}

#[test]
fn ping_and_iperf3_cross_four_forwarding_workers_on_the_queues_toeplitz_predicts() {
    need("ping");
    need("iperf3");
    let _serial = serial();
    let (net, lab, name) = NetnsLab::start("fw");
    let args = forward_args().map(|a| a.replace("LAB", &name));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = start_on(lab, name, Path::new(BIN), &args, &fresh_run_dir("linux-fw"));
    run.wait_running(&[0, 1, 2, 3]);

    // ping: ARP through the forwarder, then 100 echo requests and replies.
    let out = net
        .exec(
            0,
            &["ping", "-c", "100", "-i", "0.01", "-W", "2", &B.to_string()],
        )
        .output()
        .expect("ping runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("100 packets transmitted, 100 received"),
        "{text}"
    );

    // iperf3: 8 TCP streams for 5 s from fixed client ports.
    let mut server = net
        .exec(1, &["iperf3", "-s", "-1", "-p", &SERVER_PORT.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("iperf3 -s");
    let listening = wait(|| {
        net.exec(1, &["ss", "-ltnH", &format!("sport = :{SERVER_PORT}")])
            .output()
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    assert!(listening, "the iperf3 server never listened");
    let out = net
        .exec(
            0,
            &[
                "iperf3",
                "-c",
                &B.to_string(),
                "-p",
                &SERVER_PORT.to_string(),
                "-P",
                &STREAMS.to_string(),
                "-t",
                "5",
                "--cport",
                &CLIENT_PORT.to_string(),
                "-J",
            ],
        )
        .output()
        .expect("iperf3 -c");
    let ended = unix_ns();
    let _ = server.wait();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !json.contains("\"error\""),
        "iperf3: {json}"
    );
    let received = json_u64(&json, "\"sum_received\"", "bytes");
    assert!(received > 10_000_000, "iperf3 moved {received} bytes");
    println!("iperf3: {received} bytes in 5 s through 4 workers");

    // Which queues the streams' data (port 0: client to server) and their
    // ACKs (port 1: server to client) took, against the software Toeplitz
    // of the default key. Others carry only ARP (queue 0 for non-IP) and
    // iperf3's control connection (an ephemeral port): a trickle.
    let rss = RssConfig::new(4, RssKey::Default).unwrap();
    let queue = |src, dst, sport, dport| {
        usize::from(rss.queue_for_hash(rss.hash_ipv4(src, dst, Some((sport, dport)))))
    };
    let streams = CLIENT_PORT..CLIENT_PORT + STREAMS;
    let data: Vec<usize> = streams
        .clone()
        .map(|p| queue(A, B, p, SERVER_PORT))
        .collect();
    let acks: Vec<usize> = streams.map(|p| queue(B, A, SERVER_PORT, p)).collect();
    for (port, predicted) in [(0, &data), (1, &acks)] {
        let bytes = queue_bytes(&run, port, ended);
        let total: u64 = bytes.iter().sum();
        for q in 0..4 {
            if predicted.contains(&q) {
                assert!(
                    bytes[q] > total / 100,
                    "port {port} queue {q} should carry streams {predicted:?}: {bytes:?}"
                );
            } else {
                assert!(
                    bytes[q] < total / 100,
                    "port {port} queue {q} carries no stream by RSS: {bytes:?}"
                );
            }
        }
    }
    let busy = (0..4)
        .filter(|&i| run.worker(i).counters().rx_packets > 10_000)
        .count();
    assert!(busy > 1, "more than one worker carried traffic");
    let (status, _lab, _dir, log) = run.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn reflect_answers_the_kernel_with_the_macs_swapped() {
    need("tshark");
    need("python3");
    let _serial = serial();
    let (net, lab, name) = NetnsLab::start("rf");
    let device = format!("sim:{name}/0");
    let args = [
        "--workers",
        "2",
        "--app",
        "reflect",
        "--device",
        &device,
        "--promisc",
        "--oversubscribe",
        "--idle=yield",
    ];
    let run = start_on(
        lab,
        name.clone(),
        Path::new(BIN),
        &args,
        &fresh_run_dir("linux-rf"),
    );
    run.wait_running(&[0, 1]);
    // A neighbour that does not exist: the datagram goes out to its MAC and
    // the reflector sends it back to ours.
    let neighbour = "02:00:00:00:00:99";
    let added = net
        .exec(
            0,
            &[
                "ip",
                "neigh",
                "add",
                "10.10.0.99",
                "lladdr",
                neighbour,
                "dev",
                &net.taps[0],
            ],
        )
        .status();
    assert!(added.is_ok_and(|s| s.success()));
    let mut tshark = net
        .exec(
            0,
            &[
                "tshark",
                "-l",
                "-i",
                &net.taps[0],
                "-c",
                "2",
                "-f",
                "udp port 9999",
                "-T",
                "fields",
                "-e",
                "eth.src",
                "-e",
                "eth.dst",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tshark runs");
    let stderr = tshark.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Capturing on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("tshark starts capturing");
    let send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('10.10.0.99', 9999))";
    let sent = net.exec(0, &["python3", "-c", send]).status();
    assert!(sent.is_ok_and(|s| s.success()));
    let t0 = Instant::now();
    while tshark.try_wait().ok().flatten().is_none() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = tshark.kill();
    let out = tshark.wait_with_output().expect("tshark output");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "the datagram out and back: {text:?}");
    assert_eq!(lines[0][1], neighbour, "sent to the neighbour: {text:?}");
    assert_eq!(
        lines[1],
        vec![lines[0][1], lines[0][0]],
        "came back with the MACs swapped: {text:?}"
    );
    let (status, _lab, _dir, log) = run.stop();
    assert!(status.success(), "{log}");
}
