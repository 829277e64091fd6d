//! `ixy-pktgen`: MoonGen-like load generator and verifier on tester ports.
//! The work is in [`ixy_tools::pktgen`] and [`ixy_tools::flows`].

#![forbid(unsafe_code)]

use clap::Parser;
use ixy_tools::pktgen::{self, Config, Rate};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

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
        ixy-pktgen --device 0000:05:00.0 --rate line --size 64 --duration 10\n\n\
        Sending stops after --count frames per direction, after --duration (with the rate x duration \
        frames due by then), or on SIGINT (Ctrl-C), SIGTERM or SIGHUP; frames in flight then get a \
        second to come back and the summary is printed.\n\n\
        Exit status: 0 ok (also after a signal); 1 when --verify found loss (below line rate), \
        duplicates or reordering, or a device failed; 2 bad input."
)]
struct Args {
    /// Sending port (first) and receiving port (second; the same port if only one is given).
    #[arg(long = "device", value_name = "DEV", required = true)]
    devices: Vec<String>,
    /// Number of flows (distinct source IPs 10.0.0.0 + i), e.g. --flows 1024.
    #[arg(long, default_value_t = 1024)]
    flows: u32,
    /// Frame size in bytes without FCS, 64 (room for the headers and the tag) to 1514, e.g. --size 128.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Rate per direction in Mpps (0.000001, one frame per second, to 1000), or 'line' for as fast as the link takes, e.g. --rate 0.5.
    #[arg(
        long,
        default_value = "0.1",
        value_name = "MPPS|line",
        allow_hyphen_values = true
    )]
    rate: String,
    /// Seconds to send (above 0, at most 1000000), e.g. --duration 10 (default 5 unless --count is given).
    #[arg(long, value_name = "S", allow_hyphen_values = true)]
    duration: Option<String>,
    /// Frames to send per direction, e.g. --count 1000000.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Check loss, duplicates and per-flow order on the receiving port.
    #[arg(long)]
    verify: bool,
    /// Send from both ports, each received on the other.
    #[arg(long)]
    bidirectional: bool,
    /// Send the flows' replies instead (source and destination IP and UDP port swapped: 10.1.0.1:4321 to 10.0.0.0+i:1234), as the far end of each flow would; with --bidirectional the first port sends the flows and the second their replies.
    #[arg(long)]
    replies: bool,
    /// Destination MAC of the frames (default broadcast, accepted by any port): two hex digits
    /// per byte, separated by ':' or '-', e.g. --dst-mac 02:1c:59:90:00:00.
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
    let args: Args = match ixy_tools::cli::parse("ixy-pktgen") {
        Ok(a) => a,
        Err(code) => return code,
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let rate: Rate = match args.rate.parse() {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    let duration = match (&args.duration, args.count) {
        (Some(s), _) => match ixy_tools::cli::duration("--duration", s) {
            Ok(d) => Some(d),
            Err(e) => return bad(e),
        },
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(5)),
    };
    let dst_mac = match ixy_tools::mac::parse_mac_option("--dst-mac", &args.dst_mac) {
        Ok(m) => m,
        Err(e) => return bad(e),
    };
    let cfg = Config {
        devices: args.devices.clone(),
        flows: args.flows,
        size: args.size,
        dst_mac,
        rate,
        duration,
        count: args.count,
        bidirectional: args.bidirectional,
        replies: args.replies,
        verify: args.verify,
        progress: true,
    };
    if let Err(e) = cfg.validate() {
        return bad(e);
    }
    // Before any DMA memory exists: from here on a signal ends the run
    // through the normal path, which frees it.
    let stop = match ixy_tools::signals::stop_on_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ixy-pktgen: {e}");
            return ExitCode::from(1);
        }
    };
    let devs = match pktgen::open(&cfg.devices) {
        Ok(d) => d,
        Err(e) if e.is_user_error() => return bad(e),
        Err(e) => {
            eprintln!("ixy-pktgen: {e}");
            return ExitCode::from(1);
        }
    };
    match pktgen::run_until(&cfg, &devs, stop) {
        Ok(report) => {
            let text = if args.json {
                report.json() + "\n"
            } else {
                report.text()
            };
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    eprintln!("ixy-pktgen: writing the summary to stdout: {e}");
                    return ExitCode::from(1);
                }
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
