//! The table printed when the supervisor stops.

use driver::stats::PortStats;
use driver::Device;
use std::time::Duration;
use worker::statsfile::StatsFile;

/// Cycles per packet from a worker's busy cycles (TSC).
pub fn cycles_per_packet(busy_cycles: u64, packets: u64) -> f64 {
    if packets == 0 {
        0.0
    } else {
        busy_cycles as f64 / packets as f64
    }
}

/// Share of a worker's time in polls that received packets, in percent.
pub fn busy_percent(busy_cycles: u64, idle_cycles: u64) -> f64 {
    let all = busy_cycles.saturating_add(idle_cycles);
    if all == 0 {
        0.0
    } else {
        busy_cycles as f64 * 100.0 / all as f64
    }
}

/// Prints one row per worker (its file and the state to show: the file's,
/// or `stalled`) and per port, plus totals. Cycles per packet count the
/// polls that received packets only; the busy column says how much of the
/// time those polls took (the rest was spent waiting).
pub fn print(
    workers: &[(&StatsFile, &str)],
    devices: &[Device],
    ports: &[PortStats],
    elapsed: Duration,
) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!("\nixy-supervisor summary after {secs:.1} s");
    println!(
        "{:>6} {:>4} {:>5} {:>12} {:>12} {:>8} {:>8} {:>10} {:>6} {:>8} {:>9}",
        "worker",
        "core",
        "queue",
        "rx packets",
        "tx packets",
        "rx Mpps",
        "tx drops",
        "cycles/pkt",
        "busy %",
        "restarts",
        "state"
    );
    let mut total = (0u64, 0u64, 0u64);
    for &(w, state) in workers {
        let c = w.counters();
        total = (
            total.0 + c.rx_packets,
            total.1 + c.tx_packets,
            total.2 + c.tx_drops,
        );
        println!(
            "{:>6} {:>4} {:>5} {:>12} {:>12} {:>8.3} {:>8} {:>10.1} {:>6.1} {:>8} {:>9}",
            w.index(),
            w.core(),
            w.queue(),
            c.rx_packets,
            c.tx_packets,
            c.rx_packets as f64 / secs / 1e6,
            c.tx_drops,
            cycles_per_packet(c.busy_cycles, c.rx_packets),
            busy_percent(c.busy_cycles, c.idle_cycles),
            w.restarts(),
            state
        );
    }
    println!(
        "{:>6} {:>4} {:>5} {:>12} {:>12} {:>8.3} {:>8}",
        "total",
        "",
        "",
        total.0,
        total.1,
        total.0 as f64 / secs / 1e6,
        total.2
    );
    println!(
        "\n{:>4} {:<24} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "port", "device", "rx packets", "tx packets", "missed", "no buffer", "crc errors"
    );
    for (p, (dev, s)) in devices.iter().zip(ports).enumerate() {
        if dev.regs().is_none() {
            // virtio-net counts nothing itself: the workers' rows are it.
            println!(
                "{:>4} {:<24} {:>12} {:>12} {:>10} {:>10} {:>10}   ({}: no device counters)",
                p,
                dev.name(),
                "-",
                "-",
                "-",
                "-",
                "-",
                dev.kind()
            );
            continue;
        }
        println!(
            "{:>4} {:<24} {:>12} {:>12} {:>10} {:>10} {:>10}",
            p,
            dev.name(),
            s.rx_packets,
            s.tx_packets,
            s.rx_missed,
            s.rx_no_buffer,
            s.rx_crc_errors
        );
    }
}
