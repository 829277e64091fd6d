//! Command-line parsing shared by the tools: clap, with bad input reported
//! on one line and exit code 2 (DESIGN.md 10), help and version on stdout
//! with exit code 0.

use clap::Parser;
use std::process::ExitCode;

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
