//! Runs the real `ixy-stats` binary against run directories filled with the
//! worker crate's own writers.

use driver::stats::PortStats;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use worker::portfile;
use worker::statsfile::{Counters, State, StatsFile};

const BIN: &str = env!("CARGO_BIN_EXE_ixy-stats");

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("ixy-stats-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A pid that no longer runs: a child that exited and was reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn port_stats() -> PortStats {
    PortStats {
        rx_packets: 5000,
        rx_bytes: 320_000,
        tx_packets: 4000,
        tx_bytes: 256_000,
        rx_missed: 7,
        rx_no_buffer: 8,
        rx_crc_errors: 9,
        ..PortStats::default()
    }
}

/// Worker 0: dead pid, state running, 2 restarts; worker 1: this process,
/// running; port 0.
fn fill(dir: &Path) -> (StatsFile, StatsFile) {
    let w0 = StatsFile::create(dir, 0, 2, 0).unwrap();
    w0.set_process(dead_pid(), 1, 2_000_000_000);
    w0.set_state(State::Running);
    w0.add_restart();
    w0.add_restart();
    w0.publish(&Counters {
        rx_packets: 1000,
        rx_bytes: 64_000,
        tx_packets: 900,
        tx_bytes: 57_600,
        tx_drops: 100,
        busy_cycles: 50_000,
        ..Counters::default()
    });
    let w1 = StatsFile::create(dir, 1, 3, 1).unwrap();
    w1.set_process(std::process::id(), 1, 2_000_000_000);
    w1.set_state(State::Running);
    w1.publish(&Counters {
        rx_packets: 3000,
        tx_packets: 3000,
        busy_cycles: 30_000,
        ..Counters::default()
    });
    portfile::write(dir, "sim:demo/0", 0, &port_stats()).unwrap();
    (w0, w1)
}

// --- A small JSON reader, enough to check the output's shape and values ---

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn get(&self, k: &str) -> &Json {
        match self {
            Json::Obj(m) => m.get(k).unwrap_or_else(|| panic!("no key {k} in {self:?}")),
            _ => panic!("not an object: {self:?}"),
        }
    }
    fn at(&self, i: usize) -> &Json {
        match self {
            Json::Arr(v) => &v[i],
            _ => panic!("not an array: {self:?}"),
        }
    }
    fn len(&self) -> usize {
        match self {
            Json::Arr(v) => v.len(),
            _ => panic!("not an array: {self:?}"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
    fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(m) => m.keys().map(String::as_str).collect(),
            _ => panic!("not an object: {self:?}"),
        }
    }
}

fn parse_json(s: &str) -> Json {
    let mut p = JsonParser {
        s: s.as_bytes(),
        i: 0,
    };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, s.len(), "trailing text in {s}");
    v
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) {
        self.ws();
        assert_eq!(self.s[self.i], c, "at {}", self.i);
        self.i += 1;
    }
    fn lit(&mut self, w: &str) {
        assert!(self.s[self.i..].starts_with(w.as_bytes()));
        self.i += w.len();
    }
    fn value(&mut self) -> Json {
        self.ws();
        match self.s[self.i] {
            b'n' => {
                self.lit("null");
                Json::Null
            }
            b't' => {
                self.lit("true");
                Json::Bool(true)
            }
            b'f' => {
                self.lit("false");
                Json::Bool(false)
            }
            b'"' => Json::Str(self.string()),
            b'[' => {
                self.i += 1;
                let mut v = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return Json::Arr(v);
                }
                loop {
                    v.push(self.value());
                    self.ws();
                    self.i += 1;
                    match self.s[self.i - 1] {
                        b',' => continue,
                        b']' => return Json::Arr(v),
                        c => panic!("unexpected {}", c as char),
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.eat(b':');
                    let v = self.value();
                    assert!(m.insert(k, v).is_none(), "duplicate key");
                    self.ws();
                    self.i += 1;
                    match self.s[self.i - 1] {
                        b',' => continue,
                        b'}' => return Json::Obj(m),
                        c => panic!("unexpected {}", c as char),
                    }
                }
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && b"+-.eE0123456789".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Json::Num(t.parse().unwrap_or_else(|_| panic!("bad number {t:?}")))
            }
        }
    }
    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = String::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => return out,
                b'\\' => {
                    let e = self.s[self.i];
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                            self.i += 4;
                            out.push(char::from_u32(u32::from_str_radix(h, 16).unwrap()).unwrap());
                        }
                        _ => panic!("bad escape"),
                    }
                }
                c if c < 0x20 => panic!("raw control character in a string"),
                _ => {
                    // Copy one UTF-8 character.
                    let start = self.i - 1;
                    let len = match c {
                        0..=0x7f => 1,
                        0xc0..=0xdf => 2,
                        0xe0..=0xef => 3,
                        _ => 4,
                    };
                    out.push_str(std::str::from_utf8(&self.s[start..start + len]).unwrap());
                    self.i = start + len;
                }
            }
        }
    }
}

fn json_lines(o: &Output) -> Vec<Json> {
    stdout(o).lines().map(parse_json).collect()
}

fn assert_bad(o: &Output, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line, got: {err}");
    assert!(err.starts_with("ixy-stats: "), "{err}");
    assert!(err.contains(what), "expected {what:?} in {err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn json_reports_counts_liveness_and_restarts() {
    let t = TempDir::new("json");
    let _files = fill(&t.0);
    let o = run(&[
        "--run-dir",
        t.0.to_str().unwrap(),
        "--json",
        "--interval",
        "0.1",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(stderr(&o), "");
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 1);
    let j = &lines[0];
    assert_eq!(
        j.keys(),
        ["interval_s", "ports", "total", "unix_ns", "workers"]
    );
    assert!((j.get("interval_s").num() - 0.1).abs() < 0.09);

    let w = j.get("workers");
    assert_eq!(w.len(), 2);
    let w0 = w.at(0);
    assert_eq!(w0.get("index").num(), 0.0);
    assert_eq!(w0.get("alive"), &Json::Bool(false), "dead pid");
    assert_eq!(w0.get("state"), &Json::Str("running".into()));
    assert_eq!(w0.get("core").num(), 2.0);
    assert_eq!(w0.get("queue").num(), 0.0);
    assert_eq!(w0.get("restarts").num(), 2.0);
    assert_eq!(w0.get("rx_packets").num(), 1000.0);
    assert_eq!(w0.get("tx_packets").num(), 900.0);
    assert_eq!(w0.get("tx_drops").num(), 100.0);
    assert_eq!(w0.get("cycles_per_packet").num(), 50.0);
    for k in ["rx_mpps", "tx_mpps", "rx_gbps", "tx_gbps"] {
        assert_eq!(w0.get(k).num(), 0.0, "{k}: counters did not move");
    }
    let w1 = w.at(1);
    assert_eq!(w1.get("alive"), &Json::Bool(true), "this test process");
    assert_eq!(w1.get("pid").num(), f64::from(std::process::id()));
    assert_eq!(w1.get("restarts").num(), 0.0);
    assert_eq!(w1.get("cycles_per_packet").num(), 10.0);

    let total = j.get("total");
    assert_eq!(total.get("workers").num(), 2.0);
    assert_eq!(total.get("alive").num(), 1.0);
    assert_eq!(total.get("rx_packets").num(), 4000.0);
    assert_eq!(total.get("tx_packets").num(), 3900.0);
    assert_eq!(total.get("restarts").num(), 2.0);
    assert_eq!(total.get("cycles_per_packet").num(), 20.0);

    let p = j.get("ports");
    assert_eq!(p.len(), 1);
    let p0 = p.at(0);
    assert_eq!(p0.get("device"), &Json::Str("sim:demo/0".into()));
    assert_eq!(p0.get("port").num(), 0.0);
    assert_eq!(p0.get("rx_packets").num(), 5000.0);
    assert_eq!(p0.get("tx_packets").num(), 4000.0);
    assert_eq!(p0.get("rx_missed").num(), 7.0);
    assert_eq!(p0.get("rx_no_buffer").num(), 8.0);
    assert_eq!(p0.get("rx_crc_errors").num(), 9.0);
    // One fresh version of the port file: its rate is not known yet.
    assert_eq!(p0.get("rx_mpps"), &Json::Null);
}

#[test]
fn worker_rates_follow_live_counters() {
    let t = TempDir::new("rates");
    let (w0, _w1) = fill(&t.0);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut c = w0.counters();
            while !stop.load(Ordering::Relaxed) {
                c.rx_packets += 1000;
                c.rx_bytes += 64_000;
                w0.publish(&c);
                // A live worker publishes once a millisecond: this sleep is
                // the rate the test measures, not a wait for an event.
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let o = run(&[
        "--run-dir",
        t.0.to_str().unwrap(),
        "--json",
        "--interval",
        "0.3",
    ]);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let j = &json_lines(&o)[0];
    let w0 = j.get("workers").at(0);
    // At most 1000 packets a millisecond: up to 1 Mpps, less on a busy machine.
    let mpps = w0.get("rx_mpps").num();
    assert!(mpps > 0.0 && mpps <= 1.5, "rx_mpps {mpps}");
    let gbps = w0.get("rx_gbps").num();
    assert!(
        (gbps - mpps * 64.0 * 8.0 / 1e3).abs() < 1e-3,
        "{gbps} vs {mpps}"
    );
    assert_eq!(j.get("workers").at(1).get("rx_mpps").num(), 0.0);
    assert!((j.get("total").get("rx_mpps").num() - mpps).abs() < 1e-5);
}

#[test]
fn table_mode_prints_workers_total_and_ports() {
    let t = TempDir::new("table");
    let _files = fill(&t.0);
    let o = run(&["--run-dir", t.0.to_str().unwrap(), "--interval", "0.05"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\x1b'), "no escapes when not a terminal");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("rates over"), "{out}");
    assert!(
        out.contains("cycles/pkt") && out.contains("crc errors"),
        "{out}"
    );
    let total = lines.iter().find(|l| l.starts_with("total")).unwrap();
    assert!(total.contains("1/2") && total.contains("4000"), "{total}");
    assert!(out.contains("sim:demo/0"));
}

#[test]
fn watch_prints_a_line_per_interval() {
    let t = TempDir::new("watch");
    let _files = fill(&t.0);
    let mut child = Command::new(BIN)
        .args([
            "--run-dir",
            t.0.to_str().unwrap(),
            "--watch",
            "--json",
            "--interval",
            "0.05",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        assert_eq!(parse_json(&line).get("workers").len(), 2);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn malformed_files_are_skipped_with_a_warning() {
    let t = TempDir::new("malformed");
    let _files = fill(&t.0);
    std::fs::write(t.0.join("worker-5.stats"), b"short").unwrap();
    std::fs::write(t.0.join("worker-6.stats"), [0u8; 4096]).unwrap();
    std::fs::write(t.0.join("port-1.stats"), "ixy-port-stats 1\ndevice x\n").unwrap();
    std::fs::write(t.0.join("worker-x.stats"), b"").unwrap();
    // Not stats files at all: ignored silently.
    std::fs::write(t.0.join("port-2.stats.tmp"), b"").unwrap();
    std::fs::write(t.0.join("worker-0.dma"), b"").unwrap();
    let o = run(&[
        "--run-dir",
        t.0.to_str().unwrap(),
        "--json",
        "--interval",
        "0.05",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 4, "{err}");
    for name in ["worker-5", "worker-6", "port-1", "worker-x"] {
        let line = err.lines().find(|l| l.contains(name)).unwrap();
        assert!(line.starts_with("ixy-stats: warning: skipping"), "{line}");
    }
    let j = &json_lines(&o)[0];
    assert_eq!(j.get("workers").len(), 2);
    assert_eq!(j.get("ports").len(), 1);
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let t = TempDir::new("bad");
    let dir = t.0.to_str().unwrap();
    let missing = t.0.join("missing");
    assert_bad(
        &run(&["--run-dir", missing.to_str().unwrap()]),
        "does not exist",
    );
    assert_bad(
        &run(&["--run-dir", dir]),
        "no worker-N.stats or port-N.stats",
    );
    let file = t.0.join("plain");
    std::fs::write(&file, b"").unwrap();
    assert_bad(
        &run(&["--run-dir", file.to_str().unwrap()]),
        "not a directory",
    );
    for interval in ["0", "-1", "61", "abc", "nan"] {
        assert_bad(
            &run(&["--run-dir", dir, "--interval", interval]),
            "--interval",
        );
    }
    assert_bad(&run(&["--run-dir", dir, "--name", "x"]), "not both");
    assert_bad(&run(&["--name", "../etc"]), "--name");
    assert_bad(&run(&["--bogus"]), "--help");
    assert_bad(&run(&["--interval"]), "--help");
    // Only unreadable files: warnings, then the error line.
    std::fs::write(t.0.join("worker-0.stats"), b"short").unwrap();
    let o = run(&["--run-dir", dir]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(err
        .lines()
        .nth(1)
        .unwrap()
        .contains("no readable stats files"));
}

#[test]
fn name_selects_the_default_run_dir() {
    let base = TempDir::new("xdg");
    let name = format!("stats-test-{}", std::process::id());
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap();
    let dir = if root {
        PathBuf::from("/run/ixy").join(&name)
    } else {
        base.0.join("ixy").join(&name)
    };
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let _files = fill(&dir);
    let o = Command::new(BIN)
        .args(["--name", &name, "--json", "--interval", "0.05"])
        .env("XDG_RUNTIME_DIR", &base.0)
        .output()
        .unwrap();
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert_eq!(json_lines(&o)[0].get("workers").len(), 2);
}

#[test]
fn help_explains_every_flag() {
    let o = run(&["--help"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for flag in [
        "--run-dir",
        "--name",
        "--watch",
        "--interval",
        "--json",
        "Examples",
    ] {
        assert!(out.contains(flag), "{flag} in {out}");
    }
}

#[test]
fn per_queue_drops_are_in_the_table_and_the_json() {
    let t = TempDir::new("qdrops");
    let _files = fill(&t.0);
    let mut s = port_stats();
    s.queues[0].rx_packets = 2500;
    s.queues[1].rx_packets = 2500;
    s.queues[1].rx_dropped = 1234;
    s.queues[3].rx_dropped = 5;
    s.rx_no_buffer = 1239;
    portfile::write(&t.0, "sim:demo/0", 0, &s).unwrap();
    let dir = t.0.to_str().unwrap();

    let o = run(&["--run-dir", dir, "--interval", "0.05"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    let header = out.lines().find(|l| l.starts_with("port")).unwrap();
    assert!(header.contains("queue drops"), "{out}");
    let row = out.lines().find(|l| l.contains("sim:demo/0")).unwrap();
    assert!(row.split_whitespace().any(|c| c == "1239"), "{out}");
    assert!(
        out.contains(
            "port 0 queue drops (no free Rx descriptor, QPRDC): queue 1: 1234, queue 3: 5"
        ),
        "{out}"
    );

    let o = run(&["--run-dir", dir, "--json", "--interval", "0.05"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let p0 = json_lines(&o)[0].get("ports").at(0).clone();
    assert_eq!(p0.get("rx_no_buffer").num(), 1239.0);
    let q = p0.get("queues");
    assert_eq!(q.len(), 3, "queues 0, 1 and 3 counted something: {q:?}");
    let by_queue: Vec<(f64, f64, f64)> = (0..3)
        .map(|i| {
            let e = q.at(i);
            (
                e.get("queue").num(),
                e.get("rx_packets").num(),
                e.get("rx_dropped").num(),
            )
        })
        .collect();
    assert_eq!(
        by_queue,
        [(0.0, 2500.0, 0.0), (1.0, 2500.0, 1234.0), (3.0, 0.0, 5.0)]
    );
}

/// Two workers whose app declares counters (worker 0: flows 3, hits 10;
/// worker 1, a restarted app with one more counter: flows 4, hits 0,
/// misses 1) and a third whose app declares none.
fn fill_with_app_counters(dir: &Path) -> Vec<StatsFile> {
    let apps: [&[(&str, u64)]; 3] = [
        &[("flows", 3), ("hits", 10)],
        &[("flows", 4), ("hits", 0), ("misses", 1)],
        &[],
    ];
    apps.iter()
        .enumerate()
        .map(|(i, counters)| {
            let i = i as u32;
            let f = StatsFile::create(dir, i, i, i).unwrap();
            f.set_process(std::process::id(), 1, 2_000_000_000);
            f.set_state(State::Running);
            f.publish(&Counters {
                rx_packets: 100,
                ..Counters::default()
            });
            let names: Vec<&str> = counters.iter().map(|(n, _)| *n).collect();
            f.set_app_counters(&names).unwrap();
            let values: Vec<u64> = counters.iter().map(|(_, v)| *v).collect();
            f.publish_app(&values);
            f
        })
        .collect()
}

#[test]
fn app_counters_are_in_the_json_per_worker_and_summed_in_the_total() {
    let t = TempDir::new("app-json");
    let _files = fill_with_app_counters(&t.0);
    let o = run(&[
        "--run-dir",
        t.0.to_str().unwrap(),
        "--json",
        "--interval",
        "0.05",
    ]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    // In declaration order, after the worker's other fields.
    assert!(
        out.contains(r#""restarts":0,"app":{"flows":3,"hits":10}}"#),
        "{out}"
    );
    let j = &json_lines(&o)[0];
    let app = |w: &Json| -> Vec<(String, f64)> {
        match w.get("app") {
            Json::Obj(m) => m.iter().map(|(k, v)| (k.clone(), v.num())).collect(),
            other => panic!("app is not an object: {other:?}"),
        }
    };
    let pairs = |p: &[(&str, f64)]| -> Vec<(String, f64)> {
        p.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    let w = j.get("workers");
    assert_eq!(app(w.at(0)), pairs(&[("flows", 3.0), ("hits", 10.0)]));
    assert_eq!(
        app(w.at(1)),
        pairs(&[("flows", 4.0), ("hits", 0.0), ("misses", 1.0)])
    );
    assert_eq!(app(w.at(2)), pairs(&[]), "no app counters: an empty object");
    assert_eq!(
        app(j.get("total")),
        pairs(&[("flows", 7.0), ("hits", 10.0), ("misses", 1.0)])
    );
    assert_eq!(j.get("total").get("rx_packets").num(), 300.0);
}

#[test]
fn app_counters_get_a_table_with_their_totals_only_when_there_are_some() {
    let t = TempDir::new("app-table");
    let files = fill_with_app_counters(&t.0);
    let dir = t.0.to_str().unwrap();
    let o = run(&["--run-dir", dir, "--interval", "0.05"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("app counter"))
        .unwrap_or_else(|| panic!("no app counter table in {out}"));
    let cells = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        lines[at], "app counter  worker 0  worker 1  worker 2  total",
        "{out}"
    );
    assert_eq!(cells(lines[at + 1]), ["flows", "3", "4", "-", "7"], "{out}");
    assert_eq!(
        cells(lines[at + 2]),
        ["hits", "10", "0", "-", "10"],
        "{out}"
    );
    assert_eq!(
        cells(lines[at + 3]),
        ["misses", "-", "1", "-", "1"],
        "{out}"
    );
    assert_eq!(lines.get(at + 4).copied().unwrap_or(""), "", "{out}");
    // Below the worker table and its total.
    let total = lines.iter().position(|l| l.starts_with("total")).unwrap();
    assert!(total < at, "{out}");

    // No app counters anywhere: no table.
    for f in &files {
        f.set_app_counters(&[]).unwrap();
    }
    let o = run(&["--run-dir", dir, "--interval", "0.05"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    assert!(!stdout(&o).contains("app counter"), "{}", stdout(&o));
}

/// Runs `promtool check metrics` on `text`; returns its verdict and output.
fn promtool(text: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (.ci/run installs the prometheus package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn prometheus_output_passes_promtool_and_holds_every_counter() {
    let t = TempDir::new("prom");
    let _files = fill(&t.0);
    let o = run(&["--run-dir", t.0.to_str().unwrap(), "--prometheus"]);
    assert!(o.status.success(), "stderr: {}", stderr(&o));
    let text = stdout(&o);
    let (ok, said) = promtool(&text);
    assert!(ok, "promtool check metrics: {said}\n{text}");
    for line in [
        "ixy_worker_rx_packets_total{worker=\"0\",core=\"2\",queue=\"0\"} 1000",
        "ixy_worker_restarts_total{worker=\"0\",core=\"2\",queue=\"0\"} 2",
        "ixy_port_rx_crc_errors_total{port=\"0\",device=\"sim:demo/0\"} 9",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    // App counters too, and they pass promtool as well.
    let a = TempDir::new("prom-app");
    let _files = fill_with_app_counters(&a.0);
    let o = run(&["--run-dir", a.0.to_str().unwrap(), "--prometheus"]);
    let text = stdout(&o);
    assert!(
        text.contains("ixy_app_total{worker=\"1\",counter=\"misses\"} 1"),
        "{text}"
    );
    let (ok, said) = promtool(&text);
    assert!(ok, "promtool check metrics: {said}");
}

#[test]
fn listen_serves_a_fresh_sample_on_every_scrape_of_metrics() {
    use std::io::{Read as _, Write as _};
    let t = TempDir::new("listen");
    let (w0, _w1) = fill(&t.0);
    // A free port: bound and released (another program could take it in
    // between; nothing else here does).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(BIN)
        .args(["--run-dir", t.0.to_str().unwrap(), "--listen", &addr])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let scrape = |path: &str| -> Option<String> {
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
            .ok()?;
        let mut r = String::new();
        s.read_to_string(&mut r).ok()?;
        Some(r)
    };
    let t0 = std::time::Instant::now();
    let mut first = scrape("/metrics");
    while first.is_none() && t0.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
        first = scrape("/metrics");
    }
    let first = first.expect("ixy-stats answers on /metrics");
    assert!(first.starts_with("HTTP/1.1 200 OK"), "{first}");
    let body = first.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert!(promtool(body).0, "{body}");
    assert!(body.contains("ixy_worker_rx_packets_total{worker=\"0\",core=\"2\",queue=\"0\"} 1000"));
    // The worker counts on; the next scrape sees it.
    w0.publish(&Counters {
        rx_packets: 1500,
        ..Counters::default()
    });
    let second = scrape("/metrics").expect("a second scrape");
    assert!(
        second.contains("ixy_worker_rx_packets_total{worker=\"0\",core=\"2\",queue=\"0\"} 1500"),
        "{second}"
    );
    assert!(scrape("/").unwrap_or_default().starts_with("HTTP/1.1 404"));
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn prometheus_options_refuse_what_they_cannot_do() {
    let t = TempDir::new("prom-bad");
    let _files = fill(&t.0);
    let dir = t.0.to_str().unwrap();
    assert_bad(
        &run(&["--run-dir", dir, "--prometheus", "--json"]),
        "--json",
    );
    assert_bad(
        &run(&["--run-dir", dir, "--listen", "nowhere"]),
        "--listen nowhere",
    );
}
