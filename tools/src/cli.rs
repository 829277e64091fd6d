//! Command-line parsing shared by the tools: clap, with bad input reported
//! on one line and exit code 2 (docs/DESIGN.md 10), help and version on stdout
//! with exit code 0.

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

/// The longest `--duration` the tools take, in seconds (about 11.6 days):
/// far from any overflow of `Instant` arithmetic.
pub const MAX_DURATION_S: f64 = 1e6;

/// Parses `--duration`-like option `name`: seconds above 0 (at least 1 ns)
/// and at most [`MAX_DURATION_S`]; `Err` is the one-line message.
pub fn duration(name: &str, text: &str) -> Result<Duration, String> {
    let bad =
        || format!("{name} {text:?}: use a number of seconds above 0 and at most {MAX_DURATION_S}");
    let secs: f64 = text.trim().parse().map_err(|_| bad())?;
    if !(secs.is_finite() && secs > 0.0 && secs <= MAX_DURATION_S) {
        return Err(bad());
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}

/// The first device given more than once in `devices`, under any spelling
/// of it (`driver::claim::canonical`: `sim:lab/2` and `sim:lab/02` are one
/// port); strings that name no device compare as given, blanks trimmed.
pub fn duplicate_device(devices: &[String]) -> Option<&str> {
    let names: Vec<String> = devices
        .iter()
        .map(|d| driver::claim::canonical(d.trim()).unwrap_or_else(|_| d.trim().to_string()))
        .collect();
    devices
        .iter()
        .enumerate()
        .find_map(|(i, d)| names[..i].contains(&names[i]).then_some(d.trim()))
}

/// clap's error as one line: the message without the usage block, its
/// continuation lines joined.
pub fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let message = text.split("\n\n").next().unwrap_or("bad command line");
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    line.trim_start_matches("error: ").to_string()
}

/// Parses the command line of `tool`; on `Err` the caller returns the
/// exit code (help and version were printed, or the one-line error).
pub fn parse<A: Parser>(tool: &str) -> Result<A, ExitCode> {
    A::try_parse().map_err(|e| {
        use clap::error::ErrorKind;
        if matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        eprintln!("{tool}: {}; see {tool} --help", one_line(&e));
        ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Demo {
        #[arg(long)]
        device: String,
        #[arg(long)]
        count: Option<u32>,
    }

    #[test]
    fn durations_are_checked_without_overflow() {
        assert_eq!(
            duration("--duration", "2.5"),
            Ok(Duration::from_millis(2500))
        );
        assert_eq!(
            duration("--duration", "1e6"),
            Ok(Duration::from_secs(1_000_000))
        );
        for bad in ["0", "-1", "1e30", "1e-300", "nan", "inf", "x", ""] {
            let e = duration("--duration", bad).unwrap_err();
            assert!(
                e.starts_with("--duration") && e.contains("1000000"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn the_same_device_twice_is_found() {
        let v = |s: &[&str]| s.iter().map(|d| d.to_string()).collect::<Vec<_>>();
        assert_eq!(duplicate_device(&v(&["sim:a/2", "sim:a/3"])), None);
        assert_eq!(
            duplicate_device(&v(&["sim:a/2", " sim:a/2 "])),
            Some("sim:a/2")
        );
        assert_eq!(duplicate_device(&v(&["x"])), None);
        assert_eq!(
            duplicate_device(&v(&["sim:a/2", "sim:a/02"])),
            Some("sim:a/02")
        );
    }

    #[test]
    fn errors_fit_one_line_and_name_the_argument() {
        let e = Demo::try_parse_from(["demo"]).unwrap_err();
        let line = one_line(&e);
        assert!(!line.contains('\n') && line.contains("--device"), "{line}");
        let e = Demo::try_parse_from(["demo", "--device", "x", "--count", "many"]).unwrap_err();
        assert!(
            one_line(&e).contains("invalid value 'many'"),
            "{}",
            one_line(&e)
        );
    }
}
