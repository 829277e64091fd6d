//! `ixy-sim`: runs a lab of simulated 82599 ports until SIGINT/SIGTERM, or
//! sends a control command to a running lab (`ixy-sim ctl ...`).

use ixy_sim::{control, Lab, LabConfig};
use nix::sys::signal::{SigSet, Signal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
ixy-sim: a simulated Intel 82599 lab (register-level device model)

usage:
  ixy-sim [--lab NAME] [--ports K] [--cable A-B]... [--tap P:NAME]... [--unlimited]
          [--link-delay-ms MS] [--reset-delay-ms MS] [--cable-delay-ns NS]
          [--threads N] [--core N] [--dir DIR]
  ixy-sim ctl [--lab NAME] [--dir DIR] COMMAND...

Runs the lab in the foreground until SIGINT/SIGTERM, then removes its directory.

options:
  --lab NAME            lab name (default: demo); files in DIR/NAME
  --ports K             number of ports, 1-16 (default: 4)
  --cable A-B           a cable between ports A and B; repeat for more
                        (default: --cable 0-2 --cable 1-3, those of them
                        whose ports exist and have no --tap)
  --tap P:NAME          cable port P to a new Linux TAP device NAME instead of
                        a port: what the kernel sends on NAME arrives at P,
                        what P sends appears on NAME (needs CAP_NET_ADMIN);
                        repeat for more
  --unlimited           lift the 10 Gbit/s line rate of every cable
  --threads N           model threads, 1-16 (default: 1); cables (both their
                        ports) and lone ports are dealt out among them, so a
                        bigger machine moves several cables at full speed at once;
                        with more threads than those, cables split (a thread
                        per port), so one cable can run at full speed both ways
  --core N              pin the model's polling thread to CPU core N
                        (with --threads, thread k to core N+k)
  --link-delay-ms MS    reset/AN restart to link up, 0-60000 (default: 10)
  --reset-delay-ms MS   CTRL.RST to reset done, 0-60000 (default: 1)
  --cable-delay-ns NS   propagation delay of a cable, 0-1000000000 (default: 50)
  --dir DIR             where labs live (default: $IXY_SIM_DIR or /dev/shm/ixy-sim)

control commands (ixy-sim ctl --lab NAME ...):
  link P up|down        force the link of port P down, or release it
  inject P KIND N       N bad frames arrive at port P; KIND: corrupt|runt|oversize|length
  corrupt P KIND N      the next N frames port P delivers get a nonsense write-back;
                        KIND: len|no-eop|stray-dd
  drop P N              the next N frames arriving at port P are lost
  remove P              surprise removal: port P's registers read 0xFFFFFFFF
  counters P            the simulator's own counters of port P (IOMMU faults, ...)
  status                link and queue state of every port
  capture P PATH|off    like a fiber tap on port P's cable: every frame sent on it,
                        both ways, to the pcap file PATH (absolute) with the ns
                        time it left the sender; off closes the file
  sync [MS]             wait (at most MS ms, default 10000) until the model is
                        quiet: every frame queued and register written before
                        the command has been handled

example:
  ixy-sim --lab demo &  ixy-sim ctl --lab demo link 0 down";

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("ctl") {
        ctl(&args[1..])
    } else {
        run(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("ixy-sim: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Takes the value of option `name` from `args[*i + 1]`.
fn value<'a>(args: &'a [String], i: &mut usize, name: &str) -> Result<&'a str, String> {
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| format!("{name} needs a value; see --help"))
}

fn number<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{name} {s:?}: not a number; see --help"))
}

fn run(args: &[String]) -> Result<(), String> {
    let mut cfg = LabConfig::new("demo");
    let mut cables = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--version" => {
                println!("ixy-sim {}", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            "--lab" => cfg.name = value(args, &mut i, "--lab")?.to_string(),
            "--dir" => cfg.root = PathBuf::from(value(args, &mut i, "--dir")?),
            "--ports" => cfg.ports = number(value(args, &mut i, "--ports")?, "--ports")?,
            "--unlimited" => cfg.line_rate = false,
            "--core" => cfg.core = Some(number(value(args, &mut i, "--core")?, "--core")?),
            "--threads" => cfg.threads = number(value(args, &mut i, "--threads")?, "--threads")?,
            "--cable" => {
                let v = value(args, &mut i, "--cable")?;
                let (a, b) = v
                    .split_once('-')
                    .ok_or_else(|| format!("--cable {v:?}: write two ports as A-B, e.g. 0-2"))?;
                cables.push((number(a, "--cable port")?, number(b, "--cable port")?));
            }
            "--link-delay-ms" => {
                cfg.link_delay = Duration::from_millis(number(
                    value(args, &mut i, "--link-delay-ms")?,
                    "--link-delay-ms",
                )?)
            }
            "--reset-delay-ms" => {
                cfg.reset_delay = Duration::from_millis(number(
                    value(args, &mut i, "--reset-delay-ms")?,
                    "--reset-delay-ms",
                )?)
            }
            "--tap" => {
                let v = value(args, &mut i, "--tap")?;
                let (p, name) = v.split_once(':').ok_or_else(|| {
                    format!("--tap {v:?}: write a port and a name as P:NAME, e.g. 0:ixy0")
                })?;
                cfg.taps.push((number(p, "--tap port")?, name.to_string()));
            }
            "--cable-delay-ns" => {
                cfg.cable_delay = Duration::from_nanos(number(
                    value(args, &mut i, "--cable-delay-ns")?,
                    "--cable-delay-ns",
                )?)
            }
            other => return Err(format!("unknown argument {other:?}; see --help")),
        }
        i += 1;
    }
    if !cables.is_empty() {
        cfg.cables = cables;
    } else {
        let tapped = |p: usize| cfg.taps.iter().any(|(t, _)| *t == p);
        cfg.cables
            .retain(|&(a, b)| a < cfg.ports && b < cfg.ports && !tapped(a) && !tapped(b));
    }
    // Block the signals before any thread exists so that every thread
    // inherits the mask and only the wait below receives them.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals
        .thread_block()
        .map_err(|e| format!("blocking signals: {e}"))?;
    let lab = Lab::start(cfg).map_err(|e| e.to_string())?;
    println!(
        "ixy-sim: lab {} running; Ctrl-C stops it",
        lab.dir().display()
    );
    let sig = signals
        .wait()
        .map_err(|e| format!("waiting for signals: {e}"))?;
    log::info!("{sig:?}: stopping the lab");
    lab.stop();
    Ok(())
}

fn ctl(args: &[String]) -> Result<(), String> {
    let mut cfg = LabConfig::new("demo");
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--lab" => cfg.name = value(args, &mut i, "--lab")?.to_string(),
            "--dir" => cfg.root = PathBuf::from(value(args, &mut i, "--dir")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other if other.starts_with('-') => {
                return Err(format!(
                    "ctl: unknown option {other:?}; options (--lab, --dir) come before the command; see --help"
                ))
            }
            _ => break,
        }
        i += 1;
    }
    cfg.validate().map_err(|e| e.to_string())?;
    if i >= args.len() {
        return Err(format!("ctl needs a command; {}", control::HELP));
    }
    // One line of printable text: a newline would make a second command.
    let line = args[i..].join(" ");
    control::check_line(&line).map_err(|e| format!("ctl: {e}"))?;
    let dir = cfg.dir();
    if !dir.exists() {
        return Err(format!(
            "lab {} does not exist; start it with ixy-sim --lab {}",
            dir.display(),
            cfg.name
        ));
    }
    match control::send(&dir, &line) {
        Ok(answer) => {
            for line in answer.lines().skip(1) {
                println!("{line}");
            }
            Ok(())
        }
        Err(e) => Err(e.trim_start_matches("error: ").to_string()),
    }
}
