//! The control socket: one command per line, bounded lines and time per
//! connection, and no client holding the socket for the others.

use ixy_sim::control::{self, LINE_TIME, MAX_CONNECTIONS};
use ixy_sim::{Lab, LabConfig};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ixy-sim");
/// Generous wait for events: the machine has 2 cores shared by everything.
const WAIT: Duration = Duration::from_secs(10);

/// The sim tests' lab root (`tests/common`): a lab removes its own
/// directory when it stops, and the names carry this process's id.
fn root() -> PathBuf {
    PathBuf::from("/dev/shm/ixy-sim-tests")
}

fn lab(name: &str) -> Lab {
    let mut cfg = LabConfig::new(name);
    cfg.root = root();
    cfg.line_rate = false;
    Lab::start(cfg).expect("lab starts")
}

fn connect(lab: &Lab) -> UnixStream {
    let s = UnixStream::connect(lab.dir().join("control")).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s.set_write_timeout(Some(WAIT)).expect("write timeout");
    s
}

fn removed(lab: &Lab, port: usize) -> bool {
    let status = lab.control("status").expect("status");
    let prefix = format!("port{port} ");
    status
        .lines()
        .any(|l| l.starts_with(&prefix) && l.contains("link=removed"))
}

/// Everything the lab sends on `s` until it closes the connection, split
/// into answers (each ends with an empty line); panics if the lab keeps it
/// open longer than [`WAIT`].
fn answers_until_closed(s: &mut UnixStream) -> Vec<String> {
    let mut data = Vec::new();
    match s.read_to_end(&mut data) {
        Ok(_) => {}
        // The lab closed with our unread bytes in its queue.
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the lab did not close the connection within {WAIT:?}: {e}"),
    }
    String::from_utf8_lossy(&data)
        .split_terminator("\n\n")
        .map(str::to_string)
        .collect()
}

/// Reads exactly `n` answers from `s`.
fn answers(s: &mut UnixStream, n: usize) -> Vec<String> {
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    while data.windows(2).filter(|w| w == b"\n\n").count() < n {
        s.read_exact(&mut byte).expect("an answer");
        data.push(byte[0]);
    }
    String::from_utf8_lossy(&data)
        .split_terminator("\n\n")
        .map(str::to_string)
        .collect()
}

#[test]
fn a_newline_inside_one_ctl_argument_is_refused_and_runs_nothing() {
    let lab = lab(&format!("newline-{}", std::process::id()));
    let name = lab.dir().file_name().unwrap().to_str().unwrap().to_string();
    let root = root();
    let cases: [&[&str]; 4] = [
        &["status\nremove 0"],
        &["status", "\nremove", "0"],
        &["status\rremove 0"],
        &["status\u{1b}remove 0"],
    ];
    for words in cases {
        let out = Command::new(BIN)
            .args(["ctl", "--dir", root.to_str().unwrap(), "--lab", &name])
            .args(words)
            .output()
            .expect("ixy-sim ctl runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{words:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{words:?}: one line, got {err:?}");
        assert!(err.contains("control character"), "{words:?}: {err:?}");
        assert!(!removed(&lab, 0), "{words:?} removed port 0");
    }
    // The library client refuses it too.
    assert!(control::send(lab.dir(), "status\nremove 0").is_err());
    assert!(!removed(&lab, 0));
}

#[test]
fn a_line_of_2000_bytes_is_one_command_not_several() {
    let lab = lab(&format!("long-{}", std::process::id()));
    // Cut at 1024 bytes, this line would be `status` and then `remove 0`.
    let line = format!("{:<1024}{:<976}\n", "status", "remove 0");
    assert_eq!(line.len(), 2001);
    let mut s = connect(&lab);
    s.write_all(line.as_bytes()).expect("send");
    s.write_all(b"status\n").expect("send");
    let got = answers(&mut s, 2);
    assert!(got[0].starts_with("error:"), "{got:?}");
    assert!(got[1].starts_with("ok\nport0"), "{got:?}");
    assert!(!removed(&lab, 0), "the tail of the line ran as a command");
}

#[test]
fn a_flood_without_newline_gets_one_error_is_dropped_and_blocks_no_one() {
    let lab = lab(&format!("flood-{}", std::process::id()));
    let mut flood = connect(&lab);
    let mut writer = flood.try_clone().expect("clone");
    let (began, started) = mpsc::channel();
    let flooder = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < 1 << 20 {
            match writer.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
            let _ = began.send(());
        }
        sent
    });
    started.recv_timeout(WAIT).expect("the flood begins");
    let t0 = Instant::now();
    let status = control::send(lab.dir(), "status");
    let took = t0.elapsed();
    assert!(status.is_ok(), "status during the flood: {status:?}");
    assert!(took < WAIT / 2, "status took {took:?} during the flood");
    let got = answers_until_closed(&mut flood);
    assert_eq!(got.len(), 1, "one answer to the flood: {got:?}");
    assert!(got[0].starts_with("error: line too long"), "{got:?}");
    let sent = flooder.join().expect("flooder");
    assert!(sent < 1 << 20, "the lab read all {sent} bytes");
}

#[test]
fn silent_and_dribbling_clients_are_dropped_after_the_time_limit_and_block_no_one() {
    let lab = lab(&format!("slow-{}", std::process::id()));
    let mut silent = connect(&lab);
    let mut dribble = connect(&lab);
    let t0 = Instant::now();
    let mut writer = dribble.try_clone().expect("clone");
    let dribbler = std::thread::spawn(move || {
        // One byte every 100 ms, never a newline, until the lab hangs up.
        // The sleep is the behaviour under test: a client this slow.
        while t0.elapsed() < WAIT && writer.write_all(b"s").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    // Another client is served while both are connected.
    let status = control::send(lab.dir(), "status");
    assert!(status.is_ok(), "status beside slow clients: {status:?}");
    silent.set_nonblocking(true).expect("nonblocking");
    let still = silent.read(&mut [0u8; 1]);
    assert!(
        matches!(&still, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the silent client was dropped before status was answered: {still:?}"
    );
    silent.set_nonblocking(false).expect("blocking");
    for (who, s) in [("silent", &mut silent), ("dribbling", &mut dribble)] {
        let got = answers_until_closed(s);
        let took = t0.elapsed();
        assert!(took >= LINE_TIME / 2, "{who} dropped after only {took:?}");
        assert!(got.len() <= 1, "{who}: {got:?}");
    }
    dribbler.join().expect("dribbler");
    assert!(control::send(lab.dir(), "status").is_ok());
}

#[test]
fn connections_beyond_the_cap_are_refused_until_one_ends() {
    let lab = lab(&format!("cap-{}", std::process::id()));
    let held: Vec<UnixStream> = (0..MAX_CONNECTIONS).map(|_| connect(&lab)).collect();
    let mut extra = connect(&lab);
    let got = answers_until_closed(&mut extra);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("error: too many"), "{got:?}");
    drop(held);
    let served = ixy_sim::harness::wait_for(WAIT, || control::send(lab.dir(), "status").is_ok());
    assert!(served, "status once the held connections ended");
}
