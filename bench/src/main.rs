//! `ixy-bench`: what `make bench` runs. Prints every table and writes CSV
//! and SVG files under `target/bench/`.
//!
//! ```text
//! ixy-bench [--quick] [cost] [scaling] [e2e]   the tables (default: all)
//! ixy-bench one MODE BATCH RUNS PACKETS [CORE]  one cost measurement (a child)
//! ```

#![forbid(unsafe_code)]

use ixy_bench::cost::{self, Mode};
use ixy_bench::plot::{self, Series};
use ixy_bench::report::{self, Table};
use ixy_bench::{callgrind, e2e};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// Batch sizes of the cost table (ixy's batch-size figure).
const BATCHES: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("one") => one(&args[1..]),
        _ => all(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ixy-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// A child: one cost measurement, one line per run: `packets cycles`.
fn one(args: &[String]) -> Result<(), String> {
    let usage = "usage: ixy-bench one rx|tx|fwd|idle BATCH RUNS PACKETS [CORE]";
    let (mode, batch, runs, packets, core) = match args {
        [m, b, r, p] => (m, b, r, p, None),
        [m, b, r, p, c] => (m, b, r, p, Some(c)),
        _ => return Err(usage.into()),
    };
    if let Some(core) = core {
        let core: usize = core.parse().map_err(|_| format!("{core:?}: {usage}"))?;
        pin(core)?;
    }
    let mode = Mode::parse(mode).ok_or(usage)?;
    let num = |s: &String| s.parse::<u64>().map_err(|_| format!("{s:?}: {usage}"));
    let m = cost::measure(
        mode,
        num(batch)? as usize,
        num(runs)? as usize,
        num(packets)?,
    )?;
    for s in m.runs {
        println!("{} {}", s.packets, s.cycles);
    }
    println!("timed {}", m.timed_packets);
    Ok(())
}

/// Pins the calling thread (and the threads it starts) to `core`.
fn pin(core: usize) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    set.set(core).map_err(|e| format!("core {core}: {e}"))?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| format!("pinning to core {core}: {e}"))
}

fn out_dir() -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("bench")
}

fn all(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let sections: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |s: &str| sections.is_empty() || sections.contains(&s);
    let dir = out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!("{}", report::machine());
    if wants("cost") {
        cost_tables(&dir, quick)?;
    }
    let harness = if wants("scaling") {
        harness_scaling(&dir, quick)?
    } else {
        Vec::new()
    };
    if wants("e2e") {
        let runs = e2e::tables(&dir, quick)?;
        let per_worker = Series {
            name: "Mpps per worker (mean)".into(),
            points: runs
                .iter()
                .map(|r| (r.workers as f64, r.total_mpps() / r.workers as f64))
                .collect(),
        };
        let total = Series {
            name: "Mpps, all workers".into(),
            points: runs
                .iter()
                .map(|r| (r.workers as f64, r.total_mpps()))
                .collect(),
        };
        let cycles = Series {
            name: "cycles/pkt per worker (median of workers)".into(),
            points: harness.clone(),
        };
        plot::scaling(&dir.join("scaling.svg"), &[per_worker, total], &[cycles])?;
        println!("wrote {}", dir.join("scaling.svg").display());
    }
    Ok(())
}

/// Parses a child's output: one `packets cycles` line per run.
fn parse_samples(text: &str) -> Vec<cost::Sample> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|v| v.parse::<u64>().ok());
            Some(cost::Sample {
                packets: it.next()??,
                cycles: it.next()??,
            })
        })
        .collect()
}

/// Cycles per packet of each run that timed packets, sorted.
fn cycles_per_packet(samples: &[cost::Sample]) -> Vec<f64> {
    let mut per: Vec<f64> = samples
        .iter()
        .filter(|s| s.packets > 0)
        .map(|s| s.cycles as f64 / s.packets as f64)
        .collect();
    per.sort_by(f64::total_cmp);
    per
}

fn child(exe: &Path, args: &[String]) -> Result<String, String> {
    let out = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {}: {}",
            exe.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The CPUs to pin N harnesses to: one hardware thread of every physical
/// core first, their siblings (hyper-threads, which share the core) only
/// after, so that "N workers" means N cores where the machine has them.
/// Returns (cpu, shares its core with an earlier one).
fn core_order(cpus: usize) -> Vec<(usize, bool)> {
    let first_sibling = |cpu: usize| -> usize {
        std::fs::read_to_string(format!(
            "/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        ))
        .ok()
        .and_then(|l| {
            l.trim()
                .split([',', '-'])
                .next()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(cpu)
    };
    let (mut firsts, mut others): (Vec<usize>, Vec<usize>) =
        (0..cpus).partition(|&c| first_sibling(c) == c);
    let mut order: Vec<(usize, bool)> = firsts.drain(..).map(|c| (c, false)).collect();
    order.extend(others.drain(..).map(|c| (c, true)));
    order
}

/// Section 3a: the worker code scaling on its own. N cost harnesses run
/// at once, each pinned to its own core with its own inline simulator
/// (nothing shared but the machine), forwarding at batch 32: shared
/// nothing means the cycles per packet of each stay flat. Returns (N,
/// median over the workers of their median cycles per packet).
fn harness_scaling(dir: &Path, quick: bool) -> Result<Vec<(f64, f64)>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (runs, packets) = if quick { (3, 5_000) } else { (7, 40_000) };
    let mut counts = vec![1, 2, 4];
    if cores >= 8 {
        counts.push(8);
    }
    let mut table = Table::new(
        "Scaling of the worker code: N forward harnesses at once (batch 32), each pinned to its own core with its own inline simulator",
        &["workers", "worker", "cpu", "cycles/pkt (median)", "Mpps per core at that cost"],
    );
    let hz = driver::tsc::hz(std::time::Duration::from_millis(50)) as f64;
    let order = core_order(cores);
    let mut medians = Vec::new();
    for &n in &counts {
        let children: Vec<_> = (0..n)
            .map(|k| {
                Command::new(&exe)
                    .args(["one", "fwd", "32", &runs.to_string(), &packets.to_string()])
                    .arg(order[k % cores].0.to_string())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("running {}: {e}", exe.display()))
            })
            .collect::<Result<_, _>>()?;
        let mut per_worker = Vec::new();
        for (k, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            let per = cycles_per_packet(&parse_samples(&text));
            let median = report::median(&per);
            let label = report::workers_label(n, n > cores);
            let (cpu, sibling) = order[k % cores];
            table.row(vec![
                label,
                k.to_string(),
                if sibling {
                    format!("{cpu} (hyper-thread of a used core)")
                } else {
                    cpu.to_string()
                },
                report::fixed(median, 1),
                report::fixed(median.map(|c| hz / c / 1e6), 1),
            ]);
            per_worker.extend(median);
        }
        per_worker.sort_by(f64::total_cmp);
        if let Some(m) = report::median(&per_worker) {
            medians.push((n as f64, m));
        }
    }
    table.print();
    table.write_csv(&dir.join("scaling-harness.csv"))?;
    Ok(medians)
}

/// Section 1: cost per packet against batch size, TSC cycles (median of
/// runs) and instructions (callgrind, timed functions only).
fn cost_tables(dir: &Path, quick: bool) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (runs, packets, cg_packets) = if quick {
        (3, 5_000, 2_000)
    } else {
        (7, 40_000, 8_000)
    };
    let valgrind = callgrind::available();
    if !valgrind {
        println!("valgrind not found: instruction counts skipped (apt-get install valgrind)");
    }
    let cg_dir = dir.join("callgrind");
    std::fs::create_dir_all(&cg_dir).map_err(|e| e.to_string())?;
    let mut table = Table::new(
        "Cost per packet against batch size (64-byte frames, single-threaded harness, model inline)",
        &["mode", "batch", "cycles/pkt (median)", "cycles/pkt (min)", "instructions/pkt"],
    );
    for mode in Mode::ALL {
        let batches: &[usize] = if mode == Mode::Idle { &[32] } else { &BATCHES };
        for &batch in batches {
            let args = |runs: u64, packets: u64| {
                vec![
                    "one".to_string(),
                    mode.name().into(),
                    batch.to_string(),
                    runs.to_string(),
                    packets.to_string(),
                ]
            };
            let per = cycles_per_packet(&parse_samples(&child(&exe, &args(runs, packets))?));
            let median = report::median(&per);
            let min = per.first().copied();
            let instr = if valgrind {
                let profile = cg_dir.join(format!("{}-{batch}.out", mode.name()));
                let (stdout, ir) =
                    callgrind::run(&exe, &args(1, cg_packets), mode.timed_fn(), &profile)?;
                let packets: u64 = stdout
                    .lines()
                    .find_map(|l| l.strip_prefix("timed "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                (packets > 0).then(|| ir as f64 / packets as f64)
            } else {
                None
            };
            table.row(vec![
                mode.name().into(),
                batch.to_string(),
                report::fixed(median, 1),
                report::fixed(min, 1),
                report::fixed(instr, 1),
            ]);
        }
    }
    table.print();
    table.write_csv(&dir.join("cost.csv"))?;
    let series = |col: usize| -> Vec<Series> {
        [Mode::Rx, Mode::Tx, Mode::Fwd]
            .iter()
            .map(|m| Series {
                name: m.name().into(),
                points: table
                    .rows()
                    .iter()
                    .filter(|r| r[0] == m.name())
                    .filter_map(|r| Some((r[1].parse().ok()?, r[col].parse().ok()?)))
                    .collect(),
            })
            .collect()
    };
    plot::cost(&dir.join("cost.svg"), &series(2), &series(4))?;
    println!("wrote {}", dir.join("cost.svg").display());
    Ok(())
}
