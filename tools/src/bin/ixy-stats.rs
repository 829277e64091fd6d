//! `ixy-stats`: per-worker and per-port counters and rates of a running (or
//! finished) ixy-supervisor, read from its run directory (docs/DESIGN.md 8).
//! The work is in [`ixy_tools::stats`]; this file parses the command line and
//! loops.

#![forbid(unsafe_code)]

use clap::Parser;
use ixy_tools::stats::{self, PortHistory, Sampler};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// ixy-stats: prints the counters and rates of ixy-supervisor's workers and
/// ports, read from the stats files in its run directory. Works while the
/// supervisor runs and after it exited (then rates are 0 and no worker is
/// alive).
#[derive(Debug, Parser)]
#[command(
    name = "ixy-stats",
    version,
    after_help = "Rates come from two samples an interval apart. Port counters are written by the \
        supervisor once a second, so a port rate shows '-' (JSON null) until two versions were seen. \
        'queue drops' are frames a port dropped because a queue had no free Rx descriptor (its worker \
        fell behind or stopped; QPRDC); a line under the port table, and each port's \"queues\" in \
        JSON, say which queue. Counters an app declares itself are shown per worker and summed \
        over the workers: an 'app counter' table when there are any; \"app\" in each worker and in \
        the total in JSON.\n\n\
        Examples:\n  \
        ixy-stats                          one table of the default instance 'ixy'\n  \
        ixy-stats --name lab1 --watch      refresh every second until Ctrl-C\n  \
        ixy-stats --run-dir /tmp/ixy/demo --json --interval 0.2\n  \
        ixy-stats --watch --json | jq .total.rx_mpps\n  \
        ixy-stats --prometheus | promtool check metrics\n  \
        ixy-stats --name lab1 --listen 0.0.0.0:9470   for Prometheus to scrape http://HOST:9470/metrics"
)]
struct Args {
    /// Run directory of the supervisor, e.g. --run-dir /run/ixy/ixy (default: the one of --name).
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Instance name given to ixy-supervisor --name, e.g. --name lab1; its run dir is
    /// /run/ixy/NAME as root, else $XDG_RUNTIME_DIR/ixy/NAME (default: ixy).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Print again every interval until Ctrl-C, e.g. --watch --interval 2.
    #[arg(long)]
    watch: bool,
    /// Seconds between samples, more than 0 and at most 60, e.g. --interval 0.25
    /// (default: 0.5, or 1 with --watch).
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    interval: Option<String>,
    /// One JSON object per sample on one line: {"workers":[...],"ports":[...],"total":{...}}
    /// (keys in docs/DESIGN.md 8), e.g. --json | jq .total.app.
    #[arg(long)]
    json: bool,
    /// Print the counters once in the Prometheus text format (metric names in
    /// docs/DESIGN.md 8; no rates, Prometheus computes them), e.g. --prometheus.
    #[arg(long, conflicts_with_all = ["json", "watch", "interval"])]
    prometheus: bool,
    /// Serve the counters in the Prometheus text format on http://ADDR:PORT/metrics,
    /// a fresh sample per scrape, until stopped, e.g. --listen 127.0.0.1:9470.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["json", "watch", "interval", "prometheus"])]
    listen: Option<String>,
}

fn main() -> ExitCode {
    let args: Args = match ixy_tools::cli::parse("ixy-stats") {
        Ok(a) => a,
        Err(code) => return code,
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            if !msg.is_empty() {
                eprintln!("ixy-stats: {msg}");
            }
            ExitCode::from(code)
        }
    }
}

/// Runs the tool; an error is an exit code and a one-line message (empty:
/// say nothing, e.g. the reader of stdout went away).
fn run(args: &Args) -> Result<(), (u8, String)> {
    let bad = |m: String| (2, m);
    let default = if args.watch {
        stats::DEFAULT_WATCH_INTERVAL_S
    } else {
        stats::DEFAULT_INTERVAL_S
    };
    let interval = match &args.interval {
        Some(s) => stats::parse_interval(s).map_err(bad)?,
        None => Duration::from_secs_f64(default),
    };
    let dir = stats::resolve_run_dir(args.run_dir.clone(), args.name.as_deref()).map_err(bad)?;
    stats::check_run_dir(&dir).map_err(bad)?;

    let mut sampler = Sampler::new(&dir);
    let (first, warnings) = sample(&mut sampler)?;
    for w in &warnings {
        eprintln!("{w}");
    }
    if first.files == 0 {
        return Err(bad(format!(
            "no worker-N.stats or port-N.stats files in {}: is ixy-supervisor running with this run dir? (see --run-dir and --name)",
            dir.display()
        )));
    }
    if first.workers.is_empty() && first.ports.is_empty() {
        return Err(bad(format!(
            "no readable stats files in {} (see the warnings above)",
            dir.display()
        )));
    }

    let mut ports = PortHistory::default();
    ports.observe(&first.ports);
    if args.prometheus || args.listen.is_some() {
        return prometheus(args, sampler, first, ports);
    }
    let clear = args.watch && !args.json && std::io::stdout().is_terminal();
    let mut prev = first;
    loop {
        std::thread::sleep(interval);
        let (cur, warnings) = sample(&mut sampler)?;
        for w in &warnings {
            eprintln!("{w}");
        }
        let report = stats::report(Some(&prev), &cur, &mut ports);
        let text = if args.json {
            format!("{}\n", stats::json(&report))
        } else {
            format!(
                "{}{}, rates over {:.2} s\n\n{}{}",
                if clear { "\x1b[H\x1b[2J" } else { "" },
                dir.display(),
                report.interval_s.unwrap_or(0.0),
                stats::table(&report),
                // Without clearing, a blank line separates the samples.
                if args.watch && !clear { "\n" } else { "" },
            )
        };
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            return if e.kind() == std::io::ErrorKind::BrokenPipe {
                Err((0, String::new()))
            } else {
                Err((1, format!("writing to stdout: {e}")))
            };
        }
        if !args.watch {
            return Ok(());
        }
        prev = cur;
    }
}

/// `--prometheus` (print `first` once) or `--listen` (serve a fresh sample
/// per scrape until stopped).
fn prometheus(
    args: &Args,
    mut sampler: Sampler,
    first: stats::Sample,
    mut ports: PortHistory,
) -> Result<(), (u8, String)> {
    let Some(addr) = &args.listen else {
        let text = stats::prometheus(&stats::report(None, &first, &mut ports));
        let mut out = std::io::stdout().lock();
        return match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err((0, String::new())),
            Err(e) => Err((1, format!("writing to stdout: {e}"))),
        };
    };
    let listener = std::net::TcpListener::bind(addr.as_str())
        .map_err(|e| (2, format!("--listen {addr}: cannot listen there: {e}")))?;
    let local = listener
        .local_addr()
        .map_or_else(|_| addr.clone(), |a| a.to_string());
    eprintln!(
        "ixy-stats: serving {} on http://{local}/metrics",
        sampler.dir().display()
    );
    stats::serve::serve(&listener, || {
        let (cur, _) = sample(&mut sampler).map_err(|(_, m)| m)?;
        ports.observe(&cur.ports);
        Ok(stats::prometheus(&stats::report(None, &cur, &mut ports)))
    });
    Ok(())
}

fn sample(sampler: &mut Sampler) -> Result<(stats::Sample, Vec<String>), (u8, String)> {
    sampler.sample().map_err(|e| {
        (
            1,
            format!("cannot list run dir {}: {e}", sampler.dir().display()),
        )
    })
}
