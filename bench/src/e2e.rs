//! End to end and scaling: `ixy-sim` with the line rate lifted, then
//! `ixy-supervisor --app forward` with N workers between DUT ports 0 and 1,
//! and `ixy-pktgen` sending 64-byte frames over 1024 flows both ways from
//! tester ports 2 and 3 as fast as it can. The workers' own stats files
//! give each worker's packet rate, its cycles per packet (busy cycles over
//! received packets) and how busy it was; a worker that idles most of the
//! time is not the limit, and the table says so.
//!
//! Instructions per packet of a worker come from callgrind on
//! `ixy-supervisor --debug-worker 0` (the same worker code, in the
//! foreground) counting only its polls that received packets, with N
//! queues programmed.

use crate::callgrind;
use crate::report::{self, Table};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use worker::statsfile::{self, Counters, StatsFile};

/// One worker's figures over the measurement window.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerFigures {
    /// Packets received per second, in millions.
    pub mpps: f64,
    /// Busy TSC cycles per received packet.
    pub cycles_per_packet: Option<f64>,
    /// Share of the window the worker spent in polls that received.
    pub busy: f64,
}

/// What one end-to-end run measured.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Workers.
    pub workers: usize,
    /// Per worker.
    pub per_worker: Vec<WorkerFigures>,
    /// Instructions per packet of worker 0 (callgrind), when measured.
    pub instructions: Option<f64>,
}

impl Run {
    /// All workers' packet rates added.
    pub fn total_mpps(&self) -> f64 {
        self.per_worker.iter().map(|w| w.mpps).sum()
    }
}

/// Kills a child on drop (SIGTERM, then waits).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name(name)
}

fn spawn(cmd: &mut Command, what: &str) -> Result<Guard, String> {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Guard)
        .map_err(|e| {
            format!("starting {what}: {e} (build the release binaries first: make bench does)")
        })
}

fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn lab_dir(lab: &str) -> PathBuf {
    PathBuf::from(driver::simdev::DEFAULT_DIR).join(lab)
}

fn start_lab(lab: &str) -> Result<Guard, String> {
    let guard = spawn(
        Command::new(bin("ixy-sim")).args(["--lab", lab, "--unlimited"]),
        "ixy-sim",
    )?;
    let control = lab_dir(lab).join("control");
    wait_until(Duration::from_secs(10), "the lab", || control.exists())?;
    Ok(guard)
}

fn supervisor(lab: &str, workers: usize, run_dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin("ixy-supervisor"));
    cmd.args(["--workers", &workers.to_string(), "--app", "forward"])
        .args([
            "--device",
            &format!("sim:{lab}/0"),
            "--device",
            &format!("sim:{lab}/1"),
        ])
        .args(["--rx-ring", "2048", "--tx-ring", "2048"])
        .arg("--run-dir")
        .arg(run_dir)
        .args(extra);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers > cores {
        cmd.arg("--oversubscribe");
    }
    cmd
}

fn pktgen(lab: &str, seconds: f64) -> Command {
    let mut cmd = Command::new(bin("ixy-pktgen"));
    cmd.args([
        "--device",
        &format!("sim:{lab}/2"),
        "--device",
        &format!("sim:{lab}/3"),
    ])
    .args([
        "--bidirectional",
        "--rate",
        "line",
        "--size",
        "64",
        "--flows",
        "1024",
    ])
    .args(["--duration", &seconds.to_string()]);
    cmd
}

fn snapshot(files: &[StatsFile]) -> (Instant, Vec<Counters>) {
    (
        Instant::now(),
        files.iter().map(StatsFile::counters).collect(),
    )
}

/// Runs `workers` forwarding workers under full load and measures them
/// over `window` after a warm-up.
pub fn run(workers: usize, window: Duration) -> Result<Run, String> {
    let lab = format!("bench-e2e-{}-{workers}", std::process::id());
    let run_dir = std::env::temp_dir().join(&lab);
    let _ = std::fs::remove_dir_all(&run_dir);
    let _sim = start_lab(&lab)?;
    let _sup = spawn(
        &mut supervisor(&lab, workers, &run_dir, &[]),
        "ixy-supervisor",
    )?;
    let paths: Vec<PathBuf> = (0..workers as u32)
        .map(|i| statsfile::path(&run_dir, i))
        .collect();
    let running = || {
        paths
            .iter()
            .all(|p| StatsFile::open(p).is_ok_and(|f| f.state() == statsfile::State::Running))
    };
    wait_until(Duration::from_secs(30), "the workers", running)?;
    let files: Vec<StatsFile> = paths
        .iter()
        .map(|p| StatsFile::open(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<_, _>>()?;
    let warmup = Duration::from_secs(1);
    let mut gen = spawn(
        &mut pktgen(&lab, (warmup + window).as_secs_f64() + 1.0),
        "ixy-pktgen",
    )?;
    std::thread::sleep(warmup);
    let (t0, c0) = snapshot(&files);
    std::thread::sleep(window);
    let (t1, c1) = snapshot(&files);
    let _ = gen.0.wait();
    let secs = (t1 - t0).as_secs_f64();
    let per_worker = c0
        .iter()
        .zip(&c1)
        .map(|(a, b)| {
            let rx = b.rx_packets - a.rx_packets;
            let busy = b.busy_cycles - a.busy_cycles;
            let idle = b.idle_cycles - a.idle_cycles;
            WorkerFigures {
                mpps: rx as f64 / secs / 1e6,
                cycles_per_packet: (rx > 0).then(|| busy as f64 / rx as f64),
                busy: busy as f64 / (busy + idle).max(1) as f64,
            }
        })
        .collect();
    drop(gen);
    drop(_sup);
    let _ = std::fs::remove_dir_all(&run_dir);
    Ok(Run {
        workers,
        per_worker,
        instructions: None,
    })
}

/// Instructions per packet of worker 0 with `workers` queues programmed:
/// `ixy-supervisor --debug-worker 0` under callgrind, counting only its
/// polls that received packets (`Poller::poll`), while pktgen loads the
/// lab.
pub fn worker_instructions(workers: usize, out: &Path) -> Result<Option<f64>, String> {
    if !callgrind::available() {
        return Ok(None);
    }
    let lab = format!("bench-cg-{}-{workers}", std::process::id());
    let run_dir = std::env::temp_dir().join(&lab);
    let _ = std::fs::remove_dir_all(&run_dir);
    let _sim = start_lab(&lab)?;
    let seconds = 4;
    let sup = supervisor(
        &lab,
        workers,
        &run_dir,
        &["--debug-worker", "0", "--duration", &seconds.to_string()],
    );
    let program = PathBuf::from(sup.get_program());
    let args: Vec<String> = sup
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The generator starts once the worker runs (callgrind is slow to
    // start), and stops before the worker does.
    let path = statsfile::path(&run_dir, 0);
    let gen = std::thread::spawn({
        let lab = lab.clone();
        move || -> Result<(), String> {
            wait_until(Duration::from_secs(60), "the debug worker", || {
                StatsFile::open(&path).is_ok_and(|f| f.state() == statsfile::State::Running)
            })?;
            let _ = pktgen(&lab, 2.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            Ok(())
        }
    });
    let result = callgrind::run(&program, &args, "*Poller*poll*", out);
    let _ = gen.join();
    let (_, ir) = result?;
    let file = StatsFile::open(&statsfile::path(&run_dir, 0)).map_err(|e| e.to_string())?;
    let rx = file.counters().rx_packets;
    let _ = std::fs::remove_dir_all(&run_dir);
    Ok((rx > 0).then(|| ir as f64 / rx as f64))
}

/// Sections 2 and 3: end to end at 1 and 2 workers, and the scaling table
/// at 1, 2 and 4 workers (and 8 where the machine has the cores).
pub fn tables(dir: &Path, quick: bool) -> Result<Vec<Run>, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let window = Duration::from_secs(if quick { 2 } else { 4 });
    let mut counts = vec![1, 2, 4];
    if cores >= 9 {
        counts.push(8);
    }
    let mut runs = Vec::new();
    for &n in &counts {
        let mut r = run(n, window)?;
        if n <= 4 {
            r.instructions =
                worker_instructions(n, &dir.join(format!("callgrind/worker-{n}.out")))?;
        }
        runs.push(r);
    }
    // The simulator's thread and pktgen need a core each besides the
    // workers: a row with fewer cores than that is oversubscribed.
    // The simulator's thread and pktgen need a core each besides the
    // workers: a row with fewer cores than that is oversubscribed.
    let label = |n: usize| report::workers_label(n, n + 2 > cores);
    let mut e2e = Table::new(
        "End to end: ixy-sim (line rate lifted) -> ixy-supervisor --app forward -> ixy-sim, 64-byte frames, 1024 flows, both directions",
        &["workers", "Mpps total", "Mpps per worker", "worker busy %", "limited by"],
    );
    let mut scaling = Table::new(
        "Scaling: per worker, forward app, 64-byte frames (shared nothing: flat is right)",
        &[
            "workers",
            "worker",
            "Mpps",
            "cycles/pkt (busy)",
            "busy %",
            "instructions/pkt (worker 0, callgrind)",
        ],
    );
    for r in &runs {
        let busy =
            r.per_worker.iter().map(|w| w.busy).sum::<f64>() / r.per_worker.len().max(1) as f64;
        let limit = if busy < 0.9 {
            "the simulator and pktgen (workers wait for packets)"
        } else {
            "the workers"
        };
        if r.workers <= 2 {
            e2e.row(vec![
                label(r.workers),
                format!("{:.3}", r.total_mpps()),
                format!("{:.3}", r.total_mpps() / r.workers as f64),
                format!("{:.0}", busy * 100.0),
                limit.into(),
            ]);
        }
        for (i, w) in r.per_worker.iter().enumerate() {
            scaling.row(vec![
                label(r.workers),
                i.to_string(),
                format!("{:.3}", w.mpps),
                report::fixed(w.cycles_per_packet, 0),
                format!("{:.0}", w.busy * 100.0),
                if i == 0 {
                    report::fixed(r.instructions, 1)
                } else {
                    String::new()
                },
            ]);
        }
    }
    e2e.print();
    println!(
        "oversubscribed: fewer than workers + 2 cores ({cores} here): the simulator's thread, \
         pktgen and the workers share them"
    );
    e2e.write_csv(&dir.join("e2e.csv"))?;
    scaling.print();
    scaling.write_csv(&dir.join("scaling.csv"))?;
    Ok(runs)
}
