//! Helpers shared by the tests that run `ixy-pktgen` and `ixy-latency`
//! as processes: their stderr as it comes, their exit, their DMA files.

// Each test crate uses its own subset.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The DMA files (hugepage or /dev/shm) that process `pid` allocated.
pub fn dma_files_of(pid: u32) -> Vec<String> {
    driver::memory::dma_files()
        .into_iter()
        .filter(|f| i64::from(f.owner) == i64::from(pid))
        .map(|f| f.path.display().to_string())
        .collect()
}

/// Spawns `bin` with `args`, stdout and stderr piped; returns the child
/// and the stderr lines as they come (the stdout stays in the child).
pub fn spawn_with_stderr(bin: &str, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits for a stderr line containing `needle`; panics after `limit`.
pub fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> String {
    let t0 = Instant::now();
    loop {
        let left = limit.saturating_sub(t0.elapsed());
        match lines.recv_timeout(left) {
            Ok(l) if l.contains(needle) => return l,
            Ok(_) => {}
            Err(e) => panic!("no stderr line with {needle:?} within {limit:?}: {e}"),
        }
    }
}

/// Waits for `child` to exit; kills it and panics after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `bin` with `args` until its stderr shows `ready` (it is sending),
/// sends it `signal`, and checks what every tool promises on SIGINT and
/// SIGTERM: it held DMA memory while running, exits 0 within 30 s, and
/// leaves no DMA file named after its pid. Returns its stdout.
pub fn stop_by_signal(
    bin: &str,
    args: &[&str],
    ready: &str,
    signal: nix::sys::signal::Signal,
) -> String {
    let (mut child, lines) = spawn_with_stderr(bin, args);
    let pid = child.id();
    wait_for_line(&lines, ready, Duration::from_secs(60));
    assert!(
        !dma_files_of(pid).is_empty(),
        "{signal}: it holds DMA memory while running"
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).expect("kill");
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout).expect("stdout");
    }
    let stderr: Vec<String> = lines.try_iter().collect();
    assert_eq!(
        status.code(),
        Some(0),
        "{signal}: {status:?}\n{stdout}\n{}",
        stderr.join("\n")
    );
    assert_eq!(
        dma_files_of(pid),
        Vec::<String>::new(),
        "{signal}: DMA files left"
    );
    stdout
}
