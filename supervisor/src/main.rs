//! `ixy-supervisor`: see `ixy-supervisor --help` and DESIGN.md 7.

use clap::Parser;
use ixy_supervisor::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            // Help and version go to stdout with status 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, not clap's usage block (DESIGN.md 10).
            let text = e.render().to_string();
            let message = text.split("\n\n").next().unwrap_or("invalid arguments");
            let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!(
                "ixy-supervisor: {}; see --help",
                line.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let level = if args.debug_worker.is_some() {
        "debug"
    } else {
        "info"
    };
    // Millisecond timestamps: link changes and restarts are logged with them.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();
    let cfg = match args.validate() {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("ixy-supervisor: {msg}");
            return ExitCode::from(2);
        }
    };
    match ixy_supervisor::run(cfg) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("ixy-supervisor: {e}");
            ExitCode::from(if e.is_user_error() { 2 } else { 1 })
        }
    }
}
