//! The `ixy-sim` binary: bad input, a lab's life cycle, the control client.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ixy-sim");
/// Generous wait for events: the machine has 2 cores shared by everything.
const WAIT: Duration = Duration::from_secs(20);

fn root() -> PathBuf {
    PathBuf::from(format!("/dev/shm/ixy-sim-cli-{}", std::process::id()))
}

/// Runs `ixy-sim ARGS` to its end; kills it and fails the test if it
/// runs longer than [`WAIT`] (a lab started by mistake runs forever).
fn ixy_sim(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("IXY_SIM_DIR", root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ixy-sim runs");
    let ended = ixy_sim::harness::wait_for(WAIT, || child.try_wait().ok().flatten().is_some());
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("ixy-sim output");
    assert!(ended, "ixy-sim {args:?} still running after {WAIT:?}");
    out
}

#[test]
fn bad_input_gets_one_line_and_exit_code_2() {
    let cases: [(&[&str], &str); 23] = [
        (&["--ports", "0"], "0 ports"),
        (&["--ports", "many"], "not a number"),
        (&["--cable", "0-9"], "ports 0 to 3"),
        (&["--cable", "1-1"], "two different ports"),
        (&["--cable", "0-1", "--cable", "1-2"], "two cables"),
        (&["--lab", "../escape"], "lab name"),
        (&["--frobnicate"], "unknown argument"),
        (&["--threads", "0"], "0 model threads"),
        (&["--tap", "9:ixyx"], "ports 0 to 3"),
        (&["--tap", "0"], "P:NAME"),
        (&["--tap", "0:a/b"], "TAP name"),
        (&["--tap", "0:abcdefghijklmnop"], "TAP name"),
        (
            &["--cable", "0-1", "--tap", "0:ixyx"],
            "already has a cable",
        ),
        (&["--tap", "2:ixyx", "--tap", "3:ixyx"], "named twice"),
        (&["ctl", "--lab", "nosuchlab", "status"], "does not exist"),
        // Durations beyond their maxima (the link would never come up).
        (
            &["--link-delay-ms", "18446744073709551615"],
            "--link-delay-ms",
        ),
        (&["--link-delay-ms", "60001"], "at most 60000"),
        (
            &["--reset-delay-ms", "18446744073709551615"],
            "--reset-delay-ms",
        ),
        (&["--reset-delay-ms", "60001"], "at most 60000"),
        (
            &["--cable-delay-ns", "18446744073709551615"],
            "--cable-delay-ns",
        ),
        (&["--cable-delay-ns", "1000000001"], "at most 1000000000"),
        (
            &["--core", "18446744073709551615", "--threads", "2"],
            "--core",
        ),
        // An unknown ctl option is named, not mistaken for a command.
        (&["ctl", "--bogus", "status"], "unknown option \"--bogus\""),
    ];
    for (args, needle) in cases {
        let out = ixy_sim(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line, got {err:?}");
        assert!(
            err.contains(needle),
            "{args:?}: {err:?} should mention {needle:?}"
        );
    }
    assert!(ixy_sim(&["--help"]).status.success());
}

#[test]
fn a_lab_runs_answers_control_commands_and_cleans_up_on_sigterm() {
    let dir = root().join("life");
    let mut child = Command::new(BIN)
        .args(["--lab", "life", "--ports", "2", "--cable", "0-1"])
        .env("IXY_SIM_DIR", root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ixy-sim starts");
    let ready =
        ixy_sim::harness::wait_for(Duration::from_secs(10), || dir.join("control").exists());
    assert!(ready, "the lab directory appears");
    assert!(dir.join("port1/bar0").exists() && dir.join("iommu").exists());
    let status = ixy_sim(&["ctl", "--lab", "life", "status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && text.contains("port0") && text.contains("port1"),
        "{text}"
    );
    // A second lab of the same name is refused.
    let twice = ixy_sim(&["--lab", "life"]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already running"));
    let bad = ixy_sim(&["ctl", "--lab", "life", "link", "7", "down"]);
    assert_eq!(bad.status.code(), Some(2));
    // The barrier: `ok` (nothing printed) once the model is quiet.
    let sync = ixy_sim(&["ctl", "--lab", "life", "sync"]);
    assert!(sync.status.success() && sync.stdout.is_empty(), "{sync:?}");
    let bad = ixy_sim(&["ctl", "--lab", "life", "sync", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    // SIGTERM stops it and removes the directory.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let exit = child.wait().expect("ixy-sim exits");
    assert!(exit.success(), "{exit:?}");
    assert!(!dir.exists(), "lab directory removed");
    let _ = std::fs::remove_dir(root());
}
