//! `ixy-pktgen --dst-mac` and `ixy-latency --dst-mac` take and refuse the
//! same MAC addresses (`tools::mac`: two hex digits per byte, all `:` or
//! all `-`, any case): a bad one is one line naming the option and exit
//! code 2 from either tool, a good one gets past the option to the device
//! (a lab that does not exist here).

use std::process::Command;

const PKTGEN: &str = env!("CARGO_BIN_EXE_ixy-pktgen");
const LATENCY: &str = env!("CARGO_BIN_EXE_ixy-latency");
const NO_LAB: &str = "sim:no-such-lab-mac-test";

/// Inputs and whether they are MAC addresses.
const CASES: &[(&str, bool)] = &[
    ("02:1c:59:90:00:0a", true),
    ("02:1C:59:90:00:0A", true),
    ("02-1c-59-90-00-0a", true),
    ("FF-FF-FF-FF-FF-FF", true),
    ("", false),
    ("nope", false),
    ("02:1c:59:90:00", false),
    ("02:1c:59:90:00:00:00", false),
    ("02:1c:59:90:00:0g", false),
    ("2:1c:59:90:0:a", false),
    ("02:1c-59:90:00:0a", false),
    ("+2:1c:59:90:00:0a", false),
    ("021c.5990.000a", false),
];

/// Exit code and stderr of `tool` with `--dst-mac mac`.
fn run(tool: &str, mac: &str) -> (Option<i32>, String) {
    let (d2, d3) = (format!("{NO_LAB}/2"), format!("{NO_LAB}/3"));
    let mut cmd = Command::new(tool);
    if tool == PKTGEN {
        cmd.args(["--device", &d2, "--count", "1"]);
    } else {
        cmd.args(["--device", &d2, "--device", &d3]);
    }
    let out = cmd.args(["--dst-mac", mac]).output().expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn both_tools_take_and_refuse_the_same_macs() {
    for &(mac, good) in CASES {
        for (tool, name) in [(PKTGEN, "ixy-pktgen"), (LATENCY, "ixy-latency")] {
            let (code, err) = run(tool, mac);
            // Good or bad, the run ends with one line and exit code 2: a
            // bad MAC, or else the missing lab.
            assert_eq!(code, Some(2), "{name} --dst-mac {mac:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{name} --dst-mac {mac:?}: {err}");
            let refused = err.starts_with(&format!("{name}: --dst-mac: MAC address "));
            assert_eq!(refused, !good, "{name} --dst-mac {mac:?}: {err}");
            if good {
                assert!(err.contains("no-such-lab-mac-test"), "{name}: {err}");
            }
        }
    }
}
