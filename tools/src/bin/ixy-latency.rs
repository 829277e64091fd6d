//! `ixy-latency`: latency through a device under test with timestamped
//! PTP probes, printed as an HDR histogram (docs/DESIGN.md 9). The work is in
//! [`ixy_tools::latency`] and [`ixy_tools::histogram`]; this file parses the
//! command line, opens the devices and prints.

#![forbid(unsafe_code)]

use clap::Parser;
use ixy_tools::histogram::{self, Latencies};
use ixy_tools::json::{json_number, json_string};
use ixy_tools::latency::{self, Config, Outcome, Timestamps};
use ixy_tools::mac;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// ixy-latency: sends timestamped PTP probes from the TX device into the
/// device under test and receives them on the RX device; prints the latency
/// distribution (count, lost, min, mean, p50 ... p99.99, max, a bar chart).
#[derive(Debug, Parser)]
#[command(
    name = "ixy-latency",
    version,
    after_help = "Probes are PTP v2 Sync messages over IPv4/UDP port 319, one in flight at a time, \
        timestamped by the NICs' IEEE 1588 clocks (the 82599 and the simulator have them). The two \
        ports' clocks are synchronised every second by reading A, B, A (RUST_LOG=debug shows the \
        offset and its uncertainty). Latency includes both cables and the DUT.\n\n\
        Examples (simulator: ixy-sim --lab lab; ixy-supervisor --app forward --device sim:lab/0 --device sim:lab/1):\n  \
        ixy-latency --device sim:lab/2 --device sim:lab/3\n  \
        ixy-latency --device sim:lab/2 --device sim:lab/3 --rate 500 --duration 2 --json\n  \
        ixy-latency --device 0000:03:00.0 --device 0000:03:00.1 --load 5 --csv hist.csv\n\n\
        SIGINT (Ctrl-C), SIGTERM or SIGHUP stop the probes early: the probe in flight is waited for \
        and the summary of what was measured is printed.\n\n\
        Exit status: 0 when probes were measured (also after a signal); 1 when none came back, or a \
        device or the output failed; 2 bad input."
)]
struct Args {
    /// Twice: first the TX port (cabled to the DUT's input), then the RX port
    /// (cabled to the DUT's output), e.g. --device sim:lab/2 --device sim:lab/3.
    #[arg(
        long = "device",
        value_name = "DEVICE",
        required_unless_present = "captures"
    )]
    devices: Vec<String>,
    /// Instead of probing: the latency of every tagged frame (ixy-pktgen's) from two cable
    /// captures, the first before the DUT and the second after it, as ixy-sim's `capture P
    /// PATH` writes them (or any nanosecond pcap of the same frames), e.g. --captures in.pcap out.pcap.
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"], conflicts_with = "devices")]
    captures: Option<Vec<PathBuf>>,
    /// Also draw the latency CCDF (the fraction of packets slower than each latency, log axes,
    /// like ixy's tail-latency figure) to the SVG file FILE, e.g. --plot latency.svg.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Probes started per second (at most; one is in flight at a time; at
    /// least one probe per --duration), e.g. --rate 500.
    #[arg(
        long,
        value_name = "PROBES/S",
        default_value = "1000",
        allow_hyphen_values = true
    )]
    rate: String,
    /// Seconds to send probes (above 0, at most 1000000), e.g. --duration 2.5.
    #[arg(
        long,
        value_name = "S",
        default_value = "5",
        allow_hyphen_values = true
    )]
    duration: String,
    /// Probe size in bytes without FCS, 86 (headers) to 1514.
    #[arg(
        long,
        value_name = "BYTES",
        default_value = "90",
        allow_hyphen_values = true
    )]
    size: String,
    /// Background load of 64-byte frames in Mpps on Tx queue 1 of the TX
    /// device (4 flows from ixy_tools::flows), e.g. --load 1.5.
    #[arg(long, value_name = "MPPS", allow_hyphen_values = true)]
    load: Option<String>,
    /// Destination MAC of probes and load: the MAC the DUT port accepts, two hex digits
    /// per byte separated by ':' or '-' (default: for a sim: TX port, the MAC of the port
    /// its cable leads to, e.g. 02:1c:59:90:00:00 for port 2 of a default lab; else broadcast).
    #[arg(long, value_name = "MAC")]
    dst_mac: Option<String>,
    /// Also write the histogram to FILE as MoonGen does: "value,count" rows,
    /// value in ns, no header.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Print one JSON object instead of the text.
    #[arg(long)]
    json: bool,
    /// Time with the host clock at send and receive instead of the NICs'
    /// IEEE 1588 clocks (for NICs without them; includes polling delays).
    #[arg(long)]
    software_timestamps: bool,
}

/// An exit code and a one-line message.
type Failure = (u8, String);

fn main() -> ExitCode {
    let args: Args = match ixy_tools::cli::parse("ixy-latency") {
        Ok(a) => a,
        Err(code) => return code,
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("ixy-latency: {msg}");
            ExitCode::from(code)
        }
    }
}

/// The configuration from the command line, without the devices.
fn config(args: &Args) -> Result<Config, String> {
    if args.devices.len() != 2 {
        return Err(format!(
            "{} --device given: give two, the TX port then the RX port, e.g. --device sim:lab/2 --device sim:lab/3",
            args.devices.len()
        ));
    }
    if let Some(d) = ixy_tools::cli::duplicate_device(&args.devices) {
        return Err(format!(
            "--device {d} twice: the TX and the RX port must differ"
        ));
    }
    let dst_mac = match &args.dst_mac {
        Some(m) => mac::parse_mac_option("--dst-mac", m)?,
        None => latency::BROADCAST, // resolved once the device is open
    };
    let cfg = Config {
        rate: latency::parse_positive("--rate", &args.rate, latency::MAX_RATE, " probes/s")?,
        duration: ixy_tools::cli::duration("--duration", &args.duration)?,
        size: latency::parse_size(&args.size)?,
        dst_mac,
        load_mpps: match &args.load {
            Some(l) => Some(latency::parse_positive(
                "--load",
                l,
                latency::MAX_LOAD_MPPS,
                " Mpps",
            )?),
            None => None,
        },
        timestamps: if args.software_timestamps {
            Timestamps::Software
        } else {
            Timestamps::Hardware
        },
    };
    cfg.validate()?;
    Ok(cfg)
}

fn device_failure(e: driver::Error) -> Failure {
    (if e.is_user_error() { 2 } else { 1 }, e.to_string())
}

fn run(args: &Args) -> Result<(), Failure> {
    if let Some(paths) = &args.captures {
        return from_captures(args, &paths[0], &paths[1]);
    }
    let mut cfg = config(args).map_err(|m| (2, m))?;
    let mut csv = match &args.csv {
        Some(path) => Some(
            File::create(path)
                .map_err(|e| (2, format!("cannot write --csv {}: {e}", path.display())))?,
        ),
        None => None,
    };
    // Before any DMA memory exists: from here on a signal ends the run
    // through the normal path, which frees it.
    let stop = ixy_tools::signals::stop_on_signals().map_err(|m| (1, m))?;
    let result = measure_and_print(args, &mut cfg, csv.as_mut(), stop);
    if let (Err(_), Some(path)) = (&result, &args.csv) {
        if csv.is_some_and(|f| f.metadata().is_ok_and(|m| m.len() == 0)) {
            // Leave nothing half-done behind.
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

/// `--plot FILE`: the CCDF of `l`, if asked for.
fn plot(args: &Args, l: &Latencies, caption: &str) -> Result<(), Failure> {
    match &args.plot {
        Some(path) if l.count() > 0 => ixy_tools::plot::ccdf_svg(l, path, caption)
            .map_err(|e| (1, format!("--plot {}: {e}", path.display()))),
        _ => Ok(()),
    }
}

/// `--captures BEFORE AFTER`: every tagged frame's latency between the two
/// captures, printed as the probes' are.
fn from_captures(args: &Args, before: &PathBuf, after: &PathBuf) -> Result<(), Failure> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| (2, format!("--captures: cannot read {}: {e}", p.display())))
    };
    let (a, b) = (read(before)?, read(after)?);
    let records = |bytes, p: &PathBuf| {
        driver::pcap::records(bytes).map_err(|e| (2, format!("--captures: {}: {e}", p.display())))
    };
    let taps = ixy_tools::taps::latencies(&records(&a, before)?, &records(&b, after)?);
    let l = &taps.latencies;
    plot(
        args,
        l,
        &format!("latency CCDF, {} frames from cable captures", l.count()),
    )?;
    if let Some(path) = &args.csv {
        std::fs::write(path, histogram::csv(l))
            .map_err(|e| (2, format!("cannot write --csv {}: {e}", path.display())))?;
    }
    let text = if args.json {
        let extra = [
            ("before", json_string(&before.display().to_string())),
            ("after", json_string(&after.display().to_string())),
            ("unmatched", taps.unmatched.to_string()),
        ];
        histogram::json(l, taps.lost, &extra) + "\n"
    } else {
        format!(
            "latency of every tagged frame from cable captures {} -> {}\n{}unmatched {:>12}\n\n{}",
            before.display(),
            after.display(),
            histogram::summary_text(&l.summary(taps.lost)),
            taps.unmatched,
            histogram::bar_chart(l, 60)
        )
    };
    print_out(&text)?;
    if l.count() == 0 {
        return Err((1, "no tagged frame is in both captures".into()));
    }
    Ok(())
}

fn measure_and_print(
    args: &Args,
    cfg: &mut Config,
    csv: Option<&mut File>,
    stop: &AtomicBool,
) -> Result<(), Failure> {
    let tx_spec = &args.devices[0];
    let init = driver::InitConfig {
        promisc: true,
        timestamps: cfg.timestamps == Timestamps::Hardware,
        ..driver::InitConfig::default()
    };
    let devs = driver::Owned::take(&args.devices, &Default::default(), &init, "ixy-latency")
        .map_err(device_failure)?;
    let (tx, rx) = (&devs[0], &devs[1]);
    if args.dst_mac.is_none() {
        cfg.dst_mac = latency::default_dst_mac(tx_spec);
    }
    log::info!(
        "probes {} -> {} to {}",
        tx.name(),
        rx.name(),
        mac::format_mac(cfg.dst_mac)
    );

    let mut progress = |p: &latency::Progress| {
        let load = if cfg.load_mpps.is_some() {
            format!(", load {} sent, {} received", p.load_sent, p.load_received)
        } else {
            String::new()
        };
        eprintln!(
            "ixy-latency: {:.0} s: {:.0} probes/s, {} measured, {} lost{load}",
            p.elapsed.as_secs_f64(),
            p.probes_per_s,
            p.measured,
            p.lost
        );
    };
    let out = latency::measure_until(tx, rx, cfg, &mut progress, stop).map_err(device_failure)?;

    plot(
        args,
        &out.latencies,
        &format!("latency CCDF, {} probes", out.latencies.count()),
    )?;
    if let Some(f) = csv {
        f.write_all(histogram::csv(&out.latencies).as_bytes())
            .and_then(|()| f.flush())
            .map_err(|e| (1, format!("writing the CSV file: {e}")))?;
    }
    let text = if args.json {
        json(tx.name(), rx.name(), cfg, &out) + "\n"
    } else {
        text(tx.name(), rx.name(), cfg, &out)
    };
    print_out(&text)?;
    if out.latencies.count() == 0 && out.stopped {
        return Err((
            1,
            format!(
                "stopped by a signal before any probe was measured ({} sent)",
                out.sent
            ),
        ));
    }
    if out.latencies.count() == 0 {
        return Err((
            1,
            format!(
                "none of {} probes came back with timestamps: does the DUT forward from {}'s peer to {}'s peer, to MAC {} (see --dst-mac)?",
                out.sent,
                tx.name(),
                rx.name(),
                mac::format_mac(cfg.dst_mac)
            ),
        ));
    }
    Ok(())
}

fn text(tx: &str, rx: &str, cfg: &Config, out: &Outcome) -> String {
    let l: &Latencies = &out.latencies;
    let mut s = format!(
        "{tx} -> {rx}: {} probes of {} bytes in {:.1} s, {} timestamps\n",
        out.sent,
        cfg.size,
        out.elapsed.as_secs_f64(),
        cfg.timestamps.name()
    );
    if out.stopped {
        s += "stopped early by a signal\n";
    }
    if let Some(o) = out.offset {
        s += &format!(
            "clock offset {rx} - {tx}: {:+} ns ± {} ns (worst ± {} ns over {} syncs)\n",
            o.offset_ns, o.uncertainty_ns, out.max_uncertainty_ns, out.syncs
        );
    }
    if out.lost() > 0 {
        s += &format!(
            "lost: {} without Tx timestamp, {} without Rx timestamp, {} not back within {} ms\n",
            out.lost_tx_stamp,
            out.lost_rx_stamp,
            out.lost_timeout,
            latency::PROBE_TIMEOUT.as_millis()
        );
    }
    if out.negative > 0 {
        s += &format!(
            "warning: {} latencies below 0 (recorded as 0): the clock offset is off\n",
            out.negative
        );
    }
    if cfg.load_mpps.is_some() {
        s += &format!(
            "load: {} frames sent, {} received\n",
            out.load_sent, out.load_received
        );
    }
    s += "\n";
    s += &histogram::summary_text(&l.summary(out.lost()));
    let chart = histogram::bar_chart(l, histogram::COLUMNS);
    if !chart.is_empty() {
        s += "\n";
        s += &chart;
    }
    s
}

fn json(tx: &str, rx: &str, cfg: &Config, out: &Outcome) -> String {
    let n = |v: u64| v.to_string();
    let mut extra = vec![
        ("tx_device", json_string(tx)),
        ("rx_device", json_string(rx)),
        ("timestamps", json_string(cfg.timestamps.name())),
        ("size", n(cfg.size as u64)),
        ("rate", json_number(Some(cfg.rate))),
        ("duration_s", json_number(Some(out.elapsed.as_secs_f64()))),
        ("sent", n(out.sent)),
        ("lost_tx_stamp", n(out.lost_tx_stamp)),
        ("lost_rx_stamp", n(out.lost_rx_stamp)),
        ("lost_timeout", n(out.lost_timeout)),
        ("late_probes", n(out.late_probes)),
        ("negative", n(out.negative)),
        ("load_mpps", json_number(cfg.load_mpps)),
        ("load_sent", n(out.load_sent)),
        ("load_received", n(out.load_received)),
        ("other_received", n(out.other_received)),
        ("stopped", out.stopped.to_string()),
    ];
    match out.offset {
        Some(o) => {
            extra.push(("clock_offset_ns", o.offset_ns.to_string()));
            extra.push(("clock_uncertainty_ns", n(o.uncertainty_ns)));
            extra.push(("clock_max_uncertainty_ns", n(out.max_uncertainty_ns)));
            extra.push(("clock_syncs", n(out.syncs)));
        }
        None => {
            for k in [
                "clock_offset_ns",
                "clock_uncertainty_ns",
                "clock_max_uncertainty_ns",
            ] {
                extra.push((k, "null".into()));
            }
            extra.push(("clock_syncs", "0".into()));
        }
    }
    histogram::json(&out.latencies, out.lost(), &extra)
}

/// Writes the report to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err((1, format!("writing to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
