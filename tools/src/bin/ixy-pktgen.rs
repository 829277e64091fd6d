//! `ixy-pktgen`: MoonGen-like load generator and verifier on tester ports.
//! The work is in [`tools::pktgen`] and [`tools::flows`].

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;
use tools::pktgen::{self, Config, Rate};

/// ixy-pktgen: sends IPv4/UDP frames over N flows (varying source IP, per-flow
/// sequence numbers, valid checksums) from a tester port through the device
/// under test, and with --verify checks on the receiving port that nothing was
/// lost, duplicated or reordered within a flow.
#[derive(Debug, Parser)]
#[command(
    name = "ixy-pktgen",
    version,
    after_help = "Examples:\n  \
        ixy-pktgen --device sim:demo/2 --device sim:demo/3 --flows 1024 --rate 0.2 --duration 5 --verify\n  \
        ixy-pktgen --device sim:demo/2 --device sim:demo/3 --bidirectional --verify --count 100000 --json\n  \
        ixy-pktgen --device 0000:05:00.0 --rate line --size 60 --duration 10\n\n\
        Exit status: 0 ok; 1 when --verify found loss (below line rate), duplicates or reordering; 2 bad input."
)]
struct Args {
    /// Sending port (first) and receiving port (second; the same port if only one is given).
    #[arg(long = "device", value_name = "DEV", required = true)]
    devices: Vec<String>,
    /// Number of flows (distinct source IPs 10.0.0.0 + i), e.g. --flows 1024.
    #[arg(long, default_value_t = 1024)]
    flows: u32,
    /// Frame size in bytes without FCS (64 to 1514), e.g. --size 60 for 64 B on the wire... minimum 64 here.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Rate per direction in Mpps, or 'line' for as fast as the link takes, e.g. --rate 0.5.
    #[arg(long, default_value = "0.1", value_name = "MPPS|line")]
    rate: String,
    /// Seconds to send, e.g. --duration 10 (default 5 unless --count is given).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Frames to send per direction, e.g. --count 1000000.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Check loss, duplicates and per-flow order on the receiving port.
    #[arg(long)]
    verify: bool,
    /// Send from both ports, each received on the other.
    #[arg(long)]
    bidirectional: bool,
    /// Destination MAC of the frames (default broadcast, accepted by any port), e.g. --dst-mac 02:1c:59:90:00:00.
    #[arg(long, value_name = "MAC", default_value = "ff:ff:ff:ff:ff:ff")]
    dst_mac: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

fn bad(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("ixy-pktgen: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Args = match tools::cli::parse("ixy-pktgen") {
        Ok(a) => a,
        Err(code) => return code,
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let rate: Rate = match args.rate.parse() {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    if args.devices.len() > 2 {
        return bad("give one --device (a reflecting DUT) or two (sending, receiving)");
    }
    if args.bidirectional && args.devices.len() != 2 {
        return bad("--bidirectional needs two --device");
    }
    let duration = match (args.duration, args.count) {
        (Some(_), Some(_)) => return bad("give --duration or --count, not both"),
        (Some(s), None) if !(s.is_finite() && s > 0.0) => {
            return bad(format!("--duration {s}: give a positive number of seconds"))
        }
        (Some(s), None) => Some(Duration::from_secs_f64(s)),
        (None, Some(0)) => return bad("--count 0: send at least one frame"),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(5)),
    };
    let dst_mac = match pktgen::parse_mac(&args.dst_mac) {
        Ok(m) => m,
        Err(e) => return bad(format!("--dst-mac: {e}")),
    };
    let spec = tools::flows::FlowSpec {
        flows: args.flows,
        size: args.size,
        src_mac: [0; 6],
        dst_mac,
        stream: 0,
    };
    if let Err(e) = spec.validate() {
        return bad(e);
    }
    let cfg = Config {
        devices: args.devices.clone(),
        flows: args.flows,
        size: args.size,
        dst_mac,
        rate,
        duration,
        count: args.count,
        bidirectional: args.bidirectional,
        verify: args.verify,
        progress: true,
    };
    let devs = match pktgen::open(&cfg.devices) {
        Ok(d) => d,
        Err(e) if e.is_user_error() => return bad(e),
        Err(e) => {
            eprintln!("ixy-pktgen: {e}");
            return ExitCode::from(1);
        }
    };
    match pktgen::run(&cfg, &devs) {
        Ok(report) => {
            if args.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.text());
            }
            if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("ixy-pktgen: {e}");
            ExitCode::from(1)
        }
    }
}
