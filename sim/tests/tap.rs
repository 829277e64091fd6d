//! A port cabled to a Linux TAP device (`LabConfig::taps`, sim/README.md
//! 1.4), driven by the register-level harness on the port's side and by
//! raw sockets in a network namespace on the kernel's side: frames cross
//! both ways unchanged, short ones are padded as a MAC pads them, and
//! `drop` and `link down` apply to the TAP's cable. Needs root and
//! python3 (for AF_PACKET).

use ixy_sim::harness::{self, Dma, RxRing, TxRing};
use ixy_sim::{Bar, Lab, LabConfig};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip").args(args).status();
    assert!(ok.is_ok_and(|s| s.success()), "ip {args:?}");
}

/// Sends raw Ethernet frames `frames` (hex) from the TAP `tap` in `ns`.
fn kernel_sends(ns: &str, tap: &str, frames: &[String]) {
    let py = format!(
        "import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('{tap}', 0))\n\
         for f in {frames:?}: s.send(bytes.fromhex(f))"
    );
    let ok = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &py])
        .status();
    assert!(ok.is_ok_and(|s| s.success()), "python3 AF_PACKET send");
}

/// Packets the kernel received on `tap` in `ns`.
fn kernel_received(ns: &str, tap: &str) -> u64 {
    let out = Command::new("ip")
        .args(["-n", ns, "-s", "-j", "link", "show", tap])
        .output()
        .expect("ip -s link");
    let text = String::from_utf8_lossy(&out.stdout);
    // "stats64":{"rx":{"bytes":N,"packets":N,...
    let rx = &text[text.find("\"rx\"").expect("rx stats")..];
    let at = rx.find("\"packets\":").expect("rx packets") + 10;
    rx[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn hex(frame: &[u8]) -> String {
    frame.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn frames_cross_a_tap_cable_both_ways_padded_dropped_and_held_like_on_a_wire() {
    assert!(nix::unistd::geteuid().is_root(), "needs root: TAP devices");
    let id = std::process::id() % 100_000;
    let (tap, ns) = (format!("ixys{id}"), Ns(format!("ixy-sim-tap-{id}")));
    let name = format!("tap-{}", std::process::id());
    let mut cfg = LabConfig::new(&name);
    cfg.ports = 1;
    cfg.cables.clear();
    cfg.line_rate = false;
    cfg.taps = vec![(0, tap.clone())];
    let lab = Lab::start(cfg).expect("a lab with a TAP port");
    ip(&["netns", "add", &ns.0]);
    ip(&["link", "set", &tap, "netns", &ns.0]);
    // No IPv6: the kernel would send its own frames (MLD, router
    // solicitations) when the link comes up.
    let sysctl = format!("net.ipv6.conf.{tap}.disable_ipv6=1");
    ip(&["netns", "exec", &ns.0, "sysctl", "-qw", &sysctl]);
    ip(&["-n", &ns.0, "link", "set", &tap, "up"]);
    let bar = Bar::open(&lab.bar_path(0)).expect("BAR");
    harness::init_port(&bar, true, WAIT).expect("init");
    let dma = |n: &str| Dma::new(&lab.iommu_path(), &lab.dir().join(n), 64 * (16 + 2048)).unwrap();
    let mut rx = RxRing::new(&bar, 0, dma("rx"), 64, 2048, true).expect("Rx ring");
    let mut tx = TxRing::new(&bar, 0, dma("tx"), 64, 2048).expect("Tx ring");
    let mut receive = |n: usize| {
        let mut got = Vec::new();
        harness::wait_for(WAIT, || {
            while let Some((_, data)) = rx.poll(&bar) {
                got.push(data);
            }
            got.len() >= n
        });
        lab.quiesce(WAIT).expect("quiet");
        while let Some((_, data)) = rx.poll(&bar) {
            got.push(data);
        }
        got
    };

    // Kernel to port: a full-size UDP frame unchanged, a 42-byte ARP-sized
    // frame padded to 60 with zeros.
    let udp = harness::udp_frame(
        ixy_sim::lab::mac_of(0),
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        7,
        9,
        200,
        1,
    );
    let mut short = vec![0xFF; 6];
    short.extend_from_slice(&[2, 0, 0, 0, 0, 7, 0x08, 0x06]);
    short.resize(42, 0x5A);
    kernel_sends(&ns.0, &tap, &[hex(&udp), hex(&short)]);
    let got = receive(2);
    assert_eq!(got.len(), 2, "both frames delivered");
    assert_eq!(got[0], udp);
    assert_eq!(got[1].len(), 60, "padded to the minimum frame");
    assert_eq!(&got[1][..42], &short[..]);
    assert!(got[1][42..].iter().all(|&b| b == 0));

    // `drop 0 1` loses the next frame from the TAP, not the one after.
    lab.control("drop 0 1").expect("drop");
    kernel_sends(&ns.0, &tap, &[hex(&udp), hex(&udp)]);
    assert_eq!(receive(1).len(), 1, "one of two frames dropped");

    // Port to kernel: what the port transmits arrives on the TAP.
    let before = kernel_received(&ns.0, &tap);
    for _ in 0..5 {
        assert!(tx.send(&bar, &udp, 0), "Tx ring has room");
    }
    let arrived = harness::wait_for(WAIT, || kernel_received(&ns.0, &tap) >= before + 5);
    assert!(arrived, "5 frames reached the kernel");

    // With the port's link forced down nothing crosses: frames from the
    // TAP are lost, the port's Tx descriptors wait.
    lab.control("link 0 down").expect("link down");
    harness::wait_for(WAIT, || {
        bar.read(driver::regs::LINKS) & driver::regs::LINKS_UP == 0
    });
    let before = kernel_received(&ns.0, &tap);
    kernel_sends(&ns.0, &tap, &[hex(&udp)]);
    assert!(tx.send(&bar, &udp, 0));
    lab.quiesce(WAIT).expect("quiet");
    assert!(receive(0).is_empty(), "nothing received with the link down");
    assert_eq!(
        kernel_received(&ns.0, &tap),
        before,
        "nothing sent with the link down"
    );
    lab.stop();
}
