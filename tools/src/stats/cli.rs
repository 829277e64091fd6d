//! `ixy-stats`' command-line checks: the interval and which run directory
//! to read (`--run-dir` or `--name`, as the supervisor resolves them).

use super::MAX_INTERVAL_S;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use worker::statsfile;

/// Parses `--interval SECONDS`: a number greater than 0 and at most 60.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "--interval {s:?}: use a number of seconds greater than 0 and at most {MAX_INTERVAL_S}, e.g. --interval 0.5"
        )
    };
    let v: f64 = s.trim().parse().map_err(|_| bad())?;
    if !(v.is_finite() && v > 0.0 && v <= MAX_INTERVAL_S) {
        return Err(bad());
    }
    Duration::try_from_secs_f64(v).map_err(|_| bad())
}

/// Checks an instance name (`--name`), as the supervisor does: letters,
/// digits, `-`, `_` and `.`, and not `.` or `..`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--name {name:?}: use letters, digits, '-', '_' and '.', the name given to ixy-supervisor --name"
        ))
    }
}

/// The run directory from `--run-dir` or `--name` (at most one of them;
/// neither means the default instance `ixy`, see
/// [`statsfile::default_run_dir`]).
pub fn resolve_run_dir(run_dir: Option<PathBuf>, name: Option<&str>) -> Result<PathBuf, String> {
    match (run_dir, name) {
        (Some(_), Some(_)) => Err(
            "use either --run-dir DIR or --name NAME, not both (--name NAME means the default run dir of instance NAME)"
                .into(),
        ),
        (Some(dir), None) => Ok(dir),
        (None, name) => {
            let name = name.unwrap_or("ixy");
            check_name(name)?;
            Ok(statsfile::default_run_dir(name))
        }
    }
}

/// Checks that `dir` is an existing directory; the error says what to do.
pub fn check_run_dir(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} is not a directory: pass the run dir of ixy-supervisor with --run-dir DIR",
            dir.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
            "run dir {} does not exist: start ixy-supervisor first, or pass the --run-dir DIR or --name NAME it runs with",
            dir.display()
        )),
        Err(e) => Err(format!("run dir {}: {e}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_checks() {
        assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("60"), Ok(Duration::from_secs(60)));
        for bad in ["0", "-1", "60.1", "nan", "inf", "x", ""] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.starts_with("--interval") && !e.contains('\n'), "{e}");
        }
        assert!(check_name("lab-1.a_b").is_ok());
        for bad in ["", ".", "..", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let both = resolve_run_dir(Some("/x".into()), Some("y")).unwrap_err();
        assert!(both.contains("not both"));
        assert_eq!(
            resolve_run_dir(Some("/x".into()), None),
            Ok(PathBuf::from("/x"))
        );
        assert!(resolve_run_dir(None, Some("y")).unwrap().ends_with("ixy/y"));
        assert!(resolve_run_dir(None, None).unwrap().ends_with("ixy/ixy"));
        assert!(resolve_run_dir(None, Some("../etc")).is_err());
    }
}
