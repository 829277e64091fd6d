//! Instruction counts with `valgrind --tool=callgrind`: the one figure
//! that does not depend on a noisy machine (no cycle counters in this VM).
//! Collection is restricted to the timed functions with `--toggle-collect`,
//! so the count is the driver and worker code alone.

use std::path::Path;
use std::process::Command;

/// Whether valgrind is installed.
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `program args` under callgrind, counting only inside functions
/// matching `toggle` (a callgrind pattern such as `*timed_fwd*`); the
/// profile goes to `out`. Returns the program's standard output and the
/// instructions counted.
pub fn run(
    program: &Path,
    args: &[String],
    toggle: &str,
    out: &Path,
) -> Result<(String, u64), String> {
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!("--toggle-collect={toggle}"))
        .arg("--dump-instr=yes")
        .arg(program)
        .args(args)
        .output()
        .map_err(|e| format!("running valgrind: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "valgrind {} {}: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        ));
    }
    let text = std::fs::read_to_string(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let instructions = totals(&text).ok_or_else(|| format!("{}: no totals line", out.display()))?;
    Ok((
        String::from_utf8_lossy(&output.stdout).into_owned(),
        instructions,
    ))
}

/// The collected instructions of a callgrind profile: its `totals:` line
/// (or `summary:` in older formats).
pub fn totals(profile: &str) -> Option<u64> {
    profile
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_come_from_the_totals_line() {
        let profile = "version: 1\nevents: Ir\nfn=(1) main\n16 5\ntotals: 12345\n";
        assert_eq!(totals(profile), Some(12345));
        assert_eq!(totals("summary: 77\n"), Some(77));
        assert_eq!(totals("events: Ir\n"), None);
    }
}
