//! `ixy-pcap`: the tcpdump of ixy's wish list. Every worker writes what it
//! receives to `RUN_DIR/worker-I.pcap` (pcap, nanosecond timestamps), under
//! the supervisor: RSS over N workers, pinning, restarts, stats, summary.
//! Its own options come first; everything else is `ixy-supervisor`'s.

#![forbid(unsafe_code)]

use ixy_supervisor::{AppFactory, WorkerInfo};
use std::ffi::OsString;
use std::process::ExitCode;
use worker::pcap::Pcap;

const USAGE: &str = "\
ixy-pcap: capture what each worker receives to RUN_DIR/worker-I.pcap
(standard pcap, nanosecond timestamps; read it with tshark -r or Wireshark)

Its own options, anywhere on the command line:
  --count N      packets each worker captures, at most (default: no limit)
  --max-mb M     megabytes each worker's file may reach, 1 to 1048576 (default: 1024)

Every other option is ixy-supervisor's (--workers, --device, --cores,
--rss-key, --run-dir, --name, --duration, ...), with one --device; e.g.
  ixy-pcap --workers 2 --device sim:demo/0 --count 100000 --duration 10
  tshark -r /run/ixy/ixy/worker-0.pcap

The supervisor's options:
";

/// Takes `--count` and `--max-mb` (and their values) out of `args`.
fn take_own(args: &mut Vec<OsString>) -> Result<(u64, usize), String> {
    let (mut count, mut max_mb) = (u64::MAX, 1024usize);
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy().into_owned();
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if name != "--count" && name != "--max-mb" {
            i += 1;
            continue;
        }
        args.remove(i);
        let value = match inline {
            Some(v) => v,
            None if i < args.len() => args.remove(i).to_string_lossy().into_owned(),
            None => return Err(format!("{name} needs a value; see --help")),
        };
        if name == "--count" {
            count =
                value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("--count {value:?}: give a number of packets above 0")
                })?;
        } else {
            max_mb = value
                .parse()
                .ok()
                .filter(|m| (1..=1 << 20).contains(m))
                .ok_or_else(|| format!("--max-mb {value:?}: give 1 to 1048576 megabytes"))?;
        }
    }
    Ok((count, max_mb << 20))
}

/// Makes each worker's [`Pcap`] app, writing to its capture file.
struct Captures {
    count: u64,
    max_bytes: usize,
}

impl AppFactory for Captures {
    type App = Pcap;

    fn name(&self) -> &str {
        "pcap"
    }

    fn ports(&self) -> usize {
        1
    }

    fn make(&self, w: &WorkerInfo) -> Result<Pcap, String> {
        let path = worker::pcap::path(&w.run_dir, w.index);
        Pcap::create(&path, self.count, self.max_bytes)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))
    }
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
    }
    let (count, max_bytes) = match take_own(&mut args) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("ixy-pcap: {msg}");
            return ExitCode::from(2);
        }
    };
    let factory = Captures { count, max_bytes };
    ixy_supervisor::main_with_args(factory, args)
}
