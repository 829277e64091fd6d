//! The README's "Write your own app", built verbatim: its `Cargo.toml` and
//! `src/main.rs` go into a new crate outside the workspace, beside a link
//! named `ixy-mp` to this checkout (where the README says to put it), and
//! the program runs with 2 workers on a simulated lab while `ixy-pktgen`
//! sends it 64 flows: nothing is lost, and the app's own counters show
//! every packet and every flow once, summed over the workers.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The first fenced block of language `lang` after `heading` in `text`.
fn block<'a>(text: &'a str, heading: &str, lang: &str) -> &'a str {
    let section = &text[text.find(heading).expect("the README section")..];
    let open = format!("```{lang}\n");
    let start = section.find(&open).expect("the code block") + open.len();
    let len = section[start..].find("```\n").expect("the block's end");
    &section[start..start + len]
}

/// Writes the README's crate beside a link to this checkout and builds it
/// (into this workspace's target directory, so that runs after the first
/// reuse what they built); returns the program.
fn build_readme_app() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let heading = "## Write your own app";
    let (toml, main) = (
        block(&readme, heading, "toml"),
        block(&readme, heading, "rust"),
    );
    let dir = std::env::temp_dir().join(format!("ixy-readme-app-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("my-app/src")).unwrap();
    std::os::unix::fs::symlink(root, dir.join("ixy-mp")).unwrap();
    std::fs::write(dir.join("my-app/Cargo.toml"), toml).unwrap();
    std::fs::write(dir.join("my-app/src/main.rs"), main).unwrap();
    // The workspace's versions of the dependencies: offline-friendly, and
    // what the rest of the tests built.
    std::fs::copy(root.join("Cargo.lock"), dir.join("my-app/Cargo.lock")).unwrap();
    let target = root.join("target/readme-app");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-q", "--manifest-path"])
        .arg(dir.join("my-app/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "the README's app does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    target.join("debug/my-app")
}

#[test]
fn the_readme_app_builds_outside_the_workspace_and_counts_every_packet_once() {
    let program = build_readme_app();
    let _serial = serial();
    let args = [
        "--workers",
        "2",
        "--device",
        "sim:LAB/0",
        "--device",
        "sim:LAB/1",
        "--oversubscribe",
        "--idle=yield",
    ];
    let run = start_program(&program, "readme", &args, &fresh_run_dir("readme"));
    run.wait_running(&[0, 1]);
    let lab = run.name.clone();
    let out = Command::new(ixy_pktgen())
        .args(["--device", &format!("sim:{lab}/2")])
        .args(["--device", &format!("sim:{lab}/3")])
        .args([
            "--flows", "64", "--count", "6400", "--rate", "0.05", "--verify", "--json",
        ])
        .output()
        .expect("ixy-pktgen runs");
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{json}");
    assert_eq!(json_u64(&json, "directions", "lost"), 0, "{json}");
    let counter = |name: &str| -> Vec<u64> {
        (0..2)
            .map(|i| {
                let c = run.worker(i).app_counters();
                c.iter().find(|(n, _)| n == name).map_or(0, |&(_, v)| v)
            })
            .collect()
    };
    assert!(
        wait(|| counter("packets").iter().sum::<u64>() == 6400),
        "packets per worker: {:?}",
        counter("packets")
    );
    let flows = counter("flows");
    assert_eq!(
        flows.iter().sum::<u64>(),
        64,
        "each flow on one worker: {flows:?}"
    );
    assert!(
        flows.iter().all(|&n| n > 0),
        "both workers carry flows: {flows:?}"
    );
    let (status, _lab, _dir, log) = run.stop();
    assert!(status.success(), "{log}");
}
